"""Cost adapter of the MoE router unit (hwmoe.kernels.router, rtl/hwmoe_router.v): a MAC array of
EXPERT_PAR x LANES multipliers computing the gate logits, top-k, exp2/reciprocal softmax, per-expert token
queues.  In the accelerator it reads the linear engine's input stream (re-chunked to its own LANES words per
beat); LANES and EXPERT_PAR are searched with the linear engine."""
from __future__ import annotations

from functools import lru_cache

from ..boards import dsps_per_multiplier
from .base import KernelCost, brams_for


def _clog2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


@lru_cache(maxsize=4096)
def _cycles(fn, lanes: int, dim: int, experts: int, top_k: int, tokens: int, layers: int, expert_par: int) -> int:
    return int(fn(lanes, dim, experts, top_k, tokens, layers, expert_par))


class RouterCost(KernelCost):
    name = "router"

    def engine_params(self, lanes: int, expert_par: int, prec, dim: int, experts: int, top_k: int,
                      max_tokens: int):
        a = prec.act
        return self.Params(lanes=lanes, dim_max=dim, dim=dim, experts=experts, top_k=top_k,
                           expert_par=expert_par, tokens=max_tokens, tmax=max_tokens, x_width=a, x_frac=a // 2,
                           w_width=prec.weight, w_frac=prec.weight - 2, logit_width=a, logit_frac=a // 2)

    def cycles(self, p, *, tokens: int, dim: int, experts: int | None = None, top_k: int | None = None,
               layers: int = 1) -> int:
        """One gate layer of ``tokens`` tokens: ``hwmoe.kernels.router.cycles`` (weights load, logits,
        softmax, queues)."""
        return _cycles(self.kernel.cycles, p.lanes, int(dim), int(experts or p.experts), int(top_k or p.top_k),
                       int(tokens), int(layers), p.expert_par)

    @staticmethod
    def widths(p) -> dict[str, int]:
        pr = p.x_width + p.w_width
        return {"pr": pr, "acc": pr + _clog2(p.dim_max + 1), "idx": max(1, _clog2(p.experts))}

    def multipliers(self, p) -> int:
        return p.expert_par * p.lanes

    def features(self, p, dsp_kind: str = "DSP48E2") -> dict[str, float]:
        w = self.widths(p)
        split = dsps_per_multiplier(dsp_kind, p.x_width, p.w_width) - 1
        return {"mult_bits": self.multipliers(p) * w["pr"],                   # products + adder trees
                "split_bits": self.multipliers(p) * split * w["pr"],          # adding the parts of a 2-DSP product
                "acc_bits": p.expert_par * (w["acc"] + p.logit_width),        # accumulators, requant, max
                "logit_bits": 2 * p.experts * p.logit_width,                  # double-buffered logit rows
                "softmax_bits": 4 * (p.logit_width + 17),                     # max - logit, x LOG2E, exp2 input
                "topk_bits": p.top_k * (p.logit_width + 64)}                  # top-k registers, gate stage

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        """MAC array; in the softmax stage (max - logit) x LOG2E (unsigned L_W + 1 x 17 bits, one per unit) and per
        top-k slot two 16 x 16 products (e x 1/sum, gate x 1/sum for the renormalisation)."""
        return float(self.multipliers(p) * dsps_per_multiplier(dsp_kind, p.x_width, p.w_width)
                     + dsps_per_multiplier(dsp_kind, p.logit_width + 2, 18) + 2 * p.top_k)

    def bram36(self, p) -> float:
        """Four token buffers, EXPERT_PAR gate-weight memories, the exp2 and reciprocal tables (256 x 16
        each, a RAMB18 each), the queue buckets (EXPERTS x TMAX entries)."""
        beats = -(-p.dim_max // p.lanes)
        entry = max(1, _clog2(p.tmax)) + max(1, _clog2(p.top_k)) + 16
        return (brams_for(4 * beats, p.lanes * p.x_width)
                + p.expert_par * brams_for((p.experts // p.expert_par) * beats, p.lanes * p.w_width)
                + 2 * brams_for(256, 16) + brams_for(p.experts * p.tmax, entry))

    def calibration_points(self) -> list:
        P = self.Params
        return [P(lanes=2, dim_max=8, dim=8, experts=4, top_k=1, expert_par=1, tokens=4, tmax=8),
                P(),                                                             # the kernel's test case
                P(lanes=4, dim_max=16, dim=16, experts=8, top_k=2, expert_par=2, tokens=8, tmax=16),
                P(lanes=2, dim_max=16, dim=16, experts=4, top_k=3, expert_par=4, tokens=4, tmax=8),
                P(lanes=8, dim_max=16, dim=16, experts=4, top_k=2, expert_par=2, tokens=4, tmax=64),
                P(lanes=2, dim_max=8, dim=8, experts=4, top_k=2, expert_par=2, tokens=4, tmax=8, x_width=32,
                  x_frac=16, logit_width=32, logit_frac=16),
                P(lanes=4, dim_max=16, dim=16, experts=8, top_k=2, expert_par=4, tokens=8, tmax=16, x_width=32,
                  x_frac=16, logit_width=32, logit_frac=16),
                P(lanes=2, dim_max=8, dim=8, experts=16, top_k=2, expert_par=2, tokens=4, tmax=8)]


COST = RouterCost()
