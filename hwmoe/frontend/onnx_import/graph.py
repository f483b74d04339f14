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

def _vi(name: str, elem_type=TensorProto.UNDEFINED):
    return helper.make_tensor_value_info(name, elem_type, None)


def make_model(nodes, inputs: list, outputs: list, initializers: dict, opsets) -> onnx.ModelProto:
    """A model of ``nodes``; inputs/outputs are names or value infos."""
    ins = [i if isinstance(i, onnx.ValueInfoProto) else _vi(i) for i in inputs]
    outs = [o if isinstance(o, onnx.ValueInfoProto) else _vi(o) for o in outputs]
    graph = helper.make_graph(nodes, "sub", ins, outs,
                              [numpy_helper.from_array(np.asarray(v), k) for k, v in initializers.items()])
    return helper.make_model(graph, opset_imports=[o for o in opsets if o.domain in ("", "ai.onnx")])


def run_node(node: onnx.NodeProto, values: list, opsets) -> list[np.ndarray]:
    """Execute one standard ONNX node on numpy values (``None`` for absent optional inputs)."""
    feeds = {n: v for n, v in zip(node.input, values) if n}
    model = make_model([node], list(feeds), [o for o in node.output if o], {}, opsets)
    out = ReferenceEvaluator(model).run(None, feeds)
    return [np.asarray(v) for v in out]


def standard_nodes(op: Op) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """A recognised Linear or Gelu written back as standard ONNX nodes (and their initializers), so that
    onnxruntime can execute a region that contains them."""
    x, y, p = op.inputs[0], op.outputs[0], f"{op.name}::"
    if op.op_type == "Linear":
        inits = {p + "wt": np.ascontiguousarray(op.params["weight"].T, dtype=np.float32)}
        if op.params.get("bias") is None:
            return [helper.make_node("MatMul", [x, p + "wt"], [y])], inits
        inits[p + "b"] = op.params["bias"].astype(np.float32)
        return [helper.make_node("MatMul", [x, p + "wt"], [p + "xw"]),
                helper.make_node("Add", [p + "xw", p + "b"], [y])], inits
    if op.op_type == "Gelu":             # x * (erf(x / sqrt 2) + 1) / 2
        inits = {p + "r2": np.float32(np.sqrt(2.0)), p + "one": np.float32(1.0), p + "half": np.float32(0.5)}
        names = [p + s for s in ("d", "e", "a", "m")]
        return [helper.make_node("Div", [x, p + "r2"], [names[0]]),
                helper.make_node("Erf", [names[0]], [names[1]]),
                helper.make_node("Add", [names[1], p + "one"], [names[2]]),
                helper.make_node("Mul", [x, names[2]], [names[3]]),
                helper.make_node("Mul", [names[3], p + "half"], [y])], inits
    raise ValueError(f"{op.label()}: a {op.op_type} cannot be executed inside a region")


class SubgraphRunner:
    """Executes a set of ops of the working graph with onnxruntime (recognised ops as standard nodes).  The
    session is made on the first call, when the input types are known."""

    def __init__(self, work: Work, ops: list[Op], inputs: list[str], outputs: list[str]):
        self.nodes, self.inits = [], {}
        for op in ops:
            nodes, inits = (([op.proto], {}) if op.is_std else standard_nodes(op))
            self.nodes += nodes
            self.inits.update(inits)
            self.inits.update({t: work.consts[t] for t in op.inputs if t and t in work.consts})
        self.inputs, self.outputs, self.opsets, self.session = inputs, outputs, work.opsets, None

    def _session(self, feeds: dict):
        from .verify import ort_session
        ins = [_vi(n, helper.np_dtype_to_tensor_dtype(np.asarray(feeds[n]).dtype)) for n in self.inputs]
        outs = [_vi(n, TensorProto.FLOAT) for n in self.outputs]
        return ort_session(make_model(self.nodes, ins, outs, self.inits, self.opsets))

    def __call__(self, feeds: dict) -> list[np.ndarray]:
        if self.session is None:
            self.session = self._session(feeds)
        return self.session.run(self.outputs, {n: feeds[n] for n in self.inputs})
