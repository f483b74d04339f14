"""Reusable linear kernel: y = x W^T + b, exact integer accumulation, one rounding at the output."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..boards import dsps_for_products
from ..cost.usage import brams_for
from ..numerics.fixed import Fmt, align, matmul, requant
from ..numerics.intmath import ceil_div, clog2
from ..numerics.tables import GELU_FMT, GELU_STEP_BITS, GeluTable
from .base import Kernel, KernelData, Point, SimCase, check_runtime_fracs, runtime_requant_bits
from .gelu import gelu, lane_brams, lane_dsps
from .testdata import linear_operands, pad_rows


def accumulate(x, x_fmt: Fmt, w, w_fmt: Fmt, b=None, b_fmt: Fmt | None = None) -> tuple[np.ndarray, int]:
    """The accumulator of the MAC array: (x W^T + b aligned, fractional bits = x.frac + w.frac)."""
    frac = x_fmt.frac + w_fmt.frac
    acc = matmul(np.asarray(x, np.int64), np.asarray(w, np.int64).T, x_fmt.width, w_fmt.width)
    if b is not None:
        acc = acc + align(b, b_fmt.frac, frac)
    return acc, frac


def linear(x, x_fmt: Fmt, w, w_fmt: Fmt, b, b_fmt: Fmt | None, out: Fmt) -> np.ndarray:
    """Raw x [tokens, in] and W [out, in] -> raw y [tokens, out] in ``out`` (AP_RND, AP_SAT)."""
    acc, frac = accumulate(x, x_fmt, w, w_fmt, b, b_fmt)
    return requant(acc, frac, out)


# ---------------------------------------------------------------------------------------------------------
# The hardware kernel (rtl/hwmoe_linear.v on rtl/hwmoe_linear_core.v)

@dataclass(frozen=True)
class LinearParams:
    """Hardware parameters of the linear engine and one test run on it.

    Tiles: T_OUT x T_IN weights per cycle shared by N_PE token lanes (N_PE*T_OUT*T_IN MACs per cycle).
    Word widths, the units present and the shift reaches are built; the formats, dims and switches are the
    run's (control inputs).  A unit is built when the run uses it or its ``*_unit`` flag is set; a shift
    reach is the larger of its ``*_max`` field and what the run needs; max_* = 0 means "the run's dims"."""
    t_in: int = 16
    t_out: int = 16
    n_pe: int = 3
    x_width: int = 16
    x_frac: int = 10
    w_width: int = 16
    w_frac: int = 14
    b_width: int = 16
    b_frac: int = 12
    out_width: int = 16          # OUT_W: the widest output format
    out_frac: int = 10
    run_out_width: int = 0       # the run's output width (0 = out_width); results saturate to it
    bias: bool = True            # the run adds biases
    gelu: bool = False           # the run fuses GELU
    bias_unit: bool = False      # build a bias unit even when the run adds none
    gelu_unit: bool = False      # build a GELU unit even when the run uses none
    h_width: int = 16            # H_W: the widest GELU input format (the linear's requant target with GELU)
    h_frac: int = 11
    run_h_width: int = 0         # the run's GELU input width (0 = h_width)
    bias_shift_max: int = 0      # BSH_MAX at least this (largest x_frac + w_frac - b_frac of any run)
    gelu_lsh: int = 0            # the GELU unit computes at G_FRAC = h_frac + gelu_lsh fractional bits
    gelu_lsh_max: int = 0        # G_LSH_MAX at least this (largest G_FRAC - h_frac of any run)
    entries: int = 149           # GELU table intervals
    tokens: int = 7              # runtime dims of the test case
    d_in: int = 40
    d_out: int = 36
    max_tokens: int = 0
    max_in: int = 0
    max_out: int = 0
    saturating: float = 0.1      # fraction of tokens of extreme words (saturated outputs)

    def maxima(self) -> tuple[int, int, int]:
        return (max(self.max_tokens, self.tokens), max(self.max_in, self.d_in), max(self.max_out, self.d_out))

    @property
    def has_bias(self) -> bool:
        return self.bias or self.bias_unit

    @property
    def has_gelu(self) -> bool:
        return self.gelu or self.gelu_unit

    @property
    def bsh_max(self) -> int:
        """BSH_MAX: the bias alignment's reach (a bias with more fractional bits is rounded, any amount)."""
        return max(self.bias_shift_max, self.x_frac + self.w_frac - self.b_frac, 0)

    @property
    def g_lsh_max(self) -> int:
        return max(self.gelu_lsh_max, self.gelu_lsh)

    @property
    def core_h_width(self) -> int:
        """Width of the requant words (the core's H_W): the GELU input or the output format."""
        return max(self.h_width, self.out_width) if self.has_gelu else self.out_width

    def check(self) -> None:
        for name in ("t_in", "t_out", "n_pe", "x_width", "w_width", "b_width", "out_width", "h_width",
                     "entries", "tokens", "d_in", "d_out"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("x_width", "w_width", "b_width", "out_width", "h_width"):
            if getattr(self, name) > 32:
                raise ValueError(f"{name} above 32 bits is not supported by the RTL kernel")
        for run, word in (("run_out_width", "out_width"), ("run_h_width", "h_width")):
            if getattr(self, run) and not 2 <= getattr(self, run) <= getattr(self, word):
                raise ValueError(f"{run} = {getattr(self, run)}: need 2..{word} ({getattr(self, word)})")
        check_runtime_fracs(self, "x_frac", "w_frac", "b_frac", "out_frac", "h_frac")
        if not 0 <= self.gelu_lsh <= 32 or not 0 <= self.gelu_lsh_max <= 32:
            raise ValueError("gelu_lsh and gelu_lsh_max must be 0..32")
        if not 0 <= self.bias_shift_max <= 64 or self.bsh_max > 64:
            raise ValueError(f"the bias alignment reach {self.bsh_max} exceeds 64")
        if self.max_tokens and self.max_tokens < self.tokens or self.max_in and self.max_in < self.d_in \
                or self.max_out and self.max_out < self.d_out:
            raise ValueError("a runtime dim exceeds its compile-time maximum")
        acc_bits = self.x_width + self.w_width + clog2(max(self.maxima()[1], 2)) + 2
        if acc_bits > 62:
            raise ValueError(f"accumulator of {acc_bits} bits exceeds the reference's int64")


RD_LAT = 1          # activation buffer read latency (hwmoe_linear)


def _pairs(m: int, a: float, h: float) -> float:
    """Longest path of m groups in the issue recurrence (steps of one group cost a, steps of two cost h)."""
    return max(m * a, (m // 2) * h + (m % 2) * a) if m > 0 else 0.0


def block_schedule(blocks, n: int, n_pe: int, rd_lat: int, state=None, start: float = 0.0,
                   x_tokens: int | None = None):
    """Cycle model of a run of weight blocks through hwmoe_linear_core (times in cycles from the first input).

    ``blocks``: (rows, it) per block in stream order; ``n``: positions per pass; ``start``: earliest issue of
    the first block; ``x_tokens``: activations stream in one beat per cycle (token t complete at (t+1)*it),
    bounding the first block; ``state`` = (loader free, end of block k-2, last-chunk issue times of the last
    two groups), carried from pass to pass.
    Loader: block k goes into the half freed by block k-2 (rd_lat cycles after its last issue), one beat per
    cycle. Issuer: block k starts when loaded and block k-1 is issued; within a block group g's last chunk L_g
    satisfies L_g >= L_(g-1) + a (a = It chunks, or N_PE serialiser pops if more) and, the hold having two
    slots, L_g >= L_(g-2) + h (h = RD_LAT + 3 + N_PE: group g-2 drained), closed form in _pairs."""
    load_end, e_blk2, l2, l1 = state if state is not None else (0.0, -1e9, -1e9, -1e9)
    g = ceil_div(n, n_pe)
    h = rd_lat + 3 + n_pe
    for k, (rows, it) in enumerate(blocks):
        l_start = max(load_end, e_blk2 + rd_lat)
        load_end = l_start + rows * it
        s = max(l1 + 1, load_end, start if k == 0 else -1e9)
        a = max(it, n_pe)
        x0 = max(s + it - 1, l2 + h)
        x1 = max(x0 + a, l1 + h)
        last = x0 if g == 1 else max(x1 + _pairs(g - 2, a, h), x0 + h + _pairs(g - 3, a, h) if g >= 3 else -1e9)
        prev = l1 if g == 1 else (x0 if g == 2 else
                                  max(x1 + _pairs(g - 3, a, h), x0 + h + _pairs(g - 4, a, h) if g >= 4 else -1e9))
        if x_tokens is not None and k == 0:         # the last groups wait for their activations
            last = max(last, x_tokens * it + it - 1)
            if g >= 2:
                prev = max(prev, min((g - 1) * n_pe, x_tokens) * it + it - 1)
        e_blk2 = l1
        l2, l1 = prev, last
    return l1, (load_end, e_blk2, l2, l1)


def cycles(p: LinearParams, rows: int | None = None, d_in: int | None = None, d_out: int | None = None) -> int:
    """First input beat to last output beat of one layer with all streams flowing (no stalls):
    weight blocks of T_OUT rows load one beat (T_IN words) per cycle into a double buffer; block k computes
    ceil(rows/N_PE) groups of It cycles once loaded (block_schedule); the first block also waits for the
    activations (one beat per cycle, rows*It beats); the last group drains through the hold (RD_LAT+2),
    the serialiser (one token per cycle), bias/requant (2) and the GELU unit when built (3, used or not)."""
    tokens = p.tokens if rows is None else int(rows)
    d_in = p.d_in if d_in is None else int(d_in)
    d_out = p.d_out if d_out is None else int(d_out)
    return dense_cycles(p.t_in, p.t_out, p.n_pe, RD_LAT, p.has_gelu, tokens, d_in, d_out)


def dense_cycles(t_in: int, t_out: int, n_pe: int, rd_lat: int, gelu_unit: bool, tokens: int, d_in: int,
                 d_out: int) -> int:
    """One linear layer on hwmoe_linear_core (``cycles``; also the MoE engine's dense mode, whose activation
    read takes ``rd_lat`` = 2 cycles and whose GELU unit is always built)."""
    it, ot = ceil_div(d_in, t_in), ceil_div(d_out, t_out)
    blocks = [(min(t_out, d_out - k * t_out), it) for k in range(ot)]
    e, _ = block_schedule(blocks, tokens, n_pe, rd_lat, start=1.0, x_tokens=tokens)
    last_group = tokens - (ceil_div(tokens, n_pe) - 1) * n_pe
    return int(round(e + (rd_lat + 2) + last_group + 2 + (3 if gelu_unit else 0) + 1))


def _formats(p: LinearParams):
    """The run's formats of x, w, b, h (GELU input) and y."""
    f = Fmt.from_frac
    return (f(p.x_width, p.x_frac), f(p.w_width, p.w_frac), f(p.b_width, p.b_frac),
            f(p.run_h_width or p.h_width, p.h_frac), f(p.run_out_width or p.out_width, p.out_frac))


def verilog_parameters(p: LinearParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_linear.v)."""
    mt, mi, mo = p.maxima()
    return {"T_IN": p.t_in, "T_OUT": p.t_out, "N_PE": p.n_pe, "X_W": p.x_width, "W_W": p.w_width,
            "B_W": p.b_width, "HAS_BIAS": int(p.has_bias), "GELU": int(p.has_gelu), "H_W": p.h_width,
            "OUT_W": p.out_width, "BSH_MAX": p.bsh_max, "G_FRAC": p.h_frac + p.gelu_lsh, "G_LSH_MAX": p.g_lsh_max,
            "MAX_TOKENS": mt, "MAX_D_IN": mi, "MAX_D_OUT": mo, "ENTRIES": p.entries, "STEP_BITS": GELU_STEP_BITS,
            "D_W": GELU_FMT.width}


def controls(p: LinearParams) -> dict[str, int]:
    """The control inputs of ``p``'s run (port -> value)."""
    _, _, _, h_fmt, y_fmt = _formats(p)
    return {"tokens": p.tokens, "d_in": p.d_in, "d_out": p.d_out, "x_frac": p.x_frac, "w_frac": p.w_frac,
            "b_frac": p.b_frac, "h_frac": h_fmt.frac, "h_width": h_fmt.width, "out_frac": y_fmt.frac,
            "out_width": y_fmt.width, "bias_en": int(p.bias), "gelu_en": int(p.gelu)}


def make_data(p: LinearParams, seed=0) -> KernelData:
    """x [tokens, d_in], w [d_out, d_in], b [d_out] (when ``bias``) and the expected y [tokens, d_out]
    (gelu(linear) when ``gelu``: the linear is requantised to h, the GELU input).  ``seed`` may be a
    Generator (make_case draws its padding from the same one)."""
    rng = np.random.default_rng(seed)
    x_fmt, w_fmt, b_fmt, h_fmt, y_fmt = _formats(p)
    lin_fmt = h_fmt if p.gelu else y_fmt
    x, w, b = linear_operands(rng, p.tokens, p.d_in, p.d_out, x_fmt, w_fmt, b_fmt, lin_fmt, p.saturating)
    table = GeluTable(p.entries)
    y = linear(x, x_fmt, w, w_fmt, b if p.bias else None, b_fmt if p.bias else None, lin_fmt)
    if p.gelu:
        y = gelu(y, h_fmt, y_fmt, table)
    return KernelData(inputs={"x": x}, weights={"w": w, **({"b": b} if p.bias else {})}, expected={"y": y},
                      formats={"x": x_fmt, "w": w_fmt, "b": b_fmt, "h": h_fmt, "y": y_fmt},
                      table=table if p.gelu else None)


def make_case(p: LinearParams, seed: int = 0) -> SimCase:
    rng = np.random.default_rng(seed)
    d = make_data(p, rng)
    x, w, y = d.inputs["x"], d.weights["w"], d.expected["y"]
    ot = ceil_div(p.d_out, p.t_out)
    y_pad = np.zeros((p.tokens, ot * p.t_out), np.int64)
    y_pad[:, :p.d_out] = y
    y_beats = y_pad.reshape(p.tokens, ot, p.t_out).transpose(1, 0, 2).reshape(ot * p.tokens, p.t_out)
    inputs = {"x": pad_rows(x, p.t_in, rng, p.x_width), "w": pad_rows(w, p.t_in, rng, p.w_width)}
    widths = {"x": -p.x_width, "w": -p.w_width, "y": -p.out_width}
    if p.bias:
        inputs["b"] = pad_rows(d.weights["b"][None, :], p.t_out, rng, p.b_width)
        widths["b"] = -p.b_width
    return SimCase(
        toplevel="hwmoe_linear",
        parameters=verilog_parameters(p),
        inputs=inputs, expected={"y": y_beats}, widths=widths, predicted_cycles=cycles(p),
        config=controls(p),
        memories={"TABLE": (GeluTable(p.entries).values(), GELU_FMT.width)} if p.has_gelu else {})


@dataclass(frozen=True)
class LinearWork:
    """One linear layer: ``rows`` tokens of ``d_in`` words to ``d_out``; GELU fused at the output."""
    rows: int
    d_in: int
    d_out: int
    bias: bool = True
    gelu: bool = False


@lru_cache(maxsize=16384)
def _cycles(p: LinearParams, work: LinearWork) -> int:
    """The formula (~0.2-0.7 ms a call) memoised on the frozen, hashable parameters and work."""
    return cycles(replace(p, gelu=work.gelu, gelu_unit=p.has_gelu), work.rows, work.d_in, work.d_out)


class LinearKernel(Kernel):
    """T_OUT x T_IN weight tile per cycle shared by N_PE token lanes, weight rows double-buffered, all tokens'
    activations on chip, GELU fused at the output.  Runs linear layers, the patch embedding (its patches
    as tokens) and the head (the class token only)."""
    name = "linear"
    Params = LinearParams
    Work = LinearWork
    description = ("Linear layer: T_OUT x T_IN weight tile x N_PE token lanes, double-buffered weight stream, "
                   "bias, requant and optional fused GELU")
    node_kinds = ("patch_embed", "linear", "head")
    reference = staticmethod(linear)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    def work(self, node, graph) -> LinearWork:
        d_out, d_in = node.weight.shape
        if node.kind == "patch_embed":
            rows = node.pos_embed.shape[0] - 1
        elif node.kind == "head":
            rows = 1
        else:
            rows = graph.shapes[node.inputs[0]][0]
        return LinearWork(int(rows), int(d_in), int(d_out), bias=node.bias is not None)

    def macs(self, work: LinearWork) -> int:
        return work.rows * work.d_in * work.d_out

    def weight_words(self, work: LinearWork) -> tuple[int, int]:
        return work.d_in * work.d_out, work.d_out if work.bias else 0

    def cycles(self, params: LinearParams, work: LinearWork) -> int:
        return _cycles(params, work)

    # ---- resources ----------------------------------------------------------------------------------
    @staticmethod
    def multipliers(p: LinearParams) -> int:
        return p.n_pe * p.t_out * p.t_in

    def features(self, p: LinearParams) -> dict[str, float]:
        mt, mi, mo = p.maxima()
        acc = p.x_width + p.w_width + max(mi, 2).bit_length() + 2
        np2 = any(t & (t - 1) for t in (p.t_in, p.t_out))                   # a tile edge not a power of two
        return {"mult_bits": self.multipliers(p) * (p.x_width + p.w_width),   # partial-product adders
                # yosys builds ~1 LUT more per product bit when a tile edge is not a power of two (3, 6, 12,
                # 24, 48 are in the search space: divisors of 192): measured on the 3x3 and 6x6 points
                "np2_mult_bits": self.multipliers(p) * (p.x_width + p.w_width) if np2 else 0.0,
                "acc_bits": p.n_pe * p.t_out * acc * 2,                        # accumulators + 2-slot hold
                "out_lanes": p.t_out * (p.out_width + (p.h_width if p.has_gelu else 0)),
                "in_bits": p.n_pe * p.t_in * p.x_width + p.t_out * p.t_in * p.w_width,
                # the run-time casts of every output lane (hwmoe_requant_runtime): bias alignment, requant
                # of the sum, and the GELU unit's input shift and output cast
                "cast_bits": p.t_out * self.cast_bits(p, acc)}

    @staticmethod
    def cast_bits(p: LinearParams, acc: int) -> int:
        aligned = p.b_width + p.bsh_max
        bits = runtime_requant_bits(max(acc, aligned) + 1, p.core_h_width)
        if p.has_bias:
            bits += runtime_requant_bits(p.b_width, aligned)
        if p.has_gelu:
            g_in = p.core_h_width + p.g_lsh_max
            g_frac = p.h_frac + p.gelu_lsh
            bits += g_in * clog2(p.g_lsh_max + 1) + runtime_requant_bits(
                g_in + max(g_frac, GELU_FMT.frac) - g_frac + 1, p.out_width)
        return bits

    def dsp(self, p: LinearParams, dsp_kind: str = "DSP48E2") -> float:
        """The MAC array (per input column, the N_PE activations times the T_OUT weights: two products per
        slice at 8 bits) and one GELU interpolation multiplier per output lane (when it interpolates)."""
        gelu = p.t_out * lane_dsps(p.h_frac + p.gelu_lsh) if p.gelu else 0
        return float(dsps_for_products(dsp_kind, p.n_pe * p.t_in, p.t_out, p.x_width, p.w_width) + gelu)

    def bram36(self, p: LinearParams) -> float:
        mt, mi, mo = p.maxima()
        it = ceil_div(mi, p.t_in)
        x_banks = p.n_pe * brams_for(ceil_div(mt, p.n_pe) * it, p.t_in * p.x_width)
        w_banks = p.t_out * brams_for(2 * it, p.t_in * p.w_width)
        gelu = p.t_out * lane_brams(p.h_frac + p.gelu_lsh, p.entries) if p.gelu else 0.0
        return x_banks + w_banks + gelu

    def calibration_points(self) -> list:
        P = LinearParams
        base = dict(tokens=8, d_in=32, d_out=16)
        w32 = dict(x_width=32, x_frac=16, h_width=32, h_frac=16, out_width=32, out_frac=16)
        w8 = dict(x_width=8, x_frac=4, w_width=8, w_frac=6, h_width=8, h_frac=7, out_width=8, out_frac=4)
        return [P(t_in=2, t_out=2, n_pe=1, **base), P(t_in=4, t_out=2, n_pe=2, **base),
                P(t_in=2, t_out=4, n_pe=3, **base), P(t_in=4, t_out=4, n_pe=2, **base),
                P(t_in=4, t_out=2, n_pe=1, gelu=True, **base),
                P(t_in=2, t_out=2, n_pe=2, x_width=32, x_frac=16, out_width=32, out_frac=16, **base),
                P(t_in=2, t_out=2, n_pe=1, tokens=64, d_in=192, d_out=16),
                # the engine's configuration: square tile, GELU fused, 32-bit activations (w16a32)
                P(t_in=4, t_out=4, n_pe=1, gelu=True, **w32, **base),
                P(t_in=2, t_out=2, n_pe=3, gelu=True, **w32, **base),
                # tile edges that are not powers of two
                P(t_in=3, t_out=3, n_pe=1, **base), P(t_in=6, t_out=6, n_pe=1, **base),
                P(t_in=6, t_out=6, n_pe=1, gelu=True, **w32, **base),
                # 8-bit words: two output columns per multiplier (an odd T_OUT leaves one alone); the GELU
                # input keeps 7 fractional bits so that its interpolation multiplier is built
                P(t_in=2, t_out=4, n_pe=1, **w8, **base), P(t_in=3, t_out=3, n_pe=2, gelu=True, **w8, **base)]

    def engine_params(self, choice: dict, maxima: LinearWork, formats) -> LinearParams:
        """``choice``: t_in, t_out, n_pe; activations in, out and at the GELU input, weights, biases as
        parameters; buffers for the largest layer; a bias unit and a GELU unit when any layer uses one."""
        act, w, b = formats["act"], formats["weight"], formats["param"]
        return LinearParams(**choice, x_width=act.width, x_frac=act.frac, w_width=w.width, w_frac=w.frac,
                            b_width=b.width, b_frac=b.frac, out_width=act.width, out_frac=act.frac,
                            bias=maxima.bias, gelu=maxima.gelu, h_width=act.width, h_frac=act.frac,
                            tokens=maxima.rows, d_in=maxima.d_in, d_out=maxima.d_out)


LINEAR = LinearKernel()


_SMALL_TILES = {"t_in": "4", "t_out": "4", "n_pe": "2"}
POINTS = {
    # the default tiles (16 x 16 x 3), bias, no GELU, dims not divisible by the tiles
    "default": Point({}),
    # small tiles, dims not divisible by the tiles, bias
    "ragged": Point({**_SMALL_TILES, "tokens": "11", "d_in": "18", "d_out": "14"}),
    # N_PE = 1, no bias, many saturating tokens
    "npe1-nobias-sat": Point({**_SMALL_TILES, "n_pe": "1", "tokens": "5", "d_in": "9", "d_out": "10", "bias": "0",
                              "saturating": "0.3"}),
    # 8-bit words, T_IN = 3, bias with more fractional bits than the accumulator (rounded when aligned)
    "w8-bias-round": Point({**_SMALL_TILES, "t_in": "3", "x_width": "8", "x_frac": "4", "w_width": "8",
                            "w_frac": "6", "b_width": "16", "b_frac": "14", "out_width": "8", "out_frac": "4",
                            "tokens": "9", "d_in": "20", "d_out": "7"}),
    # fused GELU, runtime dims below the compile-time maxima, one chunk per row (It < N_PE)
    "gelu-max": Point({**_SMALL_TILES, "n_pe": "3", "gelu": "1", "tokens": "10", "d_in": "4", "d_out": "9",
                       "max_tokens": "16", "max_in": "12", "max_out": "16"}),
    # fused GELU on 8-bit words into a 16-bit GELU input, no bias, odd tiles (T_IN = 5, T_OUT = 3), 3 lanes
    "gelu-w8": Point({"bias": "0", "gelu": "1", "x_width": "8", "x_frac": "4", "w_width": "8", "w_frac": "6",
                      "h_width": "16", "h_frac": "11", "out_width": "8", "out_frac": "4", "t_in": "5", "t_out": "3",
                      "n_pe": "3", "tokens": "7"}),
    # fused GELU on 32-bit activations (W16A32-like), no bias
    "gelu-w32": Point({**_SMALL_TILES, "gelu": "1", "bias": "0", "x_width": "32", "x_frac": "20", "h_width": "32",
                       "h_frac": "22", "out_width": "32", "out_frac": "22", "tokens": "13", "d_in": "30",
                       "d_out": "22"}, ("verilator",)),
    # an M3ViT-T layer at W16A32 (32-bit activations): 129 tokens, 192 -> 768, the default UbiMoE-like tiles
    # (16 x 16 x 3)
    "m3vit-t": Point({"tokens": "129", "d_in": "192", "d_out": "768", "x_width": "32", "x_frac": "22",
                      "out_width": "32", "out_frac": "18"}, ("verilator",), full_size=True),
}
