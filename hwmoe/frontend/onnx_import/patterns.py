"""Small helpers shared by the pattern recognisers."""
from __future__ import annotations

import numpy as np

from .errors import refuse
from .graph import Op, Work


def scalar(work: Work, tensor: str) -> float | None:
    """The value of a constant with exactly one element, else None."""
    v = work.const(tensor)
    if v is None or v.size != 1 or not np.issubdtype(v.dtype, np.number):
        return None
    return float(v.reshape(()))


def close(a: float | None, b: float, rel: float = 1e-6) -> bool:
    return a is not None and abs(a - b) <= rel * max(abs(b), 1e-30)


def other_input(op: Op, tensor: str) -> str | None:
    """For a binary op with ``tensor`` as one input, the other input (None if both or neither)."""
    if len(op.inputs) != 2:
        return None
    a, b = op.inputs
    if a == tensor and b != tensor:
        return b
    if b == tensor and a != tensor:
        return a
    return None


def only_consumer(work: Work, tensor: str, op_type: str | None = None) -> Op | None:
    """The single consumer of ``tensor`` (of type ``op_type`` if given), None if there are 0 or several or
    the tensor is also a graph output."""
    cons = work.consumers(tensor)
    if len(cons) != 1 or work.is_output(tensor):
        return None
    if op_type is not None and cons[0].op_type != op_type:
        return None
    return cons[0]


def reduce_axes(work: Work, op: Op) -> list[int] | None:
    """Axes of a Reduce* op (attribute before opset 18, input from 18), normalised to be non-negative;
    None means all axes."""
    if len(op.inputs) > 1 and op.inputs[1]:
        v = work.const(op.inputs[1])
        if v is None:
            raise refuse(op, "the reduction axes are not a constant")
        axes = [int(a) for a in v.reshape(-1)]
    else:
        axes = op.attr("axes")
        if axes is None:
            return None
        axes = list(axes)
    if not axes:
        return None if not op.attr("noop_with_empty_axes", 0) else []
    r = work.rank(op.inputs[0])
    if r is None:
        raise refuse(op, "the rank of the reduced tensor is unknown")
    return sorted(a + r if a < 0 else a for a in axes)


def norm_axis(axis: int, rank: int | None) -> int | None:
    if rank is None:
        return None
    return axis + rank if axis < 0 else axis


def last_axis_size(work: Work, tensor: str) -> int | None:
    s = work.shapes.get(tensor)
    return None if not s else s[-1]


def vector(work: Work, tensor: str, size: int | None) -> np.ndarray | None:
    """A constant usable as a per-feature vector of length ``size`` (shape (size,), (1, size), (1, 1, size);
    a single element broadcasts), as float64 (size,), else None."""
    v = work.const(tensor)
    if v is None or not np.issubdtype(v.dtype, np.floating):
        return None
    if v.size == 1 and size is not None:
        return np.full(size, float(v.reshape(())), dtype=np.float32)
    if v.ndim == 0 or any(d != 1 for d in v.shape[:-1]) or (size is not None and v.shape[-1] != size):
        return None
    return v.reshape(-1).astype(np.float32)
