"""Recognise linear layers: MatMul by a constant 2-D weight, optionally followed by the Add of a constant
bias vector, or Gemm (transB handled, alpha/beta folded into the parameters)."""
from __future__ import annotations

import numpy as np

from .errors import refuse
from .graph import HW, Op, Work
from .patterns import only_consumer, other_input, vector


def _linear(anchor: Op, x: str, out: str, weight: np.ndarray, bias) -> Op:
    params = {"weight": np.ascontiguousarray(weight, np.float32),
              "bias": None if bias is None else np.asarray(bias, np.float32)}
    return Op(anchor.name, "Linear", [x], [out], {}, HW, params, onnx_op=anchor.onnx_op)


def _matmul(work: Work, op: Op) -> tuple[Op, list[Op]] | None:
    w = work.const(op.inputs[1])
    if w is None or w.ndim != 2 or work.const(op.inputs[0]) is not None:
        return None      # attention products and anything else are left to the lowering
    if not np.issubdtype(w.dtype, np.floating):
        raise refuse(op, f"weight {op.inputs[1]!r} is not floating point")
    out, nodes, bias = op.outputs[0], [op], None
    add = only_consumer(work, out, "Add")
    if add is not None:
        b = vector(work, other_input(add, out) or "", w.shape[1])
        c = work.const(other_input(add, out) or "")
        if b is not None and c is not None and c.size == w.shape[1]:
            bias, out = b, add.outputs[0]
            nodes.append(add)
    return _linear(op, op.inputs[0], out, w.T, bias), nodes


def _gemm(work: Work, op: Op) -> Op:
    if op.attr("transA", 0):
        raise refuse(op, "transA=1 is not supported; a linear layer multiplies the activations untransposed")
    w = work.const(op.inputs[1])
    if w is None:
        raise refuse(op, f"weight input {op.inputs[1]!r} is not a constant")
    if work.const(op.inputs[0]) is not None:
        raise refuse(op, "the activation input is a constant")
    w = w if op.attr("transB", 0) else w.T                    # -> [out, in]
    w = w * op.attr("alpha", 1.0)
    bias = None
    if len(op.inputs) > 2 and op.inputs[2]:
        bias = vector(work, op.inputs[2], w.shape[0])
        if bias is None:
            raise refuse(op, f"bias {op.inputs[2]!r} is not a constant vector of size {w.shape[0]}")
        bias = bias * op.attr("beta", 1.0)
    return _linear(op, op.inputs[0], op.outputs[0], w, bias)


def fuse_linear(work: Work) -> None:
    remove, add = set(), []
    for op in work.ops:
        if op in remove or not op.is_std:
            continue
        if op.op_type == "MatMul":
            found = _matmul(work, op)
            if found is not None:
                add.append((found[0], op))
                remove.update(found[1])
        elif op.op_type == "Gemm":
            add.append((_gemm(work, op), op))
            remove.add(op)
    if add:
        work.rewrite(remove, add)
