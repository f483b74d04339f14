"""Recognise LayerNorm: the LayerNormalization op, or its decomposed form
``(x - mean(x)) / sqrt(mean((x - mean(x))^2) + eps) * gamma + beta`` over the last axis."""
from __future__ import annotations

import numpy as np

from .errors import refuse
from .graph import HW, Op, Work
from .patterns import norm_axis, only_consumer, other_input, reduce_axes, scalar, vector


def _ln(anchor: Op, x: str, out: str, gamma, beta, eps: float) -> Op:
    return Op(anchor.name, "LayerNorm", [x], [out], {"eps": float(eps)}, HW,
              {"gamma": np.asarray(gamma, np.float32), "beta": np.asarray(beta, np.float32)},
              onnx_op=anchor.onnx_op)


def _builtin(work: Work, op: Op) -> Op:
    x = op.inputs[0]
    r = work.rank(x)
    axis = norm_axis(op.attr("axis", -1), r)
    if r is None or axis != r - 1:
        raise refuse(op, f"normalises over axes {axis}..{None if r is None else r - 1}; a LayerNorm kernel "
                         f"normalises over the last axis only")
    d = work.shapes[x][-1]
    gamma = vector(work, op.inputs[1], d)
    if gamma is None:
        raise refuse(op, f"scale {op.inputs[1]!r} is not a constant vector of size {d}")
    beta = np.zeros(d, np.float32)
    if len(op.inputs) > 2 and op.inputs[2]:
        beta = vector(work, op.inputs[2], d)
        if beta is None:
            raise refuse(op, f"bias {op.inputs[2]!r} is not a constant vector of size {d}")
    for extra in op.outputs[1:]:
        if extra and (work.consumers(extra) or work.is_output(extra)):
            raise refuse(op, f"its statistics output {extra!r} is used; only the normalised output is supported")
    return _ln(op, x, op.outputs[0], gamma, beta, op.attr("epsilon", 1e-5))


def _squares(work: Work, op: Op) -> str | None:
    """If ``op`` squares a tensor (Pow(y, 2) or Mul(y, y)), that tensor."""
    if op.op_type == "Pow" and scalar(work, op.inputs[1]) == 2.0:
        return op.inputs[0]
    if op.op_type == "Mul" and op.inputs[0] == op.inputs[1]:
        return op.inputs[0]
    return None


def _decomposed(work: Work, m1: Op) -> tuple[Op, list[Op]]:
    x = m1.inputs[0]
    r = work.rank(x)
    mean = m1.outputs[0]
    subs = [c for c in work.consumers(mean) if c.op_type == "Sub" and c.inputs == [x, mean]]
    if not subs:
        src = work.producer(x)
        if src is not None and _squares(work, src) is not None:
            raise refuse(m1, f"averages the squares of {_squares(work, src)!r}, which is not centred by "
                             f"subtracting its mean: a LayerNorm needs mean((x - mean(x))^2) "
                             f"(is the mean subtraction missing?)")
        raise refuse(m1, "is not the mean of a LayerNorm: expected x - mean(x) to follow")
    axes = reduce_axes(work, m1)
    if r is None or axes != [r - 1]:
        raise refuse(m1, f"averages over axes {axes}; a LayerNorm normalises over the last axis "
                         f"({None if r is None else r - 1}) only")
    if not m1.attr("keepdims", 1):
        raise refuse(m1, "keepdims=0; the LayerNorm mean must keep the reduced axis")
    if len(work.consumers(mean)) != len(subs) or len(subs) > 2 or work.is_output(mean):
        raise refuse(m1, "the mean is used outside the LayerNorm")
    # x - mean(x), computed once or twice (once for the variance, once for the normalisation)
    devs = [s.outputs[0] for s in subs]
    cons = {c for d in devs for c in work.consumers(d)}
    sq = next((c for c in cons if _squares(work, c) in devs), None)
    nrm = next((c for c in cons if c is not sq and ((c.op_type == "Div" and c.inputs[0] in devs) or
                                                     (c.op_type == "Mul" and any(other_input(c, d) is not None
                                                                                 for d in devs)))), None)
    if sq is None or nrm is None or len(cons) != 2 or any(work.is_output(d) for d in devs):
        raise refuse(subs[0], "x - mean(x) must be used exactly by the variance (its square) and the "
                              "normalisation")
    d = nrm.inputs[0] if nrm.inputs[0] in devs else nrm.inputs[1]
    m2 = only_consumer(work, sq.outputs[0], "ReduceMean")
    if m2 is None:
        raise refuse(sq, "the squared deviation must be averaged by a ReduceMean (the variance)")
    if reduce_axes(work, m2) != [r - 1] or not m2.attr("keepdims", 1):
        raise refuse(m2, f"the variance must be the mean over the last axis ({r - 1}) with keepdims=1")
    add = only_consumer(work, m2.outputs[0], "Add")
    eps = scalar(work, other_input(add, m2.outputs[0])) if add is not None else None
    if eps is None or not eps > 0:
        raise refuse(m2, "the variance must be followed by + eps (a positive constant)")
    sqrt = only_consumer(work, add.outputs[0], "Sqrt")
    if sqrt is None:
        raise refuse(add, "variance + eps must go through Sqrt")
    s = sqrt.outputs[0]
    nodes = [m1, *subs, sq, m2, add, sqrt, nrm]
    if nrm.op_type == "Div":
        if nrm.inputs[1] != s or only_consumer(work, s) is not nrm:
            raise refuse(nrm, "expected (x - mean) / sqrt(var + eps)")
    else:
        rec = work.producer(other_input(nrm, d))
        is_rec = rec is not None and ((rec.op_type == "Reciprocal" and rec.inputs[0] == s) or
                                      (rec.op_type == "Div" and rec.inputs[1] == s and
                                       scalar(work, rec.inputs[0]) == 1.0))
        if not is_rec or \
                only_consumer(work, s) is not rec or only_consumer(work, rec.outputs[0]) is not nrm:
            raise refuse(nrm, "expected (x - mean) * (1 / sqrt(var + eps))")
        nodes.append(rec)
    dim = work.shapes[x][-1]
    y = nrm.outputs[0]
    gamma, beta = np.ones(dim, np.float32), np.zeros(dim, np.float32)
    nxt = only_consumer(work, y)
    if nxt is not None and nxt.op_type == "Mul" and other_input(nxt, y) is not None and \
            vector(work, other_input(nxt, y), dim) is not None:
        gamma = vector(work, other_input(nxt, y), dim)
        nodes.append(nxt)
        y = nxt.outputs[0]
        nxt = only_consumer(work, y)
    if nxt is not None and nxt.op_type == "Add" and other_input(nxt, y) is not None and \
            vector(work, other_input(nxt, y), dim) is not None:
        beta = vector(work, other_input(nxt, y), dim)
        nodes.append(nxt)
        y = nxt.outputs[0]
    return _ln(m1, x, y, gamma, beta, eps), nodes


def fuse_layernorm(work: Work) -> None:
    remove, add = set(), []
    for op in work.ops:
        if op in remove or not op.is_std:
            continue
        if op.op_type == "LayerNormalization":
            add.append((_builtin(work, op), op))
            remove.add(op)
        elif op.op_type == "ReduceMean":
            new, nodes = _decomposed(work, op)
            add.append((new, op))
            remove.update(nodes)
    if add:
        work.rewrite(remove, add)
