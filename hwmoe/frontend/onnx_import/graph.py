"""The importer's working graph: ONNX nodes and the kernel-level nodes the recognisers replace them with.

Standard-domain ops keep their ONNX NodeProto (so they can be executed); recognised patterns become ops of
the ``hwmoe`` domain (Linear, Gelu, LayerNorm, Router, Experts) carrying their parameters as arrays.  Every
op remembers the ONNX node it was made from so that error messages name real nodes.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator
from onnx.reference.op_run import OpRun

from ...numerics.floating import gelu_float, layernorm_float


HW = "hwmoe"


@dataclass(eq=False)
class Op:
    name: str
    op_type: str
    inputs: list[str]
    outputs: list[str]
    attrs: dict = field(default_factory=dict)
    domain: str = ""
    params: dict = field(default_factory=dict)
    proto: onnx.NodeProto | None = None
    onnx_op: str = ""          # op type of the ONNX node this op stands for (messages)

    @staticmethod
    def from_proto(node: onnx.NodeProto) -> "Op":
        attrs = {}
        for a in node.attribute:
            v = helper.get_attribute_value(a)
            attrs[a.name] = v.decode() if isinstance(v, bytes) else v
        return Op(node.name, node.op_type, list(node.input), list(node.output), attrs, node.domain, {}, node,
                  node.op_type)

    def attr(self, key, default=None):
        return self.attrs.get(key, default)

    @property
    def is_std(self) -> bool:
        return self.domain in ("", "ai.onnx")

    def label(self) -> str:
        return f"node {self.name!r} ({self.onnx_op or self.op_type})"


@dataclass
class Work:
    ops: list[Op]
    consts: dict[str, np.ndarray]
    shapes: dict[str, tuple | None]      # static ONNX shapes (with batch); None entries = unknown dims
    input: str
    output: str
    opsets: list                          # OperatorSetIdProto of the model
    extra_inputs: list[str] = field(default_factory=list)
    _prod: dict | None = None
    _cons: dict | None = None

    # -- structure ---------------------------------------------------------------------------------------
    def _index(self):
        if self._prod is None:
            self._prod, self._cons = {}, {}
            for op in self.ops:
                for t in op.outputs:
                    if t:
                        self._prod[t] = op
                for t in op.inputs:
                    if t:
                        self._cons.setdefault(t, [])
                        if op not in self._cons[t]:
                            self._cons[t].append(op)

    def producer(self, tensor: str) -> Op | None:
        self._index()
        return self._prod.get(tensor)

    def consumers(self, tensor: str) -> list[Op]:
        self._index()
        return list(self._cons.get(tensor, []))

    def used_outside(self, tensor: str, allowed) -> Op | None:
        """A consumer of ``tensor`` that is not in ``allowed`` (or the graph output marker), else None."""
        for c in self.consumers(tensor):
            if c not in allowed:
                return c
        return None

    def is_output(self, tensor: str) -> bool:
        return tensor == self.output

    def const(self, tensor: str) -> np.ndarray | None:
        return self.consts.get(tensor) if tensor else None

    def shape(self, tensor: str) -> tuple | None:
        s = self.shapes.get(tensor)
        if s is None or any(d is None for d in s):
            return None
        return s

    def rank(self, tensor: str) -> int | None:
        s = self.shapes.get(tensor)
        return None if s is None else len(s)

    def rewrite(self, remove: set, add: list[tuple[Op, Op]]) -> None:
        """Remove ops ``remove``; insert each new op at the position of its anchor op; re-sort."""
        at = {}
        for new, anchor in add:
            at.setdefault(id(anchor), []).append(new)
        ops = []
        for op in self.ops:
            ops.extend(at.get(id(op), []))
            if op not in remove:
                ops.append(op)
        self.ops = toposort(ops)
        self._prod = self._cons = None


def toposort(ops: list[Op]) -> list[Op]:
    """Stable topological order (keeps the given order where it is already valid)."""
    prod = {t: i for i, op in enumerate(ops) for t in op.outputs if t}
    deps = [set() for _ in ops]
    users = [[] for _ in ops]
    for i, op in enumerate(ops):
        for t in op.inputs:
            j = prod.get(t)
            if j is not None and j != i and j not in deps[i]:
                deps[i].add(j)
                users[j].append(i)
    heap = [i for i in range(len(ops)) if not deps[i]]
    heapq.heapify(heap)
    out = []
    while heap:
        i = heapq.heappop(heap)
        out.append(ops[i])
        for u in users[i]:
            deps[u].discard(i)
            if not deps[u]:
                heapq.heappush(heap, u)
    if len(out) != len(ops):
        stuck = next(op for i, op in enumerate(ops) if deps[i])
        from .errors import refuse
        raise refuse(stuck, "the graph has a cycle")
    return out


# -- execution -----------------------------------------------------------------------------------------------

class HwLinear(OpRun):
    op_domain = HW

    def _run(self, x, w, b=None):
        y = x @ w.T
        return ((y if b is None else y + b).astype(x.dtype),)


class HwGelu(OpRun):
    op_domain = HW

    def _run(self, x):
        return (gelu_float(x).astype(x.dtype),)


class HwLayerNorm(OpRun):
    op_domain = HW

    def _run(self, x, gamma, beta, eps=1e-6):
        return (layernorm_float(x, gamma, beta, eps).astype(x.dtype),)


CUSTOM = [HwLinear, HwGelu, HwLayerNorm]
PARAM_ORDER = {"Linear": ("weight", "bias"), "Gelu": (), "LayerNorm": ("gamma", "beta")}


def _vi(name: str):
    return helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None)


def make_model(nodes, inputs: list[str], outputs: list[str], initializers: dict, opsets) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "sub", [_vi(n) for n in inputs], [_vi(n) for n in outputs],
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    ops = [o for o in opsets if o.domain not in (HW,)] + [helper.make_opsetid(HW, 1)]
    return helper.make_model(graph, opset_imports=ops)


def run_node(node: onnx.NodeProto, values: list, opsets) -> list[np.ndarray]:
    """Execute one standard ONNX node on numpy values (``None`` for absent optional inputs)."""
    feeds = {n: v for n, v in zip(node.input, values) if n}
    model = make_model([node], list(feeds), [o for o in node.output if o], {}, opsets)
    out = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(v) for v in out]


class SubgraphRunner:
    """Executes a set of ops of the working graph (ONNX reference semantics, hwmoe ops in numpy)."""

    def __init__(self, work: Work, ops: list[Op], inputs: list[str], outputs: list[str]):
        nodes, inits = [], {}
        for op in ops:
            if op.is_std:
                nodes.append(op.proto)
                ins = op.inputs
            else:
                names = [f"{op.name}::{k}" for k in PARAM_ORDER[op.op_type] if op.params.get(k) is not None]
                for k in PARAM_ORDER[op.op_type]:
                    if op.params.get(k) is not None:
                        inits[f"{op.name}::{k}"] = op.params[k]
                attrs = {"eps": float(op.attrs["eps"])} if op.op_type == "LayerNorm" else {}
                nodes.append(helper.make_node("Hw" + op.op_type, op.inputs + names, op.outputs, name=op.name,
                                              domain=HW, **attrs))
                ins = op.inputs
            for t in ins:
                if t and t in work.consts:
                    inits[t] = work.consts[t]
        self.inputs, self.outputs = inputs, outputs
        self.model = make_model(nodes, inputs, outputs, inits, work.opsets)
        self.ev = ReferenceEvaluator(self.model, new_ops=CUSTOM)

    def __call__(self, feeds: dict) -> list[np.ndarray]:
        return self.ev.run(self.outputs, feeds)
