"""ONNX -> kernel IR.

``import_onnx(path_or_model)`` reads what torch's exporters (legacy and dynamo) make of an MoE-ViT, whole or
one encoder block, in any of the supported writing styles, and returns an ``hwmoe.ir.Graph``.  It works in
small steps, each one doing one thing:

1. ``load``: read and check the file, fix the batch to 1, fold constants (``fold``);
2. ``layernorm``, ``gelu``, ``linear``: fuse LayerNorm, exact GELU and linear layers;
3. ``moe``: find the router and delimit, read and probe-check the expert combination;
4. ``lower``: walk the graph, following data movement on index arrays (``layout``) to recognise attention,
   the patch embedding and the head, and emit the IR; anything left over is refused by name;
5. ``verify``: run the float IR against onnxruntime on a seeded random input.

Every refusal is an ``UnsupportedGraph`` (a ValueError) whose one-line message names the ONNX node, its op
type and what was expected; unreadable files raise ``OnnxLoadError`` (also a ValueError).
"""
from __future__ import annotations

import onnx

from ... import ir
from .errors import OnnxLoadError, UnsupportedGraph
from .gelu import fuse_gelu
from .layernorm import fuse_layernorm
from .linear import fuse_linear
from .load import load
from .lower import lower
from .moe import fuse_moe
from .verify import check_against_onnxruntime

__all__ = ["import_onnx", "UnsupportedGraph", "OnnxLoadError"]


def import_onnx(src: "str | onnx.ModelProto", verify: bool = True) -> ir.Graph:
    """Import an ONNX file (path) or ModelProto as a kernel graph.

    ``verify``: also run the imported float graph and onnxruntime on a seeded random input and refuse the
    import if they differ by more than 1e-3."""
    work, model = load(src)
    fuse_layernorm(work)
    fuse_gelu(work)
    fuse_linear(work)
    fuse_moe(work)
    graph = lower(work)
    if verify:
        check_against_onnxruntime(graph, model)
    return graph
