"""LayerNorm unit: one pass over E[x] and E[x^2], 1/sqrt from a table (docs/numerics.md §6)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boards import dsps_per_multiplier
from ..cost.usage import brams_for
from ..numerics.fixed import Fmt, Q, align, int_bits_for, msb, overflow, quantize, requant, shift_round, shift_round_var
from ..numerics.intmath import ceil_div
from ..numerics.precision import stat_fmt
from ..numerics.tables import Q15, RSQRT_INDEX_BITS, rsqrt_table
from .base import Kernel, KernelData, Point, SimCase, check_runtime_fracs
from .testdata import row_beats, signed_range

RSQRT = rsqrt_table()
RECIP_DIM_BITS = 24   # 1/dim as round(2**24 / dim)


def norm_fmt(dim: int, width: int) -> Fmt:
    """(x - mean) / std lies within +-sqrt(dim)."""
    return Fmt(width, int_bits_for(np.sqrt(dim)))


def eps_raw(eps: float, frac: int) -> int:
    return int(round(eps * 2.0 ** frac))


def layernorm(x, x_fmt: Fmt, gamma, beta, p_fmt: Fmt, eps: float, out: Fmt,
              stat_width: int = 16, norm_width: int = 18) -> np.ndarray:
    """Raw x [tokens, dim] -> raw LayerNorm(x) in ``out``; gamma and beta raw in ``p_fmt``."""
    x = np.asarray(x, dtype=np.int64)
    dim = x.shape[-1]
    s_fmt = stat_fmt(x_fmt, stat_width)
    xs = requant(x, x_fmt.frac, s_fmt)
    fs = s_fmt.frac
    recip_dim = int(round(2 ** RECIP_DIM_BITS / dim))
    mean = shift_round(xs.sum(-1, keepdims=True) * recip_dim, RECIP_DIM_BITS, Q.RND)        # frac fs
    ex2 = shift_round((xs * xs).sum(-1, keepdims=True) * recip_dim, RECIP_DIM_BITS, Q.RND)  # frac 2fs
    var = np.maximum(ex2 - mean * mean, 0)
    v = np.maximum(var + eps_raw(eps, 2 * fs), 1)
    top = msb(v)
    exponent = top - 2 * fs
    parity = exponent & 1
    index = shift_round_var(v, top - RSQRT_INDEX_BITS, Q.TRN) & ((1 << RSQRT_INDEX_BITS) - 1)
    r = RSQRT[parity * (1 << RSQRT_INDEX_BITS) + index]                  # U1.15 * 2**(-(exponent - parity)/2)
    half_exp = (exponent - parity) // 2
    fc = max(x_fmt.frac, fs)
    centred = align(x, x_fmt.frac, fc) - align(mean, fs, fc)
    n_fmt = norm_fmt(dim, norm_width)
    n = overflow(shift_round_var(centred * r, fc + Q15 + half_exp - n_fmt.frac, Q.RND), n_fmt)
    frac = n_fmt.frac + p_fmt.frac
    y = n * np.asarray(gamma, np.int64) + align(beta, p_fmt.frac, frac)
    return requant(y, frac, out)


# ---------------------------------------------------------------------------------------------- hardware
@dataclass(frozen=True)
class LayerNormParams:
    """Hardware parameters of the LayerNorm unit (rtl/hwmoe_layernorm.v) and the size of a test case."""
    lanes: int = 4
    dim_max: int = 24           # DIM: largest row the buffers hold
    dim: int = 22               # runtime row length (not a multiple of lanes here: a padded last beat)
    tokens: int = 6             # rows per layer
    layers: int = 1             # layers in the case, each with its own gamma/beta
    x_width: int = 16
    x_frac: int = 10
    p_width: int = 16
    p_frac: int = 12
    out_width: int = 16
    out_frac: int = 11
    stat_width: int = 16
    norm_width: int = 18
    eps: float = 1e-5
    nbuf: int = 4               # row buffers (power of two)
    out_word: int = 0           # OUT_W, the output port's width (0: out_width); a narrower out_width saturates
                                # at its width and is sign-extended on the port

    def check(self) -> None:
        for name in ("lanes", "dim_max", "dim", "tokens", "layers", "x_width", "p_width", "out_width",
                     "stat_width", "norm_width", "nbuf"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not self.dim <= self.dim_max < (1 << 20):
            raise ValueError(f"dim {self.dim} must be <= dim_max {self.dim_max} < 2^20")
        if self.lanes > self.dim_max:
            raise ValueError(f"lanes {self.lanes} must not exceed dim_max {self.dim_max}")
        if self.nbuf < 2 or self.nbuf & (self.nbuf - 1):
            raise ValueError(f"nbuf {self.nbuf} must be a power of two >= 2")
        if self.tokens >= 1 << 16:
            raise ValueError("tokens must be below 2^16")
        if not 2 <= self.stat_width <= 19:
            raise ValueError("stat_width must be 2..19 (E[x^2] stays in 64-bit words)")
        if not 0 <= eps_raw(self.eps, 2 * self.stat_frac) < (1 << 31):
            raise ValueError("eps does not fit 31 bits at the statistics' fraction")
        if not 2 <= self.out_width <= self.out_w:
            raise ValueError(f"out_width {self.out_width} must be 2..out_word {self.out_w}")
        check_runtime_fracs(self, "p_frac", "out_frac")

    @property
    def out_w(self) -> int:
        """OUT_W: the output port's width."""
        return self.out_word or self.out_width

    @property
    def stat_frac(self) -> int:
        return self.x_frac - self.x_width + self.stat_width

    def fmts(self) -> tuple[Fmt, Fmt, Fmt]:
        f = Fmt.from_frac
        return f(self.x_width, self.x_frac), f(self.p_width, self.p_frac), f(self.out_width, self.out_frac)


# pipeline latencies of rtl/hwmoe_layernorm.v: a row's last beat accepted -> its first beat read back out
# of the buffer (sums committed, statistics, 1/sqrt: stages A and B), and that read -> the first output beat
LN_FILL = 12
LN_OUT = 6


def cycles(lanes: int, dim: int, tokens: int, layers: int = 1, nbuf: int = 4) -> int:
    """First input beat accepted to last output beat, no stalls.

    A row is b = ceil(dim/lanes) beats and holds its buffer from its first beat in to its last beat read,
    hold = 2b + LN_FILL cycles; with nbuf buffers row r starts at floor(r/nbuf) * max(hold, nbuf*b) +
    (r mod nbuf) * b (one row per b cycles once rows are at least ~LN_FILL/(nbuf-2) beats long).  The last
    row then takes 2b + LN_FILL + LN_OUT cycles, and every further layer waits b cycles for its gamma/beta,
    streamed after the previous layer's last row has been read."""
    b = ceil_div(dim, lanes)
    hold = 2 * b + LN_FILL
    last = tokens * layers - 1
    start_last = (last // nbuf) * max(hold, nbuf * b) + (last % nbuf) * b
    return start_last + 2 * b + LN_FILL + LN_OUT + (layers - 1) * b


def make_data(p: LayerNormParams, seed=0) -> KernelData:
    """x [layers, tokens, dim]: random rows (Gaussian with a per-row offset and scale, a few words at the
    extremes), plus a constant row (variance 0: the eps path) and a row saturated at the most negative word,
    per layer; gamma, beta [layers, dim] (the first layer's gamma starts with the extreme words); the
    expected y [layers, tokens, dim]."""
    rng = np.random.default_rng(seed)
    x_fmt, p_fmt, out = p.fmts()
    rows = p.tokens * p.layers
    scale = 2.0 ** (x_fmt.int_bits - 3)
    x = quantize(rng.normal(0, 1, (rows, p.dim)) * rng.uniform(0.05, 1, (rows, 1)) * scale
                 + rng.uniform(-1, 1, (rows, 1)) * scale, x_fmt)
    x = np.where(rng.random(x.shape) < 0.05, signed_range(rng, p.x_width, x.shape, 1.0), x)
    x = x.reshape(p.layers, p.tokens, p.dim)
    if p.tokens > 1:
        x[:, 1] = x[:, 1, :1]                                          # constant row
    if p.tokens > 2:
        x[:, 2] = x_fmt.raw_min                                        # saturated constant row
    gammas, betas, ys = [], [], []
    for layer in range(p.layers):
        gamma = quantize(rng.normal(1, 0.5, p.dim), p_fmt)
        beta = quantize(rng.normal(0, 0.5, p.dim), p_fmt)
        if layer == 0:
            gamma[:2] = [p_fmt.raw_max, p_fmt.raw_min]                 # extreme parameters
        gammas.append(gamma), betas.append(beta)
        ys.append(layernorm(x[layer], x_fmt, gamma, beta, p_fmt, p.eps, out, p.stat_width, p.norm_width))
    return KernelData(inputs={"x": x}, weights={"gamma": np.stack(gammas), "beta": np.stack(betas)},
                      expected={"y": np.stack(ys)}, formats={"x": x_fmt, "p": p_fmt, "y": out})


def verilog_parameters(p: LayerNormParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_layernorm.v)."""
    return {"LANES": p.lanes, "MAX_DIM": p.dim_max, "X_W": p.x_width, "P_W": p.p_width, "OUT_W": p.out_w,
            "STAT_W": p.stat_width, "NORM_W": p.norm_width, "NBUF": p.nbuf, "RSQRT_IDX": RSQRT_INDEX_BITS}


def controls(p: LayerNormParams) -> dict[str, int]:
    """The control inputs of ``p``'s run (port -> value)."""
    return {"dim": p.dim, "tokens": p.tokens, "p_frac": p.p_frac, "out_frac": p.out_frac,
            "out_width": p.out_width, "eps": eps_raw(p.eps, 2 * p.stat_frac)}


def make_case(p: LayerNormParams, seed: int = 0) -> SimCase:
    d = make_data(p, seed)
    b = ceil_div(p.dim, p.lanes)
    rows = lambda a: row_beats(a.reshape(-1, p.dim), b, p.lanes)
    params = [np.concatenate([rows(g), rows(be)], 1) for g, be in zip(d.weights["gamma"], d.weights["beta"])]
    return SimCase(
        toplevel="hwmoe_layernorm",
        parameters=verilog_parameters(p),
        inputs={"x": rows(d.inputs["x"]), "p": np.concatenate(params)},
        expected={"y": rows(d.expected["y"])},
        widths={"x": -p.x_width, "p": -p.p_width, "y": -p.out_w},
        predicted_cycles=cycles(p.lanes, p.dim, p.tokens, p.layers, p.nbuf),
        config=controls(p),
        memories={"RSQRT": (RSQRT, 16)})


@dataclass(frozen=True)
class LayerNormWork:
    rows: int
    dim: int


class LayerNormKernel(Kernel):
    """The LayerNorm unit: LANES words per beat, NBUF row buffers (in the accelerator: on the linear engine's
    input stream, LANES = the tile edge)."""
    name = "layernorm"
    Params = LayerNormParams
    Work = LayerNormWork
    description = "LayerNorm unit: one-pass statistics, table 1/sqrt, row buffers overlapping rows"
    node_kinds = ("layernorm",)
    reference = staticmethod(layernorm)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    def work(self, node, graph) -> LayerNormWork:
        return LayerNormWork(int(graph.shapes[node.inputs[0]][0]), int(node.gamma.shape[0]))

    def macs(self, work: LayerNormWork) -> int:
        return 0

    def weight_words(self, work: LayerNormWork) -> tuple[int, int]:
        return 0, 2 * work.dim                      # gamma and beta

    def cycles(self, params: LayerNormParams, work: LayerNormWork) -> int:
        return cycles(params.lanes, work.dim, work.rows, 1, params.nbuf)

    def features(self, p: LayerNormParams) -> dict[str, float]:
        return {"lanes": p.lanes, "lane_bits": p.lanes * (p.x_width + p.p_width + p.out_w),
                "wide_bits": p.lanes * max(0, p.x_width - 16) * 4}      # (x - mean) * r beyond one DSP

    def dsp(self, p: LayerNormParams, dsp_kind: str = "DSP48E2") -> float:
        """Per lane: x^2 (one DSP up to 18-bit statistics), (x - mean) * r (two DSPs once x is wider than the
        27-bit port allows) and n * gamma; shared: the statistics (sum * 1/dim, E[x]^2, ...).  Matches every
        point of search/calibration/layernorm.json."""
        square = dsps_per_multiplier(dsp_kind, p.stat_width, p.stat_width)
        return float(p.lanes * (1 + square + dsps_per_multiplier(dsp_kind, p.x_width + 1, 16)) + 7)

    def bram36(self, p: LayerNormParams) -> float:
        b = ceil_div(p.dim_max, p.lanes)
        return (brams_for(p.nbuf * b, p.lanes * p.x_width) + brams_for(b, 2 * p.lanes * p.p_width)
                + brams_for(len(RSQRT), 16))             # the 1/sqrt table

    def calibration_points(self) -> list:
        P = LayerNormParams
        return [P(lanes=1, dim_max=24, dim=24), P(lanes=2, dim_max=64, dim=64), P(lanes=4, dim_max=192, dim=192),
                P(lanes=4, dim_max=24, dim=22), P(lanes=2, dim_max=192, dim=192, x_width=32, x_frac=16)]

    def engine_params(self, choice: dict, maxima: LayerNormWork, formats) -> LayerNormParams:
        """``choice``: lanes, nbuf; the residual stream in, parameters for gamma/beta, an activation out; the
        statistics at most 19 bits wide (E[x^2] must stay within the unit's 64-bit words)."""
        x, g, out = formats["resid"], formats["param"], formats["act"]
        return LayerNormParams(**choice, dim_max=maxima.dim, dim=maxima.dim, tokens=maxima.rows,
                               x_width=x.width, x_frac=x.frac, p_width=g.width, p_frac=g.frac,
                               out_width=out.width, out_frac=out.frac, stat_width=min(formats["stat"].width, 19),
                               norm_width=formats["norm"].width)


LAYERNORM = LayerNormKernel()


POINTS = {
    # dim 22 over 4 lanes: a padded last beat; 6 rows, 4 buffers
    "default": Point({}, ("icarus", "verilator")),
    # 32-bit residual words (w16a32): x cut to 16 statistics bits, two layers with their own gamma/beta
    "w32-two-layers": Point({"x_width": "32", "x_frac": "22", "out_width": "32", "out_frac": "22", "tokens": "5",
                             "layers": "2", "dim": "24", "lanes": "8", "dim_max": "32"}, ("icarus", "verilator")),
    # 8-bit words (narrower than the statistics), one lane, eps 0, output saturating, two row buffers
    "w8-lane1": Point({"x_width": "8", "x_frac": "4", "out_width": "8", "out_frac": "6", "lanes": "1",
                       "dim": "13", "dim_max": "16", "tokens": "5", "eps": "0", "nbuf": "2"}),
    # tiny rows (one beat): throughput bound by the buffers; dim smaller than the buffers' DIM
    "one-beat-rows": Point({"lanes": "4", "dim": "3", "dim_max": "8", "tokens": "12", "p_frac": "14"}),
    # 32-bit words (20 fractional bits in, 24 out) on rows of m3vit-t's dim 192, w16a32's 18-bit statistics
    "w32-dim192": Point({"tokens": "9", "dim": "192", "dim_max": "192", "x_width": "32", "x_frac": "20",
                         "out_width": "32", "out_frac": "24", "eps": "1e-5", "stat_width": "18"}),
    # m3vit-t: 129 tokens of dim 192
    "m3vit-t": Point({"lanes": "4", "dim": "192", "dim_max": "192", "tokens": "129"}, full_size=True),
}
