"""Constant folding: every node whose inputs are all constants (initializers, Constant nodes, values folded
before, the Shape of a statically shaped tensor) is evaluated and replaced by an initializer; then the nodes
that no longer contribute to the graph output are dropped."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper

from .errors import UnsupportedGraph
from .graph import run_node

NOT_FOLDED = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial",
              "Bernoulli"}


def infer(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception as e:
        raise UnsupportedGraph(f"ONNX shape inference failed: {str(e).splitlines()[0] if str(e) else e!r}") \
            from None


def static_shapes(model: onnx.ModelProto) -> dict[str, tuple | None]:
    """Tensor name -> shape with None for unknown dimensions (None for unknown rank)."""
    out = {}
    g = model.graph
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
            out.setdefault(vi.name, None)
            continue
        out[vi.name] = tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)
    for init in g.initializer:
        out[init.name] = tuple(init.dims)
    return out


def _shape_value(node: onnx.NodeProto, shape: tuple) -> np.ndarray:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    r = len(shape)
    start, end = attrs.get("start", 0), attrs.get("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return np.array(shape[start:end], dtype=np.int64)


def _fold_once(model: onnx.ModelProto) -> tuple[onnx.ModelProto, bool]:
    model = infer(model)
    shapes = static_shapes(model)
    g = model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    keep, changed = [], False
    for node in g.node:
        if node.domain not in ("", "ai.onnx") or node.op_type in NOT_FOLDED or \
                any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            keep.append(node)
            continue
        ins = [i for i in node.input if i]
        if all(i in consts for i in ins):
            try:
                values = run_node(node, [consts.get(i) if i else None for i in node.input], model.opset_import)
            except Exception as e:
                raise UnsupportedGraph(f"node {node.name!r} ({node.op_type}): cannot evaluate this constant "
                                       f"expression ({type(e).__name__}: {e})") from None
            consts.update(zip(node.output, values))
            changed = True
            continue
        if node.op_type in ("Shape", "Size") and node.input:
            s = shapes.get(node.input[0])
            if s is not None and all(d is not None for d in s):
                value = _shape_value(node, s) if node.op_type == "Shape" else np.array(int(np.prod(s)), np.int64)
                consts[node.output[0]] = value
                changed = True
                continue
        keep.append(node)
    used = {i for n in keep for i in n.input} | {o.name for o in g.output}
    del g.node[:]
    g.node.extend(keep)
    del g.initializer[:]
    g.initializer.extend(numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items() if k in used)
    inits = {k for k in consts if k in used}
    keep_inputs = [i for i in g.input if i.name not in consts or i.name in inits]
    del g.input[:]
    g.input.extend(keep_inputs)
    del g.value_info[:]
    return model, changed


def drop_dead(model: onnx.ModelProto) -> None:
    g = model.graph
    live = {o.name for o in g.output}
    keep = []
    for node in reversed(g.node):
        if any(o in live for o in node.output):
            keep.append(node)
            live.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name in live]
    del g.initializer[:]
    g.initializer.extend(inits)


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for _ in range(20):
        m, changed = _fold_once(m)
        drop_dead(m)
        if not changed:
            break
    for o in m.graph.output:
        if o.name in {i.name for i in m.graph.initializer}:
            raise UnsupportedGraph(f"the graph output {o.name!r} is a constant")
    return infer(m)
