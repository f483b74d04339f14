"""Execute a kernel graph: in floating point, or bit-accurately in fixed point with a quantisation plan.

The fixed-point path is the golden model of the hardware: every kernel computes exactly what the RTL and
the HLS compute, word for word (docs/numerics.md), by calling the kernel's own reference function.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from . import ir
from .kernels.add import add
from .kernels.attention import attention
from .kernels.gelu import gelu
from .kernels.layernorm import layernorm
from .kernels.linear import linear
from .kernels.moe import moe
from .kernels.router import router
from .numerics.fixed import quantize, to_float
from .numerics.floating import gelu_float, layernorm_float, softmax_float
from .numerics.plan import Plan
from .numerics.routing import top_k_lowest_index


def patches(img: np.ndarray, p: int) -> np.ndarray:
    """[C, H, W] -> [H/p * W/p, C*p*p], patches row by row, each flattened in (c, ky, kx) order."""
    c, h, w = img.shape
    t = img.reshape(c, h // p, p, w // p, p).transpose(1, 3, 0, 2, 4)
    return t.reshape((h // p) * (w // p), c * p * p)


def _note(stats: Callable | None, key: str, *values: np.ndarray) -> None:
    """Show kernel-internal values to calibration: ``stats(key, value)`` for each value."""
    if stats is not None:
        for v in values:
            stats(key, np.asarray(v))


def _float_patch_embed(node: ir.PatchEmbed, args, stats):
    tok = patches(args[0], node.patch) @ node.weight.T + node.bias
    _note(stats, node.name + ".tokens", tok, node.cls_token)
    return [np.concatenate([node.cls_token[None, :], tok]) + node.pos_embed]


def _float_linear(node: ir.Linear, args, stats):
    y = args[0] @ node.weight.T
    return [y if node.bias is None else y + node.bias]


def _float_head(node: ir.Head, args, stats):
    y = args[0][0] @ node.weight.T
    return [y if node.bias is None else y + node.bias]


def _float_attention(node: ir.Attention, args, stats):
    q, k, v = (a.reshape(a.shape[0], node.heads, node.head_dim).transpose(1, 0, 2) for a in args)
    s = q @ k.transpose(0, 2, 1) * node.scale
    _note(stats, node.name + ".scores", s)
    o = softmax_float(s) @ v
    return [o.transpose(1, 0, 2).reshape(q.shape[1], -1)]


def _float_router(node: ir.Router, args, stats):
    logits = args[0] @ node.weight.T
    _note(stats, node.name + ".logits", logits)
    probs = softmax_float(logits)
    idx = top_k_lowest_index(logits, node.top_k)
    w = np.take_along_axis(probs, idx, -1)
    if node.renormalize:
        w = w / w.sum(-1, keepdims=True)
    return [idx, w]


def _float_experts(node: ir.Experts, args, stats):
    x, idx, w = args
    out = np.zeros_like(x)
    for e in range(node.num_experts):
        tok, slot = np.nonzero(idx == e)
        if tok.size:
            h = x[tok] @ node.w1[e].T + node.b1[e]
            _note(stats, node.name + ".hidden", h)
            y = gelu_float(h) @ node.w2[e].T + node.b2[e]
            _note(stats, node.name + ".expert_out", y)
            np.add.at(out, tok, y * w[tok, slot][:, None])
    return [out]


#: the float semantics of every IR node kind
FLOAT_STEPS: dict[str, Callable] = {
    "patch_embed": _float_patch_embed,
    "linear": _float_linear,
    "head": _float_head,
    "layernorm": lambda node, args, stats: [layernorm_float(args[0], node.gamma, node.beta, node.eps)],
    "gelu": lambda node, args, stats: [gelu_float(args[0])],
    "add": lambda node, args, stats: [args[0] + args[1]],
    "attention": _float_attention,
    "router": _float_router,
    "experts": _float_experts,
}


def _float_node(node: ir.Node, args: list[np.ndarray], stats: dict | None) -> list[np.ndarray]:
    if node.kind not in FLOAT_STEPS:
        raise TypeError(f"no float semantics for IR node {node.name!r} ({node.kind})")
    return FLOAT_STEPS[node.kind](node, args, stats)


def run_graph(graph: ir.Graph, x: np.ndarray, step: Callable, observe: Callable | None = None) -> np.ndarray:
    """Run ``graph`` on one un-batched input, ``step(node, args) -> outputs``; ``observe(name, value)``
    sees every tensor (calibration uses it)."""
    env = {graph.input: x}
    if observe:
        observe(graph.input, x)
    for node in graph.nodes:
        outs = step(node, [env[t] for t in node.inputs])
        for name, value in zip(node.outputs, outs):
            env[name] = value
            if observe:
                observe(name, value)
    return env[graph.output]


def check_input(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """Validate a batched input against the graph; returns it as float64 [batch, ...]."""
    want = tuple(graph.shapes[graph.input])
    x = np.asarray(x)
    if x.shape[1:] != want:
        raise ValueError(f"input shape {x.shape} does not match the model's (batch, {', '.join(map(str, want))})")
    return x.astype(np.float64)


def run_float(graph: ir.Graph, x: np.ndarray) -> np.ndarray:
    """Float64 execution of the IR on a batch ``x`` (leading batch dim)."""
    x = check_input(graph, x)
    out_shape = tuple(graph.shapes[graph.output])
    return np.stack([run_graph(graph, xi, float_step()).reshape(out_shape) for xi in x])


def float_step(stats: Callable | None = None) -> Callable:
    """``step`` of :func:`run_graph` in float64; ``stats(key, value)`` sees the values inside kernels
    (attention scores, router logits, expert hidden values and outputs, the patch embedding's tokens)."""
    return lambda node, args: _float_node(node, args, stats)


class FixedRunner:
    """Bit-accurate execution of a graph under a plan: each node calls its kernel's reference function."""

    def __init__(self, graph: ir.Graph, plan: Plan):
        self.graph, self.plan = graph, plan
        missing = [t for n in graph.nodes for t in n.outputs if t not in plan.tensors
                   and not (n.kind == "router" and t == n.outputs[0])]
        if missing:
            raise ValueError(f"the plan has no format for tensor {missing[0]!r}: it was made for another graph")
        self.raw = {f"{n.name}.{k}": quantize(v, plan.params[f"{n.name}.{k}"])
                    for n in graph.nodes for k, v in n.params().items()}

    def param(self, node: ir.Node, name: str):
        key = f"{node.name}.{name}"
        return self.raw[key], self.plan.params[key]

    def step(self, node: ir.Node, args: list[np.ndarray]) -> list[np.ndarray]:
        if node.kind not in self.STEPS:
            raise TypeError(f"no fixed-point kernel for IR node {node.name!r} ({node.kind})")
        fmt = self.plan.tensors
        return self.STEPS[node.kind](self, node, args, [fmt.get(t) for t in node.inputs], fmt.get(node.outputs[0]))

    # ---- one method per IR node kind: the kernel's reference function on the plan's formats ----------
    def _patch_embed(self, node: ir.PatchEmbed, args, ins, out):
        w, w_fmt = self.param(node, "weight")
        b, b_fmt = self.param(node, "bias")
        tok_fmt = self.plan.internal[f"{node.name}.tokens"]
        tok = linear(patches(args[0], node.patch), ins[0], w, w_fmt, b, b_fmt, tok_fmt)
        cls = quantize(node.cls_token, tok_fmt)[None, :]
        pos, pos_fmt = self.param(node, "pos_embed")
        return [add(np.concatenate([cls, tok]), tok_fmt, pos, pos_fmt, out)]

    def _linear(self, node: ir.Linear, args, ins, out):
        w, w_fmt = self.param(node, "weight")
        b, b_fmt = self.param(node, "bias") if node.bias is not None else (None, None)
        return [linear(args[0], ins[0], w, w_fmt, b, b_fmt, out)]

    def _head(self, node: ir.Head, args, ins, out):
        """The class token (row 0) through the linear kernel."""
        return [self._linear(node, [args[0][:1]], ins, out)[0][0]]

    def _layernorm(self, node: ir.LayerNorm, args, ins, out):
        g, g_fmt = self.param(node, "gamma")
        b, b_fmt = self.param(node, "beta")
        spec = self.plan.spec
        return [layernorm(args[0], ins[0], g, b, g_fmt, node.eps, out, spec.stat, spec.norm)]

    def _gelu(self, node: ir.Gelu, args, ins, out):
        return [gelu(args[0], ins[0], out, self.plan.gelu_table)]

    def _add_node(self, node: ir.Add, args, ins, out):
        return [add(args[0], ins[0], args[1], ins[1], out)]

    def _attention(self, node: ir.Attention, args, ins, out):
        return [attention(*args, *ins, node.heads, node.scale, self.plan.internal[f"{node.name}.scores"], out,
                          self.plan.attention_block)]

    def _router(self, node: ir.Router, args, ins, out):
        w, w_fmt = self.param(node, "weight")
        return list(router(args[0], ins[0], w, w_fmt, self.plan.internal[f"{node.name}.logits"], node.top_k,
                           node.renormalize))

    def _experts(self, node: ir.Experts, args, ins, out):
        get = lambda k: self.param(node, k)
        i = lambda k: self.plan.internal[f"{node.name}.{k}"]
        return [moe(args[0], ins[0], args[1], args[2], *get("w1"), *get("b1"), *get("w2"), *get("b2"),
                    i("hidden"), i("act"), i("expert_out"), out, self.plan.gelu_table)]

    #: IR node kind -> the method that runs it
    STEPS = {"patch_embed": _patch_embed, "linear": _linear, "head": _head, "layernorm": _layernorm,
             "gelu": _gelu, "add": _add_node, "attention": _attention, "router": _router, "experts": _experts}

    def run_raw(self, x: np.ndarray, observe: Callable | None = None) -> np.ndarray:
        """One un-batched float input -> raw output words (``observe`` sees every raw tensor)."""
        return run_graph(self.graph, quantize(x, self.plan.tensors[self.graph.input]), self.step, observe)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Batched float input -> dequantised output, batched."""
        x = check_input(self.graph, x)
        out_fmt = self.plan.tensors[self.graph.output]
        shape = tuple(self.graph.shapes[self.graph.output])
        return np.stack([to_float(self.run_raw(xi), out_fmt).reshape(shape) for xi in x])


def run_fixed(graph: ir.Graph, plan: Plan, x: np.ndarray) -> np.ndarray:
    return FixedRunner(graph, plan).run(x)
