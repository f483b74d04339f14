"""Kernel-level HLS designs: one kernel on the test case of its RTL testbench.

A kernel is described once, in ``hwmoe/kernels/<name>.py``: its Params (``get_kernel(name).params``, with
``--set`` overrides) give the formats and dimensions, and its ``make_data(params, seed)`` the words in
natural layout and the expected words from the kernel's reference function -- the same data ``make_case``
packs into beats for the RTL testbench.  Here only the HLS face is added: config structs and top-level ports.

What the HLS kernels take from each Params (the rest sizes or parallelises the RTL only):
  linear     everything; max_* (RTL buffer maxima) unused, the HLS buffers are sized by tokens/d_in/d_out.
  gelu       lanes unused (the HLS unit takes one word per beat).
  layernorm  lanes, dim_max, nbuf unused; the top runs the kernel once per layer (layers), each with its
             own gamma/beta.
  attention  rows is the HLS p (query rows in flight); lanes, max_tokens unused.
  router     the gate logits run on the HLS linear kernel with t_in = lanes (words of a token per step) and
             t_out = expert_par (logits at once), one token at a time (n_pe 1, as the RTL's MAC array);
             dim_max, tmax unused; the top runs the router once per layer (layers), each with its own
             gate weights.
  moe        t is both tiles of the two expert linears (t_in = t_out = t); max_* unused.
  add        lanes unused (one word per beat); the run-time formats and word count are arguments of the
             kernel call, constants of the config here (the emitter's tops have stream and memory ports only).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .emitter import (Design, Port, attention_struct, gelu_struct, layernorm_struct, linear_struct,
                      moe_struct, router_struct, struct)
from ...errors import UserError
from ...kernels.base import KernelData
from ...kernels.registry import KERNELS

#: kernel name -> its HLS design function, filled by @hls_design (the function's name is <kernel>_design).
DESIGNS: dict[str, Callable[..., Design]] = {}


def hls_design(function: Callable[..., Design]) -> Callable[..., Design]:
    """Declare ``<kernel>_design(params, data) -> Design`` as the HLS face of the registered kernel <kernel>."""
    DESIGNS[function.__name__.removesuffix("_design")] = function
    return function


def per_layer(layers: int, call: str, layer_words: int) -> str:
    """The top's kernel call, once per layer for a case of several layers: ``{p}`` after an m_axi array in
    ``call`` becomes the offset of the layer's parameters (``layer_words`` words per layer)."""
    if layers == 1:
        return call.format(p="")
    return f"for (int layer = 0; layer < {layers}; layer++) " + call.format(p=f" + layer * {layer_words}")


# -------------------------------------------------------------------------------------------- linear
@hls_design
def linear_design(p, d: KernelData) -> Design:
    f = d.formats
    b_fmt = f["b"] if p.bias else None
    config = ""
    if p.gelu:
        config += gelu_struct("linear_gelu_config", f["h"], f["y"], d.table) + "\n"
    config += linear_struct("linear_config", tokens=p.tokens, n_in=p.d_in, n_out=p.d_out, x_fmt=f["x"],
                            w_fmt=f["w"], b_fmt=b_fmt, out_fmt=f["y"], t_in=p.t_in, t_out=p.t_out, n_pe=p.n_pe,
                            hidden_fmt=f["h"] if p.gelu else None, gelu="linear_gelu_config" if p.gelu else None)
    ports = [Port("x", "linear_config::in_t", "in", d.inputs["x"]),
             Port("w", "linear_config::weight_t", "mem", d.weights["w"]),
             Port("b", "linear_config::bias_t", "mem", d.weights.get("b", np.zeros(1, np.int64))),
             Port("y", "linear_config::out_t", "out", d.expected["y"])]
    return Design("linear", "hwmoe_linear", config, "hwmoe::linear_stream<linear_config>(x, w, b, y);", ports,
                  f"linear kernel: {p.tokens} tokens, {p.d_in} -> {p.d_out}" + (", bias" if p.bias else "")
                  + (", fused GELU" if p.gelu else "") + f", tiles {p.t_in}x{p.t_out}, {p.n_pe} token lanes",
                  {"x": str(f["x"]), "w": str(f["w"]), "b": str(b_fmt) if p.bias else "none", "out": str(f["y"])})


# ---------------------------------------------------------------------------------------------- gelu
@hls_design
def gelu_design(p, d: KernelData) -> Design:
    x_fmt, y_fmt = d.formats["x"], d.formats["y"]
    config = gelu_struct("gelu_config", x_fmt, y_fmt, d.table, p.words)
    ports = [Port("x", "gelu_config::in_t", "in", d.inputs["x"]),
             Port("y", "gelu_config::out_t", "out", d.expected["y"])]
    return Design("gelu", "hwmoe_gelu", config, "hwmoe::gelu_stream<gelu_config>(x, y);", ports,
                  f"GELU unit: {p.words} words, {x_fmt} -> {y_fmt}, {p.entries} table intervals", {})


# ------------------------------------------------------------------------------------------ layernorm
@hls_design
def layernorm_design(p, d: KernelData) -> Design:
    x_fmt, p_fmt, y_fmt = d.formats["x"], d.formats["p"], d.formats["y"]
    config = layernorm_struct("layernorm_config", tokens=p.tokens, dim=p.dim, x_fmt=x_fmt, p_fmt=p_fmt,
                              out_fmt=y_fmt, eps=p.eps, stat_width=p.stat_width, norm_width=p.norm_width)
    ports = [Port("x", "layernorm_config::in_t", "in", d.inputs["x"]),
             Port("gamma", "layernorm_config::param_t", "mem", d.weights["gamma"]),
             Port("beta", "layernorm_config::param_t", "mem", d.weights["beta"]),
             Port("y", "layernorm_config::out_t", "out", d.expected["y"])]
    call = per_layer(p.layers, "hwmoe::layernorm_stream<layernorm_config>(x, gamma{p}, beta{p}, y);",
                     p.dim)
    return Design("layernorm", "hwmoe_layernorm", config, call, ports,
                  f"LayerNorm unit: {p.layers} x {p.tokens} tokens x {p.dim}, {x_fmt} -> {y_fmt}",
                  {"gamma/beta": str(p_fmt)})


# ------------------------------------------------------------------------------------------ attention
@hls_design
def attention_design(p, d: KernelData) -> Design:
    f = d.formats
    config = attention_struct("attention_config", tokens=p.tokens, heads=p.heads, head_dim=p.head_dim,
                              q_fmt=f["q"], k_fmt=f["k"], v_fmt=f["v"], t_fmt=f["t"], out_fmt=f["out"],
                              scale=p.score_scale, block=p.block, p=p.rows)
    ports = [Port("q", "attention_config::q_t", "in", d.inputs["q"]),
             Port("k", "attention_config::k_t", "in", d.inputs["k"]),
             Port("v", "attention_config::v_t", "in", d.inputs["v"]),
             Port("o", "attention_config::out_t", "out", d.expected["out"])]
    return Design("attention", "hwmoe_attention", config, "hwmoe::attention_stream<attention_config>(q, k, v, o);",
                  ports, f"attention kernel: {p.tokens} tokens, {p.heads} heads x {p.head_dim}, key blocks of "
                         f"{p.block}, {p.rows} query rows in parallel",
                  {"q/k/v": f"{f['q']}, {f['k']}, {f['v']}", "score": str(f["t"]), "out": str(f["out"])})


# --------------------------------------------------------------------------------------------- router
@hls_design
def router_design(p, d: KernelData) -> Design:
    x_fmt, w_fmt, l_fmt = d.formats["x"], d.formats["w"], d.formats["logit"]
    config = linear_struct("router_gate_config", tokens=p.tokens, n_in=p.dim, n_out=p.experts, x_fmt=x_fmt,
                           w_fmt=w_fmt, b_fmt=None, out_fmt=l_fmt, t_in=p.lanes, t_out=p.expert_par, n_pe=1)
    config += "\n" + router_struct("router_config", "router_gate_config", tokens=p.tokens, dim=p.dim,
                                   experts=p.experts, top_k=p.top_k, renormalize=p.renormalize, x_fmt=x_fmt,
                                   w_fmt=w_fmt, logit_fmt=l_fmt)
    ports = [Port("x", "router_config::in_t", "in", d.inputs["x"]),
             Port("w", "router_config::weight_t", "mem", d.weights["w"]),
             Port("index", "router_config::index_t", "out", d.expected["index"]),
             Port("gates", "router_config::gate_t", "out", d.expected["gates"])]
    call = per_layer(p.layers, "hwmoe::router_stream<router_config>(x, w{p}, index, gates);",
                     p.experts * p.dim)
    return Design("router", "hwmoe_router", config, call,
                  ports, f"router: {p.layers} x {p.tokens} tokens, {p.dim} -> {p.experts} experts, top-{p.top_k}"
                         + (", renormalised" if p.renormalize else ""), {"x": str(x_fmt), "logits": str(l_fmt)})


# ------------------------------------------------------------------------------------------------ moe
@hls_design
def moe_design(p, d: KernelData) -> Design:
    f = d.formats
    config = (gelu_struct("moe_gelu_config", f["h"], f["a"], d.table) + "\n"
              + linear_struct("moe_fc1_config", tokens=p.tokens, n_in=p.dim, n_out=p.hidden, x_fmt=f["x"],
                              w_fmt=f["w1"], b_fmt=f["b1"], out_fmt=f["a"], t_in=p.t, t_out=p.t, n_pe=p.n_pe,
                              hidden_fmt=f["h"], gelu="moe_gelu_config") + "\n"
              + linear_struct("moe_fc2_config", tokens=p.tokens, n_in=p.hidden, n_out=p.dim, x_fmt=f["a"],
                              w_fmt=f["w2"], b_fmt=f["b2"], out_fmt=f["e"], t_in=p.t, t_out=p.t, n_pe=p.n_pe) + "\n"
              + moe_struct("moe_config", "moe_fc1_config", "moe_fc2_config", tokens=p.tokens, dim=p.dim,
                           hidden=p.hidden, experts=p.experts, top_k=p.top_k, x_fmt=f["x"], expert_fmt=f["e"],
                           out_fmt=f["y"]))
    ports = [Port("x", "moe_config::in_t", "in", d.inputs["x"]),
             Port("index", "moe_config::index_t", "in", d.inputs["index"]),
             Port("gates", "moe_config::gate_t", "in", d.inputs["gates"]),
             Port("w1", "moe_fc1_config::weight_t", "mem", d.weights["w1"]),
             Port("b1", "moe_fc1_config::bias_t", "mem", d.weights["b1"]),
             Port("w2", "moe_fc2_config::weight_t", "mem", d.weights["w2"]),
             Port("b2", "moe_fc2_config::bias_t", "mem", d.weights["b2"]),
             Port("y", "moe_config::out_t", "out", d.expected["y"])]
    idle = sorted(set(range(p.experts)) - set(int(e) for e in np.unique(d.inputs["index"])))
    return Design("moe", "hwmoe_moe", config,
                  "hwmoe::moe_stream<moe_config>(x, index, gates, w1, b1, w2, b2, y);", ports,
                  f"MoE dispatch: {p.tokens} tokens, {p.experts} experts {p.dim} -> {p.hidden} -> {p.dim}, "
                  f"top-{p.top_k}, {p.routing} routing", {"experts without tokens (skipped)": idle or "none"})


# ------------------------------------------------------------------------------------------------ add
@hls_design
def add_design(p, d: KernelData) -> Design:
    a_fmt, b_fmt, y_fmt = d.formats["a"], d.formats["b"], d.formats["y"]
    config = struct("add_config", f"add engine: words of {p.a_width} + {p.b_width} -> {p.out_width} bits, run "
                                  f"{a_fmt} + {b_fmt} -> {y_fmt}",
                    {"a_t": f"ap_int<{p.a_width}>", "b_t": f"ap_int<{p.b_width}>", "out_t": f"ap_int<{p.out_width}>"},
                    {"align_max": p.align_max, "a_frac": p.a_frac, "b_frac": p.b_frac, "out_width": p.run_out_width,
                     "out_frac": p.out_frac, "n_words": p.words})
    ports = [Port("a", "add_config::a_t", "in", d.inputs["a"]), Port("b", "add_config::b_t", "in", d.inputs["b"]),
             Port("y", "add_config::out_t", "out", d.expected["y"])]
    call = ("hwmoe::add_run_stream<add_config>(a, b, y, add_config::a_frac, add_config::b_frac, "
            "add_config::out_width, add_config::out_frac, add_config::n_words);")
    return Design("add", "hwmoe_add", config, call, ports, f"add engine: {p.words} words, {a_fmt} + {b_fmt} -> {y_fmt}",
                  {"a": str(a_fmt), "b": str(b_fmt), "out": str(y_fmt)})


# ------------------------------------------------------------------------------------------ exp2, recip
@hls_design
def exp2_design(p, d: KernelData) -> Design:
    """exp2_neg takes a signed word: one bit wider than d keeps every d >= 0 positive."""
    config = struct("exp2_config", f"exp2 unit: {p.d_width}-bit d with {p.frac} fractional bits",
                    {"in_t": f"ap_int<{p.d_width + 1}>"},
                    {"in_width": p.d_width + 1, "frac": p.frac, "n_words": d.inputs["x"].size})
    ports = [Port("x", "exp2_config::in_t", "in", d.inputs["x"]),
             Port("y", "hwmoe::u1_15_raw_t", "out", d.expected["y"])]
    return Design("exp2", "hwmoe_exp2", config, "hwmoe::exp2_stream<exp2_config>(x, y);", ports,
                  f"exp2 unit: {d.inputs['x'].size} words of {p.d_width} bits, {p.frac} fractional", {})


@hls_design
def recip_design(p, d: KernelData) -> Design:
    words = (d.expected["p"] << 16) | d.expected["r"]
    config = struct("recip_config", f"reciprocal unit: {p.x_width}-bit x",
                    {"in_t": f"ap_uint<{p.x_width}>", "out_t": f"ap_uint<{p.p_width + 16}>"},
                    {"in_width": p.x_width, "n_words": d.inputs["x"].size})
    ports = [Port("x", "recip_config::in_t", "in", d.inputs["x"]),
             Port("y", "recip_config::out_t", "out", words)]
    return Design("recip", "hwmoe_recip", config, "hwmoe::recip_stream<recip_config>(x, y);", ports,
                  f"reciprocal unit: {d.inputs['x'].size} words of {p.x_width} bits", {})


def design_function(name: str) -> Callable[..., Design]:
    """The HLS design of a registered kernel; an unknown name is the user's mistake, a registered kernel
    without a design is hwmoe's."""
    registered = KERNELS
    if name not in registered:
        raise UserError(f"unknown kernel {name!r}: expected one of {', '.join(registered)}")
    if name not in DESIGNS:
        raise LookupError(f"kernel {name!r} is registered but has no HLS design: write {name}_design() in {__name__}")
    return DESIGNS[name]


def kernel_design(name: str, overrides: dict | None = None, seed: int = 0) -> Design:
    """The HLS design of kernel ``name`` on the case ``make_data(params, seed)`` (the RTL testbench's data)."""
    design = design_function(name)
    kernel = KERNELS[name]
    p = kernel.configure(overrides)
    return design(p, kernel.make_data(p, seed))
