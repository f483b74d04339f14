"""Recognise the exact GELU: the Gelu op with approximate="none", or ``x * 0.5 * (1 + erf(x / sqrt(2)))``
in any association of its products.  The tanh approximation is refused (the kernel computes the erf form)."""
from __future__ import annotations

import math

from .errors import refuse
from .graph import HW, Op, Work
from .patterns import close, only_consumer, other_input, scalar

SQRT2 = math.sqrt(2.0)


def _gelu(anchor: Op, x: str, out: str) -> Op:
    return Op(anchor.name, "Gelu", [x], [out], {}, HW, onnx_op=anchor.onnx_op)


def _erf_argument(work: Work, erf: Op) -> tuple[str, Op]:
    """x and the node computing x / sqrt(2) (Div by sqrt 2 or Mul by 1/sqrt 2) feeding ``erf``."""
    u = work.producer(erf.inputs[0])
    if u is not None and only_consumer(work, u.outputs[0]) is erf:
        if u.op_type == "Div" and close(scalar(work, u.inputs[1]), SQRT2):
            return u.inputs[0], u
        if u.op_type == "Mul":
            for a, b in (u.inputs, u.inputs[::-1]):
                if close(scalar(work, b), 1 / SQRT2) and work.const(a) is None:
                    return a, u
    raise refuse(erf, "its argument is not x / sqrt(2): not an exact GELU x * 0.5 * (1 + erf(x / sqrt(2)))")


def _half_x(work: Work, t: str, x: str, user: Op) -> tuple[int, float, list[Op]] | None:
    """If tensor ``t`` (read by ``user``) is x, a constant or a product of those used only by ``user``:
    (count of x, constant factor, nodes)."""
    if t == x:
        return 1, 1.0, []
    c = scalar(work, t)
    if c is not None:
        return 0, c, []
    p = work.producer(t)
    if p is None or p.op_type != "Mul" or only_consumer(work, t) is not user:
        return None
    n, f, nodes = 0, 1.0, [p]
    for i in p.inputs:
        sub = _half_x(work, i, x, p)
        if sub is None:
            return None
        n, f, nodes = n + sub[0], f * sub[1], nodes + sub[2]
    return n, f, nodes


def _erf_gelu(work: Work, erf: Op) -> tuple[Op, list[Op]]:
    x, div = _erf_argument(work, erf)
    add = only_consumer(work, erf.outputs[0], "Add")
    if add is None or not close(scalar(work, other_input(add, erf.outputs[0])), 1.0):
        raise refuse(erf, "erf(x / sqrt(2)) must be followed by + 1 (exact GELU x * 0.5 * (1 + erf(x / sqrt(2))))")
    nodes = [div, erf, add]
    cur, count, factor = add.outputs[0], 0, 1.0
    while True:
        mul = only_consumer(work, cur, "Mul")
        other = other_input(mul, cur) if mul is not None else None
        part = _half_x(work, other, x, mul) if other is not None else None
        if part is None:
            raise refuse(erf, f"(1 + erf(x / sqrt(2))) is not multiplied by exactly x * 0.5 "
                              f"(found x^{count} * {factor:g} so far)")
        count, factor = count + part[0], factor * part[1]
        nodes += [mul] + part[2]
        cur = mul.outputs[0]
        if count > 1 or (count == 1 and close(factor, 0.5)):
            break
    if count != 1 or not close(factor, 0.5):
        raise refuse(erf, f"(1 + erf(x / sqrt(2))) is multiplied by x^{count} * {factor:g}; the exact GELU "
                          f"multiplies by x * 0.5")
    return _gelu(erf, x, cur), nodes


def fuse_gelu(work: Work) -> None:
    for op in work.ops:
        if op.is_std and op.op_type == "Tanh":
            raise refuse(op, "tanh is not supported: a tanh-approximated GELU cannot be imported; export the "
                             "exact erf GELU (nn.GELU(approximate='none'))")
    remove, add = set(), []
    for op in work.ops:
        if op in remove or not op.is_std:
            continue
        if op.op_type == "Gelu":
            if op.attr("approximate", "none") != "none":
                raise refuse(op, f"approximate={op.attr('approximate')!r}; only the exact (erf) GELU, "
                                 f"approximate='none', is supported")
            add.append((_gelu(op, op.inputs[0], op.outputs[0]), op))
            remove.add(op)
        elif op.op_type == "Erf":
            new, nodes = _erf_gelu(work, op)
            add.append((new, op))
            remove.update(nodes)
    if add:
        work.rewrite(remove, add)
