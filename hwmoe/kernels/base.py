"""What every hardware kernel provides: one object with all its faces, looked up by name.

A kernel module (``hwmoe/kernels/<name>.py``) defines its reference computation and a ``KERNEL`` of this
type; the RTL lives in ``rtl/hwmoe_<name>.v``, the HLS in ``hls/<name>.h``, the testbench in
``sim/test_<name>.py``.  The CLI, the simulator glue, the cost model and the search iterate over them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..numerics.fixed import Fmt
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
    toplevel: str
    sources: list[str]                             # rtl/ files, top last
    parameters: dict[str, int | str]               # Verilog parameters
    inputs: dict[str, np.ndarray]                  # stream name -> [beats, lanes]
    expected: dict[str, np.ndarray]                # stream name -> [beats, lanes]
    widths: dict[str, int]                         # stream name -> signed (<0) / unsigned (>0) lane bits
    predicted_cycles: int
    config: dict[str, int] = field(default_factory=dict)   # control inputs held during the run
    memories: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)  # param -> (words, width)


@dataclass(frozen=True)
class Kernel:
    name: str
    params: type                                   # frozen dataclass; defaults give a small, fast case
    make_case: Callable[..., SimCase]              # (params, seed) -> SimCase
    cycles: Callable[..., int]                     # the cycle formula the search trusts
    description: str = ""
    make_data: Callable[..., KernelData] | None = None   # (params, seed) -> KernelData (natural layout)

    @property
    def rtl_top(self) -> str:
        return f"hwmoe_{self.name}"

    @property
    def testbench(self) -> str:
        return f"test_{self.name}"

    @property
    def hls_header(self) -> str:
        return f"{self.name}.h"


def signed_range(rng: np.random.Generator, width: int, shape, saturating: float = 0.0) -> np.ndarray:
    """Random raw words of a signed ``width``-bit format; a fraction ``saturating`` at the extremes."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    if saturating:
        pick = rng.random(shape) < saturating
        x = np.where(pick, rng.choice([lo, hi], size=shape), x)
    return x


def row_beats(rows: np.ndarray, beats: int, lanes: int) -> np.ndarray:
    """[rows, dim] -> [rows * beats, lanes], each row padded with zeros to whole beats."""
    rows = np.asarray(rows, np.int64)
    padded = np.zeros((rows.shape[0], beats * lanes), np.int64)
    padded[:, :rows.shape[1]] = rows
    return padded.reshape(-1, lanes)


@dataclass(frozen=True)
class Point:
    """A named parameter point of a kernel (``POINTS`` at the end of its module), verified on every face:
    its RTL simulated on ``simulators`` (``sim/test_<name>.py``) and its HLS design C-simulated
    (``tests/test_hls.py``), both bit-exact against the kernel's reference on ``make_data``.

    overrides: Params fields as ``--set`` gives them (field -> text).
    simulators: empty for a point the RTL cannot run (HLS only; the point's comment says why)."""
    overrides: dict[str, str]
    simulators: tuple[str, ...] = ("icarus",)
