"""The work a model asks of the accelerator, read from the kernel graph (or straight from a preset's config).

A :class:`Workload` is a chain of *stages*, each run by one engine: the linear engine (every weight layer:
patch embedding, q/k/v, projection, dense MLP, router gate, experts, head; LayerNorm and GELU are units on
its stream) and the attention engine.  Residual adds run on the add engine, which takes the linear engine's
output as it streams out: they overlap it and are not priced.  Stages alternate:
``linear(patch, ln1, q, k, v) -> attention -> linear(proj, ln2, mlp, ln1', q', k', v') -> attention -> ...``.
Each op is one IR node with the Work its kernel reads from it (``Kernel.work``), so the topology and the MAC
counts are derived once, by the kernels.  The cost model prices each op with the kernels' own cycle formulas;
the schedule overlaps stages of different images on the two engines.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import ir
from ..kernels.attention import AttentionWork
from ..kernels.layernorm import LayerNormWork
from ..kernels.linear import LinearWork
from ..kernels.moe import MoeWork
from ..kernels.registry import KERNELS, kernel_for
from ..kernels.router import RouterWork

#: the engine whose timeline each kernel's ops occupy (the router unit and the LayerNorm unit sit on the
#: linear engine's input stream, the MoE kernel is the linear core in two-pass mode)
ENGINE_OF = {"linear": "linear", "layernorm": "linear", "router": "linear", "moe": "linear",
             "attention": "attention"}


@dataclass(frozen=True)
class Op:
    """One kernel invocation of the model: IR node ``name`` of kind ``kind`` (e.g. ``experts``, the IR's layer
    of expert MLPs), run by kernel ``kernel`` (``moe``) on ``work`` (that kernel's Work: ``MoeWork``)."""
    name: str
    kind: str
    kernel: str
    work: object

    @property
    def macs(self) -> int:
        return KERNELS[self.kernel].macs(self.work)


@dataclass(frozen=True)
class Stage:
    engine: str                     # "linear" or "attention"
    ops: tuple


@dataclass(frozen=True)
class Workload:
    """Everything the cost model needs to know about a model, at batch 1 (``tokens`` per image)."""
    name: str
    tokens: int
    dim: int
    stages: tuple[Stage, ...]
    macs_per_image: int             # the graph's own count (Graph.macs()); GOPS = 2 x this / time
    params: int = 0                 # learned parameters (weights, biases, ...) of the whole model
    expert_tokens: tuple = field(default=())   # optional measured routing: per MoE layer, tokens per expert

    def ops(self, kernel: str | None = None) -> list[Op]:
        """The ops in execution order, or those run by ``kernel``."""
        return [op for s in self.stages for op in s.ops if kernel is None or op.kernel == kernel]

    def weight_count(self) -> int:
        return sum(KERNELS[op.kernel].weight_words(op.work)[0] for op in self.ops())


def expected_touched(experts: int, top_k: int, tokens: int) -> float:
    """Expected number of experts that receive at least one of ``tokens`` tokens, each token choosing
    ``top_k`` distinct experts uniformly at random: E (1 - (1 - k/E)^T).  129 tokens, top-2 of 16: 16.0.
    (For reference: the cost model itself uses the MoE kernel's even spread, ``balanced_counts``.)"""
    if tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def _chain(ops: list[Op], name: str, tokens: int, dim: int, macs: int, params: int) -> Workload:
    stages: list[Stage] = []
    for op in ops:
        engine = ENGINE_OF[op.kernel]
        if stages and stages[-1].engine == engine:
            stages[-1] = Stage(engine, stages[-1].ops + (op,))
        else:
            stages.append(Stage(engine, (op,)))
    return Workload(name, tokens, dim, tuple(stages), macs, params)


def workload_from_graph(graph: ir.Graph, name: str = "model") -> Workload:
    """Each node's Work from the kernel that runs it, in execution order; a GELU after a linear layer is fused
    into it; residual adds (the add engine, overlapping the linear engine's output) are not priced."""
    ops: list[Op] = []
    for n in graph.nodes:
        if n.kind == "add":
            continue
        if n.kind == "gelu":
            prev = ops[-1] if ops else None
            if prev is None or prev.kernel != "linear" or prev.work.gelu:
                raise ValueError(f"GELU {n.name!r} does not follow a linear layer; the linear engine fuses it there")
            ops[-1] = replace(prev, work=replace(prev.work, gelu=True))
            continue
        try:
            kernel = kernel_for(n)
        except ValueError:
            raise ValueError(f"the cost model has no engine for node {n.name!r} ({n.kind})") from None
        ops.append(Op(n.name, n.kind, kernel.name, kernel.work(n, graph)))
    patch = [n for n in graph.nodes if n.kind == "patch_embed"]
    attn = [op for op in ops if op.kernel == "attention"]
    if patch:
        tokens, dim = patch[0].pos_embed.shape[0], patch[0].weight.shape[0]
    elif attn:
        out = graph.shapes[graph.output]
        tokens, dim = attn[0].work.tokens, out[-1] if len(out) > 1 else 0
    else:
        raise ValueError("the graph has neither a patch embedding nor attention: cannot tell its token count")
    return _chain(ops, name, int(tokens), int(dim), graph.macs(), graph.param_count())


def workload_from_config(cfg, name: str = "model") -> Workload:
    """The same workload as ``workload_from_graph(graph_from_model(build_model(cfg)))`` without building
    the model (fast; the tests check the two agree)."""
    t, d = cfg.tokens, cfg.dim
    lin = lambda op_name, d_in, d_out, kind="linear", rows=t, gelu=False: Op(
        op_name, kind, "linear", LinearWork(rows, d_in, d_out, gelu=gelu))
    ops = [lin("patch_embed", cfg.in_chans * cfg.patch * cfg.patch, d, "patch_embed", rows=t - 1)]
    for b in range(cfg.depth):
        p = f"blocks.{b}"
        ops.append(Op(f"{p}.norm1", "layernorm", "layernorm", LayerNormWork(t, d)))
        ops += [lin(f"{p}.attn.{c}", d, d) for c in "qkv"]
        ops.append(Op(f"{p}.attn.core", "attention", "attention", AttentionWork(t, cfg.heads, cfg.head_dim)))
        ops.append(lin(f"{p}.attn.proj", d, d))
        ops.append(Op(f"{p}.norm2", "layernorm", "layernorm", LayerNormWork(t, d)))
        if cfg.is_moe(b):
            ops.append(Op(f"{p}.moe.gate", "router", "router", RouterWork(t, d, cfg.experts, cfg.top_k)))
            ops.append(Op(f"{p}.moe.experts", "experts", "moe",
                          MoeWork(t, d, cfg.expert_hidden, cfg.experts, cfg.top_k)))
        else:
            ops += [lin(f"{p}.mlp.fc1", d, cfg.mlp_hidden, gelu=True), lin(f"{p}.mlp.fc2", cfg.mlp_hidden, d)]
    ops.append(Op("norm", "layernorm", "layernorm", LayerNormWork(t, d)))
    ops.append(lin("head", d, cfg.num_classes, "head", rows=1))
    macs = sum(op.macs for op in ops)
    params = sum(sum(KERNELS[op.kernel].weight_words(op.work)) for op in ops) + d + t * d   # + class token, pos
    return _chain(ops, name, t, d, macs, params)


def weight_bytes(op: Op, weight_bits: int, param_bits: int = 16) -> float:
    """Bytes of weights (and biases) one pass over ``op`` reads from off-chip memory, all experts counted."""
    weights, params = KERNELS[op.kernel].weight_words(op.work)
    return weights * weight_bits / 8 + params * param_bits / 8


__all__ = ["ENGINE_OF", "Op", "Stage", "Workload", "expected_touched", "weight_bytes", "workload_from_config",
           "workload_from_graph"]
