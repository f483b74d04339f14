"""The last step: walk the working graph in order and emit the kernel IR.

Recognised ops (hwmoe Linear/LayerNorm/Gelu/Router/Experts) become IR nodes once their operands are checked to
be whole IR tensors in token-major layout; data movement is followed on index arrays (``layout``); attention
is recognised from q k^T -> (constant scaling) -> softmax over keys -> probabilities v with every operand's
head layout checked; the patch embedding from Conv -> (rearrangement) -> Concat(class token) -> Add(position
embedding); the head from a linear layer applied to exactly row 0 (the class token).  Any other ONNX node is
refused by name.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import ir
from .errors import UnsupportedGraph, refuse
from .graph import HW, Op, Work
from .layout import (MOVES, Entry, Heads, Space, View, blame, contiguous, first_row, head_split,
                     merged_heads_ids, move, token_major)
from .patterns import norm_axis

TOKENS = "token-major [tokens, features]"


def _strip(lead: tuple) -> tuple:
    """Leading dims without leading 1s (how MatMul broadcasting pairs them)."""
    lead = tuple(lead)
    while lead and lead[0] == 1:
        lead = lead[1:]
    return lead


def _longer(a: tuple, b: tuple) -> tuple:
    return tuple(a) if len(a) >= len(b) else tuple(b)


def _plain(lead: tuple) -> bool:
    """Leading dims of the usual form: (heads,) or (1, ..., 1, heads)."""
    return all(d == 1 for d in lead[:-1])


@dataclass
class Scores:
    q: Heads
    k: Heads
    scale: float
    op: Op
    lead: tuple


@dataclass
class Probs:
    scores: Scores
    op: Op


@dataclass
class WithCls:
    patches: Entry
    cls: np.ndarray
    shape: tuple
    op: Op


@dataclass
class Use:
    node: ir.Node
    slot: int
    col: int | None = None
    width: int | None = None
    op: Op | None = None


class Lowering:
    def __init__(self, work: Work):
        self.work = work
        self.space = Space()
        self.nodes: list[ir.Node] = []
        self.vals: dict[str, object] = {}
        self.uses: dict[str, list[Use]] = {}
        self.patch: dict[str, tuple] = {}

    # -- helpers ----------------------------------------------------------------------------------------------
    def val(self, t: str, op: Op):
        c = self.work.const(t)
        if c is not None:
            return c
        if t in self.vals:
            return self.vals[t]
        if t in self.work.extra_inputs:
            raise refuse(op, f"input {t!r} is a graph input, not a constant: weights must be constant "
                             f"initializers and the model must have a single input")
        raise refuse(op, f"reads {t!r}, which no supported node produces")

    def view(self, t: str, op: Op, what: str = "operand") -> View:
        v = self.val(t, op)
        if isinstance(v, View):
            return v
        if isinstance(v, np.ndarray):
            raise refuse(op, f"its {what} {t!r} is a constant where a computed tensor is expected")
        kind = {Scores: "attention scores", Probs: "attention probabilities",
                WithCls: "patch tokens with class token (position embedding missing)"}.get(type(v), "value")
        raise refuse(op, f"its {what} {t!r} is {kind}, which this node cannot take")

    def tensor(self, t: str, op: Op, what: str = "input") -> Entry:
        """The whole IR tensor in token-major layout that ONNX value ``t`` holds."""
        v = self.view(t, op, what)
        if v.factor != 1.0:
            raise refuse(v.muls[-1], f"scales {t!r} by a constant, which is only supported on attention q/k")
        e = token_major(self.space, v.ids)
        if e is None:
            c = contiguous(self.space, v.ids)
            if c is not None and c.virtual:
                raise refuse(op, "the patch convolution's tokens are used before the class token concat and the "
                                 "position embedding add")
            raise blame(self.space, v, op, TOKENS, self.work)
        return e

    def new(self, name: str, shape: tuple, onnx_shape: tuple) -> Entry:
        if name in self.space.by_name:
            raise UnsupportedGraph(f"tensor {name!r} is produced twice")
        e = self.space.add(name, shape)
        self.vals[name] = View(self.space.ids(e, tuple(onnx_shape)))
        return e

    def emit(self, node: ir.Node, refs: list, op: Op) -> None:
        for i, r in enumerate(refs):
            if isinstance(r, tuple):
                e, col, width = r
                self.uses.setdefault(e.name, []).append(Use(node, i, col, width, op))
            else:
                self.uses.setdefault(r.name, []).append(Use(node, i, op=op))
        self.nodes.append(node)

    # -- the walk ---------------------------------------------------------------------------------------------
    def run(self) -> ir.Graph:
        w = self.work
        shape = w.shapes[w.input]
        self.input = self.new(w.input, shape[1:], shape)
        for op in w.ops:
            self.step(op)
        out = self.val(w.output, w.producer(w.output) or Op(w.output, "output", [], []))
        if not isinstance(out, View):
            raise refuse(w.producer(w.output), "the graph output is not a tensor the kernels compute")
        e = contiguous(self.space, out.ids)
        if e is None or e.virtual or out.factor != 1.0:
            raise blame(self.space, out, w.producer(w.output), "whole-tensor (graph output)", w)
        self.split_slices()
        shapes = {self.input.name: self.input.shape}
        for n in self.nodes:
            for t in n.outputs:
                shapes[t] = self.space.by_name[t].shape
        graph = ir.Graph(self.input.name, e.name, self.nodes, shapes)
        graph.validate()
        return graph

    def step(self, op: Op) -> None:
        if op.domain == HW:
            getattr(self, "hw_" + op.op_type.lower())(op)
        elif op.op_type in MOVES:
            self.move(op)
        elif op.op_type in ("Mul", "Div"):
            self.scale(op)
        elif op.op_type == "MatMul":
            self.matmul(op)
        elif op.op_type == "Softmax":
            self.softmax(op)
        elif op.op_type == "Add":
            self.add(op)
        elif op.op_type == "Conv":
            self.conv(op)
        else:
            raise refuse(op, f"operator {op.op_type} is not supported here (it is not part of any recognised "
                             f"layer: patch embedding, LayerNorm, linear, GELU, attention, router, experts, head)")

    # -- data movement ----------------------------------------------------------------------------------------
    def move(self, op: Op) -> None:
        data_slots = range(len(op.inputs)) if op.op_type == "Concat" else [0]
        descs = [self.val(t, op) for t in op.inputs]
        if op.op_type == "Concat" and any(isinstance(d, np.ndarray) for d in descs):
            return self.concat_cls(op, descs)
        factor, chain, muls = None, [], []
        values = []
        for i, (t, d) in enumerate(zip(op.inputs, descs)):
            if not t:
                values.append(None)
            elif i in data_slots:
                v = self.view(t, op, "data input")
                if factor is not None and v.factor != factor:
                    raise refuse(op, "concatenates values scaled by different constants")
                factor = v.factor
                chain += v.chain
                muls += v.muls
                values.append(v.ids)
            else:
                if not isinstance(d, np.ndarray):
                    raise refuse(op, f"its input {t!r} (shape/indices/axes) is not a constant")
                values.append(d)
        try:
            outs = move(op, values, self.work)
        except Exception as ex:
            raise refuse(op, f"cannot apply it ({type(ex).__name__}: {str(ex)[:150]})") from None
        for t, ids in zip(op.outputs, outs):
            if t:
                self.vals[t] = View(ids.astype(np.int64), chain + [(op, ids)], factor, muls)

    def scale(self, op: Op) -> None:
        a, b = op.inputs
        da, db = self.val(a, op), self.val(b, op)
        if op.op_type == "Mul" and isinstance(da, np.ndarray) and not isinstance(db, np.ndarray):
            da, db = db, da
        if not isinstance(db, np.ndarray) or db.size != 1 or isinstance(da, np.ndarray):
            raise refuse(op, f"{op.op_type} by something other than a constant scalar is not supported (only the "
                             f"scaling of attention q, k or scores is)")
        c = float(db.reshape(()))
        f = c if op.op_type == "Mul" else 1.0 / c
        if isinstance(da, View):
            if db.ndim > da.ids.ndim:
                raise refuse(op, "the constant has more dimensions than the scaled value")
            self.vals[op.outputs[0]] = View(da.ids, da.chain, da.factor * f, da.muls + [op])
        elif isinstance(da, Scores):
            if db.ndim > len(da.lead) + 2:
                raise refuse(op, "the constant has more dimensions than the attention scores")
            self.vals[op.outputs[0]] = Scores(da.q, da.k, da.scale * f, da.op, da.lead)
        else:
            raise refuse(op, "scales a value that is not attention q, k or scores")

    # -- attention --------------------------------------------------------------------------------------------
    def matmul(self, op: Op) -> None:
        a, b = op.inputs
        da, db = self.val(a, op), self.val(b, op)
        if isinstance(db, np.ndarray):
            raise refuse(op, f"weight {b!r} is a constant of shape {list(db.shape)}; a linear layer needs a 2-D "
                             f"weight")
        if isinstance(da, np.ndarray):
            raise refuse(op, "a constant left operand is not supported")
        if isinstance(da, View) and isinstance(db, View):
            q = head_split(self.space, da.ids, False)
            if q is None:
                raise blame(self.space, da, op, "attention q [heads, tokens, head_dim]", self.work, "ch")
            k = head_split(self.space, db.ids, True)
            if k is None:
                raise blame(self.space, db, op, "k^T [heads, head_dim, tokens]", self.work, "cht")
            if _strip(q.lead) != _strip(k.lead) and _plain(q.lead) and not _plain(k.lead):
                raise blame(self.space, db, op, f"k^T [heads, head_dim, tokens] with leading dims {list(q.lead)}",
                            self.work, "cht", q.lead)
            if (_strip(q.lead), q.heads, q.head_dim, q.tokens) != (_strip(k.lead), k.heads, k.head_dim, k.tokens):
                raise refuse(op, f"q ({q.heads} heads x {q.head_dim}, {q.tokens} tokens, lead {list(q.lead)}) "
                                 f"and k^T ({k.heads} heads x {k.head_dim}, {k.tokens} tokens, lead "
                                 f"{list(k.lead)}) do not pair up head by head")
            self.vals[op.outputs[0]] = Scores(q, k, da.factor * db.factor, op, _longer(q.lead, k.lead))
            return
        if isinstance(da, Probs) and isinstance(db, View):
            s = da.scores
            v = head_split(self.space, db.ids, False)
            if v is None:
                raise blame(self.space, db, op, "attention v [heads, tokens, head_dim]", self.work, "ch")
            if (_strip(v.lead), v.heads, v.head_dim, v.tokens) != (_strip(s.lead), s.q.heads, s.q.head_dim,
                                                                  s.k.tokens):
                raise refuse(op, f"v ({v.heads} heads x {v.head_dim}, {v.tokens} tokens) does not pair up with "
                                 f"the attention probabilities ({s.q.heads} heads, {s.k.tokens} keys)")
            if db.factor != 1.0:
                raise refuse(db.muls[-1], "scales v; only q, k or the scores may be scaled")
            o = self.space.add(op.outputs[0], (s.q.tokens, s.q.heads * s.q.head_dim))
            lead = _longer(s.lead, v.lead)
            self.vals[op.outputs[0]] = View(merged_heads_ids(self.space, o, s.q.heads, s.q.head_dim, lead))
            node = ir.Attention(op.name, ["?", "?", "?"], [o.name], s.q.heads, s.q.head_dim, float(s.scale))
            refs = [(h.entry, h.col, h.heads * h.head_dim) for h in (s.q, s.k, v)]
            self.emit(node, refs, op)
            return
        raise refuse(op, "is neither a linear layer with a constant weight nor an attention product "
                         "(q k^T, or softmax probabilities times v)")

    def softmax(self, op: Op) -> None:
        d = self.val(op.inputs[0], op)
        if not isinstance(d, Scores):
            raise refuse(op, "a softmax that is not over attention scores q k^T (nor a router's) is not supported")
        rank = len(d.lead) + 2
        axis = norm_axis(op.attr("axis", -1), rank)
        if axis != rank - 1:
            raise refuse(op, f"softmax over axis {op.attr('axis')} of the attention scores; attention normalises "
                             f"over the keys (the last axis, {rank - 1})")
        self.vals[op.outputs[0]] = Probs(d, op)

    # -- patch embedding --------------------------------------------------------------------------------------
    def conv(self, op: Op) -> None:
        x = self.view(op.inputs[0], op, "input")
        img = contiguous(self.space, x.ids)
        if img is None or img.virtual or len(img.shape) != 3 or x.ids.shape != (1,) + img.shape:
            raise blame(self.space, x, op, "image [1, C, H, W]", self.work)
        w = self.work.const(op.inputs[1])
        if w is None or w.ndim != 4:
            raise refuse(op, f"weight {op.inputs[1]!r} is not a constant 4-D kernel")
        d, c, p, p2 = w.shape
        b = self.work.const(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else np.zeros(d, np.float32)
        if b is None or b.size != d:
            raise refuse(op, "the bias is not a constant vector")
        ok = (p == p2 and c == img.shape[0] and list(op.attr("kernel_shape", [p, p])) == [p, p]
              and list(op.attr("strides", [1, 1])) == [p, p] and not any(op.attr("pads", [0] * 4))
              and all(v == 1 for v in op.attr("dilations", [1, 1])) and op.attr("group", 1) == 1
              and op.attr("auto_pad", "NOTSET") in ("NOTSET", "VALID"))
        if not ok:
            raise refuse(op, f"a patch embedding needs kernel = stride = patch, no padding, no dilation, one group "
                             f"(got kernel {list(w.shape[2:])}, strides {op.attr('strides')}, pads {op.attr('pads')})")
        _, hh, ww = img.shape
        if hh % p or ww % p:
            raise refuse(op, f"image {hh}x{ww} is not a multiple of the patch {p}")
        hp, wp = hh // p, ww // p
        e = self.space.add(op.outputs[0], (hp * wp, d), virtual=True)
        ids = (e.base + np.arange(hp * wp * d).reshape(hp * wp, d)).T.reshape(1, d, hp, wp)
        self.vals[op.outputs[0]] = View(ids)
        self.patch[e.name] = (op, w, b.reshape(-1), p, img)

    def concat_cls(self, op: Op, descs) -> None:
        if len(descs) != 2 or not isinstance(descs[0], np.ndarray) or not isinstance(descs[1], View):
            raise refuse(op, "concatenates a constant with computed values; only [class token, patch tokens] "
                             "is supported")
        cls, v = descs
        e = contiguous(self.space, v.ids)
        if e is None or not e.virtual or v.ids.shape[-2:] != e.shape:
            raise refuse(op, "the constant (class token) must be concatenated with the patch tokens "
                             "[1, patches, dim] in token-major order")
        rank = v.ids.ndim
        axis = norm_axis(op.attr("axis", 0), rank)
        want = v.ids.shape[:-2] + (1, e.shape[1])
        if axis != rank - 2 or cls.shape != want:
            raise refuse(op, f"expected the class token {list(want)} prepended on the token axis {rank - 2} (got "
                             f"constant {list(cls.shape)} on axis {op.attr('axis')})")
        self.vals[op.outputs[0]] = WithCls(e, cls.reshape(-1).astype(np.float32),
                                           v.ids.shape[:-2] + (e.shape[0] + 1, e.shape[1]), op)

    def add(self, op: Op) -> None:
        a, b = (self.val(t, op) for t in op.inputs)
        if isinstance(b, WithCls):
            a, b = b, a
        if isinstance(a, WithCls):
            if not isinstance(b, np.ndarray) or b.size != int(np.prod(a.shape[-2:])) or \
                    b.shape[-2:] != a.shape[-2:] or b.ndim > len(a.shape):
                raise refuse(op, f"the patch tokens with class token must get a constant position embedding "
                                 f"{list(a.shape[-2:])}")
            conv, w, bias, p, img = self.patch[a.patches.name]
            out = self.new(op.outputs[0], a.shape[-2:], a.shape)
            node = ir.PatchEmbed(conv.name, [img.name], [out.name], w.reshape(w.shape[0], -1).astype(np.float32),
                                 bias.astype(np.float32), a.cls, b.reshape(a.shape[-2:]).astype(np.float32), p)
            self.emit(node, [img], op)
            return
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            raise refuse(op, "adds a constant that is neither a linear layer's bias nor the position embedding")
        ea = self.tensor(op.inputs[0], op)
        eb = self.tensor(op.inputs[1], op)
        va, vb = self.vals[op.inputs[0]], self.vals[op.inputs[1]]
        if va.ids.shape != vb.ids.shape or ea.shape != eb.shape:
            raise refuse(op, f"adds tensors of different shapes {list(va.ids.shape)} and {list(vb.ids.shape)}; "
                             f"a residual add needs equal shapes")
        out = self.new(op.outputs[0], ea.shape, va.ids.shape)
        self.emit(ir.Add(op.name, [ea.name, eb.name], [out.name]), [ea, eb], op)

    # -- recognised kernels -----------------------------------------------------------------------------------
    def hw_linear(self, op: Op) -> None:
        v = self.view(op.inputs[0], op, "input")
        wgt, bias = op.params["weight"], op.params.get("bias")
        e = token_major(self.space, v.ids) if v.factor == 1.0 else None
        row = first_row(self.space, v.ids) if v.factor == 1.0 and e is None else None
        if e is None and row is None:
            self.tensor(op.inputs[0], op)        # raises the precise error
        src = e or row
        if src.shape[1] != wgt.shape[1]:
            raise refuse(op, f"weight expects {wgt.shape[1]} features, the input has {src.shape[1]}")
        shape = v.ids.shape[:-1] + (wgt.shape[0],)
        if e is not None:
            out = self.new(op.outputs[0], (e.shape[0], wgt.shape[0]), shape)
            self.emit(ir.Linear(op.name, [e.name], [out.name], wgt, bias), [e], op)
        else:
            out = self.new(op.outputs[0], (wgt.shape[0],), shape)
            self.emit(ir.Head(op.name, [row.name], [out.name], wgt, bias), [row], op)

    def hw_layernorm(self, op: Op) -> None:
        e = self.tensor(op.inputs[0], op)
        if op.params["gamma"].shape[0] != e.shape[1]:
            raise refuse(op, "the scale does not match the features")
        out = self.new(op.outputs[0], e.shape, self.vals[op.inputs[0]].ids.shape)
        self.emit(ir.LayerNorm(op.name, [e.name], [out.name], op.params["gamma"], op.params["beta"],
                               float(op.attrs["eps"])), [e], op)

    def hw_gelu(self, op: Op) -> None:
        e = self.tensor(op.inputs[0], op)
        out = self.new(op.outputs[0], e.shape, self.vals[op.inputs[0]].ids.shape)
        self.emit(ir.Gelu(op.name, [e.name], [out.name]), [e], op)

    def hw_router(self, op: Op) -> None:
        e = self.tensor(op.inputs[0], op)
        k = op.attrs["top_k"]
        shape = self.vals[op.inputs[0]].ids.shape[:-1] + (k,)
        idx = self.new(op.outputs[0], (e.shape[0], k), shape)
        wts = self.new(op.outputs[1], (e.shape[0], k), shape)
        self.emit(ir.Router(op.name, [e.name], [idx.name, wts.name], op.params["weight"], k,
                            bool(op.attrs["renormalize"])), [e], op)

    def hw_experts(self, op: Op) -> None:
        x, idx, wts = (self.tensor(t, op) for t in op.inputs)
        out = self.new(op.outputs[0], x.shape, self.work.shape(op.outputs[0]))
        p = op.params
        self.emit(ir.Experts(op.name, [x.name, idx.name, wts.name], [out.name], p["w1"], p["b1"], p["w2"],
                             p["b2"], op.attrs["top_k"]), [x, idx, wts], op)

    # -- q/k/v as column slices of one linear layer -> separate linear layers -----------------------------------
    def split_slices(self) -> None:
        roles = "qkv"
        producer = {t: n for n in self.nodes for t in n.outputs}
        for name, uses in self.uses.items():
            e = self.space.by_name[name]
            sliced = [u for u in uses if u.col is not None and not (u.col == 0 and u.width == e.shape[1])]
            for u in uses:
                if u.col is not None and u not in sliced:
                    u.node.inputs[u.slot] = name
            if not sliced:
                continue
            whole = [u for u in uses if u not in sliced]
            lin = producer.get(name)
            if whole:
                raise refuse(sliced[0].op, f"attention takes a column slice of {name!r}, which is also used whole "
                                           f"by {whole[0].node.name!r}")
            if not isinstance(lin, ir.Linear):
                raise refuse(sliced[0].op, f"attention q/k/v is a column slice of {name!r}, which is not the "
                                           f"output of a linear layer")
            parts = {}
            for u in sliced:
                parts.setdefault((u.col, u.width), set()).add(roles[u.slot])
            new_nodes = []
            for (col, width), rs in sorted(parts.items()):
                tag = "".join(sorted(rs, key=roles.index)) if len(rs) == 1 else f"cols{col}"
                t = f"{name}.{tag}"
                bias = None if lin.bias is None else lin.bias[col:col + width].copy()
                new_nodes.append(ir.Linear(f"{lin.name}.{tag}", list(lin.inputs), [t],
                                           lin.weight[col:col + width].copy(), bias))
                self.space.add(t, (e.shape[0], width))
                for u in sliced:
                    if (u.col, u.width) == (col, width):
                        u.node.inputs[u.slot] = t
            i = self.nodes.index(lin)
            self.nodes[i:i + 1] = new_nodes


def lower(work: Work) -> ir.Graph:
    return Lowering(work).run()
