"""Layout tracking by index arrays.

Every element of every IR tensor gets a global integer id.  An ONNX value that is a pure rearrangement of IR
tensor elements is represented by the array of ids it holds (a ``View``, shaped like the ONNX value).  Data
movement ops (Reshape, Transpose, Gather, Slice, Split, Squeeze, Unsqueeze, Concat, Flatten, Expand,
Identity) are executed on those id arrays with the ONNX reference semantics, so any sequence of them is
followed exactly; compute ops then check that their operand holds precisely the layout they need
(token-major rows, or the head-split q / k^T / v layout of attention), so a wrong perm, swapped heads or a
missing transpose is refused instead of being mis-read.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field

import numpy as np

from .errors import refuse
from .graph import Op, run_node

MOVES = {"Reshape", "Transpose", "Gather", "Slice", "Split", "Squeeze", "Unsqueeze", "Concat", "Flatten",
         "Expand", "Identity"}


@dataclass
class Entry:
    name: str
    base: int
    shape: tuple
    virtual: bool = False      # e.g. the patch convolution's tokens before class token / position embedding

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


class Space:
    """Global element ids of the IR tensors."""

    def __init__(self):
        self.entries: list[Entry] = []
        self.bases: list[int] = []
        self.by_name: dict[str, Entry] = {}
        self.next = 0

    def add(self, name: str, shape: tuple, virtual: bool = False) -> Entry:
        e = Entry(name, self.next, tuple(int(s) for s in shape), virtual)
        self.entries.append(e)
        self.bases.append(e.base)
        self.by_name[name] = e
        self.next += max(e.size, 1)
        return e

    def find(self, gid: int) -> Entry:
        return self.entries[bisect.bisect_right(self.bases, int(gid)) - 1]

    def ids(self, e: Entry, onnx_shape: tuple) -> np.ndarray:
        return np.arange(e.base, e.base + e.size, dtype=np.int64).reshape(onnx_shape)


@dataclass
class View:
    """An ONNX value that is a rearrangement of IR tensor elements."""
    ids: np.ndarray
    chain: list = field(default_factory=list)     # [(data-movement op, ids after it)] since the last kernel
    factor: float = 1.0                            # constant scalar multiplied in (attention scale only)
    muls: list = field(default_factory=list)       # the Mul/Div ops that did it


# -- checks ----------------------------------------------------------------------------------------------------

def contiguous(space: Space, ids: np.ndarray) -> Entry | None:
    """The tensor whose elements ``ids`` holds, all of them in row-major order (any shape), else None."""
    if ids.size == 0:
        return None
    e = space.find(ids.flat[0])
    if ids.size != e.size or ids.flat[0] != e.base:
        return None
    return e if np.array_equal(ids.reshape(-1), np.arange(e.base, e.base + e.size)) else None


def token_major(space: Space, ids: np.ndarray) -> Entry | None:
    """The real 2-D tensor [N, F] that ``ids`` holds in order with F as its last axis, else None."""
    e = contiguous(space, ids)
    if e is None or e.virtual or len(e.shape) != 2 or ids.ndim < 1 or ids.shape[-1] != e.shape[1]:
        return None
    return e


def first_row(space: Space, ids: np.ndarray) -> Entry | None:
    """The real 2-D tensor whose row 0 (only) ``ids`` holds in order with features last, else None."""
    if ids.size == 0:
        return None
    e = space.find(ids.flat[0])
    if e.virtual or len(e.shape) != 2 or ids.flat[0] != e.base or ids.size != e.shape[1] or \
            ids.shape[-1] != e.shape[1]:
        return None
    return e if np.array_equal(ids.reshape(-1), np.arange(e.base, e.base + e.shape[1])) else None


@dataclass
class Heads:
    entry: Entry      # the [N, W] tensor
    col: int          # first column of the heads
    heads: int
    head_dim: int
    tokens: int
    lead: tuple       # the leading (batch/head) dims of the ONNX value


def head_split(space: Space, ids: np.ndarray, transposed: bool) -> Heads | None:
    """If ``ids`` ([..., N, hd], or [..., hd, N] when ``transposed``) holds columns col..col+H*hd of a tensor
    [N, W] split into H heads (head h = columns col+h*hd.., flattened over the leading dims), describe it."""
    if ids.ndim < 2 or ids.size == 0:
        return None
    if transposed:
        ids = np.swapaxes(ids, -1, -2)
    lead, (n, hd) = ids.shape[:-2], ids.shape[-2:]
    h = int(np.prod(lead)) if lead else 1
    a = ids.reshape(h, n, hd)
    e = space.find(a[0, 0, 0])
    if e.virtual or len(e.shape) != 2 or e.shape[0] != n:
        return None
    w = e.shape[1]
    col = int(a[0, 0, 0] - e.base)
    if col >= w or col + h * hd > w:
        return None
    want = e.base + np.arange(n)[None, :, None] * w + col + np.arange(h)[:, None, None] * hd + \
        np.arange(hd)[None, None, :]
    return Heads(e, col, h, hd, n, tuple(lead)) if np.array_equal(a, want) else None


def merged_heads_ids(space: Space, e: Entry, heads: int, head_dim: int, lead: tuple) -> np.ndarray:
    """Ids of an attention output [N, H*hd] seen in the head-split layout lead + (N, hd)."""
    n = e.shape[0]
    a = e.base + np.arange(n)[None, :, None] * e.shape[1] + np.arange(heads)[:, None, None] * head_dim + \
        np.arange(head_dim)[None, None, :]
    return a.reshape(tuple(lead) + (n, head_dim))


def _good(space: Space, ids: np.ndarray, accept: str, lead: tuple | None) -> bool:
    """Whether ``ids`` is a layout from which the needed one is still reachable in the usual way:
    "c" contiguous, "h" head-split, "t" head-split transposed (with leading dims ``lead`` if given)."""
    if contiguous(space, ids) is not None:
        return True
    if "h" in accept and head_split(space, ids, False) is not None:
        return True
    if "t" in accept:
        hs = head_split(space, ids, True)
        return hs is not None and (lead is None or hs.lead == tuple(lead))
    return False


def describe(op: Op, work) -> str:
    if op.op_type == "Transpose":
        return f"perm {list(op.attr('perm', []))}"
    if op.op_type == "Reshape":
        v = work.const(op.inputs[1])
        return f"shape {v.tolist() if v is not None else '?'}"
    if op.op_type in ("Gather", "Split", "Concat", "Flatten", "Softmax"):
        return f"axis {op.attr('axis', 0)}"
    consts = [work.const(t) for t in op.inputs[1:]]
    if op.op_type == "Slice":
        keys = ("starts", "ends", "axes", "steps")
        return "slice " + ", ".join(f"{k} {v.tolist()}" for k, v in zip(keys, consts) if v is not None)
    if op.op_type in ("Squeeze", "Unsqueeze", "Expand") and consts and consts[0] is not None:
        return f"{'shape' if op.op_type == 'Expand' else 'axes'} {consts[0].tolist()}"
    return "its output"


def blame(space: Space, view: View, consumer: Op, what: str, work, accept: str = "c",
          lead: tuple | None = None) -> Exception:
    """An error naming the data-movement op that broke the layout: the first one after the last point where
    the value still had a layout from which the needed one follows (see ``_good``); else the consumer."""
    culprit = None
    for op, ids in reversed(view.chain):
        if _good(space, ids, accept, lead):
            break
        culprit = op
    if culprit is None:
        return refuse(consumer, f"its input does not have the {what} layout it needs")
    return refuse(culprit, f"{describe(culprit, work)} does not give the {what} layout expected by "
                           f"{consumer.label()}")


# -- executing data movement on id arrays ---------------------------------------------------------------------

def move(op: Op, values: list, work) -> list[np.ndarray]:
    """Run a data-movement op on id arrays (its other inputs are constants)."""
    return run_node(op.proto, values, work.opsets)
