"""The accelerator's two engines, as the cost model and the search see them.

* ``linear``: the linear kernel (T_OUT x T_IN weight tile x N_PE token lanes) with a GELU unit on its output,
  the LayerNorm unit and the router unit on its input stream.  Runs every weight layer, experts included.
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
from .layernorm import COST as LAYERNORM
from .linear import COST as LINEAR
from .attention import COST as ATTENTION
from .memory import Timing, overlap
from .usage import Usage
from .workload import (AttentionOp, ExpertsOp, LayerNormOp, LinearOp, RouterOp, Workload, expected_touched,
                       weight_bytes)


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
    """Linear kernel (GELU fused, T_OUT GELU lanes) + LayerNorm unit (T_IN lanes: it feeds the kernel's
    T_IN-word input beats) + the router's top-k (the gate itself is a linear layer on the kernel)."""
    name = "linear"
    #: the largest tile edge and token-lane count offered (beyond: more DSPs than any board here has)
    MAX_TILE = 64
    MAX_PE = 8

    def space(self, wl: Workload) -> dict[str, list]:
        ins = [op.d_in for op in wl.ops("linear") if not op.rows == 1]          # the head is padded
        ins += [op.dim for op in wl.ops("experts")] + [op.hidden for op in wl.ops("experts")]
        outs = [op.d_out for op in wl.ops("linear") if not op.rows == 1]        # router and head padded
        outs += [op.dim for op in wl.ops("experts")] + [op.hidden for op in wl.ops("experts")]
        g_in = reduce(math.gcd, ins) if ins else 1
        g_out = reduce(math.gcd, outs) if outs else 1
        return {"t_in": divisors(g_in, self.MAX_TILE), "t_out": divisors(g_out, self.MAX_TILE),
                "n_pe": list(range(1, self.MAX_PE + 1)), "ln_nbuf": [2, 4]}

    def build(self, choice: dict, wl: Workload, prec, images: int = 1) -> EngineConfig:
        max_in = max([op.d_in for op in wl.ops("linear")] + [op.hidden for op in wl.ops("experts")] + [1])
        max_out = max([op.d_out for op in wl.ops("linear")] + [op.hidden for op in wl.ops("experts")]
                      + [op.experts for op in wl.ops("router")] + [1])
        gelu = any(op.gelu for op in wl.ops("linear")) or bool(wl.ops("experts"))
        units = {"linear": LINEAR.engine_params(choice, prec, wl.tokens * images, max_in, max_out, gelu)}
        if wl.ops("layernorm"):
            units["layernorm"] = LAYERNORM.engine_params(choice["t_in"], wl.dim, prec, choice.get("ln_nbuf", 4))
        return EngineConfig(self.name, dict(choice), units)

    def _linear(self, cfg, rows, d_in, d_out, gelu):
        return LINEAR.cycles(cfg.units["linear"], rows=rows, d_in=d_in, d_out=d_out, gelu=gelu)

    def op_cost(self, cfg: EngineConfig, op, wl: Workload, images: int, bpc: float, prec) -> OpCost:
        lin = cfg.units["linear"]
        fill = lin.t_in * lin.t_out * prec.weight / 8 * math.ceil(wl.dim / lin.t_in)   # first weight block
        rows = (getattr(op, "rows", 0) or wl.tokens) * images
        port = lambda n, di, do: (do * math.ceil(di / lin.t_in),                      # weight beats
                                  math.ceil(do / lin.t_out) * math.ceil(n / lin.n_pe) * math.ceil(di / lin.t_in))
        if isinstance(op, LinearOp):
            c = self._linear(cfg, rows, op.d_in, op.d_out, op.gelu)
            t = overlap(c, weight_bytes(op, prec.weight, prec.param), bpc, True, fill, *port(rows, op.d_in, op.d_out))
        elif isinstance(op, ExpertsOp):
            touched = expected_touched(op.experts, op.top_k, rows)
            queue = math.ceil(rows * op.top_k / touched) if touched else 0
            per = self._linear(cfg, queue, op.dim, op.hidden, True) + self._linear(cfg, queue, op.hidden, op.dim,
                                                                                    False)
            nbytes = weight_bytes(op, prec.weight, prec.param) * touched / op.experts
            pa, pb = port(queue, op.dim, op.hidden), port(queue, op.hidden, op.dim)
            t = overlap(touched * per, nbytes, bpc, True, fill, touched * (pa[0] + pb[0]), touched * (pa[1] + pb[1]))
        elif isinstance(op, RouterOp):
            c = self._linear(cfg, rows, op.dim, op.experts, False) + op.experts    # + top-k scan
            t = overlap(c, weight_bytes(op, prec.weight), bpc, True, fill, *port(rows, op.dim, op.experts))
        elif isinstance(op, LayerNormOp):
            c = LAYERNORM.cycles(cfg.units["layernorm"], rows=rows, dim=op.dim)
            t = overlap(c, weight_bytes(op, prec.weight, prec.param), bpc, False)
        else:
            raise TypeError(f"the linear engine does not run {op.kind} ops")
        return OpCost(op.name, op.kind, t, op.macs(rows))

    def resources(self, cfg: EngineConfig, dsp_kind: str) -> dict[str, Usage]:
        out = {"linear": LINEAR.resources(cfg.units["linear"], dsp_kind)}
        if "layernorm" in cfg.units:
            out["layernorm"] = LAYERNORM.resources(cfg.units["layernorm"], dsp_kind)
        return out


class AttentionEngine:
    name = "attention"
    MAX_P = 16

    def space(self, wl: Workload) -> dict[str, list]:
        ops = wl.ops("attention")
        hd = reduce(math.gcd, [op.head_dim for op in ops]) if ops else 1
        # BLOCK is part of the numerics (the plan's attention_block): not a free hardware parameter
        return {"p": list(range(1, self.MAX_P + 1)), "lanes": divisors(hd, 64), "block": [DEFAULT_BLOCK]}

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


ENGINES = {"linear": LinearEngine(), "attention": AttentionEngine()}
