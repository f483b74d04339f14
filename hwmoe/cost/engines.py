"""The accelerator's two engines (and the router unit), as the cost model and the search see them.

* ``linear``: one linear core (T x T weight tile x N_PE token lanes): dense layers as the linear kernel
  (GELU fused), MoE layers as the MoE kernel on the same core; the LayerNorm unit on its input stream.
  Runs every weight layer, experts included.
* ``router``: the router unit (gate logits, top-k, softmax, token queues), also on the linear engine's input
  stream and on its timeline, but with parameters of its own (LANES, EXPERT_PAR).
* ``attention``: the streaming attention kernel (P query rows held, keys/values in blocks).

Each engine has a search space (lists of legal values derived from the model's dims: sampling from them
can never produce an illegal point), turns a choice into kernel parameters, prices a stage of the workload
for a group of images (cycles from the kernels' own formulas, weight traffic from :mod:`.memory`) and
reports its resources.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce

from ..kernels.attention import DEFAULT_BLOCK
from ..kernels.moe import balanced_counts
from .attention import COST as ATTENTION
from .layernorm import COST as LAYERNORM
from .linear import COST as LINEAR
from .memory import Timing, overlap
from .moe import COST as MOE
from .router import COST as ROUTER
from .usage import Usage
from .workload import AttentionOp, ExpertsOp, LayerNormOp, LinearOp, RouterOp, Workload, weight_bytes


def divisors(n: int, cap: int | None = None) -> list[int]:
    return [d for d in range(1, (cap or n) + 1) if n % d == 0]


@dataclass
class OpCost:
    name: str
    kind: str
    timing: Timing
    macs: int


@dataclass
class EngineConfig:
    """Kernel parameters of one engine for one choice (plain values in ``choice``)."""
    engine: str
    choice: dict
    units: dict = field(default_factory=dict)      # unit name -> kernel params


class LinearEngine:
    """One linear core (T x T weight tile x N_PE token lanes) that runs every weight layer: dense layers as the
    linear kernel (rtl/hwmoe_linear.v, GELU fused, T GELU lanes) and MoE layers as the MoE kernel
    (rtl/hwmoe_moe.v: the same core in two-pass mode with the route scanner and gate-weighted accumulation),
    with the LayerNorm unit (T lanes: it feeds the core's T-word input beats) on its input.  The router unit
    (:class:`RouterUnit`) also sits on its input stream, with parameters of its own."""
    name = "linear"
    timeline = "linear"
    #: the largest tile edge and token-lane count offered (beyond: more DSPs than any board here has)
    MAX_TILE = 64
    MAX_PE = 8

    def runs(self, op) -> bool:
        return isinstance(op, (LinearOp, ExpertsOp, LayerNormOp))

    def space(self, wl: Workload) -> dict[str, list]:
        """Square tiles T (the MoE kernel requires T_IN = T_OUT): divisors of the gcd of every dim the core
        sees (the head and the router's experts are padded / not on the core), so no tile is ever illegal."""
        dims = [d for op in wl.ops("linear") if op.rows != 1 for d in (op.d_in, op.d_out)]
        dims += [d for op in wl.ops("experts") for d in (op.dim, op.hidden)]
        g = reduce(math.gcd, dims) if dims else 1
        return {"t": divisors(g, self.MAX_TILE), "n_pe": list(range(1, self.MAX_PE + 1)), "ln_nbuf": [2, 4]}

    def build(self, choice: dict, wl: Workload, prec, images: int = 1) -> EngineConfig:
        tokens = wl.tokens * images
        max_in = max([op.d_in for op in wl.ops("linear")] + [1])
        max_out = max([op.d_out for op in wl.ops("linear")] + [1])
        gelu = any(op.gelu for op in wl.ops("linear"))
        t = choice.get("t", choice.get("t_in"))
        units = {"linear": LINEAR.engine_params(choice, prec, tokens, max_in, max_out, gelu)}
        experts = wl.ops("experts")
        if experts:
            units["moe"] = MOE.engine_params(t, choice["n_pe"], prec, tokens, max(op.dim for op in experts),
                                             max(op.hidden for op in experts), max(op.experts for op in experts),
                                             max(op.top_k for op in experts))
        if wl.ops("layernorm"):
            units["layernorm"] = LAYERNORM.engine_params(t, wl.dim, prec, choice.get("ln_nbuf", 4))
        return EngineConfig(self.name, dict(choice), units)

    @staticmethod
    def expert_counts(op, wl: Workload, rows: int, images: int) -> list[int]:
        """Tokens per expert of one MoE layer: the workload's measured routing (per image, scaled by the
        group) when it has one for this layer, else the MoE kernel's default (tokens x top_k spread evenly)."""
        layers = [o.name for o in wl.ops("experts")]
        i = layers.index(op.name) if op.name in layers else -1
        if 0 <= i < len(wl.expert_tokens) and wl.expert_tokens[i]:
            return [int(n) * images for n in wl.expert_tokens[i]]
        return balanced_counts(rows, op.experts, op.top_k)

    def op_cost(self, cfg: EngineConfig, op, wl: Workload, images: int, bpc: float, prec) -> OpCost:
        lin = cfg.units["linear"]
        fill = lin.t_in * lin.t_out * prec.weight / 8 * math.ceil(wl.dim / lin.t_in)   # first weight block
        rows = (getattr(op, "rows", 0) or wl.tokens) * images
        c_ = math.ceil
        if isinstance(op, LinearOp):
            c = LINEAR.cycles(lin, rows=rows, d_in=op.d_in, d_out=op.d_out, gelu=op.gelu)
            beats = op.d_out * c_(op.d_in / lin.t_in)                                   # weight beats
            macs = c_(op.d_out / lin.t_out) * c_(rows / lin.n_pe) * c_(op.d_in / lin.t_in)
            t = overlap(c, weight_bytes(op, prec.weight, prec.param), bpc, True, fill, beats, macs)
        elif isinstance(op, ExpertsOp):
            moe = cfg.units["moe"]
            counts = self.expert_counts(op, wl, rows, images)
            c = MOE.cycles(moe, tokens=rows, dim=op.dim, hidden=op.hidden, experts=op.experts, top_k=op.top_k,
                           expert_tokens=counts)
            used = [n for n in counts if n]
            dt, ht = c_(op.dim / moe.t), c_(op.hidden / moe.t)
            beats = len(used) * (op.hidden * dt + op.dim * ht)                        # requested experts only
            macs = sum(2 * c_(n / moe.n_pe) * dt * ht for n in used)
            nbytes = weight_bytes(op, prec.weight, prec.param) * len(used) / op.experts
            t = overlap(c, nbytes, bpc, True, fill, beats, macs)
        elif isinstance(op, LayerNormOp):
            c = LAYERNORM.cycles(cfg.units["layernorm"], rows=rows, dim=op.dim)
            t = overlap(c, weight_bytes(op, prec.weight, prec.param), bpc, False)
        else:
            raise TypeError(f"the linear engine does not run {op.kind} ops")
        return OpCost(op.name, op.kind, t, op.macs(rows))

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        """The linear kernel (core, activation banks, weight buffers, bias/requant, GELU) sized for the dense
        layers, what the MoE mode adds to it (``moe``: hwmoe_moe minus hwmoe_linear at the same tile) and the
        LayerNorm unit."""
        out = {"linear": LINEAR.resources(cfg.units["linear"], dsp_kind)}
        if "moe" in cfg.units:
            out["moe"] = MOE.extra(cfg.units["moe"], dsp_kind)
        if "layernorm" in cfg.units:
            out["layernorm"] = LAYERNORM.resources(cfg.units["layernorm"], dsp_kind)
        return out


class RouterUnit:
    """The MoE router unit (rtl/hwmoe_router.v) on the linear engine's input stream, re-chunked to its own
    LANES words per beat; LANES and EXPERT_PAR are its own parameters.  It runs on the linear engine's timeline
    (a gate layer sits between the LayerNorm and the experts), but its parameters are independent of the
    core's, so the search treats it as a unit of its own (a front of its own in stage 1)."""
    name = "router"
    timeline = "linear"
    MAX_LANES = 64

    def runs(self, op) -> bool:
        return isinstance(op, RouterOp)

    def space(self, wl: Workload) -> dict[str, list]:
        ops = wl.ops("router")
        if not ops:
            return {}
        return {"lanes": divisors(reduce(math.gcd, [op.dim for op in ops]), self.MAX_LANES),
                "expert_par": divisors(reduce(math.gcd, [op.experts for op in ops]))}

    def build(self, choice: dict, wl: Workload, prec, images: int = 1) -> EngineConfig:
        ops = wl.ops("router")
        units = {}
        if ops:
            units["router"] = ROUTER.engine_params(choice["lanes"], choice["expert_par"], prec,
                                                   max(op.dim for op in ops), max(op.experts for op in ops),
                                                   max(op.top_k for op in ops), wl.tokens * images)
        return EngineConfig(self.name, dict(choice), units)

    def op_cost(self, cfg: EngineConfig, op, wl: Workload, images: int, bpc: float, prec) -> OpCost:
        if not isinstance(op, RouterOp):
            raise TypeError(f"the router unit does not run {op.kind} ops")
        rows = wl.tokens * images
        c = ROUTER.cycles(cfg.units["router"], tokens=rows, dim=op.dim, experts=op.experts, top_k=op.top_k)
        # its gate-weight load (experts x ceil(dim/LANES) beats) is part of the formula; off-chip bandwidth
        # only bounds it when slower
        return OpCost(op.name, op.kind, overlap(c, weight_bytes(op, prec.weight), bpc, True), op.macs(rows))

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        return {"router": ROUTER.resources(cfg.units["router"], dsp_kind)} if "router" in cfg.units else {}


class AttentionEngine:
    name = "attention"
    timeline = "attention"
    #: query rows in flight: every P up to MAX_P, then the P that split the tokens into 8, 7, ..., 2 groups
    #: (17, 19, 22, 26, 33, 43, 65 at 129 tokens): a large board's attention engine is not capped at 16 rows
    MAX_P = 16

    def runs(self, op) -> bool:
        return isinstance(op, AttentionOp)

    def space(self, wl: Workload) -> dict[str, list]:
        ops = wl.ops("attention")
        hd = reduce(math.gcd, [op.head_dim for op in ops]) if ops else 1
        # BLOCK is part of the numerics (the plan's attention_block): not a free hardware parameter
        ps = list(range(1, self.MAX_P + 1))
        ps += sorted({-(-wl.tokens // g) for g in range(2, 9)} - set(ps))
        return {"p": ps, "lanes": divisors(hd, 64), "block": [DEFAULT_BLOCK]}

    def build(self, choice: dict, wl: Workload, prec, images: int = 1) -> EngineConfig:
        ops = wl.ops("attention")
        hd = max([op.head_dim for op in ops] + [1])
        heads = max([op.heads for op in ops] + [1])
        return EngineConfig(self.name, dict(choice),
                            {"attention": ATTENTION.engine_params(choice, prec, wl.tokens, hd, heads)})

    def op_cost(self, cfg: EngineConfig, op, wl: Workload, images: int, bpc: float, prec) -> OpCost:
        if not isinstance(op, AttentionOp):
            raise TypeError(f"the attention engine does not run {op.kind} ops")
        c = images * ATTENTION.cycles(cfg.units["attention"], tokens=wl.tokens, heads=op.heads,
                                      head_dim=op.head_dim)
        return OpCost(op.name, op.kind, overlap(c, 0.0, bpc, False), images * op.macs(wl.tokens))

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        return {"attention": ATTENTION.resources(cfg.units["attention"], dsp_kind)}


#: Every engine / unit with parameters of its own, in the order the search reports them.  ``timeline``: the
#: engine whose schedule an engine's ops occupy (the router unit's gate layers are on the linear engine's).
ENGINES = {"linear": LinearEngine(), "router": RouterUnit(), "attention": AttentionEngine()}
