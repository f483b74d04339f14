"""exp2 unit: e = 2^-d in U1.15 for an unsigned fixed-point d, the exponential of the log2-domain softmax in
the attention and router kernels (docs/numerics.md §4).  Tested alone here, with its own stream top."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics.softmax import exp2_neg
from ..numerics.tables import EXP_INDEX_BITS, exp2_table
from .base import KernelData, Point, SimCase
from .table_unit import TableUnitKernel

EXHAUSTIVE_BITS = 13        # inputs this narrow are tested with every value (8192 words run in seconds)
LATENCY = 2                 # table read register, then shift register (rtl/hwmoe_exp2_lane.v)
E_WIDTH = 16                # e in U1.15


@dataclass(frozen=True)
class Exp2Params:
    """Hardware parameters of the exp2 unit and the size of a test case."""
    lanes: int = 2
    d_width: int = 12
    frac: int = 5
    words: int = 6000           # random words (besides the edges) when d_width > EXHAUSTIVE_BITS

    def check(self) -> None:
        for name in ("lanes", "d_width", "words"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.frac < 0:
            raise ValueError(f"frac {self.frac} must not be negative")


def cycles(beats: int) -> int:
    """First input beat accepted to last output beat, without stalls: one beat per cycle + latency."""
    return beats + LATENCY


def sample_inputs(p: Exp2Params, rng: np.random.Generator) -> np.ndarray:
    """Every d when d_width <= EXHAUSTIVE_BITS; else the edges (0, the largest d, each whole number and the
    words beside it) and ``words`` random d."""
    top = (1 << p.d_width) - 1
    if p.d_width <= EXHAUSTIVE_BITS:
        return np.arange(top + 1, dtype=np.int64)
    wholes = np.arange(min(top >> p.frac, 20) + 1, dtype=np.int64) << p.frac
    edges = np.concatenate([[0, 1, top - 1, top], wholes, wholes + 1, np.maximum(wholes - 1, 0)])
    return np.concatenate([edges[edges <= top], rng.integers(0, top + 1, p.words)])


def make_data(p: Exp2Params, seed: int = 0) -> KernelData:
    d = sample_inputs(p, np.random.default_rng(seed))
    return KernelData(inputs={"x": d}, weights={}, expected={"y": exp2_neg(d, p.frac)})


def make_case(p: Exp2Params, seed: int = 0) -> SimCase:
    data = make_data(p, seed)
    d, e = data.inputs["x"], data.expected["y"]
    fill = -len(d) % p.lanes                     # a whole last beat: repeat the first words
    d, e = np.concatenate([d, d[:fill]]), np.concatenate([e, e[:fill]])
    beats = len(d) // p.lanes
    return SimCase(
        toplevel="hwmoe_exp2",
        parameters={"LANES": p.lanes, "D_W": p.d_width, "FRAC": p.frac, "IDX_W": EXP_INDEX_BITS},
        inputs={"x": d.reshape(beats, p.lanes)}, expected={"y": e.reshape(beats, p.lanes)},
        widths={"x": p.d_width, "y": E_WIDTH}, predicted_cycles=cycles(beats),
        memories={"TABLE": (exp2_table(), E_WIDTH)})


class Exp2Kernel(TableUnitKernel):
    """The exp2 unit, 2^-d, on its own."""
    name = "exp2"
    Params = Exp2Params
    description = f"exp2 unit: 2^-d from a {1 << EXP_INDEX_BITS}-entry table and a shift"
    reference = staticmethod(exp2_neg)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    beat_cycles = staticmethod(cycles)
    input_width = "d_width"
    table = staticmethod(exp2_table)
    table_width = E_WIDTH

    def calibration_points(self) -> list:
        return [Exp2Params(lanes=1), Exp2Params(lanes=2), Exp2Params(lanes=4), Exp2Params(lanes=2, d_width=18)]


EXP2 = Exp2Kernel()


POINTS = {
    # 12-bit d, 5 fractional bits (fewer than the index bits: the index is zero-filled), every d
    "default": Point({}, ("icarus", "verilator")),
    # the attention's score format: 16 bits, 10 fractional; random words and the edges
    "d16-frac10": Point({"d_width": "16", "frac": "10", "lanes": "1"}, ("icarus",)),
    # the router's: 24 bits with 18 fractional (the whole part shifts e to 0 from 16 up)
    "d24-frac18": Point({"d_width": "24", "frac": "18", "lanes": "3"}, ("icarus",)),
    # more fractional bits than bits (d < 1, no whole part), every d
    "d8-frac12": Point({"d_width": "8", "frac": "12"}, ("icarus",)),
}
