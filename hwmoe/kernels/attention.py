"""Streaming attention kernel: softmax(q k^T * scale) v per head without the N x N score matrix.

Keys and values stream by in blocks of ``block`` tokens; a running max, running sum and running A.V
accumulator are rescaled when the max grows, and the row is divided by the sum at the end
(docs/numerics.md §7).  The block width is part of the numerics: rescaling rounds.

The hardware kernel (rtl/hwmoe_attention.v): ``AttentionParams``, the cycle formula ``cycles`` and
``make_case``; q, k, v and the output stream head-major, token by token, ``lanes`` words per beat."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..boards import dsps_per_multiplier
from ..cost.usage import brams_for
from ..numerics import tables
from ..numerics.fixed import Fmt, Q, int_bits_for, quantize, requant, shift_round
from ..numerics.intmath import ceil_div, clog2
from ..numerics.softmax import DEFAULT_BLOCK, LOG2E, exp2_neg, normalise
from ..numerics.tables import Q15
from .base import Kernel, KernelData, Point, SimCase, runtime_requant_bits
from .table_unit import SOFTMAX_TABLE_PARAMETERS, softmax_tables_bram36


#: bits of the score constant scale * log2(e) (the RTL's C_W)
SCORE_CONSTANT_WIDTH = 16


def score_constant(scale: float, width: int = SCORE_CONSTANT_WIDTH) -> tuple[int, Fmt]:
    """scale * log2(e) as an unsigned constant of ``width`` bits with as many fractional bits as fit."""
    c = scale * LOG2E
    fmt = Fmt(width, int_bits_for(c, signed=False), signed=False)
    return int(quantize(c, fmt)), fmt


def attention(q, k, v, q_fmt: Fmt, k_fmt: Fmt, v_fmt: Fmt, heads: int, scale: float,
              t_fmt: Fmt, out: Fmt, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Raw q, k, v [tokens, heads*head_dim] -> raw attention output [tokens, heads*head_dim] in ``out``.

    t = q.k * scale * log2(e) in ``t_fmt``; e = 2**-(m - t) in U1.15 with m the running max."""
    c, c_fmt = score_constant(scale)
    return attention_scored(q, k, v, q_fmt, k_fmt, v_fmt, heads, c, c_fmt.frac, t_fmt, out, block)


def attention_scored(q, k, v, q_fmt: Fmt, k_fmt: Fmt, v_fmt: Fmt, heads: int, c: int, c_frac: int,
                     t_fmt: Fmt, out: Fmt, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """``attention`` given the score constant as the engine takes it: raw ``c`` with ``c_frac`` fractional
    bits (``score_constant``)."""
    n = q.shape[0]
    hd = q.shape[1] // heads
    split = lambda a: np.asarray(a, np.int64).reshape(n, heads, hd).transpose(1, 0, 2)   # [H, N, D]
    qh, kh, vh = split(q), split(k), split(v)
    s = np.einsum("hid,hjd->hij", qh, kh)                      # exact: |s| < 2**(2*attn + log2 D)
    t = requant(s * c, q_fmt.frac + k_fmt.frac + c_frac, t_fmt)
    ft = t_fmt.frac
    m = l = acc = None
    for j0 in range(0, n, block):
        tb, vb = t[:, :, j0:j0 + block], vh[:, j0:j0 + block, :]
        m_new = tb.max(-1, keepdims=True) if m is None else np.maximum(m, tb.max(-1, keepdims=True))
        if m is not None:
            r = exp2_neg(m_new - m, ft)                            # rescale factor 2**-(m_new - m_old)
            l = shift_round(l * r, Q15, Q.TRN)
            acc = shift_round(acc * r, Q15, Q.TRN)
        e = exp2_neg(m_new - tb, ft)                               # [H, N, B] U1.15
        l = (0 if l is None else l) + e.sum(-1, keepdims=True)
        acc = (0 if acc is None else acc) + np.einsum("hij,hjd->hid", e, vb)
        m = m_new
    o = normalise(acc, l, Q15 + v_fmt.frac, Q15, out)               # [H, N, D]
    return o.transpose(1, 0, 2).reshape(n, heads * hd)


# ------------------------------------------------------------------------------------------ hardware kernel

@dataclass(frozen=True)
class AttentionParams:
    """Hardware parameters of the streaming attention unit (rtl/hwmoe_attention.v) and the size of a test case.

    ``rows`` is the RTL's P (query rows in flight), ``lanes`` its LANES (multipliers per row = words per
    stream beat), ``block`` its BLOCK (part of the numerics).  ``scale`` 0 means head_dim ** -0.5.  Formats:
    width and fractional bits (all signed).

    Build-time (Verilog parameters): rows, block, lanes, head_dim, the word widths q/k/v_width and the
    maxima ``max_tokens``, ``max_heads``, ``max_t_width``, ``max_out_width`` (0: the run's own value).
    Run-time (control inputs, :func:`controls`): tokens, heads, every fractional bit count, t_width and
    out_width (saturation) and the score constant from ``scale``.  q, k, v words narrower than their width
    are the same integers (sign-extended), so the input widths are datapath widths only."""
    rows: int = 4
    block: int = DEFAULT_BLOCK
    lanes: int = 8
    head_dim: int = 16
    heads: int = 2
    tokens: int = 21
    max_tokens: int = 0
    max_heads: int = 0
    q_width: int = 16
    q_frac: int = 12
    k_width: int = 16
    k_frac: int = 12
    v_width: int = 16
    v_frac: int = 12
    t_width: int = 16
    t_frac: int = 10
    out_width: int = 16
    out_frac: int = 12
    max_t_width: int = 0
    max_out_width: int = 0
    scale: float = 0.0
    sigma: float = 1.0          # spread of the random q, k, v (real units)
    saturating: float = 0.02    # fraction of q, k, v words at their format's extremes

    @property
    def buffer_tokens(self) -> int:
        return self.max_tokens or self.tokens

    @property
    def heads_limit(self) -> int:
        """The RTL's MAX_HEADS."""
        return self.max_heads or self.heads

    @property
    def t_word_width(self) -> int:
        """The RTL's T_W: the score register, the widest run-time t_width."""
        return self.max_t_width or self.t_width

    @property
    def out_word_width(self) -> int:
        """The RTL's OUT_W: the output port, the widest run-time out_width."""
        return self.max_out_width or self.out_width

    @property
    def frac_bits(self) -> int:
        """The RTL's FRAC_B, the width of a signed fractional-bits control input: clog2 of the widest word
        (the 16-bit exp2 and reciprocal words included) + 2."""
        widest = max(self.q_width, self.k_width, self.v_width, self.t_word_width, self.out_word_width,
                     SCORE_CONSTANT_WIDTH, 16)
        return clog2(widest) + 2

    @property
    def score_scale(self) -> float:
        return self.scale or self.head_dim ** -0.5

    def formats(self) -> tuple[Fmt, Fmt, Fmt, Fmt, Fmt]:
        f = Fmt.from_frac
        return (f(self.q_width, self.q_frac), f(self.k_width, self.k_frac), f(self.v_width, self.v_frac),
                f(self.t_width, self.t_frac), f(self.out_width, self.out_frac))

    def check(self) -> None:
        for name in ("rows", "block", "lanes", "head_dim", "heads", "tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.head_dim % self.lanes:
            raise ValueError(f"head_dim {self.head_dim} must be a multiple of lanes {self.lanes}")
        if self.tokens > self.buffer_tokens:
            raise ValueError(f"tokens {self.tokens} exceeds max_tokens {self.max_tokens}")
        if not 0 <= self.t_frac <= self.t_width:
            raise ValueError(f"t_frac {self.t_frac} must be within 0..t_width")
        for name, run, limit in (("heads", self.heads, self.heads_limit), ("t_width", self.t_width,
                                 self.t_word_width), ("out_width", self.out_width, self.out_word_width)):
            if run > limit:
                raise ValueError(f"{name} {run} exceeds max_{name} {limit}")
        lo, hi = -(1 << (self.frac_bits - 1)), (1 << (self.frac_bits - 1)) - 1
        c_frac = score_constant(self.score_scale)[1].frac
        for name, frac in (("q_frac", self.q_frac), ("k_frac", self.k_frac), ("v_frac", self.v_frac),
                           ("out_frac", self.out_frac), ("score constant's fraction", c_frac)):
            if not lo <= frac <= hi:
                raise ValueError(f"{name} {frac} outside {lo}..{hi}, what a {self.frac_bits}-bit control input holds")
        tok_w = int(self.buffer_tokens).bit_length()
        if self.v_width + 15 + tok_w + 17 > 62:
            raise ValueError("v_width + log2(max_tokens) too large: acc * r must fit 62 bits")
        if self.q_width + self.k_width + clog2(self.head_dim) + 17 > 62:
            raise ValueError("q_width + k_width + log2(head_dim) too large: s * C must fit 62 bits")
        self.formats()


SCORE_DRAIN, EXP_START, GROUP_DRAIN, OUT_LATENCY = 6, 3, 3, 3


def cycles(p: AttentionParams, tokens: int, heads: int, head_dim: int) -> int:
    """First input beat accepted to last output beat, without stalls (the schedule of hwmoe_attention.v).

    Per head: K and V load (N*CH beats, concurrently) and, per group of P rows, its q (P_g*CH beats); per
    group and block of nb keys: SCORE nb*CH, score drain, exp start, AV CH*(nb + 2) (two rescale steps per
    chunk); 3 cycles per group before its output engine starts, which then overlaps the next group.  The last
    group's output (P_last*CH beats + latency) ends the run.  CH = head_dim / lanes, N = tokens.
    The only wait: a short last group whose q load and first score block take less time than the previous
    group's output, which must be read out before the accumulators are rescaled."""
    n, ch = int(tokens), ceil_div(head_dim, p.lanes)
    groups, nblocks = ceil_div(n, p.rows), ceil_div(n, p.block)
    blocks = ch * (2 * n + 2 * nblocks) + (SCORE_DRAIN + EXP_START) * nblocks
    last_rows = n - (groups - 1) * p.rows
    wait = max(0, (p.rows - last_rows - min(p.block, n)) * ch - (SCORE_DRAIN - 1)) if groups > 1 else 0
    per_head = 2 * n * ch + groups * (blocks + GROUP_DRAIN) + wait
    return int(heads) * per_head + last_rows * ch + OUT_LATENCY


def _operands(rng: np.random.Generator, fmt: Fmt, shape, sigma: float, saturating: float) -> np.ndarray:
    x = quantize(rng.normal(0.0, sigma, shape), fmt)
    if saturating:
        pick = rng.random(shape) < saturating
        x = np.where(pick, rng.choice([fmt.raw_min, fmt.raw_max], size=shape), x)
    return x


def to_stream(x: np.ndarray, heads: int, lanes: int) -> np.ndarray:
    """[tokens, heads*head_dim] -> beats [heads*tokens*head_dim/lanes, lanes], head-major."""
    n = x.shape[0]
    return np.asarray(x).reshape(n, heads, -1).transpose(1, 0, 2).reshape(-1, lanes)


def make_data(p: AttentionParams, seed=0) -> KernelData:
    """q, k, v [tokens, heads*head_dim] (normal(0, sigma), a fraction ``saturating`` at the extremes) and
    the expected out [tokens, heads*head_dim]."""
    rng = np.random.default_rng(seed)
    q_fmt, k_fmt, v_fmt, t_fmt, o_fmt = p.formats()
    shape = (p.tokens, p.heads * p.head_dim)
    q, k, v = (_operands(rng, f, shape, p.sigma, p.saturating) for f in (q_fmt, k_fmt, v_fmt))
    out = attention(q, k, v, q_fmt, k_fmt, v_fmt, p.heads, p.score_scale, t_fmt, o_fmt, block=p.block)
    return KernelData(inputs={"q": q, "k": k, "v": v}, weights={}, expected={"out": out},
                      formats={"q": q_fmt, "k": k_fmt, "v": v_fmt, "t": t_fmt, "out": o_fmt})


def verilog_parameters(p: AttentionParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_attention.v)."""
    return {"P": p.rows, "BLOCK": p.block, "HEAD_DIM": p.head_dim, "MAX_HEADS": p.heads_limit,
            "MAX_TOKENS": p.buffer_tokens, "LANES": p.lanes, "Q_W": p.q_width, "K_W": p.k_width, "V_W": p.v_width,
            "T_W": p.t_word_width, "OUT_W": p.out_word_width, "C_W": SCORE_CONSTANT_WIDTH, **SOFTMAX_TABLE_PARAMETERS}


def controls(p: AttentionParams) -> dict[str, int]:
    """The run-time control inputs of rtl/hwmoe_attention.v for one run: dims and formats (port -> value)."""
    c, c_fmt = score_constant(p.score_scale)
    return {"tokens": p.tokens, "heads": p.heads, "q_frac": p.q_frac, "k_frac": p.k_frac, "v_frac": p.v_frac,
            "t_width": p.t_width, "t_frac": p.t_frac, "out_width": p.out_width, "out_frac": p.out_frac,
            "c_value": int(c), "c_frac": c_fmt.frac}


def make_case(p: AttentionParams, seed: int = 0) -> SimCase:
    """The formats are control inputs (``config``), so cases that differ only in formats share one build."""
    d = make_data(p, seed)
    exp2, recip = tables.exp2_table(), tables.recip_table()
    return SimCase(
        toplevel="hwmoe_attention",
        parameters=verilog_parameters(p),
        inputs={name: to_stream(x, p.heads, p.lanes) for name, x in d.inputs.items()},
        expected={"y": to_stream(d.expected["out"], p.heads, p.lanes)},
        widths={"q": -p.q_width, "k": -p.k_width, "v": -p.v_width, "y": -p.out_word_width},
        predicted_cycles=cycles(p, p.tokens, p.heads, p.head_dim),
        config=controls(p),
        memories={"EXP_TABLE": (exp2, 16), "RECIP_TABLE": (recip, 16)})


@dataclass(frozen=True)
class AttentionWork:
    tokens: int
    heads: int
    head_dim: int


class AttentionKernel(Kernel):
    """The streaming attention unit: P query rows (``rows``) of LANES multipliers each against K/V held in
    block RAM and replayed in blocks of BLOCK keys."""
    name = "attention"
    Params = AttentionParams
    Work = AttentionWork
    description = "streaming attention: P query rows against block-streamed K/V held on chip, single-pass softmax"
    node_kinds = ("attention",)
    reference = staticmethod(attention)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    def work(self, node, graph) -> AttentionWork:
        return AttentionWork(int(graph.shapes[node.inputs[0]][0]), node.heads, node.head_dim)

    def macs(self, work: AttentionWork) -> int:
        return 2 * work.heads * work.tokens * work.tokens * work.head_dim

    def cycles(self, params: AttentionParams, work: AttentionWork) -> int:
        return cycles(params, work.tokens, work.heads, work.head_dim)

    # ---- resources ----------------------------------------------------------------------------------
    @staticmethod
    def widths(p: AttentionParams) -> dict[str, int]:
        """Multiplier operand widths of rtl/hwmoe_attention*.v (signed; unsigned operands count a sign bit)."""
        tok_w = int(p.buffer_tokens).bit_length()                  # $clog2(MAX_TOKENS + 1)
        acc = p.v_width + 15 + tok_w                               # A.V accumulator
        a_w = max(p.q_width, p.v_width, (acc + 2) // 2, 16)        # lane multiplier, operand A
        b_w = max(p.k_width, 17)                                   # operand B (k, or r / e zero-extended)
        s_w = p.q_width + p.k_width + max(0, (p.head_dim - 1).bit_length())
        return {"acc": acc, "a": a_w, "b": b_w, "s": s_w, "c": SCORE_CONSTANT_WIDTH, "l": 15 + tok_w}

    def features(self, p: AttentionParams) -> dict[str, float]:
        """Per lane: operand, product and accumulator registers; per lane of a row CH = head_dim / LANES
        accumulator and q words -- yosys keeps memories of 1-2 words in flip-flops and puts deeper ones in
        LUT RAM, hence two features; per row the score path, the block's t and e words and the running max;
        per output lane the normaliser; per row and per output lane a run-time requantiser
        (rtl/hwmoe_requant_runtime.v: shifters of log2 stages over the input and the output word)."""
        w = self.widths(p)
        ch = max(1, p.head_dim // p.lanes)
        mem = p.rows * p.lanes * ch * (w["acc"] + p.q_width)
        return {"lane_bits": p.rows * p.lanes * (2 * (w["a"] + w["b"]) + w["acc"]),
                "mem_ff_bits": mem if ch <= 2 else 0.0, "mem_lut_bits": mem if ch > 2 else 0.0,
                "row_bits": p.rows * (w["s"] + w["c"] + p.block * (p.t_word_width + 16) / 4 + 2 * p.t_word_width),
                "norm_bits": p.lanes * (w["acc"] + 17 + p.out_word_width),
                "row_shift_bits": p.rows * runtime_requant_bits(w["s"] + w["c"] + 1, p.t_word_width),
                "norm_shift_bits": p.lanes * runtime_requant_bits(w["acc"] + 17, p.out_word_width)}

    def dsp(self, p: AttentionParams, dsp_kind: str = "DSP48E2") -> float:
        """Structural: every lane of every row has ONE multiplier, time-shared between q.k (SCORE), the
        accumulator rescale (RSH/RSL) and e.v (AV) -- A_W x B_W, one DSP48E2 up to 27 x 18; per row s x C
        (S_W x C_W unsigned: 36 x 17 bits at 16-bit q/k, two DSPs) and l x r (L_W x 16 unsigned, one); LANES
        output normalisers acc x r (ACC_W x 17: two).  P LANES + 3 P + 2 LANES at 16- or 18-bit operands."""
        w = self.widths(p)
        n = lambda a, b: dsps_per_multiplier(dsp_kind, a, b)
        lane = n(w["a"], w["b"])
        row = n(w["s"], w["c"] + 1) + n(w["l"] + 1, 17)
        norm = n(w["acc"], 17)
        return float(p.rows * p.lanes * lane + p.rows * row + p.lanes * norm)

    def bram36(self, p: AttentionParams) -> float:
        """The K and V buffers; per row the exp2 and reciprocal tables."""
        depth = p.buffer_tokens * ceil_div(p.head_dim, p.lanes)
        kv = brams_for(depth, p.lanes * p.k_width) + brams_for(depth, p.lanes * p.v_width)
        return kv + p.rows * softmax_tables_bram36()

    def calibration_points(self) -> list:
        P = AttentionParams
        w18 = dict(q_width=18, q_frac=14, k_width=18, k_frac=14, v_width=18, v_frac=14, t_width=24, t_frac=18,
                   out_width=32, out_frac=24)
        return [P(rows=1, lanes=2, head_dim=8, heads=1, tokens=16, block=8),
                P(rows=2, lanes=4, head_dim=16, heads=1, tokens=16, block=8),
                P(rows=4, lanes=2, head_dim=8, heads=1, tokens=32, block=16),
                P(rows=2, lanes=8, head_dim=16, heads=1, tokens=16, block=16),
                P(rows=1, lanes=4, head_dim=64, heads=1, tokens=130, block=16),
                P(rows=2, lanes=2, head_dim=8, heads=1, tokens=16, block=8, **w18),
                # neither P nor LANES 2: separate the lane term P*LANES from the row and normaliser terms
                P(rows=3, lanes=4, head_dim=8, heads=1, tokens=16, block=8),
                P(rows=4, lanes=4, head_dim=16, heads=1, tokens=16, block=8, **w18),
                P(rows=1, lanes=8, head_dim=16, heads=1, tokens=32, block=16, **w18)]

    def engine_params(self, choice: dict, maxima: AttentionWork, formats) -> AttentionParams:
        """``choice``: rows, lanes, block; q/k/v in the attention operand format, scores in the score format,
        the output an activation; K/V buffers for the longest sequence."""
        qkv, t, out = formats["attn"], formats["score"], formats["act"]
        return AttentionParams(**choice, head_dim=maxima.head_dim, heads=maxima.heads, tokens=maxima.tokens,
                               max_tokens=maxima.tokens, q_width=qkv.width, q_frac=qkv.frac, k_width=qkv.width,
                               k_frac=qkv.frac, v_width=qkv.width, v_frac=qkv.frac, t_width=t.width,
                               t_frac=t.frac, out_width=out.width, out_frac=out.frac)


ATTENTION = AttentionKernel()


_W16A32 = {"q_width": "18", "q_frac": "14", "k_width": "18", "k_frac": "14", "v_width": "18", "v_frac": "14",
           "t_width": "24", "t_frac": "18", "out_width": "32", "out_frac": "26"}
POINTS = {
    # w16a16 formats (16-bit q/k/v, score, output); 21 tokens: neither P = 4 nor block = 16 divides it
    "default-w16a16": Point({}),
    # w16a32 formats (18-bit q/k/v, 24-bit score, 32-bit output), P = 5, block = 8, 3 heads
    "w16a32": Point(dict(_W16A32, tokens="19", block="8", rows="5", heads="3"), ("icarus", "verilator")),
    # one row in flight, block of one key, one head, one chunk per row (lanes = head_dim)
    "p1-block1": Point({"rows": "1", "block": "1", "heads": "1", "tokens": "7", "lanes": "16"}),
    # P = 3, block = 5 (neither divides 13), 4 lanes, 2 chunks per row; K/V buffers larger than the run
    "p3-block5": Point({"rows": "3", "block": "5", "lanes": "4", "head_dim": "8", "tokens": "13",
                        "max_tokens": "40"}),
    # every q, k, v word at its format's extremes: saturated scores, e = 0 shifts, saturated outputs
    "saturating": Point({"rows": "2", "block": "4", "head_dim": "8", "tokens": "9", "saturating": "1.0",
                         "out_frac": "14"}),
    # fewer tokens than rows, 3 chunks of 2 lanes (head_dim 6), 3 heads; a block wider than the buffer
    "few-tokens": Point({"tokens": "3", "rows": "4", "block": "64", "lanes": "2", "head_dim": "6", "heads": "3"}),
    # a short last group (1 of 6 rows) after a full one: it waits for the previous group's output
    "short-last-group": Point({"rows": "6", "block": "1", "lanes": "2", "tokens": "7"}),
    # odd sizes everywhere: head dim 5 in one chunk, k narrower than q and v, P = 3 and block = 4 on 10 tokens
    "odd": Point({"tokens": "10", "heads": "1", "head_dim": "5", "lanes": "5", "q_width": "18", "q_frac": "13",
                  "k_width": "14", "k_frac": "9", "v_width": "18", "v_frac": "13", "t_width": "24", "t_frac": "16",
                  "out_width": "18", "out_frac": "13", "block": "4", "rows": "3"}),
    # m3vit-t attention dims: 129 tokens, 3 heads, head dim 64 (default hardware parameters: P = 4, block = 16;
    # w16a16 formats; about 233k cycles per RTL run)
    "m3vit-t": Point({"tokens": "129", "heads": "3", "head_dim": "64"}, ("verilator",), full_size=True),
}
