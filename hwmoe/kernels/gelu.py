"""GELU unit: GELU(x) = ReLU(x) - d(|x|), d(t) = t * Phi(-t) from a table with linear interpolation."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cost.usage import brams_for
from ..numerics.fixed import Fmt, Q, align, quantize, requant, shift_round
from ..numerics.intmath import ceil_div
from ..numerics.tables import GELU_FMT, GELU_STEP_BITS, GeluTable
from .base import Kernel, KernelData, Point, SimCase
from .testdata import signed_range


def gelu(x, x_fmt: Fmt, out: Fmt, table: GeluTable) -> np.ndarray:
    """Raw x in ``x_fmt`` -> raw GELU(x) in ``out`` (docs/numerics.md §5)."""
    x = np.asarray(x, dtype=np.int64)
    lut = table.values()
    t = np.abs(x)
    sub = x_fmt.frac - GELU_STEP_BITS            # bits of |x| below the table step
    index = shift_round(t, sub, Q.TRN)
    inside = index < table.entries
    i = np.where(inside, index, 0)
    d = lut[i]
    if sub > 0:
        between = t & ((np.int64(1) << sub) - 1)
        d = d + shift_round((lut[i + 1] - lut[i]) * between, sub, Q.TRN)
    d = np.where(inside, d, 0)
    frac = max(x_fmt.frac, GELU_FMT.frac)
    y = align(np.maximum(x, 0), x_fmt.frac, frac) - align(d, GELU_FMT.frac, frac)
    return requant(y, frac, out)


@dataclass(frozen=True)
class GeluParams:
    """Hardware parameters of the GELU unit and the size of a test case."""
    lanes: int = 2
    in_width: int = 16
    in_frac: int = 11
    out_width: int = 16
    out_frac: int = 11
    entries: int = 149          # table intervals of 1/32 (149 covers the cutoff of d(t))
    words: int = 256            # words in a test case

    def check(self) -> None:
        if self.words % self.lanes:
            raise ValueError(f"words {self.words} must be a multiple of lanes {self.lanes}")
        for name in ("lanes", "in_width", "out_width", "entries", "words"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


LATENCY = 3


def cycles(beats: int) -> int:
    """First input beat accepted to last output beat, without stalls: one beat per cycle + latency."""
    return beats + LATENCY


def make_data(p: GeluParams, seed=0) -> KernelData:
    """x [words] (5% at the format's extremes, 60% normal(0, 2): inside the table's reach) and y [words]."""
    rng = np.random.default_rng(seed)
    x_fmt, y_fmt = Fmt.from_frac(p.in_width, p.in_frac), Fmt.from_frac(p.out_width, p.out_frac)
    x = signed_range(rng, p.in_width, p.words, saturating=0.05)
    small = rng.random(p.words) < 0.6           # most words inside the table's reach
    x = np.where(small, quantize(rng.normal(0, 2.0, p.words), x_fmt), x)
    table = GeluTable(p.entries)
    return KernelData(inputs={"x": x}, weights={}, expected={"y": gelu(x, x_fmt, y_fmt, table)},
                      formats={"x": x_fmt, "y": y_fmt}, table=table)


def make_case(p: GeluParams, seed: int = 0) -> SimCase:
    d = make_data(p, seed)
    x, y, table = d.inputs["x"], d.expected["y"], d.table
    beats = p.words // p.lanes
    return SimCase(
        toplevel="hwmoe_gelu",
        parameters={"LANES": p.lanes, "IN_W": p.in_width, "IN_FRAC": p.in_frac, "OUT_W": p.out_width,
                    "OUT_FRAC": p.out_frac, "ENTRIES": p.entries, "STEP_BITS": GELU_STEP_BITS,
                    "D_W": GELU_FMT.width},
        inputs={"x": x.reshape(beats, p.lanes)}, expected={"y": y.reshape(beats, p.lanes)},
        widths={"x": -p.in_width, "y": -p.out_width}, predicted_cycles=cycles(beats),
        memories={"TABLE": (table.values(), GELU_FMT.width)})


@dataclass(frozen=True)
class GeluWork:
    words: int                  # values through the unit


def interpolates(in_frac: int) -> bool:
    """Whether a GELU lane computing at ``in_frac`` fractional bits keeps bits of |x| below the table step
    (docs/numerics.md §5): only then does rtl/hwmoe_gelu_lane.v use its slope multiplier and the second copy of
    the table, which synthesis drops otherwise (yosys, two lanes of 8 bits: in_frac 5 -> 0 DSP and 1 BRAM36;
    6 and 7 -> 2 DSP and 2 BRAM36)."""
    return in_frac > GELU_STEP_BITS


def lane_dsps(in_frac: int) -> int:
    """DSP slices of one GELU lane: its interpolation multiplier, when it interpolates."""
    return 1 if interpolates(in_frac) else 0


def lane_brams(in_frac: int, entries: int) -> float:
    """RAMB36 of one GELU lane: the table, and its second read port's copy when the lane interpolates."""
    return (2 if interpolates(in_frac) else 1) * brams_for(entries + 1, GELU_FMT.width)


class GeluKernel(Kernel):
    """The GELU unit: LANES lanes, one beat per cycle (in the accelerator it is fused into the linear
    kernel's output; alone it runs GELU nodes)."""
    name = "gelu"
    Params = GeluParams
    Work = GeluWork
    description = "GELU unit: ReLU minus interpolated table"
    node_kinds = ("gelu",)
    reference = staticmethod(gelu)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)

    def work(self, node, graph) -> GeluWork:
        return GeluWork(int(np.prod(graph.shapes[node.inputs[0]])))

    def macs(self, work: GeluWork) -> int:
        return 0

    def cycles(self, params: GeluParams, work: GeluWork) -> int:
        return cycles(ceil_div(work.words, params.lanes))

    def features(self, p: GeluParams) -> dict[str, float]:
        return {"lanes": p.lanes, "lane_bits": p.lanes * (p.in_width + p.out_width)}

    def dsp(self, p: GeluParams, dsp_kind: str = "DSP48E2") -> float:
        return float(p.lanes * lane_dsps(p.in_frac))

    def bram36(self, p: GeluParams) -> float:
        return p.lanes * lane_brams(p.in_frac, p.entries)

    def calibration_points(self) -> list:
        P = GeluParams
        return [P(lanes=1), P(lanes=2), P(lanes=4), P(lanes=2, in_width=32, in_frac=22),
                P(lanes=4, in_width=32, in_frac=22, out_width=32, out_frac=22)]

    def engine_params(self, choice: dict, maxima: GeluWork, formats) -> GeluParams:
        """Activations in and out; ``words`` rounded up to whole beats."""
        act = formats["act"]
        lanes = choice["lanes"]
        return GeluParams(lanes=lanes, in_width=act.width, in_frac=act.frac, out_width=act.width,
                          out_frac=act.frac, words=ceil_div(maxima.words, lanes) * lanes)


GELU = GeluKernel()


# Verilator runs the widest point (32-bit words); Icarus runs every point.
POINTS = {
    # 16-bit words in and out, two lanes, the full table (149 intervals of 1/32)
    "default": Point({}),
    # 8-bit words with 3 fractional bits (coarser than the table's step), one lane
    "w8-coarse": Point({"lanes": "1", "in_frac": "3", "in_width": "8", "out_width": "8", "out_frac": "4",
                        "words": "64"}),
    # 32-bit words, a table shorter than the cutoff (96 intervals)
    "w32-short-table": Point({"in_width": "32", "in_frac": "22", "out_width": "32", "out_frac": "22",
                              "entries": "96"}, ("icarus", "verilator")),
}
