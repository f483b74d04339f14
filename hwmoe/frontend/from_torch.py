"""Kernel graph straight from an ``hwmoe.frontend.model`` module, without ONNX.

It is the importer's yardstick: the tests check that importing an exported ONNX file gives the same graph."""
from __future__ import annotations

import numpy as np
import torch

from .. import ir
from .model import Block, MoE, MoEViT


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32)


def _linears(prefix: str, lin: torch.nn.Linear, src: str, dst: str) -> ir.Linear:
    return ir.Linear(prefix, [src], [dst], _np(lin.weight), None if lin.bias is None else _np(lin.bias))


def _block(nodes: list, blk: Block, i: int, x: str, cfg) -> str:
    p = f"blocks.{i}"
    nodes.append(ir.LayerNorm(f"{p}.norm1", [x], [f"{p}.norm1"], _np(blk.norm1.weight), _np(blk.norm1.bias), cfg.eps))
    a = blk.attn
    if cfg.qkv == "fused":
        w, b = _np(a.qkv.weight), _np(a.qkv.bias)
        parts = [(w[j * cfg.dim:(j + 1) * cfg.dim], b[j * cfg.dim:(j + 1) * cfg.dim]) for j in range(3)]
    else:
        parts = [(_np(m.weight), _np(m.bias)) for m in (a.q, a.k, a.v)]
    for name, (w, b) in zip("qkv", parts):
        nodes.append(ir.Linear(f"{p}.attn.{name}", [f"{p}.norm1"], [f"{p}.attn.{name}"], w, b))
    nodes.append(ir.Attention(f"{p}.attn.core", [f"{p}.attn.{c}" for c in "qkv"], [f"{p}.attn.core"],
                              cfg.heads, cfg.head_dim, a.scale))
    nodes.append(_linears(f"{p}.attn.proj", a.proj, f"{p}.attn.core", f"{p}.attn.proj"))
    nodes.append(ir.Add(f"{p}.add1", [x, f"{p}.attn.proj"], [f"{p}.add1"]))
    nodes.append(ir.LayerNorm(f"{p}.norm2", [f"{p}.add1"], [f"{p}.norm2"], _np(blk.norm2.weight),
                              _np(blk.norm2.bias), cfg.eps))
    if isinstance(blk.mlp, MoE):
        m = blk.mlp
        nodes.append(ir.Router(f"{p}.moe.gate", [f"{p}.norm2"], [f"{p}.moe.index", f"{p}.moe.weights"],
                               _np(m.gate.weight), cfg.top_k, cfg.renormalize))
        stack = lambda f: np.stack([_np(f(e)) for e in m.experts])
        nodes.append(ir.Experts(f"{p}.moe.experts", [f"{p}.norm2", f"{p}.moe.index", f"{p}.moe.weights"],
                                [f"{p}.mlp"], stack(lambda e: e.fc1.weight), stack(lambda e: e.fc1.bias),
                                stack(lambda e: e.fc2.weight), stack(lambda e: e.fc2.bias), cfg.top_k))
    else:
        nodes.append(_linears(f"{p}.mlp.fc1", blk.mlp.fc1, f"{p}.norm2", f"{p}.mlp.fc1"))
        nodes.append(ir.Gelu(f"{p}.mlp.act", [f"{p}.mlp.fc1"], [f"{p}.mlp.act"]))
        nodes.append(_linears(f"{p}.mlp.fc2", blk.mlp.fc2, f"{p}.mlp.act", f"{p}.mlp"))
    nodes.append(ir.Add(f"{p}.add2", [f"{p}.add1", f"{p}.mlp"], [f"{p}.out"]))
    return f"{p}.out"


def _shapes(graph: ir.Graph, input_shape: tuple) -> ir.Graph:
    """Fill ``graph.shapes`` by running the float reference once on zeros."""
    from ..reference import run_graph, float_step
    graph.shapes[graph.input] = input_shape
    run_graph(graph, np.zeros(input_shape), float_step(), lambda n, v: graph.shapes.__setitem__(n, v.shape))
    return graph


def graph_from_model(model: MoEViT, block: int | None = None) -> ir.Graph:
    cfg = model.cfg
    nodes: list[ir.Node] = []
    if block is not None:
        out = _block(nodes, model.blocks[block], block, "input", cfg)
        return _shapes(ir.Graph("input", out, nodes), (cfg.tokens, cfg.dim))
    pe = model.patch_embed
    nodes.append(ir.PatchEmbed("patch_embed", ["input"], ["embed"], _np(pe.weight).reshape(cfg.dim, -1),
                               _np(pe.bias), _np(model.cls_token).reshape(-1), _np(model.pos_embed)[0], cfg.patch))
    x = "embed"
    for i, blk in enumerate(model.blocks):
        x = _block(nodes, blk, i, x, cfg)
    nodes.append(ir.LayerNorm("norm", [x], ["norm"], _np(model.norm.weight), _np(model.norm.bias), cfg.eps))
    nodes.append(ir.Head("head", ["norm"], ["output"], _np(model.head.weight), _np(model.head.bias)))
    return _shapes(ir.Graph("input", "output", nodes), (cfg.in_chans, cfg.img_h, cfg.img_w))
