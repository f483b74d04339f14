"""The work a model asks of the accelerator, read from the kernel graph (or straight from a preset's config).

A :class:`Workload` is a chain of *stages*, each run by one engine: the linear engine (every weight layer:
patch embedding, q/k/v, projection, dense MLP, router gate, experts, head; LayerNorm and GELU are units on
its stream, residual adds are fused into its output) and the attention engine.  Stages alternate:
``linear(patch, ln1, q, k, v) -> attention -> linear(proj, ln2, mlp, ln1', q', k', v') -> attention -> ...``.
The cost model prices each op with the kernels' own cycle formulas; the schedule overlaps stages of
different images on the two engines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .. import ir


@dataclass(frozen=True)
class LinearOp:
    name: str
    d_in: int
    d_out: int
    rows: int = 0          # tokens per image this layer runs on (1 for the head: class token only)
    bias: bool = True
    gelu: bool = False     # GELU fused at the output
    kind = "linear"

    @property
    def weights(self) -> int:
        return self.d_in * self.d_out

    def macs(self, tokens: int) -> int:
        return (self.rows or tokens) * self.d_in * self.d_out


@dataclass(frozen=True)
class AttentionOp:
    name: str
    heads: int
    head_dim: int
    kind = "attention"

    def macs(self, tokens: int) -> int:
        return 2 * self.heads * tokens * tokens * self.head_dim


@dataclass(frozen=True)
class LayerNormOp:
    name: str
    dim: int
    kind = "layernorm"

    def macs(self, tokens: int) -> int:
        return 0


@dataclass(frozen=True)
class RouterOp:
    name: str
    dim: int
    experts: int
    top_k: int
    kind = "router"

    @property
    def weights(self) -> int:
        return self.dim * self.experts

    def macs(self, tokens: int) -> int:
        return tokens * self.dim * self.experts


@dataclass(frozen=True)
class ExpertsOp:
    name: str
    dim: int
    hidden: int
    experts: int
    top_k: int
    kind = "experts"

    @property
    def weights_per_expert(self) -> int:
        return 2 * self.dim * self.hidden

    @property
    def weights(self) -> int:
        return self.experts * self.weights_per_expert

    def macs(self, tokens: int) -> int:
        return tokens * self.top_k * self.weights_per_expert


Op = LinearOp | AttentionOp | LayerNormOp | RouterOp | ExpertsOp


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

    def ops(self, kind: str | None = None):
        return [op for s in self.stages for op in s.ops if kind is None or op.kind == kind]

    def weight_count(self) -> int:
        return sum(getattr(op, "weights", 0) for op in self.ops())


def expected_touched(experts: int, top_k: int, tokens: int) -> float:
    """Expected number of experts that receive at least one of ``tokens`` tokens, each token choosing
    ``top_k`` distinct experts uniformly at random: E (1 - (1 - k/E)^T).  129 tokens, top-2 of 16: 16.0.
    (For reference: the cost model itself uses the MoE kernel's even spread, ``balanced_counts``.)"""
    if tokens <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def _chain(ops: list[tuple[str, object]], name: str, tokens: int, dim: int, macs: int, params: int) -> Workload:
    stages: list[Stage] = []
    for engine, op in ops:
        if stages and stages[-1].engine == engine:
            stages[-1] = Stage(engine, stages[-1].ops + (op,))
        else:
            stages.append(Stage(engine, (op,)))
    return Workload(name, tokens, dim, tuple(stages), macs, params)


def workload_from_graph(graph: ir.Graph, name: str = "model") -> Workload:
    """Read the kernel graph in execution order: GELU after a linear layer is fused into it, adds are free."""
    ops: list[tuple[str, object]] = []
    attn = [n for n in graph.nodes if isinstance(n, ir.Attention)]
    tokens = graph.shapes[attn[0].inputs[0]][0] if attn else None
    dim = None
    for n in graph.nodes:
        if isinstance(n, ir.PatchEmbed):
            tokens = n.pos_embed.shape[0]
            dim = n.weight.shape[0]
            ops.append(("linear", LinearOp(n.name, n.weight.shape[1], n.weight.shape[0], rows=tokens - 1)))
        elif isinstance(n, ir.Linear):
            ops.append(("linear", LinearOp(n.name, n.weight.shape[1], n.weight.shape[0], bias=n.bias is not None)))
        elif isinstance(n, ir.Gelu):
            prev = ops[-1][1] if ops else None
            if not isinstance(prev, LinearOp) or prev.gelu:
                raise ValueError(f"GELU {n.name!r} does not follow a linear layer; the linear engine fuses it there")
            ops[-1] = ("linear", LinearOp(prev.name, prev.d_in, prev.d_out, prev.rows, prev.bias, gelu=True))
        elif isinstance(n, ir.LayerNorm):
            ops.append(("linear", LayerNormOp(n.name, n.gamma.shape[0])))
        elif isinstance(n, ir.Attention):
            ops.append(("attention", AttentionOp(n.name, n.heads, n.head_dim)))
        elif isinstance(n, ir.Router):
            ops.append(("linear", RouterOp(n.name, n.weight.shape[1], n.weight.shape[0], n.top_k)))
        elif isinstance(n, ir.Experts):
            e, h, d = n.w1.shape
            ops.append(("linear", ExpertsOp(n.name, d, h, e, n.top_k)))
        elif isinstance(n, ir.Head):
            ops.append(("linear", LinearOp(n.name, n.weight.shape[1], n.weight.shape[0], rows=1,
                                           bias=n.bias is not None)))
        elif isinstance(n, ir.Add):
            continue
        else:
            raise ValueError(f"the cost model has no engine for node {n.name!r} ({n.kind})")
    if tokens is None:
        raise ValueError("the graph has neither a patch embedding nor attention: cannot tell its token count")
    if dim is None:
        dim = graph.shapes[graph.output][-1] if len(graph.shapes[graph.output]) > 1 else 0
    return _chain(ops, name, int(tokens), int(dim or 0), graph.macs(), graph.param_count())


def workload_from_config(cfg, name: str = "model") -> Workload:
    """The same workload as ``workload_from_graph(graph_from_model(build_model(cfg)))`` without building
    the model (fast; the tests check the two agree)."""
    t, d = cfg.tokens, cfg.dim
    ops: list[tuple[str, object]] = []
    patch_in = cfg.in_chans * cfg.patch * cfg.patch
    ops.append(("linear", LinearOp("patch_embed", patch_in, d, rows=t - 1)))
    macs = (t - 1) * patch_in * d
    params = patch_in * d + d + d + t * d
    for b in range(cfg.depth):
        p = f"blocks.{b}"
        ops.append(("linear", LayerNormOp(f"{p}.norm1", d)))
        for c in "qkv":
            ops.append(("linear", LinearOp(f"{p}.attn.{c}", d, d)))
        ops.append(("attention", AttentionOp(f"{p}.attn.core", cfg.heads, cfg.head_dim)))
        ops.append(("linear", LinearOp(f"{p}.attn.proj", d, d)))
        ops.append(("linear", LayerNormOp(f"{p}.norm2", d)))
        macs += 4 * t * d * d + 2 * cfg.heads * t * t * cfg.head_dim
        params += 4 * (d * d + d) + 4 * d
        if cfg.is_moe(b):
            ops.append(("linear", RouterOp(f"{p}.moe.gate", d, cfg.experts, cfg.top_k)))
            ops.append(("linear", ExpertsOp(f"{p}.moe.experts", d, cfg.expert_hidden, cfg.experts, cfg.top_k)))
            macs += t * d * cfg.experts + t * cfg.top_k * 2 * d * cfg.expert_hidden
            params += d * cfg.experts + cfg.experts * (2 * d * cfg.expert_hidden + cfg.expert_hidden + d)
        else:
            ops.append(("linear", LinearOp(f"{p}.mlp.fc1", d, cfg.mlp_hidden, gelu=True)))
            ops.append(("linear", LinearOp(f"{p}.mlp.fc2", cfg.mlp_hidden, d)))
            macs += 2 * t * d * cfg.mlp_hidden
            params += 2 * d * cfg.mlp_hidden + cfg.mlp_hidden + d
    ops.append(("linear", LayerNormOp("norm", d)))
    ops.append(("linear", LinearOp("head", d, cfg.num_classes, rows=1)))
    macs += d * cfg.num_classes
    params += 2 * d + d * cfg.num_classes + cfg.num_classes
    return _chain(ops, name, t, d, macs, params)


def weight_bytes(op, weight_bits: int, param_bits: int = 16) -> float:
    """Bytes of weights (and biases) one pass over ``op`` reads from off-chip memory, all experts counted."""
    wb = weight_bits / 8
    pb = param_bits / 8
    if isinstance(op, LinearOp):
        return op.weights * wb + (op.d_out * pb if op.bias else 0)
    if isinstance(op, RouterOp):
        return op.weights * wb
    if isinstance(op, ExpertsOp):
        return op.experts * (op.weights_per_expert * wb + (op.hidden + op.dim) * pb)
    if isinstance(op, LayerNormOp):
        return 2 * op.dim * pb
    return 0.0


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


__all__ = ["AttentionOp", "ExpertsOp", "LayerNormOp", "LinearOp", "RouterOp", "Stage", "Workload",
           "ceil_div", "expected_touched", "weight_bytes", "workload_from_config", "workload_from_graph",
]
