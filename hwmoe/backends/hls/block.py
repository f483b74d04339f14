"""Block-level HLS design: one encoder block of a kernel graph (dense or MoE) under a quantisation plan, with
its input and expected output words observed from ``FixedRunner`` (the bit-accurate reference)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ... import ir
from ...errors import UserError
from .emitter import (Design, Port, add_struct, attention_struct, gelu_struct, layernorm_struct, linear_struct,
                      moe_struct, router_struct)
from ...numerics.plan import Plan
from ...reference import FixedRunner


@dataclass(frozen=True)
class BlockHls:
    """Hardware parameters of the generated block (the numerics come from the plan)."""
    block: int = 0              # which encoder block of a whole-model graph
    t_in: int = 8
    t_out: int = 8
    n_pe: int = 2
    rows: int = 2               # attention query rows in parallel (P)

    def check(self) -> None:
        for n in ("t_in", "t_out", "n_pe", "rows"):
            if getattr(self, n) <= 0:
                raise UserError(f"{n} must be positive, not {getattr(self, n)}")
        if self.block < 0:
            raise UserError(f"block must be >= 0, not {self.block}")


@dataclass
class BlockNodes:
    """The nodes of one encoder block, found by structure (not by name)."""
    x: str
    norm1: ir.LayerNorm
    q: ir.Linear
    k: ir.Linear
    v: ir.Linear
    attn: ir.Attention
    proj: ir.Linear
    add1: ir.Add
    norm2: ir.LayerNorm
    add2: ir.Add
    fc1: ir.Linear | None = None
    act: ir.Gelu | None = None
    fc2: ir.Linear | None = None
    router: ir.Router | None = None
    experts: ir.Experts | None = None

    @property
    def is_moe(self) -> bool:
        return self.experts is not None


def _consumer(graph: ir.Graph, tensor: str, kind: type) -> ir.Node:
    for n in graph.nodes:
        if isinstance(n, kind) and tensor in n.inputs:
            return n
    raise UserError(f"the graph is not an encoder block: no {kind.__name__} reads {tensor!r}")


def _producer(graph: ir.Graph, tensor: str, kind: type) -> ir.Node:
    n = graph.producer(tensor)
    if not isinstance(n, kind):
        raise UserError(f"the graph is not an encoder block: {tensor!r} is not made by a {kind.__name__}")
    return n


def find_block(graph: ir.Graph, index: int) -> BlockNodes:
    """The ``index``-th encoder block (counting attention nodes) of ``graph``."""
    attns = [n for n in graph.nodes if isinstance(n, ir.Attention)]
    if not attns:
        raise UserError("the graph has no attention node: no encoder block to generate")
    if not 0 <= index < len(attns):
        raise UserError(f"block {index} does not exist: the graph has {len(attns)} encoder blocks")
    attn = attns[index]
    q, k, v = (_producer(graph, t, ir.Linear) for t in attn.inputs)
    norm1 = _producer(graph, q.inputs[0], ir.LayerNorm)
    if k.inputs[0] != q.inputs[0] or v.inputs[0] != q.inputs[0]:
        raise UserError("the graph is not an encoder block: q, k and v read different tensors")
    x = norm1.inputs[0]
    proj = _consumer(graph, attn.outputs[0], ir.Linear)
    add1 = _consumer(graph, proj.outputs[0], ir.Add)
    if x not in add1.inputs:
        raise UserError("the graph is not an encoder block: the first residual does not add the block input")
    norm2 = _consumer(graph, add1.outputs[0], ir.LayerNorm)
    b = BlockNodes(x, norm1, q, k, v, attn, proj, add1, norm2, add2=None)   # type: ignore[arg-type]
    routers = [n for n in graph.nodes if isinstance(n, ir.Router) and norm2.outputs[0] in n.inputs]
    if routers:
        b.router = routers[0]
        b.experts = _consumer(graph, b.router.outputs[0], ir.Experts)
        mlp_out = b.experts.outputs[0]
    else:
        b.fc1 = _consumer(graph, norm2.outputs[0], ir.Linear)
        b.act = _consumer(graph, b.fc1.outputs[0], ir.Gelu)
        b.fc2 = _consumer(graph, b.act.outputs[0], ir.Linear)
        mlp_out = b.fc2.outputs[0]
    b.add2 = _consumer(graph, mlp_out, ir.Add)
    if add1.outputs[0] not in b.add2.inputs:
        raise UserError("the graph is not an encoder block: the second residual does not add the first")
    return b


def block_design(graph: ir.Graph, plan: Plan, x_float: np.ndarray, hp: BlockHls) -> Design:
    """The design of block ``hp.block`` of ``graph``; ``x_float`` is one un-batched input of the graph, run
    through the fixed-point reference to get the block's input and expected output words."""
    b = find_block(graph, hp.block)
    runner = FixedRunner(graph, plan)
    seen: dict[str, np.ndarray] = {}
    runner.run_raw(x_float, lambda name, value: seen.__setitem__(name, value))
    fmt = plan.tensors
    n, dim = (int(s) for s in graph.shapes[b.x])
    tiles = dict(t_in=hp.t_in, t_out=hp.t_out, n_pe=hp.n_pe)
    param = lambda node, name: (runner.raw[f"{node.name}.{name}"], plan.params[f"{node.name}.{name}"])
    structs, ports = [], [Port("x", "block_config::norm1::in_t", "in", seen[b.x])]

    def norm(tag: str, node: ir.LayerNorm):
        g, p_fmt = param(node, "gamma")
        be, _ = param(node, "beta")
        structs.append(layernorm_struct(f"block_{tag}_config", tokens=n, dim=dim, x_fmt=fmt[node.inputs[0]],
                                        p_fmt=p_fmt, out_fmt=fmt[node.outputs[0]], eps=node.eps,
                                        stat_width=plan.spec.stat, norm_width=plan.spec.norm))
        ports.extend([Port(f"{tag}_gamma", f"block_{tag}_config::param_t", "mem", g),
                      Port(f"{tag}_beta", f"block_{tag}_config::param_t", "mem", be)])

    def lin(tag: str, node: ir.Linear, out: str | None = None, hidden=None, gelu=None, weight_port=True):
        w, w_fmt = param(node, "weight")
        bias, b_fmt = param(node, "bias") if node.bias is not None else (np.zeros(1, np.int64), None)
        structs.append(linear_struct(f"block_{tag}_config", tokens=n, n_in=w.shape[1], n_out=w.shape[0],
                                     x_fmt=fmt[node.inputs[0]], w_fmt=w_fmt, b_fmt=b_fmt,
                                     out_fmt=fmt[out or node.outputs[0]], hidden_fmt=hidden, gelu=gelu, **tiles))
        if weight_port:
            ports.extend([Port(f"{tag}_w", f"block_{tag}_config::weight_t", "mem", w),
                          Port(f"{tag}_b", f"block_{tag}_config::bias_t", "mem", bias)])

    norm("norm1", b.norm1)
    for tag, node in (("q", b.q), ("k", b.k), ("v", b.v)):
        lin(tag, node)
    a = b.attn
    structs.append(attention_struct("block_attn_config", tokens=n, heads=a.heads, head_dim=a.head_dim,
                                    q_fmt=fmt[a.inputs[0]], k_fmt=fmt[a.inputs[1]], v_fmt=fmt[a.inputs[2]],
                                    t_fmt=plan.internal[f"{a.name}.scores"], out_fmt=fmt[a.outputs[0]],
                                    scale=a.scale, block=plan.attention_block, p=hp.rows))
    lin("proj", b.proj)

    def add(tag: str, node: ir.Add, residual: str):
        branch = next(t for t in node.inputs if t != residual) if node.inputs.count(residual) == 1 else residual
        structs.append(add_struct(f"block_{tag}_config", fmt[residual], fmt[branch], fmt[node.outputs[0]], n * dim))

    add("add1", b.add1, b.x)
    norm("norm2", b.norm2)
    members = ["norm1", "q", "k", "v", "attn", "proj", "add1", "norm2"]
    if b.is_moe:
        r, ex = b.router, b.experts
        wg, wg_fmt = param(r, "weight")
        x2 = r.inputs[0]
        logit_fmt = plan.internal[f"{r.name}.logits"]
        structs.append(linear_struct("block_gate_config", tokens=n, n_in=dim, n_out=wg.shape[0], x_fmt=fmt[x2],
                                     w_fmt=wg_fmt, b_fmt=None, out_fmt=logit_fmt, **tiles))
        structs.append(router_struct("block_router_config", "block_gate_config", tokens=n, dim=dim,
                                     experts=wg.shape[0], top_k=r.top_k, renormalize=r.renormalize, x_fmt=fmt[x2],
                                     w_fmt=wg_fmt, logit_fmt=logit_fmt))
        ports.append(Port("gate_w", "block_router_config::weight_t", "mem", wg))
        i = lambda k: plan.internal[f"{ex.name}.{k}"]
        w1, w1_fmt = param(ex, "w1")
        b1, b1_fmt = param(ex, "b1")
        w2, w2_fmt = param(ex, "w2")
        b2, b2_fmt = param(ex, "b2")
        hidden = w1.shape[1]
        structs.append(gelu_struct("block_moe_gelu_config", i("hidden"), i("act"), plan.gelu_table))
        structs.append(linear_struct("block_moe_fc1_config", tokens=n, n_in=dim, n_out=hidden, x_fmt=fmt[ex.inputs[0]],
                                     w_fmt=w1_fmt, b_fmt=b1_fmt, out_fmt=i("act"), hidden_fmt=i("hidden"),
                                     gelu="block_moe_gelu_config", **tiles))
        structs.append(linear_struct("block_moe_fc2_config", tokens=n, n_in=hidden, n_out=dim, x_fmt=i("act"),
                                     w_fmt=w2_fmt, b_fmt=b2_fmt, out_fmt=i("expert_out"), **tiles))
        structs.append(moe_struct("block_moe_config", "block_moe_fc1_config", "block_moe_fc2_config", tokens=n,
                                  dim=dim, hidden=hidden, experts=ex.num_experts, top_k=ex.top_k,
                                  x_fmt=fmt[ex.inputs[0]], expert_fmt=i("expert_out"), out_fmt=fmt[ex.outputs[0]]))
        ports.extend([Port("moe_w1", "block_moe_fc1_config::weight_t", "mem", w1),
                      Port("moe_b1", "block_moe_fc1_config::bias_t", "mem", b1),
                      Port("moe_w2", "block_moe_fc2_config::weight_t", "mem", w2),
                      Port("moe_b2", "block_moe_fc2_config::bias_t", "mem", b2)])
        members += ["router", "moe"]
        kind = f"MoE ({ex.num_experts} experts {dim} -> {hidden} -> {dim}, top-{ex.top_k})"
    else:
        structs.append(gelu_struct("block_gelu_config", fmt[b.fc1.outputs[0]], fmt[b.act.outputs[0]], plan.gelu_table))
        lin("fc1", b.fc1, out=b.act.outputs[0], hidden=fmt[b.fc1.outputs[0]], gelu="block_gelu_config")
        lin("fc2", b.fc2)
        members += ["fc1", "fc2"]
        kind = f"dense (MLP {dim} -> {b.fc1.weight.shape[0]} -> {dim})"
    add("add2", b.add2, b.add1.outputs[0])
    members.append("add2")
    top = [f"    typedef block_{'router' if m == 'router' else m}_config {m};" for m in members]
    structs.append("\n".join([f"// the encoder block: {n} tokens x {dim}", "struct block_config {"] + top
                             + [f"    static const int n_tokens = {n};", f"    static const int dim = {dim};", "};"])
                   + "\n")
    out = b.add2.outputs[0]
    ports.append(Port("y", "block_config::add2::out_t", "out", seen[out]))
    fn = "encoder_block_moe" if b.is_moe else "encoder_block_dense"
    call = f"hwmoe::{fn}<block_config>({', '.join(p.name for p in ports)});"
    details = {"block": hp.block, "kind": kind, "precision": plan.precision,
               "attention": f"{a.heads} heads x {a.head_dim}, key blocks of {plan.attention_block}",
               "input tensor": f"{b.x} {fmt[b.x]}", "output tensor": f"{out} {fmt[out]}",
               "tiles": f"{hp.t_in}x{hp.t_out}, {hp.n_pe} token lanes, {hp.rows} attention query rows"}
    return Design("block", "hwmoe_block", "\n".join(structs), call, ports,
                  f"encoder block {hp.block}: {kind}, {n} tokens x {dim}, {plan.precision}", details, plan)
