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
from dataclasses import dataclass, field, replace
from functools import reduce

from ..kernels.attention import ATTENTION
from ..kernels.layernorm import LAYERNORM
from ..kernels.linear import LINEAR
from ..kernels.moe import MOE, balanced_counts
from ..kernels.router import ROUTER
from ..numerics.intmath import ceil_div
from ..numerics.softmax import DEFAULT_BLOCK
from .memory import Timing, overlap
from .usage import Usage
from .workload import Op, Workload, weight_bytes


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
    (:class:`RouterUnit`) also sits on its input stream, with parameters of its own.
    Choice: ``t`` (the square tile edge: the MoE kernel needs T_IN = T_OUT), ``n_pe``, ``ln_nbuf``."""
    name = "linear"
    timeline = "linear"
    kernels = ("linear", "moe", "layernorm")
    #: the largest tile edge and token-lane count offered (beyond: more DSPs than any board here has)
    MAX_TILE = 64
    MAX_PE = 8

    def runs(self, op: Op) -> bool:
        return op.kernel in self.kernels

    def space(self, wl: Workload) -> dict[str, list]:
        """Square tiles T (the MoE kernel requires T_IN = T_OUT): divisors of the gcd of every dim the core
        sees (the head and the router's experts are padded / not on the core), so no tile is ever illegal."""
        dims = [d for op in wl.ops("linear") if op.work.rows != 1 for d in (op.work.d_in, op.work.d_out)]
        dims += [d for op in wl.ops("moe") for d in (op.work.dim, op.work.hidden)]
        g = reduce(math.gcd, dims) if dims else 1
        return {"t": divisors(g, self.MAX_TILE), "n_pe": list(range(1, self.MAX_PE + 1)), "ln_nbuf": [2, 4]}

    def build(self, choice: dict, wl: Workload, formats: dict, images: int = 1) -> EngineConfig:
        """Each unit's Params from the choice, buffers sized for a group of ``images`` images."""
        tokens = wl.tokens * images
        t, n_pe = choice["t"], choice["n_pe"]
        units = {}
        for op_kernel, unit_choice in ((LINEAR, {"t_in": t, "t_out": t, "n_pe": n_pe}),
                                       (MOE, {"t": t, "n_pe": n_pe}),
                                       (LAYERNORM, {"lanes": t, "nbuf": choice["ln_nbuf"]})):
            works = [op.work for op in wl.ops(op_kernel.name)]
            if not works and op_kernel is not LINEAR:
                continue
            largest = op_kernel.largest(works) if works else LINEAR.Work(tokens, 1, 1)
            rows = "tokens" if op_kernel is MOE else "rows"
            units[op_kernel.name] = op_kernel.engine_params(unit_choice, replace(largest, **{rows: tokens}),
                                                            formats)
        return EngineConfig(self.name, dict(choice), units)

    @staticmethod
    def expert_counts(op: Op, wl: Workload, rows: int, images: int) -> list[int]:
        """Tokens per expert of one MoE layer: the workload's measured routing (per image, scaled by the
        group) when it has one for this layer, else the MoE kernel's default (tokens x top_k spread evenly)."""
        layers = [o.name for o in wl.ops("moe")]
        i = layers.index(op.name) if op.name in layers else -1
        if 0 <= i < len(wl.expert_tokens) and wl.expert_tokens[i]:
            return [int(n) * images for n in wl.expert_tokens[i]]
        return balanced_counts(rows, op.work.experts, op.work.top_k)

    def op_cost(self, cfg: EngineConfig, op: Op, wl: Workload, images: int, bpc: float, formats: dict) -> OpCost:
        lin = cfg.units["linear"]
        w_bits, p_bits = formats["weight"].width, formats["param"].width
        fill = lin.t_in * lin.t_out * w_bits / 8 * ceil_div(wl.dim, lin.t_in)     # first weight block
        work = op.work
        if op.kernel == "linear":
            rows = work.rows * images
            c = LINEAR.cycles(lin, replace(work, rows=rows))
            beats = work.d_out * ceil_div(work.d_in, lin.t_in)                       # weight beats
            macs = ceil_div(work.d_out, lin.t_out) * ceil_div(rows, lin.n_pe) * ceil_div(work.d_in, lin.t_in)
            t = overlap(c, weight_bytes(op, w_bits, p_bits), bpc, True, fill, beats, macs)
        elif op.kernel == "moe":
            moe = cfg.units["moe"]
            rows = work.tokens * images
            counts = self.expert_counts(op, wl, rows, images)
            c = MOE.cycles(moe, replace(work, tokens=rows, expert_tokens=tuple(counts)))
            used = [n for n in counts if n]
            dt, ht = ceil_div(work.dim, moe.t), ceil_div(work.hidden, moe.t)
            beats = len(used) * (work.hidden * dt + work.dim * ht)                   # requested experts only
            macs = sum(2 * ceil_div(n, moe.n_pe) * dt * ht for n in used)
            nbytes = weight_bytes(op, w_bits, p_bits) * len(used) / work.experts
            t = overlap(c, nbytes, bpc, True, fill, beats, macs)
        elif op.kernel == "layernorm":
            c = LAYERNORM.cycles(cfg.units["layernorm"], replace(work, rows=work.rows * images))
            t = overlap(c, weight_bytes(op, w_bits, p_bits), bpc, False)
        else:
            raise TypeError(f"the linear engine does not run {op.kernel} ops")
        return OpCost(op.name, op.kind, t, images * op.macs)

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
    core's, so the search treats it as a unit of its own (a front of its own in stage 1).
    Choice: ``lanes``, ``expert_par`` (the router's Params fields)."""
    name = "router"
    timeline = "linear"
    MAX_LANES = 64

    def runs(self, op: Op) -> bool:
        return op.kernel == "router"

    def space(self, wl: Workload) -> dict[str, list]:
        works = [op.work for op in wl.ops("router")]
        if not works:
            return {}
        return {"lanes": divisors(reduce(math.gcd, [w.dim for w in works]), self.MAX_LANES),
                "expert_par": divisors(reduce(math.gcd, [w.experts for w in works]))}

    def build(self, choice: dict, wl: Workload, formats: dict, images: int = 1) -> EngineConfig:
        works = [op.work for op in wl.ops("router")]
        units = {}
        if works:
            largest = replace(ROUTER.largest(works), tokens=wl.tokens * images)
            units["router"] = ROUTER.engine_params(choice, largest, formats)
        return EngineConfig(self.name, dict(choice), units)

    def op_cost(self, cfg: EngineConfig, op: Op, wl: Workload, images: int, bpc: float, formats: dict) -> OpCost:
        if op.kernel != "router":
            raise TypeError(f"the router unit does not run {op.kernel} ops")
        c = ROUTER.cycles(cfg.units["router"], replace(op.work, tokens=op.work.tokens * images))
        # its gate-weight load (experts x ceil(dim/LANES) beats) is part of the formula; off-chip bandwidth
        # only bounds it when slower
        return OpCost(op.name, op.kind, overlap(c, weight_bytes(op, formats["weight"].width), bpc, True),
                      images * op.macs)

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        return {"router": ROUTER.resources(cfg.units["router"], dsp_kind)} if "router" in cfg.units else {}


class AttentionEngine:
    """The streaming attention kernel, one image at a time.  Choice: ``rows`` (query rows in flight, the
    RTL's P), ``lanes``, ``block`` (the attention Params fields)."""
    name = "attention"
    timeline = "attention"
    #: query rows in flight: every value up to MAX_ROWS, then those that split the tokens into 8, 7, ..., 2
    #: groups (17, 19, 22, 26, 33, 43, 65 at 129 tokens): a large board's attention engine is not capped at 16
    MAX_ROWS = 16

    def runs(self, op: Op) -> bool:
        return op.kernel == "attention"

    def space(self, wl: Workload) -> dict[str, list]:
        works = [op.work for op in wl.ops("attention")]
        hd = reduce(math.gcd, [w.head_dim for w in works]) if works else 1
        # BLOCK is part of the numerics (the plan's attention_block): not a free hardware parameter
        rows = list(range(1, self.MAX_ROWS + 1))
        rows += sorted({ceil_div(wl.tokens, g) for g in range(2, 9)} - set(rows))
        return {"rows": rows, "lanes": divisors(hd, 64), "block": [DEFAULT_BLOCK]}

    def build(self, choice: dict, wl: Workload, formats: dict, images: int = 1) -> EngineConfig:
        works = [op.work for op in wl.ops("attention")]
        largest = ATTENTION.largest(works) if works else ATTENTION.Work(wl.tokens, 1, 1)
        return EngineConfig(self.name, dict(choice), {"attention": ATTENTION.engine_params(choice, largest, formats)})

    def op_cost(self, cfg: EngineConfig, op: Op, wl: Workload, images: int, bpc: float, formats: dict) -> OpCost:
        if op.kernel != "attention":
            raise TypeError(f"the attention engine does not run {op.kernel} ops")
        c = images * ATTENTION.cycles(cfg.units["attention"], op.work)
        return OpCost(op.name, op.kind, overlap(c, 0.0, bpc, False), images * op.macs)

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        return {"attention": ATTENTION.resources(cfg.units["attention"], dsp_kind)}


#: Every engine / unit with parameters of its own, in the order the search reports them.  ``timeline``: the
#: engine whose schedule an engine's ops occupy (the router unit's gate layers are on the linear engine's).
ENGINES = {"linear": LinearEngine(), "router": RouterUnit(), "attention": AttentionEngine()}
