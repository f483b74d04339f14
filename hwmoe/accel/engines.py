"""Which engine runs each IR node, as which run, and the engines built to run them all.

A *run* is one engine invocation described by the engine's kernel Params: its dims and formats are the
node's (from the plan), its build fields (word widths, maxima, shift reaches, units) are first the node's
own.  ``build_engines`` merges the runs of each engine into the engine as built (every width the widest,
every maximum the largest, every reach the longest), and ``bind`` gives a run the engine's build fields, so
that ``kernel.controls(bind(engine, run))`` are the run's control inputs and
``kernel.verilog_parameters(bind(engine, run)) == kernel.verilog_parameters(engine)``: one build runs every
node (checked by ``check_bound``).

GELU nodes have no engine: each follows the linear that feeds it and runs fused into it.

One MAC array: when the graph has an MoE layer, every linear call (patch embedding, q/k/v, proj, fc1(+GELU),
fc2, head) runs on the MoE engine in its dense mode (``MoeParams.dense``), so the accelerator builds one
linear core; the MoE engine's build then covers the linear calls' maxima and formats.  A graph without MoE
keeps the plain linear engine.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import ir
from ..kernels.add import ADD, AddParams
from ..kernels.attention import ATTENTION, AttentionParams
from ..kernels.layernorm import LAYERNORM, LayerNormParams
from ..kernels.linear import LINEAR, LinearParams
from ..kernels.moe import MOE, MoeParams
from ..kernels.router import ROUTER, RouterParams
from ..numerics.plan import Plan

#: the engines of the accelerator in their number order (the opcode is the number + 1; ctrl's counters)
ENGINES = ("linear", "attention", "layernorm", "router", "add", "moe")
KERNELS = {"linear": LINEAR, "attention": ATTENTION, "layernorm": LAYERNORM, "router": ROUTER, "add": ADD,
           "moe": MOE}
ENGINE_OF = {"patch_embed": "linear", "linear": "linear", "head": "linear", "attention": "attention",
             "layernorm": "layernorm", "router": "router", "add": "add", "experts": "moe"}

#: parallelism of each engine (Params fields) when the caller gives none: small, for simulation
DEFAULT_CHOICE = {"linear": {"t_in": 4, "t_out": 4, "n_pe": 2}, "attention": {"rows": 2, "lanes": 4},
                  "layernorm": {"lanes": 4}, "router": {"lanes": 4}, "add": {"lanes": 4},
                  "moe": {"t": 4, "n_pe": 2}}


class UnsupportedGraph(ValueError):
    """The graph needs something the accelerator's engines cannot run (named in the message)."""


@dataclass
class Call:
    """One engine invocation: the IR node(s) it runs and the run's Params (build fields still the node's)."""
    engine: str
    node: ir.Node
    run: object
    gelu: ir.Gelu | None = None

    @property
    def outputs(self) -> list[str]:
        return (self.gelu or self.node).outputs


@dataclass
class Engines:
    """The accelerator's engines as built: engine name -> Params (only engines some node uses)."""
    params: dict[str, object] = field(default_factory=dict)

    def verilog_parameters(self, engine: str) -> dict:
        return KERNELS[engine].verilog_parameters(self.params[engine])


# ---- one run per node -------------------------------------------------------------------------------------
def _linear(node, graph: ir.Graph, plan: Plan, choice: dict, gelu: ir.Gelu | None) -> LinearParams:
    work = LINEAR.work(node, graph)
    x = plan.tensors[node.inputs[0]]
    w = plan.params[f"{node.name}.weight"]
    out = plan.internal[f"{node.name}.tokens"] if node.kind == "patch_embed" else plan.tensors[node.outputs[0]]
    h = out
    if gelu is not None:
        out = plan.tensors[gelu.outputs[0]]
    b = plan.params[f"{node.name}.bias"] if work.bias else None
    acc_frac = x.frac + w.frac
    return LinearParams(**choice, x_width=x.width, x_frac=x.frac, w_width=w.width, w_frac=w.frac,
                        b_width=b.width if b else 2, b_frac=b.frac if b else acc_frac, out_width=out.width,
                        out_frac=out.frac, bias=work.bias, gelu=gelu is not None, h_width=h.width,
                        h_frac=h.frac, entries=plan.gelu_entries, tokens=work.rows, d_in=work.d_in,
                        d_out=work.d_out, saturating=0.0)


def _attention(node: ir.Attention, graph, plan: Plan, choice: dict, gelu) -> AttentionParams:
    q, k, v = (plan.tensors[t] for t in node.inputs)
    t = plan.internal[f"{node.name}.scores"]
    out = plan.tensors[node.outputs[0]]
    work = ATTENTION.work(node, graph)
    return AttentionParams(**choice, block=plan.attention_block, head_dim=work.head_dim, heads=work.heads,
                           tokens=work.tokens, q_width=q.width, q_frac=q.frac, k_width=k.width, k_frac=k.frac,
                           v_width=v.width, v_frac=v.frac, t_width=t.width, t_frac=t.frac, out_width=out.width,
                           out_frac=out.frac, scale=node.scale)


def _layernorm(node: ir.LayerNorm, graph, plan: Plan, choice: dict, gelu) -> LayerNormParams:
    x = plan.tensors[node.inputs[0]]
    p = plan.params[f"{node.name}.gamma"]
    if plan.params[f"{node.name}.beta"] != p:
        raise UnsupportedGraph(f"LayerNorm {node.name!r}: gamma and beta in different formats")
    out = plan.tensors[node.outputs[0]]
    rows, dim = graph.shapes[node.inputs[0]]
    return LayerNormParams(**choice, dim_max=dim, dim=dim, tokens=rows, x_width=x.width, x_frac=x.frac,
                           p_width=p.width, p_frac=p.frac, out_width=out.width, out_frac=out.frac,
                           stat_width=plan.spec.stat, norm_width=plan.spec.norm, eps=node.eps)


def _router(node: ir.Router, graph, plan: Plan, choice: dict, gelu) -> RouterParams:
    x = plan.tensors[node.inputs[0]]
    w = plan.params[f"{node.name}.weight"]
    logit = plan.internal[f"{node.name}.logits"]
    experts, dim = node.weight.shape
    rows = graph.shapes[node.inputs[0]][0]
    par = choice.get("expert_par", experts)
    return RouterParams(**{**choice, "expert_par": par}, dim_max=dim, dim=dim, experts=experts, top_k=node.top_k,
                        tokens=rows, tmax=rows, x_width=x.width, x_frac=x.frac, w_width=w.width, w_frac=w.frac,
                        logit_width=logit.width, logit_frac=logit.frac, renormalize=node.renormalize)


def _moe(node: ir.Experts, graph, plan: Plan, choice: dict, gelu) -> MoeParams:
    work = MOE.work(node, graph)
    get = lambda k: plan.params[f"{node.name}.{k}"]
    internal = lambda k: plan.internal[f"{node.name}.{k}"]
    x, out = plan.tensors[node.inputs[0]], plan.tensors[node.outputs[0]]
    w1, w2, b1, b2 = get("w1"), get("w2"), get("b1"), get("b2")
    h, a, e = internal("hidden"), internal("act"), internal("expert_out")
    return MoeParams(**choice, x_width=x.width, x_frac=x.frac, w_width=max(w1.width, w2.width), w1_frac=w1.frac,
                     w2_frac=w2.frac, b_width=max(b1.width, b2.width), b1_frac=b1.frac, b2_frac=b2.frac,
                     h_width=h.width, h_frac=h.frac, a_width=a.width, a_frac=a.frac, e_width=e.width,
                     e_frac=e.frac, out_width=out.width, out_frac=out.frac, experts=work.experts,
                     top_k=work.top_k, entries=plan.gelu_entries, tokens=work.tokens, dim=work.dim,
                     hidden=work.hidden, saturating=0.0)


def _dense(r: LinearParams, choice: dict) -> MoeParams:
    """A linear run on the MoE engine (dense mode): d_in = dim, d_out = hidden; the words it needs: its GELU
    input (or, without GELU, its output) as H_W, its activations as A_W (the hidden banks hold them, and the MAC
    array's activation operand is max(X_W, A_W) wide: 8-bit operands pack two products per DSP), its output
    as E_W and OUT_W (the core's output lanes are max(A_W, E_W, OUT_W) wide)."""
    return MoeParams(**choice, x_width=r.x_width, x_frac=r.x_frac, w_width=r.w_width, w1_frac=r.w_frac,
                     w2_frac=r.w_frac, b_width=r.b_width, b1_frac=r.b_frac, b2_frac=r.b_frac,
                     h_width=r.h_width if r.gelu else r.out_width, h_frac=r.h_frac,
                     a_width=r.x_width, a_frac=r.out_frac, e_width=r.out_width,
                     e_frac=r.out_frac, out_width=r.out_width, out_frac=r.out_frac, entries=r.entries,
                     tokens=r.tokens, dim=r.d_in, hidden=r.d_out, saturating=0.0, dense=True, bias=r.bias,
                     gelu=r.gelu)


def _add(node, graph, plan: Plan, choice: dict, gelu, a=None, b=None) -> AddParams:
    a = a or plan.tensors[node.inputs[0]]
    b = b or plan.tensors[node.inputs[1]]
    out = plan.tensors[node.outputs[0]]
    rows, cols = graph.shapes[node.outputs[0]]
    return AddParams(**choice, a_width=a.width, b_width=b.width, out_width=out.width,
                     align_max=abs(a.frac - b.frac), a_frac=a.frac, b_frac=b.frac, run_out_width=out.width,
                     out_frac=out.frac, words=rows * cols)


RUNS = {"linear": _linear, "attention": _attention, "layernorm": _layernorm, "router": _router, "moe": _moe,
        "add": _add}


def calls(graph: ir.Graph, plan: Plan, choice: dict | None = None) -> list[Call]:
    """The engine calls of ``graph`` in order; the patch embedding is two calls (linear, then the add of the
    position embedding to the class token and the patches' rows)."""
    choice = {**DEFAULT_CHOICE, **(choice or {})}
    out: list[Call] = []
    nodes = graph.nodes
    consumers = {t: [n for n in nodes if t in n.inputs] for n in nodes for t in n.outputs}
    fused: set[str] = set()
    for node in nodes:
        if node.name in fused:
            continue
        if node.kind == "gelu":
            raise UnsupportedGraph(f"GELU {node.name!r} does not follow a linear layer it can be fused into")
        if node.kind not in ENGINE_OF:
            raise UnsupportedGraph(f"node {node.name!r} ({node.kind}) has no engine")
        engine = ENGINE_OF[node.kind]
        gelu = None
        after = consumers.get(node.outputs[0], [])
        if node.kind == "linear" and len(after) == 1 and after[0].kind == "gelu":
            gelu = after[0]
            fused.add(gelu.name)
        out.append(Call(engine, node, RUNS[engine](node, graph, plan, choice[engine], gelu), gelu))
        if node.kind == "patch_embed":
            tokens = plan.internal[f"{node.name}.tokens"]
            out.append(Call("add", node, _add(node, graph, plan, choice["add"], None, tokens,
                                               plan.params[f"{node.name}.pos_embed"])))
    if any(c.engine == "moe" for c in out):             # one MAC array: the linear calls in dense mode
        out = [Call("moe", c.node, _dense(c.run, choice["moe"]), c.gelu) if c.engine == "linear" else c
               for c in out]
    return out


# ---- the engines that run them --------------------------------------------------------------------------------
def _most(runs, name: str) -> int:
    return max(getattr(r, name) for r in runs)


def _merge_linear(runs: list[LinearParams]) -> LinearParams:
    gelus = [r for r in runs if r.gelu] or runs
    biased = [r for r in runs if r.bias] or runs
    g_frac = max(r.h_frac + r.gelu_lsh for r in gelus)
    return replace(runs[0], x_width=_most(runs, "x_width"), w_width=_most(runs, "w_width"),
                   b_width=_most(biased, "b_width"), out_width=_most(runs, "out_width"),
                   h_width=_most(gelus, "h_width"), bias_unit=any(r.bias for r in runs),
                   gelu_unit=any(r.gelu for r in runs), bias_shift_max=max(r.bsh_max for r in runs),
                   h_frac=g_frac, gelu_lsh=0, gelu_lsh_max=g_frac - min(r.h_frac for r in gelus),
                   max_tokens=_most(runs, "tokens"), max_in=_most(runs, "d_in"), max_out=_most(runs, "d_out"),
                   bias=False, gelu=False)


def _bind_linear(e: LinearParams, r: LinearParams) -> LinearParams:
    g_frac = e.h_frac + e.gelu_lsh
    h_frac = r.h_frac if r.gelu else g_frac
    return replace(e, x_frac=r.x_frac, w_frac=r.w_frac, b_frac=r.b_frac if r.bias else r.x_frac + r.w_frac,
                   out_frac=r.out_frac, run_out_width=r.out_width, bias=r.bias, gelu=r.gelu, h_frac=h_frac,
                   gelu_lsh=g_frac - h_frac, run_h_width=r.h_width if r.gelu else 0, tokens=r.tokens,
                   d_in=r.d_in, d_out=r.d_out)


def _merge_attention(runs: list[AttentionParams]) -> AttentionParams:
    return replace(runs[0], max_tokens=_most(runs, "tokens"), max_heads=_most(runs, "heads"),
                   q_width=_most(runs, "q_width"), k_width=_most(runs, "k_width"), v_width=_most(runs, "v_width"),
                   max_t_width=_most(runs, "t_width"), max_out_width=_most(runs, "out_width"))


def _bind_attention(e: AttentionParams, r: AttentionParams) -> AttentionParams:
    return replace(e, tokens=r.tokens, heads=r.heads, q_frac=r.q_frac, k_frac=r.k_frac, v_frac=r.v_frac,
                   t_width=r.t_width, t_frac=r.t_frac, out_width=r.out_width, out_frac=r.out_frac, scale=r.scale)


def _merge_layernorm(runs: list[LayerNormParams]) -> LayerNormParams:
    if len({r.x_width for r in runs}) > 1:
        raise UnsupportedGraph("LayerNorm inputs of different word widths: the statistics format follows the "
                               "engine's input width")
    return replace(runs[0], dim_max=_most(runs, "dim"), p_width=_most(runs, "p_width"),
                   out_word=_most(runs, "out_width"))


def _bind_layernorm(e: LayerNormParams, r: LayerNormParams) -> LayerNormParams:
    return replace(e, dim=r.dim, tokens=r.tokens, x_frac=r.x_frac, p_frac=r.p_frac, out_width=r.out_width,
                   out_frac=r.out_frac, eps=r.eps)


def _merge_router(runs: list[RouterParams]) -> RouterParams:
    if len({(r.experts, r.top_k) for r in runs}) > 1:
        raise UnsupportedGraph("MoE layers with different numbers of experts or top-k")
    return replace(runs[0], dim_max=_most(runs, "dim"), tmax=_most(runs, "tokens"), x_width=_most(runs, "x_width"),
                   w_width=_most(runs, "w_width"), logit_word=_most(runs, "logit_width"))


def _bind_router(e: RouterParams, r: RouterParams) -> RouterParams:
    return replace(e, dim=r.dim, tokens=r.tokens, x_frac=r.x_frac, w_frac=r.w_frac, logit_width=r.logit_width,
                   logit_frac=r.logit_frac, renormalize=r.renormalize)


_MOE_WIDTHS = ("h_width", "a_width", "e_width", "out_width")


def _merge_moe(runs: list[MoeParams]) -> MoeParams:
    """The MoE layers' engine, widened (words, reaches, the hidden banks) for the dense runs it also serves."""
    layers = [r for r in runs if not r.dense]
    if len({(r.experts, r.top_k) for r in layers}) > 1:
        raise UnsupportedGraph("MoE layers with different numbers of experts or top-k")
    if len({tuple(getattr(r, n) for n in _MOE_WIDTHS) for r in layers}) > 1:
        raise UnsupportedGraph("MoE layers whose hidden, GELU, expert or output formats differ in width")
    gelus = [r for r in runs if not r.dense or r.gelu]
    g_frac = max(r.h_frac for r in gelus)
    dense = [r for r in runs if r.dense]
    # a dense run's reach is its one linear's; its activations (held in the hidden banks) fit A_W
    reach = [max(r.x_frac + r.w1_frac - r.b1_frac, 0) if r.dense else r.bsh_max for r in runs]
    return replace(layers[0], x_width=_most(runs, "x_width"), w_width=_most(runs, "w_width"),
                   b_width=_most(runs, "b_width"), h_width=_most(runs, "h_width"),
                   a_width=max(_most(runs, "a_width"), _most(runs, "x_width") if dense else 0),
                   out_width=_most(runs, "out_width"), bias_shift_max=max(reach), h_frac=g_frac,
                   gelu_lsh=0, gelu_lsh_max=g_frac - min(r.h_frac for r in gelus), max_tokens=_most(runs, "tokens"),
                   max_dim=_most(layers, "dim"),
                   max_hid=max([r.hidden for r in layers] + [max(r.dim, r.hidden) for r in dense]))


def _bind_moe(e: MoeParams, r: MoeParams) -> MoeParams:
    g_frac = e.h_frac + e.gelu_lsh
    if r.dense:
        h_frac = r.h_frac if r.gelu else g_frac
        return replace(e, x_frac=r.x_frac, w1_frac=r.w1_frac, b1_frac=r.b1_frac if r.bias else r.x_frac + r.w1_frac,
                       h_frac=h_frac, gelu_lsh=g_frac - h_frac, run_h_width=r.h_width if r.gelu else 0,
                       out_frac=r.out_frac, run_out_width=r.out_width, tokens=r.tokens, dim=r.dim,
                       hidden=r.hidden, dense=True, bias=r.bias, gelu=r.gelu)
    return replace(e, x_frac=r.x_frac, w1_frac=r.w1_frac, w2_frac=r.w2_frac, b1_frac=r.b1_frac, b2_frac=r.b2_frac,
                   h_frac=r.h_frac, gelu_lsh=g_frac - r.h_frac, a_frac=r.a_frac, e_frac=r.e_frac,
                   out_frac=r.out_frac, run_h_width=r.h_width, run_a_width=r.a_width, run_out_width=r.out_width,
                   tokens=r.tokens, dim=r.dim, hidden=r.hidden)


def _merge_add(runs: list[AddParams]) -> AddParams:
    return replace(runs[0], a_width=_most(runs, "a_width"), b_width=_most(runs, "b_width"),
                   out_width=_most(runs, "out_width"), align_max=_most(runs, "align_max"))


def _bind_add(e: AddParams, r: AddParams) -> AddParams:
    return replace(e, a_frac=r.a_frac, b_frac=r.b_frac, run_out_width=r.run_out_width, out_frac=r.out_frac,
                   words=r.words)


MERGE = {"linear": _merge_linear, "attention": _merge_attention, "layernorm": _merge_layernorm,
         "router": _merge_router, "moe": _merge_moe, "add": _merge_add}
BIND = {"linear": _bind_linear, "attention": _bind_attention, "layernorm": _bind_layernorm,
        "router": _bind_router, "moe": _bind_moe, "add": _bind_add}


def build_engines(program_calls: list[Call]) -> Engines:
    """The engines that run every call: each engine's runs merged."""
    engines = Engines()
    for name in ENGINES:
        runs = [c.run for c in program_calls if c.engine == name]
        if runs:
            engines.params[name] = MERGE[name](runs)
            engines.params[name].check()
    return engines


def bind(engines: Engines, call: Call):
    """The run of ``call`` on its engine: the engine's build fields, the call's dims, formats and switches."""
    run = BIND[call.engine](engines.params[call.engine], call.run)
    run.check()
    check_bound(engines, call.engine, run)
    return run


def check_bound(engines: Engines, engine: str, run) -> None:
    """A bound run must need exactly the engine's build (an internal error otherwise: merge and bind disagree)."""
    built, needed = engines.verilog_parameters(engine), KERNELS[engine].verilog_parameters(run)
    if built != needed:
        diff = {k: (built.get(k), needed.get(k)) for k in built.keys() | needed.keys() if built.get(k) != needed.get(k)}
        raise AssertionError(f"{engine} run needs another build than the engine's: {diff}")

