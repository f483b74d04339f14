"""Add engine: y = requant(align(a) + align(b), out) at run-time formats (residual additions, position
embedding).  The formats are control inputs held for a run, so one engine serves every add of a model."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics.fixed import Fmt, align, quantize, requant
from ..numerics.intmath import ceil_div, clog2
from .base import Kernel, KernelData, Point, SimCase, check_runtime_fracs, runtime_requant_bits
from .testdata import signed_range


def add(a, a_fmt: Fmt, b, b_fmt: Fmt, out: Fmt) -> np.ndarray:
    """Raw a in ``a_fmt`` + raw b in ``b_fmt`` -> raw sum in ``out``: both aligned to the larger fractional
    bits (exact), then one requant (AP_RND, AP_SAT; docs/numerics.md §3)."""
    frac = max(a_fmt.frac, b_fmt.frac)
    return requant(align(a, a_fmt.frac, frac) + align(b, b_fmt.frac, frac), frac, out)


@dataclass(frozen=True)
class AddParams:
    """Hardware parameters of the add engine (word widths are maxima, ``align_max`` the reach of the alignment
    shifter) and the run-time formats and size of a test case."""
    lanes: int = 2
    a_width: int = 24           # A_W: operand a's words
    b_width: int = 20           # B_W: operand b's words
    out_width: int = 24         # OUT_W: result words (the widest run-time output format)
    align_max: int = 16         # ALIGN_MAX: largest |a_frac - b_frac|
    a_frac: int = 10            # run-time formats of the case: a, b in a_width/b_width-bit words,
    b_frac: int = 14
    run_out_width: int = 16     # the result in run_out_width <= out_width bits (it saturates there)
    out_frac: int = 11
    words: int = 255            # words in a test case (the last beat may be partly padding)

    def check(self) -> None:
        for name in ("lanes", "words"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("a_width", "b_width", "out_width"):
            if not 2 <= getattr(self, name) <= 62:
                raise ValueError(f"{name} = {getattr(self, name)}: words of 2 to 62 bits")
        if not 0 <= self.align_max <= 64:
            raise ValueError(f"align_max = {self.align_max}, need 0..64")
        if not 2 <= self.run_out_width <= self.out_width:
            raise ValueError(f"run_out_width = {self.run_out_width}: need 2..out_width ({self.out_width})")
        check_runtime_fracs(self, "a_frac", "b_frac", "out_frac")
        if abs(self.a_frac - self.b_frac) > self.align_max:
            raise ValueError(f"a_frac = {self.a_frac}, b_frac = {self.b_frac}: the alignment "
                             f"{abs(self.a_frac - self.b_frac)} exceeds align_max = {self.align_max}")

    def formats(self) -> tuple[Fmt, Fmt, Fmt]:
        """The case's run-time formats of a, b and y."""
        return (Fmt.from_frac(self.a_width, self.a_frac), Fmt.from_frac(self.b_width, self.b_frac),
                Fmt.from_frac(self.run_out_width, self.out_frac))


LATENCY = 2
WORDS_W = 24                    # bits of the run-time word count (16M words per run)


def cycles(beats: int) -> int:
    """First input beat accepted to last output beat, without stalls: one beat per cycle + latency."""
    return beats + LATENCY


def _operand(rng, fmt: Fmt, out: Fmt, n: int) -> np.ndarray:
    """Raw words over ``fmt``'s whole range (5% at its extremes), 60% of them small enough that sums land
    inside ``out`` (so rounding is exercised as much as saturation)."""
    x = signed_range(rng, fmt.width, n, saturating=0.05)
    scale = 2.0 ** (out.width - out.frac - 3)
    small = quantize(np.clip(rng.normal(0, scale, n), -2.0 ** (fmt.width - 1 - fmt.frac),
                             (2.0 ** (fmt.width - 1) - 1) * fmt.lsb), fmt)
    return np.where(rng.random(n) < 0.6, small, x)


def make_data(p: AddParams, seed=0) -> KernelData:
    """a [words], b [words] in the case's formats and y [words]."""
    rng = np.random.default_rng(seed)
    a_fmt, b_fmt, y_fmt = p.formats()
    a, b = _operand(rng, a_fmt, y_fmt, p.words), _operand(rng, b_fmt, y_fmt, p.words)
    return KernelData(inputs={"a": a, "b": b}, weights={}, expected={"y": add(a, a_fmt, b, b_fmt, y_fmt)},
                      formats={"a": a_fmt, "b": b_fmt, "y": y_fmt})


def verilog_parameters(p: AddParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_add.v)."""
    return {"LANES": p.lanes, "A_W": p.a_width, "B_W": p.b_width, "OUT_W": p.out_width, "ALIGN_MAX": p.align_max,
            "WORDS_W": WORDS_W}


def controls(p: AddParams) -> dict[str, int]:
    """The control inputs of ``p``'s run (port -> value)."""
    return {"a_frac": p.a_frac, "b_frac": p.b_frac, "out_frac": p.out_frac, "out_width": p.run_out_width,
            "words": p.words}


def make_case(p: AddParams, seed: int = 0) -> SimCase:
    """The words in beats of ``lanes``, the last beat padded with zeros (0 + 0 = 0 comes out there)."""
    d = make_data(p, seed)
    beats = ceil_div(p.words, p.lanes)
    padded = lambda x: np.concatenate([x, np.zeros(beats * p.lanes - p.words, np.int64)]).reshape(beats, p.lanes)
    return SimCase(
        toplevel="hwmoe_add",
        parameters=verilog_parameters(p),
        inputs={"a": padded(d.inputs["a"]), "b": padded(d.inputs["b"])}, expected={"y": padded(d.expected["y"])},
        widths={"a": -p.a_width, "b": -p.b_width, "y": -p.out_width}, predicted_cycles=cycles(beats),
        config=controls(p))


@dataclass(frozen=True)
class AddWork:
    words: int                  # sums of one invocation


class AddKernel(Kernel):
    """The add engine: LANES sums per cycle at run-time formats."""
    name = "add"
    Params = AddParams
    Work = AddWork
    description = "add engine: aligned sum, requantised at run-time formats"
    node_kinds = ("add",)
    reference = staticmethod(add)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    def work(self, node, graph) -> AddWork:
        return AddWork(int(np.prod(graph.shapes[node.outputs[0]])))

    def macs(self, work: AddWork) -> int:
        return 0

    def cycles(self, params: AddParams, work: AddWork) -> int:
        return cycles(ceil_div(work.words, params.lanes))

    def features(self, p: AddParams) -> dict[str, float]:
        """Registers grow with the lanes' sum and result bits, LUTs with their run-time shifters: the two
        alignment shifters (an operand's bits and its reach x shift stages) and the requantiser of the sum."""
        sum_bits = max(p.a_width, p.b_width) + p.align_max + 1
        stages = max(1, clog2(p.align_max + 1))                 # bits of a shift amount
        return {"lanes": p.lanes, "lane_bits": p.lanes * (sum_bits + p.out_width),
                "shifter_bits": p.lanes * (p.a_width + p.b_width + 2 * p.align_max) * stages,
                "requant_bits": p.lanes * runtime_requant_bits(sum_bits, p.out_width)}

    def dsp(self, p: AddParams, dsp_kind: str = "DSP48E2") -> float:
        return 0.0                                  # shifts and adds only

    def bram36(self, p: AddParams) -> float:
        return 0.0                                  # no tables, no buffers

    def calibration_points(self) -> list:
        P = AddParams
        return [P(lanes=1), P(lanes=2), P(lanes=4), P(lanes=2, a_width=32, b_width=32, out_width=32),
                P(lanes=4, a_width=16, b_width=16, out_width=16, align_max=8, a_frac=8, b_frac=12)]

    def engine_params(self, choice: dict, maxima: AddWork, formats) -> AddParams:
        """a: the residual stream, b: a branch's activations or a parameter (position embedding), y: the
        residual stream; the case runs at those formats, ``words`` rounded up to whole beats.  The alignment
        shifter reaches at least the default and every alignment these formats need."""
        resid, act, param = formats["resid"], formats["act"], formats["param"]
        lanes = choice["lanes"]
        reach = max(AddParams.align_max, abs(resid.frac - act.frac), abs(resid.frac - param.frac))
        return AddParams(lanes=lanes, a_width=resid.width, b_width=max(act.width, param.width),
                         out_width=resid.width, align_max=reach, a_frac=resid.frac, b_frac=act.frac,
                         run_out_width=resid.width, out_frac=resid.frac,
                         words=ceil_div(maxima.words, lanes) * lanes)


ADD = AddKernel()


# Verilator runs the widest point (32-bit words); Icarus runs every point.
POINTS = {
    # 16-bit words, the default alignment reach
    "default": Point({}),
    # 8-bit words: a has more fractional bits than b (b shifted left), the output keeps fewer (rounded)
    "w8-fewer-frac": Point({"lanes": "1", "a_width": "8", "b_width": "8", "out_width": "8", "align_max": "4",
                            "a_frac": "7", "b_frac": "3", "run_out_width": "8", "out_frac": "1", "words": "64"}),
    # a 32-bit residual with a negative fraction plus a 16-bit operand; a run-time output narrower than the
    # port (20 of 32 bits); a partly filled last beat (100 words over 3 lanes)
    "w32-more-frac": Point({"lanes": "3", "a_width": "32", "b_width": "16", "out_width": "32", "a_frac": "-2",
                            "b_frac": "12", "run_out_width": "20", "out_frac": "20", "words": "100"}, ("icarus", "verilator")),
}
