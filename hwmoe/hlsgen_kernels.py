"""Kernel-level HLS designs: one kernel on random words of given formats and dimensions, the expected
words from the kernel's reference function (``hwmoe/kernels/*.py``)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .fixed import Fmt, quantize
from .hlsgen_cpp import (Design, Port, attention_struct, gelu_struct, layernorm_struct, linear_struct,
                         moe_struct, router_struct)
from .kernels.attention import DEFAULT_BLOCK, attention
from .kernels.base import signed_range
from .kernels.gelu import gelu
from .kernels.layernorm import layernorm
from .kernels.linear import linear
from .kernels.moe import moe
from .kernels.router import router
from .kernels.tables import Q15, GeluTable


def _fmt(width: int, frac: int) -> Fmt:
    return Fmt(width, width - frac)


def _words(rng: np.random.Generator, fmt: Fmt, shape, std: float, extremes: float = 0.02,
           uniform: float = 0.06) -> np.ndarray:
    """Mostly normal(0, std) values; a fraction ``uniform`` over the whole word, of which a fraction
    ``extremes`` is at its most negative or positive value."""
    x = signed_range(rng, fmt.width, shape, saturating=extremes / max(uniform, 1e-9))
    normal = rng.random(shape) >= uniform
    return np.where(normal, quantize(rng.normal(0.0, std, shape), fmt), x)


def _check_positive(p, names) -> None:
    for n in names:
        if getattr(p, n) <= 0:
            raise ValueError(f"{n} must be positive, not {getattr(p, n)}")


# -------------------------------------------------------------------------------------------- linear
@dataclass(frozen=True)
class LinearHls:
    tokens: int = 10
    d_in: int = 40
    d_out: int = 24
    x_width: int = 16
    x_frac: int = 11
    w_width: int = 16
    w_frac: int = 14
    b_width: int = 16
    b_frac: int = 12
    out_width: int = 16
    out_frac: int = 10
    bias: bool = True
    gelu: bool = False          # fused GELU: requant to h_* (the GELU input), then the GELU unit to out_*
    h_width: int = 16
    h_frac: int = 11
    entries: int = 149
    t_in: int = 8
    t_out: int = 8
    n_pe: int = 2

    def check(self) -> None:
        _check_positive(self, ("tokens", "d_in", "d_out", "x_width", "w_width", "b_width", "out_width",
                               "h_width", "entries", "t_in", "t_out", "n_pe"))


def linear_design(p: LinearHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    x_fmt, w_fmt, b_fmt = _fmt(p.x_width, p.x_frac), _fmt(p.w_width, p.w_frac), _fmt(p.b_width, p.b_frac)
    out_fmt, h_fmt = _fmt(p.out_width, p.out_frac), _fmt(p.h_width, p.h_frac)
    x = _words(rng, x_fmt, (p.tokens, p.d_in), 2.0)
    w = _words(rng, w_fmt, (p.d_out, p.d_in), 1.0 / np.sqrt(p.d_in), extremes=0.01)
    b = quantize(rng.normal(0.0, 0.5, p.d_out), b_fmt) if p.bias else None
    table = GeluTable(p.entries)
    if p.gelu:
        h = linear(x, x_fmt, w, w_fmt, b, b_fmt if p.bias else None, h_fmt)
        y = gelu(h, h_fmt, out_fmt, table)
    else:
        y = linear(x, x_fmt, w, w_fmt, b, b_fmt if p.bias else None, out_fmt)
    config = ""
    if p.gelu:
        config += gelu_struct("linear_gelu_config", h_fmt, out_fmt, table) + "\n"
    config += linear_struct("linear_config", tokens=p.tokens, n_in=p.d_in, n_out=p.d_out, x_fmt=x_fmt, w_fmt=w_fmt,
                            b_fmt=b_fmt if p.bias else None, out_fmt=out_fmt, t_in=p.t_in, t_out=p.t_out,
                            n_pe=p.n_pe, hidden_fmt=h_fmt if p.gelu else None,
                            gelu="linear_gelu_config" if p.gelu else None)
    ports = [Port("x", "linear_config::in_t", "in", x), Port("w", "linear_config::weight_t", "mem", w),
             Port("b", "linear_config::bias_t", "mem", b if p.bias else np.zeros(1, np.int64)),
             Port("y", "linear_config::out_t", "out", y)]
    return Design("linear", "hwmoe_linear", config, "hwmoe::linear_stream<linear_config>(x, w, b, y);", ports,
                  f"linear kernel: {p.tokens} tokens, {p.d_in} -> {p.d_out}" + (", bias" if p.bias else "")
                  + (", fused GELU" if p.gelu else "") + f", tiles {p.t_in}x{p.t_out}, {p.n_pe} token lanes",
                  {"x": str(x_fmt), "w": str(w_fmt), "b": str(b_fmt) if p.bias else "none", "out": str(out_fmt)})


# ---------------------------------------------------------------------------------------------- gelu
@dataclass(frozen=True)
class GeluHls:
    words: int = 256
    in_width: int = 16
    in_frac: int = 11
    out_width: int = 16
    out_frac: int = 11
    entries: int = 149

    def check(self) -> None:
        _check_positive(self, ("words", "in_width", "out_width", "entries"))


def gelu_design(p: GeluHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    x_fmt, y_fmt = _fmt(p.in_width, p.in_frac), _fmt(p.out_width, p.out_frac)
    x = _words(rng, x_fmt, p.words, 2.0, extremes=0.05, uniform=0.3)
    table = GeluTable(p.entries)
    y = gelu(x, x_fmt, y_fmt, table)
    config = gelu_struct("gelu_config", x_fmt, y_fmt, table, p.words)
    ports = [Port("x", "gelu_config::in_t", "in", x), Port("y", "gelu_config::out_t", "out", y)]
    return Design("gelu", "hwmoe_gelu", config, "hwmoe::gelu_stream<gelu_config>(x, y);", ports,
                  f"GELU unit: {p.words} words, {x_fmt} -> {y_fmt}, {p.entries} table intervals", {})


# ------------------------------------------------------------------------------------------ layernorm
@dataclass(frozen=True)
class LayerNormHls:
    tokens: int = 6
    dim: int = 48
    x_width: int = 16
    x_frac: int = 10
    param_width: int = 16
    param_frac: int = 14
    out_width: int = 16
    out_frac: int = 11
    stat_width: int = 16
    norm_width: int = 18
    eps: float = 1e-6

    def check(self) -> None:
        _check_positive(self, ("tokens", "dim", "x_width", "param_width", "out_width", "stat_width", "norm_width"))


def layernorm_design(p: LayerNormHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    x_fmt, p_fmt, y_fmt = _fmt(p.x_width, p.x_frac), _fmt(p.param_width, p.param_frac), _fmt(p.out_width, p.out_frac)
    # rows with different offsets and spreads; the first row is constant (variance 0: only eps remains)
    offset = rng.normal(0.0, 2.0, (p.tokens, 1))
    spread = np.exp(rng.uniform(np.log(0.05), np.log(4.0), (p.tokens, 1)))
    x = quantize(offset + spread * rng.normal(0.0, 1.0, (p.tokens, p.dim)), x_fmt)
    x[0] = x[0, 0]
    if p.tokens > 2:
        x[1] = _words(rng, x_fmt, p.dim, 2.0, extremes=0.1, uniform=0.3)
    gamma = quantize(1.0 + 0.1 * rng.normal(size=p.dim), p_fmt)
    beta = quantize(0.1 * rng.normal(size=p.dim), p_fmt)
    y = layernorm(x, x_fmt, gamma, beta, p_fmt, p.eps, y_fmt, p.stat_width, p.norm_width)
    config = layernorm_struct("layernorm_config", tokens=p.tokens, dim=p.dim, x_fmt=x_fmt, p_fmt=p_fmt,
                              out_fmt=y_fmt, eps=p.eps, stat_width=p.stat_width, norm_width=p.norm_width)
    ports = [Port("x", "layernorm_config::in_t", "in", x), Port("gamma", "layernorm_config::param_t", "mem", gamma),
             Port("beta", "layernorm_config::param_t", "mem", beta), Port("y", "layernorm_config::out_t", "out", y)]
    return Design("layernorm", "hwmoe_layernorm", config,
                  "hwmoe::layernorm_stream<layernorm_config>(x, gamma, beta, y);", ports,
                  f"LayerNorm unit: {p.tokens} tokens x {p.dim}, {x_fmt} -> {y_fmt}", {"gamma/beta": str(p_fmt)})


# ------------------------------------------------------------------------------------------ attention
@dataclass(frozen=True)
class AttentionHls:
    """Field names as the RTL's AttentionParams where they mean the same (rows = P, t = log2-domain score)."""
    tokens: int = 21
    heads: int = 2
    head_dim: int = 8
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
    scale: float = 0.0          # 0 = head_dim ** -0.5
    block: int = DEFAULT_BLOCK
    rows: int = 2               # query rows in parallel (P)

    def check(self) -> None:
        _check_positive(self, ("tokens", "heads", "head_dim", "q_width", "k_width", "v_width", "t_width",
                               "out_width", "block", "rows"))


def attention_design(p: AttentionHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    e = p.heads * p.head_dim
    q_fmt, k_fmt, v_fmt = _fmt(p.q_width, p.q_frac), _fmt(p.k_width, p.k_frac), _fmt(p.v_width, p.v_frac)
    t_fmt, o_fmt = _fmt(p.t_width, p.t_frac), _fmt(p.out_width, p.out_frac)
    q = _words(rng, q_fmt, (p.tokens, e), 1.5, extremes=0.02)
    k = _words(rng, k_fmt, (p.tokens, e), 1.5, extremes=0.02)
    v = _words(rng, v_fmt, (p.tokens, e), 1.0, extremes=0.02)
    scale = p.scale or p.head_dim ** -0.5
    o = attention(q, k, v, q_fmt, k_fmt, v_fmt, p.heads, scale, t_fmt, o_fmt, p.block)
    config = attention_struct("attention_config", tokens=p.tokens, heads=p.heads, head_dim=p.head_dim, q_fmt=q_fmt,
                              k_fmt=k_fmt, v_fmt=v_fmt, t_fmt=t_fmt, out_fmt=o_fmt, scale=scale, block=p.block,
                              p=p.rows)
    ports = [Port("q", "attention_config::q_t", "in", q), Port("k", "attention_config::k_t", "in", k),
             Port("v", "attention_config::v_t", "in", v), Port("o", "attention_config::out_t", "out", o)]
    return Design("attention", "hwmoe_attention", config, "hwmoe::attention_stream<attention_config>(q, k, v, o);",
                  ports, f"attention kernel: {p.tokens} tokens, {p.heads} heads x {p.head_dim}, key blocks of "
                         f"{p.block}, {p.rows} query rows in parallel",
                  {"q/k/v": f"{q_fmt}, {k_fmt}, {v_fmt}", "score": str(t_fmt), "out": str(o_fmt)})


# --------------------------------------------------------------------------------------------- router
@dataclass(frozen=True)
class RouterHls:
    tokens: int = 16
    dim: int = 32
    experts: int = 6
    top_k: int = 2
    renormalize: bool = False
    x_width: int = 16
    x_frac: int = 11
    w_width: int = 16
    w_frac: int = 14
    logit_width: int = 16
    logit_frac: int = 10
    ties: bool = True           # expert 2 gets expert 0's weights: equal logits, ties to the lower index
    t_in: int = 8
    t_out: int = 4
    n_pe: int = 2

    def check(self) -> None:
        _check_positive(self, ("tokens", "dim", "experts", "top_k", "x_width", "w_width", "logit_width",
                               "t_in", "t_out", "n_pe"))
        if self.top_k > self.experts:
            raise ValueError(f"top_k {self.top_k} exceeds experts {self.experts}")


def router_design(p: RouterHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    x_fmt, w_fmt, l_fmt = _fmt(p.x_width, p.x_frac), _fmt(p.w_width, p.w_frac), _fmt(p.logit_width, p.logit_frac)
    x = _words(rng, x_fmt, (p.tokens, p.dim), 1.0, extremes=0.02)
    w = quantize(rng.normal(0.0, 2.0 / np.sqrt(p.dim), (p.experts, p.dim)), w_fmt)
    if p.ties and p.experts > 2:
        w[2] = w[0]
    index, gates = router(x, x_fmt, w, w_fmt, l_fmt, p.top_k, p.renormalize)
    config = linear_struct("router_gate_config", tokens=p.tokens, n_in=p.dim, n_out=p.experts, x_fmt=x_fmt,
                           w_fmt=w_fmt, b_fmt=None, out_fmt=l_fmt, t_in=p.t_in, t_out=p.t_out, n_pe=p.n_pe)
    config += "\n" + router_struct("router_config", "router_gate_config", tokens=p.tokens, dim=p.dim,
                                   experts=p.experts, top_k=p.top_k, renormalize=p.renormalize, x_fmt=x_fmt,
                                   w_fmt=w_fmt, logit_fmt=l_fmt)
    ports = [Port("x", "router_config::in_t", "in", x), Port("w", "router_config::weight_t", "mem", w),
             Port("index", "router_config::index_t", "out", index), Port("gates", "router_config::gate_t", "out", gates)]
    return Design("router", "hwmoe_router", config, "hwmoe::router_stream<router_config>(x, w, index, gates);",
                  ports, f"router: {p.tokens} tokens, {p.dim} -> {p.experts} experts, top-{p.top_k}"
                         + (", renormalised" if p.renormalize else ""), {"x": str(x_fmt), "logits": str(l_fmt)})


# ------------------------------------------------------------------------------------------------ moe
@dataclass(frozen=True)
class MoeHls:
    """Field names as the RTL's MoeParams where they mean the same (h: GELU input, a: GELU output, e: expert
    output)."""
    tokens: int = 12
    dim: int = 16
    hidden: int = 24
    experts: int = 5
    top_k: int = 2
    idle: int = 1               # experts that no token chooses (skipped by the kernel)
    x_width: int = 16
    x_frac: int = 11
    w_width: int = 16
    w1_frac: int = 14
    w2_frac: int = 14
    b_width: int = 16
    b1_frac: int = 12
    b2_frac: int = 12
    h_width: int = 16
    h_frac: int = 10
    a_width: int = 16
    a_frac: int = 11
    e_width: int = 16
    e_frac: int = 10
    out_width: int = 16
    out_frac: int = 10
    entries: int = 149
    t_in: int = 8
    t_out: int = 8
    n_pe: int = 2

    def check(self) -> None:
        _check_positive(self, ("tokens", "dim", "hidden", "experts", "top_k", "entries", "t_in", "t_out", "n_pe",
                               "x_width", "w_width", "b_width", "h_width", "a_width", "e_width", "out_width"))
        if not 0 <= self.idle <= self.experts - self.top_k:
            raise ValueError(f"idle {self.idle} must leave at least top_k {self.top_k} of {self.experts} experts")


def moe_design(p: MoeHls, seed: int = 0) -> Design:
    rng = np.random.default_rng(seed)
    x_fmt, w1_fmt, w2_fmt = _fmt(p.x_width, p.x_frac), _fmt(p.w_width, p.w1_frac), _fmt(p.w_width, p.w2_frac)
    b1_fmt, b2_fmt = _fmt(p.b_width, p.b1_frac), _fmt(p.b_width, p.b2_frac)
    h_fmt, a_fmt = _fmt(p.h_width, p.h_frac), _fmt(p.a_width, p.a_frac)
    e_fmt, o_fmt = _fmt(p.e_width, p.e_frac), _fmt(p.out_width, p.out_frac)
    x = _words(rng, x_fmt, (p.tokens, p.dim), 1.0, extremes=0.02)
    busy = rng.permutation(p.experts)[:p.experts - p.idle]
    index = np.stack([rng.choice(busy, p.top_k, replace=False) for _ in range(p.tokens)])
    gates = rng.integers(0, (1 << Q15) + 1, (p.tokens, p.top_k))
    w1 = quantize(rng.normal(0.0, 1.0 / np.sqrt(p.dim), (p.experts, p.hidden, p.dim)), w1_fmt)
    b1 = quantize(rng.normal(0.0, 0.3, (p.experts, p.hidden)), b1_fmt)
    w2 = quantize(rng.normal(0.0, 1.0 / np.sqrt(p.hidden), (p.experts, p.dim, p.hidden)), w2_fmt)
    b2 = quantize(rng.normal(0.0, 0.3, (p.experts, p.dim)), b2_fmt)
    table = GeluTable(p.entries)
    y = moe(x, x_fmt, index, gates, w1, w1_fmt, b1, b1_fmt, w2, w2_fmt, b2, b2_fmt, h_fmt, a_fmt, e_fmt, o_fmt, table)
    config = (gelu_struct("moe_gelu_config", h_fmt, a_fmt, table) + "\n"
              + linear_struct("moe_fc1_config", tokens=p.tokens, n_in=p.dim, n_out=p.hidden, x_fmt=x_fmt, w_fmt=w1_fmt,
                              b_fmt=b1_fmt, out_fmt=a_fmt, t_in=p.t_in, t_out=p.t_out, n_pe=p.n_pe, hidden_fmt=h_fmt,
                              gelu="moe_gelu_config") + "\n"
              + linear_struct("moe_fc2_config", tokens=p.tokens, n_in=p.hidden, n_out=p.dim, x_fmt=a_fmt, w_fmt=w2_fmt,
                              b_fmt=b2_fmt, out_fmt=e_fmt, t_in=p.t_in, t_out=p.t_out, n_pe=p.n_pe) + "\n"
              + moe_struct("moe_config", "moe_fc1_config", "moe_fc2_config", tokens=p.tokens, dim=p.dim,
                           hidden=p.hidden, experts=p.experts, top_k=p.top_k, x_fmt=x_fmt, expert_fmt=e_fmt,
                           out_fmt=o_fmt))
    ports = [Port("x", "moe_config::in_t", "in", x), Port("index", "moe_config::index_t", "in", index),
             Port("gates", "moe_config::gate_t", "in", gates),
             Port("w1", "moe_fc1_config::weight_t", "mem", w1), Port("b1", "moe_fc1_config::bias_t", "mem", b1),
             Port("w2", "moe_fc2_config::weight_t", "mem", w2), Port("b2", "moe_fc2_config::bias_t", "mem", b2),
             Port("y", "moe_config::out_t", "out", y)]
    idle = sorted(set(range(p.experts)) - set(int(e) for e in busy))
    return Design("moe", "hwmoe_moe", config,
                  "hwmoe::moe_stream<moe_config>(x, index, gates, w1, b1, w2, b2, y);", ports,
                  f"MoE dispatch: {p.tokens} tokens, {p.experts} experts {p.dim} -> {p.hidden} -> {p.dim}, "
                  f"top-{p.top_k}", {"experts without tokens (skipped)": idle or "none"})


KERNEL_DESIGNS = {
    "linear": (LinearHls, linear_design),
    "attention": (AttentionHls, attention_design),
    "layernorm": (LayerNormHls, layernorm_design),
    "gelu": (GeluHls, gelu_design),
    "router": (RouterHls, router_design),
    "moe": (MoeHls, moe_design),
}
