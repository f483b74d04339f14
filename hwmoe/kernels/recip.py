"""Reciprocal unit: 1/x ~= r * 2^-(15 + p) for an unsigned integer x > 0, the divider of the softmax
normalisation in the attention and router kernels (docs/numerics.md §4).  Tested alone here, with its own
stream top whose output word is {p, r} (r in the low 16 bits)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics.softmax import reciprocal
from ..numerics.tables import RECIP_INDEX_BITS, recip_table
from .base import KernelData, Point, SimCase
from .table_unit import TableUnitKernel

EXHAUSTIVE_BITS = 13        # inputs this narrow are tested with every value (8191 words run in seconds)
LATENCY = 2                 # leading-one register, then table read register (rtl/hwmoe_recip_lane.v)
R_WIDTH = 16                # r in U1.15


@dataclass(frozen=True)
class RecipParams:
    """Hardware parameters of the reciprocal unit and the size of a test case."""
    lanes: int = 2
    x_width: int = 22
    p_width: int = 5
    words: int = 3000           # random words (besides the edges) when x_width > EXHAUSTIVE_BITS

    def check(self) -> None:
        for name in ("lanes", "words"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.x_width < 2 or (1 << self.p_width) < self.x_width:
            raise ValueError(f"need x_width >= 2 and p_width >= log2(x_width): got {self.x_width}, {self.p_width}")


def cycles(beats: int) -> int:
    """First input beat accepted to last output beat, without stalls: one beat per cycle + latency."""
    return beats + LATENCY


def sample_inputs(p: RecipParams, rng: np.random.Generator) -> np.ndarray:
    """Every x > 0 when x_width <= EXHAUSTIVE_BITS; else 1..599, the powers of two and the words below
    them (every leading-one position, each with the smallest and largest mantissa), and ``words`` random x."""
    top = (1 << p.x_width) - 1
    if p.x_width <= EXHAUSTIVE_BITS:
        return np.arange(1, top + 1, dtype=np.int64)
    powers = np.int64(1) << np.arange(p.x_width, dtype=np.int64)
    edges = np.concatenate([np.arange(1, 600), powers, powers[2:] - 1, [top]])
    return np.concatenate([edges, rng.integers(1, top + 1, p.words)])


def make_data(p: RecipParams, seed: int = 0) -> KernelData:
    x = sample_inputs(p, np.random.default_rng(seed))
    r, power = reciprocal(x)
    return KernelData(inputs={"x": x}, weights={}, expected={"r": r, "p": power})


def make_case(p: RecipParams, seed: int = 0) -> SimCase:
    data = make_data(p, seed)
    x, y = data.inputs["x"], (data.expected["p"] << R_WIDTH) | data.expected["r"]
    fill = -len(x) % p.lanes                     # a whole last beat: repeat the first words
    x, y = np.concatenate([x, x[:fill]]), np.concatenate([y, y[:fill]])
    beats = len(x) // p.lanes
    return SimCase(
        toplevel="hwmoe_recip",
        parameters={"LANES": p.lanes, "X_W": p.x_width, "P_W": p.p_width, "IDX_W": RECIP_INDEX_BITS},
        inputs={"x": x.reshape(beats, p.lanes)}, expected={"y": y.reshape(beats, p.lanes)},
        widths={"x": p.x_width, "y": p.p_width + R_WIDTH}, predicted_cycles=cycles(beats),
        memories={"TABLE": (recip_table(), R_WIDTH)})


class RecipKernel(TableUnitKernel):
    """The reciprocal unit, 1/x as r * 2^-(15+p), on its own."""
    name = "recip"
    Params = RecipParams
    description = f"reciprocal unit: leading one, then a {1 << RECIP_INDEX_BITS}-entry table on the mantissa"
    reference = staticmethod(reciprocal)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    beat_cycles = staticmethod(cycles)
    input_width = "x_width"
    table = staticmethod(recip_table)
    table_width = R_WIDTH

    def calibration_points(self) -> list:
        return [RecipParams(lanes=1), RecipParams(lanes=2), RecipParams(lanes=4), RecipParams(lanes=2, x_width=32)]


RECIP = RecipKernel()


POINTS = {
    # 22-bit x (the attention's running sum at 16-bit q/k/v), 5-bit p: edges and random words
    "default": Point({}, ("icarus", "verilator")),
    # x narrower than the index bits (the index is zero-filled), every x
    "x6": Point({"x_width": "6", "p_width": "3", "lanes": "1"}, ("icarus",)),
    # 13 bits: every x, 3 lanes
    "x13": Point({"x_width": "13", "p_width": "4", "lanes": "3"}, ("icarus",)),
}
