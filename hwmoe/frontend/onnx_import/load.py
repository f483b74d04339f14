"""Step 1: read and check the ONNX file, fix the batch to 1, fold constants, make the working graph."""
from __future__ import annotations

import os

import onnx

from ...errors import one_line
from .errors import OnnxLoadError, UnsupportedGraph
from .fold import fold_constants, static_shapes
from .graph import Op, Work, toposort


def read_model(src) -> tuple[onnx.ModelProto, str]:
    """A ModelProto (copied) and a short description of where it came from for messages."""
    if isinstance(src, onnx.ModelProto):
        model = onnx.ModelProto()
        model.CopyFrom(src)
        where = "model"
    else:
        where = os.fspath(src)
        if not os.path.isfile(where):
            raise OnnxLoadError(f"{where}: no such file")
        try:
            model = onnx.load(where)
        except Exception as e:  # protobuf DecodeError, truncated file, bad external data...
            raise OnnxLoadError(f"{where}: not a readable ONNX model ({type(e).__name__}: {one_line(e)[:200]})") \
                from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        first = one_line(str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__)
        raise OnnxLoadError(f"{where}: invalid ONNX model ({first[:300]})") from None
    if not len(model.graph.node):
        raise OnnxLoadError(f"{where}: the ONNX graph has no nodes")
    return model, where


def fix_batch(model: onnx.ModelProto) -> tuple[str, list[str]]:
    """Make the first graph input static batch 1; returns (input name, names of any further inputs)."""
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if not inputs:
        raise UnsupportedGraph("the ONNX graph has no input")
    if len(model.graph.output) != 1:
        raise UnsupportedGraph(f"the ONNX graph has {len(model.graph.output)} outputs; expected one")
    main = inputs[0]
    t = main.type.tensor_type
    if not t.HasField("shape"):
        raise UnsupportedGraph(f"input {main.name!r} has no shape; expected a static [1, ...] shape")
    dims = t.shape.dim
    if len(dims) not in (3, 4):
        raise UnsupportedGraph(f"input {main.name!r} has rank {len(dims)}; expected an image [1, C, H, W] "
                               f"or tokens [1, N, D]")
    if dims[0].HasField("dim_value") and dims[0].dim_value not in (0, 1):
        raise UnsupportedGraph(f"input {main.name!r} has batch {dims[0].dim_value}; expected 1")
    dims[0].Clear()
    dims[0].dim_value = 1
    for i, d in enumerate(dims[1:], 1):
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise UnsupportedGraph(f"input {main.name!r} dimension {i} is not static")
    if t.elem_type != onnx.TensorProto.FLOAT:
        raise UnsupportedGraph(f"input {main.name!r} is not float32")
    return main.name, [i.name for i in inputs[1:]]


def to_work(model: onnx.ModelProto, input_name: str, extra: list[str]) -> Work:
    from onnx import numpy_helper
    consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    ops = []
    for node in model.graph.node:
        op = Op.from_proto(node)
        if not op.name:
            op.name = f"{node.op_type}_{len(ops)}"
            op.proto = onnx.NodeProto()
            op.proto.CopyFrom(node)
            op.proto.name = op.name
        ops.append(op)
    shapes = static_shapes(model)
    opsets = list(model.opset_import)
    output = model.graph.output[0].name
    ops = toposort(ops)
    return Work(ops, consts, shapes, input_name, output, opsets, extra)


def load(src) -> tuple[Work, onnx.ModelProto]:
    """The working graph (constants folded) and the checked model with batch 1 (for verification)."""
    model, _ = read_model(src)
    bad = next((n for n in model.graph.node if n.domain not in ("", "ai.onnx")), None)
    if bad is not None:
        raise UnsupportedGraph(f"node {bad.name!r} ({bad.op_type}): operator of domain {bad.domain!r} is not "
                               f"supported; expected standard ONNX operators")
    name, extra = fix_batch(model)
    folded = fold_constants(model)
    return to_work(folded, name, extra), model
