"""What every hardware kernel is: one object with all its faces, the same questions with the same signatures.

A kernel module (``hwmoe/kernels/<name>.py``) defines its bit-accurate reference function(s), its ``Params``
(hardware parameters + the size of a test case) and ``Work`` (the dims of one invocation) dataclasses, and one
subclass of :class:`Kernel` with one instance (``LINEAR = LinearKernel()``).  Its RTL is ``rtl/hwmoe_<name>.v``,
its HLS ``hls/<name>.h``, its testbench ``sim/test_<name>.py``.  :mod:`hwmoe.kernels.registry` lists the
instances; the CLI, the reference, the cost model, the search and the generators iterate over it.

Faces (every kernel answers every one):

* ``name``, ``Params``, ``configure(overrides)`` (checked Params from user strings), ``description``,
  ``node_kinds`` (the IR node kinds it runs);
* ``reference(...)``: the bit-accurate function (the module-level function of the same meaning);
* ``Work``, ``work(node, graph)``, ``macs(work)``, ``weight_words(work)``: what one invocation asks;
* ``cycles(params, work)``: the cycle formula the RTL testbenches check, first input to last output;
* ``resources(params, dsp_kind)`` from ``features`` / ``dsp`` / ``bram36`` (LUT/FF fitted on yosys runs,
  :mod:`hwmoe.cost.fit`), ``calibration_points()``, ``synth_case(params)``;
* ``engine_params(choice, maxima, formats)``: the Params of an accelerator engine for a choice of its
  parallelism (Params field names), the largest ``Work`` it must hold and the formats by role
  (:meth:`hwmoe.numerics.precision.Precision.formats`);
* ``make_data(params, seed)`` (natural layout), ``make_case(params, seed)`` (RTL simulation case),
  ``verilog_parameters(params)`` (what the RTL is built with) and ``controls(params)`` (the run-time control
  inputs of the run ``params`` describes: an accelerator's program sets them per command),
  ``rtl_top``, ``hls_header``, ``testbench``.
"""
from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..cost.fit import predict_lut_ff
from ..overrides import checked
from ..cost.usage import Usage
from ..numerics.fixed import Fmt
from ..numerics.intmath import clog2
from ..numerics.tables import GeluTable


@dataclass
class KernelData:
    """One test case of a kernel in natural layout (raw integers in the given formats, no beats or padding).

    Kernels that run several layers in one case (``layers`` in their Params) put the layer first:
    [layers, tokens, dim]."""
    inputs: dict[str, np.ndarray]                  # streamed inputs (activations, routes)
    weights: dict[str, np.ndarray]                 # parameters held in memory (weights, biases, gamma/beta)
    expected: dict[str, np.ndarray]                # the reference function's outputs
    formats: dict[str, Fmt] = field(default_factory=dict)   # array or intermediate name -> format
    table: GeluTable | None = None                 # the GELU table, for kernels with a GELU


@dataclass
class SimCase:
    """One simulation case: what to drive, what must come out, and what the cycle formula predicts.

    Streams are arrays of beats x lanes of raw integers; ``widths`` gives each stream's bits per lane
    (negative = signed) so the testbench can pack and unpack them."""
    toplevel: str                                  # its sources: rtl/<toplevel>.f
    parameters: dict[str, int | str]               # Verilog parameters
    inputs: dict[str, np.ndarray]                  # stream name -> [beats, lanes]
    expected: dict[str, np.ndarray]                # stream name -> [beats, lanes]
    widths: dict[str, int]                         # stream name -> signed (<0) / unsigned (>0) lane bits
    predicted_cycles: int
    config: dict[str, int] = field(default_factory=dict)   # control inputs held during the run
    memories: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)  # param -> (words, width)


class Kernel(ABC):
    """One hardware kernel and all its faces (see the module docstring).  Subclasses set the class
    attributes and implement the abstract methods; one instance per kernel lives in its module."""
    name: str = ""
    Params: type                                   # frozen dataclass with check(); defaults: a small test case
    Work: type                                     # frozen dataclass: the dims of one invocation
    description: str = ""
    node_kinds: tuple[str, ...] = ()               # ir.Node.kind values this kernel runs

    # ---- parameters ---------------------------------------------------------------------------------
    def params(self, **values):
        """A Params instance: the defaults (the kernel's own small test case) with ``values`` replaced."""
        return self.Params(**values)

    def configure(self, overrides: dict[str, str] | None = None):
        """Params from a user's ``key=value`` strings (``hwmoe sim/hls --set``), checked: an unknown field, a
        bad value or an illegal combination is the user's mistake, named with the kernel."""
        return checked(self.params(), overrides, f"{self.name} kernel")

    @property
    def points(self) -> dict[str, "Point"]:
        """The shared parameter points (``POINTS`` at the end of the kernel's module), verified on the RTL and
        the HLS face alike."""
        return sys.modules[type(self).__module__].POINTS

    @staticmethod
    @abstractmethod
    def reference(*args, **kwargs):
        """The bit-accurate computation on raw integers (the module's function of the same meaning)."""

    # ---- what a model asks of it --------------------------------------------------------------------
    @abstractmethod
    def work(self, node, graph):
        """The Work of IR ``node`` (one of ``node_kinds``) in ``graph``."""

    @abstractmethod
    def macs(self, work) -> int:
        """Multiply-accumulates of one invocation (what ``node.macs(shapes)`` counts for its node)."""

    def weight_words(self, work) -> tuple[int, int]:
        """(weight words, other parameter words: biases, gamma/beta) one invocation reads from memory."""
        return 0, 0

    # ---- performance --------------------------------------------------------------------------------
    @abstractmethod
    def cycles(self, params, work) -> int:
        """First input beat to last output beat of ``work`` on the kernel built with ``params``, no stalls:
        the formula the RTL testbench checks against simulation."""

    @abstractmethod
    def features(self, params) -> dict[str, float]:
        """The quantities LUTs and FFs grow with (the fitted model's regressors)."""

    @abstractmethod
    def dsp(self, params, dsp_kind: str = "DSP48E2") -> float:
        """Structural DSP count (what the RTL instantiates; checked against yosys)."""

    @abstractmethod
    def bram36(self, params) -> float:
        """Structural RAMB36 count (RAMB18 = 1/2; checked against yosys)."""

    def resources(self, params, dsp_kind: str = "DSP48E2") -> Usage:
        lut, ff = predict_lut_ff(self.name, self.features(params))
        return Usage(lut=lut, ff=ff, dsp=self.dsp(params, dsp_kind), bram36=self.bram36(params), uram=0.0)

    @abstractmethod
    def calibration_points(self) -> list:
        """Small Params (each synthesises in seconds) spanning the features."""

    def synth_case(self, params):
        """(top, verilog parameters, memories) for yosys, from the kernel's simulation case (the sources are
        the top's ``.f`` list)."""
        case = self.make_case(params, 0)
        return case.toplevel, case.parameters, case.memories

    @abstractmethod
    def engine_params(self, choice: dict, maxima, formats: dict[str, Fmt]):
        """The Params of an accelerator engine: ``choice`` maps Params fields to the chosen parallelism,
        ``maxima`` is the largest Work the engine runs (:meth:`largest`), ``formats`` the format of each
        tensor role (:meth:`hwmoe.numerics.precision.Precision.formats`)."""

    def largest(self, works):
        """The field-wise maximum of several Works (any for flags): the dims an engine's buffers must hold."""
        works = list(works)
        out = {}
        for f in fields(self.Work):
            values = [getattr(w, f.name) for w in works]
            if isinstance(values[0], bool):
                out[f.name] = any(values)
            elif isinstance(values[0], int):
                out[f.name] = max(values)
        return replace(works[0], **out)

    # ---- test data and the hardware faces ------------------------------------------------------------
    @abstractmethod
    def make_data(self, params, seed=0) -> KernelData:
        """A random test case in natural layout with the reference's expected outputs."""

    @abstractmethod
    def make_case(self, params, seed: int = 0) -> SimCase:
        """The same test case as RTL streams, with the predicted cycles."""

    def verilog_parameters(self, params) -> dict:
        """The Verilog parameters of the build ``params`` describes (engines answer without making a case)."""
        return self.make_case(params).parameters

    def controls(self, params) -> dict[str, int]:
        """The control inputs of the run ``params`` describes (port -> value)."""
        return self.make_case(params).config

    @property
    def rtl_top(self) -> str:
        return f"hwmoe_{self.name}"

    @property
    def testbench(self) -> str:
        return f"test_{self.name}"

    @property
    def hls_header(self) -> str:
        return f"{self.name}.h"


#: width of the signed run-time fraction inputs of the engines (FRAC_B in their RTL): the program's signed
#: 8-bit format fields
FRAC_BITS = 8


def check_runtime_fracs(params, *names: str) -> None:
    """Fractions that reach the RTL as run-time inputs must fit its signed FRAC_BITS-bit ports."""
    lo, hi = -(1 << (FRAC_BITS - 1)), (1 << (FRAC_BITS - 1)) - 1
    for name in names:
        if not lo <= getattr(params, name) <= hi:
            raise ValueError(f"{name} {getattr(params, name)} outside the run-time range {lo}..{hi}")


def runtime_requant_bits(in_width: int, out_width: int) -> int:
    """Resource feature of one rtl/hwmoe_requant_runtime.v: its rounding right shifter over the input word
    and its left shifter over the output word, each bits x log2 stages."""
    shifter = lambda width: width * clog2(width + 1)
    return shifter(in_width) + shifter(out_width)


@dataclass(frozen=True)
class Point:
    """A named parameter point of a kernel (``POINTS`` at the end of its module), verified on every face:
    its RTL simulated on ``simulators`` (``sim/test_<name>.py``) and its HLS design C-simulated
    (``tests/test_hls.py``), both bit-exact against the kernel's reference on ``make_data``.

    overrides: Params fields as ``--set`` gives them (field -> text).
    simulators: empty for a point the RTL cannot run (HLS only; the point's comment says why).
    full_size: a whole m3vit-t layer, whose simulation takes a minute or more: the RTL runs it in
    ``benchmarks/kernels_full_size.py`` rather than in the test suite (the HLS C-simulation stays in the suite)."""
    overrides: dict[str, str]
    simulators: tuple[str, ...] = ("icarus",)
    full_size: bool = False
