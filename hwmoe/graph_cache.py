"""The kernel graph of an ONNX file, cached by the file's content.

Importing m3vit-t (constant folding, recognising and probing the MoE, the check against onnxruntime) takes
seconds; reading the cached graph takes a fraction of one, and does not import onnx.  An entry is a JSON
description and an .npz of the arrays under ``cache_dir()/graphs``, read without pickle (never unpickle what
another process wrote).  The key also covers the importer's own sources, so a changed importer rebuilds.  An
unreadable entry is a miss and is rebuilt; a cache that cannot be written is skipped.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

import numpy as np

from . import ir
from .outputs import output_file
from .paths import cache_dir

FORMAT = 1
_IMPORTER = [Path(ir.__file__), *sorted((Path(__file__).parent / "frontend" / "onnx_import").glob("*.py"))]


def import_cached(path) -> ir.Graph:
    """The imported graph of the ONNX file ``path`` (import errors as ``import_onnx`` raises them)."""
    entry = cache_dir() / "graphs" / cache_key(path)
    graph = read_entry(entry)
    if graph is None:
        from .frontend.onnx_import import import_onnx
        graph = import_onnx(str(path))
        write_entry(entry, graph)
    return graph


def cache_key(path) -> str:
    h = hashlib.sha256(f"hwmoe graph cache {FORMAT}\n".encode())
    for src in _IMPORTER:
        h.update(src.read_bytes())
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_entry(entry: Path, graph: ir.Graph) -> None:
    """The arrays first, the JSON last: a JSON file means a complete entry.  Failing to write is no error."""
    arrays, nodes = {}, []
    for i, node in enumerate(graph.nodes):
        desc = {"kind": node.kind}
        for f in fields(node):
            value = getattr(node, f.name)
            if isinstance(value, np.ndarray):
                arrays[f"{i}.{f.name}"] = value
            else:
                desc[f.name] = value.item() if isinstance(value, np.generic) else value
        nodes.append(desc)
    desc = {"format": FORMAT, "input": graph.input, "output": graph.output, "nodes": nodes,
            "shapes": {k: [int(d) for d in v] for k, v in graph.shapes.items()}}
    try:
        with output_file(entry.with_suffix(".npz")) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        with output_file(entry.with_suffix(".json")) as tmp:
            tmp.write_text(json.dumps(desc))
    except (OSError, ValueError):         # a read-only or full cache (UserError is a ValueError)
        pass


def read_entry(entry: Path) -> ir.Graph | None:
    """The cached graph, or None when there is none or it cannot be read back into a valid graph."""
    try:
        desc = json.loads(entry.with_suffix(".json").read_text())
        with np.load(entry.with_suffix(".npz"), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        if desc["format"] != FORMAT:
            return None
        graph = ir.Graph(desc["input"], desc["output"], [_node(i, d, arrays) for i, d in enumerate(desc["nodes"])],
                         {k: tuple(v) for k, v in desc["shapes"].items()})
        graph.validate()
        return graph
    except Exception:                     # missing, truncated or tampered with: any of these is a miss
        return None


def _node(i: int, desc: dict, arrays: dict) -> ir.Node:
    desc = dict(desc)
    cls = ir.NODE_KINDS[desc.pop("kind")]
    prefix = f"{i}."
    desc.update({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)})
    return cls(**desc)
