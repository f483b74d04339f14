"""What the cost model asks of each kernel: a thin adapter around ``hwmoe.kernels.<name>.KERNEL``.

An adapter never computes cycles itself: :meth:`KernelCost.cycles` calls the kernel's own ``cycles`` -- the
formula the RTL testbenches check against simulation -- after mapping the cost model's work description
(tokens, dims) onto that function's arguments.  What the adapter adds is the resource side:

* ``features(params)``: the quantities resources grow with (multipliers, accumulator bits, buffer bits, lanes);
* ``dsp(params)`` and ``bram36(params)``: structural counts (what the RTL instantiates), checked against
  yosys in the tests;
* LUT and FF: a linear model in the features, fitted on yosys runs (``python -m hwmoe.cost.calibrate``),
  coefficients in :mod:`hwmoe.cost.fitted`.
"""
from __future__ import annotations

import importlib
import math
from dataclasses import asdict, replace

from .usage import Usage

BRAM36_BITS = 36 * 1024


class KernelNotReady(RuntimeError):
    """The kernel module has no ``KERNEL`` (or no cycle formula) yet."""


def brams_for(depth: int, width: int, block: bool = True) -> float:
    """RAMB36 equivalents (RAMB18 = 1/2) for one ``depth x width`` memory, using the widest aspect ratio that
    holds ``depth`` words: 512x72, 1Kx36, 2Kx18, 4Kx9, 8Kx4, 16Kx2, 32Kx1 per RAMB36, 512x36 .. 16Kx1 per
    RAMB18.  The kernels mark their buffers ``ram_style = "block"``, so even shallow ones take a block; with
    ``block=False`` memories of 64 words or fewer go to LUTRAM (0 blocks)."""
    if width <= 0 or depth <= 0 or (not block and depth <= 64):
        return 0.0
    best = math.inf
    for d18, w18 in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        if depth <= d18:
            best = min(best, 0.5 * math.ceil(width / w18))
    for d36, w36 in ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1)):
        cascade = math.ceil(depth / d36)
        best = min(best, cascade * math.ceil(width / w36))
    return best


class KernelCost:
    """Base adapter.  Subclasses set ``name`` and implement the hooks."""
    name = ""

    # ---- the kernel ----------------------------------------------------------------------------------
    @property
    def kernel(self):
        module = importlib.import_module(f"hwmoe.kernels.{self.name}")
        k = getattr(module, "KERNEL", None)
        if k is None or not callable(getattr(k, "cycles", None)):
            raise KernelNotReady(f"hwmoe.kernels.{self.name} has no KERNEL with a cycle formula yet")
        return k

    def ready(self) -> bool:
        try:
            self.kernel
            return True
        except (KernelNotReady, ImportError):
            return False

    @property
    def Params(self):
        return self.kernel.params

    def params(self, **kw):
        return self.Params(**kw)

    def vary(self, params, **kw):
        return replace(params, **kw)

    # ---- cycles (delegated) -------------------------------------------------------------------------
    def cycles(self, params, **work) -> int:
        raise NotImplementedError

    # ---- resources ----------------------------------------------------------------------------------
    def features(self, params) -> dict[str, float]:
        raise NotImplementedError

    def dsp(self, params, dsp_kind: str = "DSP48E2") -> float:
        raise NotImplementedError

    def bram36(self, params) -> float:
        raise NotImplementedError

    def resources(self, params, dsp_kind: str = "DSP48E2") -> Usage:
        from .fit import predict_lut_ff
        f = self.features(params)
        lut, ff = predict_lut_ff(self.name, f)
        return Usage(lut=lut, ff=ff, dsp=self.dsp(params, dsp_kind), bram36=self.bram36(params), uram=0.0)

    # ---- calibration --------------------------------------------------------------------------------
    def calibration_points(self) -> list:
        """Small parameter points (each synthesises in seconds) spanning the features."""
        raise NotImplementedError

    def synth_case(self, params):
        """(top, verilog parameters, memories) for yosys; by default from the kernel's sim case."""
        case = self.kernel.make_case(params, 0)
        return case.toplevel, case.parameters, case.memories

    def describe(self, params) -> dict:
        return asdict(params)
