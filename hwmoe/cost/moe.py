"""Cost adapter of the MoE kernel (hwmoe.kernels.moe, rtl/hwmoe_moe.v): the linear core (T x T tile, N_PE
token lanes) in two-pass mode, a route scanner building per-expert token queues, and gate-weighted exact
accumulation of the expert outputs in on-chip memory.

Cycles: ``hwmoe.kernels.moe.cycles`` (checked against RTL simulation), memoised.

Resources.  The MoE kernel *is* the linear datapath plus the MoE parts around it, so an accelerator whose
linear engine also runs the experts pays for the core once.  :meth:`MoeCost.extra` is what the MoE mode adds
to a linear kernel of the same tile: ``moe(p) - linear(linear_equivalent(p))``, each side from its own
calibrated model (structural DSP and BRAM, LUT/FF fitted on yosys runs of hwmoe_moe and hwmoe_linear).
"""
from __future__ import annotations

from functools import lru_cache

from ..boards import dsps_per_multiplier
from .base import KernelCost, brams_for
from .usage import Usage


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _clog2(n: int) -> int:
    return max(0, (int(n) - 1).bit_length())


@lru_cache(maxsize=4096)
def _cycles(fn, p, tokens: int, dim: int, hidden: int, experts: int, top_k: int, counts) -> int:
    return int(fn(p, tokens, dim, hidden, experts, top_k, None if counts is None else list(counts)))


#: the engine's activation widths at w16a32 (every activation format 32 bits)
_W32 = dict(x_width=32, x_frac=16, h_width=32, h_frac=16, a_width=32, a_frac=16, e_width=32, e_frac=16,
            out_width=32, out_frac=16)


class MoeCost(KernelCost):
    name = "moe"

    def engine_params(self, t: int, n_pe: int, prec, max_tokens: int, dim: int, hidden: int, experts: int,
                      top_k: int):
        """The engine's MoE kernel: widths from the precision (expert hidden, GELU output and expert output
        are activations), buffers sized for ``max_tokens`` tokens of ``dim`` / ``hidden``."""
        a, w, b = prec.act, prec.weight, prec.param
        return self.Params(t=t, n_pe=n_pe, x_width=a, x_frac=a // 2, w_width=w, w1_frac=w - 2, w2_frac=w - 2,
                           b_width=b, b1_frac=b - 4, b2_frac=b - 4, h_width=a, h_frac=a // 2, a_width=a,
                           a_frac=a // 2, e_width=a, e_frac=a // 2, out_width=a, out_frac=a // 2,
                           experts=experts, top_k=top_k, tokens=max_tokens, dim=dim, hidden=hidden,
                           routing="uniform")

    def cycles(self, p, *, tokens: int, dim: int, hidden: int, experts: int, top_k: int,
               expert_tokens=None) -> int:
        """One MoE layer: ``hwmoe.kernels.moe.cycles`` (default routing: tokens x top_k spread evenly)."""
        counts = None if expert_tokens is None else tuple(int(n) for n in expert_tokens)
        return _cycles(self.kernel.cycles, p, int(tokens), int(dim), int(hidden), int(experts), int(top_k),
                       counts)

    # ---- derived widths (as rtl/hwmoe_moe.v) ----------------------------------------------------------
    @staticmethod
    def widths(p) -> dict[str, int]:
        mt, md, mh = p.maxima()
        maxd = max(md, mh)
        mx = max(p.x_width, p.a_width)
        return {"mx": mx, "acc": mx + p.w_width + _clog2(_ceil(maxd, p.t) * p.t),
                "acc2": p.e_width + 17 + _clog2(p.top_k + 1), "idx": max(1, _clog2(p.experts)),
                "o": max(p.a_width, p.e_width), "tk": max(1, _clog2(mt))}

    def multipliers(self, p) -> int:
        return p.n_pe * p.t * p.t

    def features(self, p) -> dict[str, float]:
        w = self.widths(p)
        mult_bits = self.multipliers(p) * (w["mx"] + p.w_width)
        return {"mult_bits": mult_bits,                                        # MAC array, partial products
                "np2_mult_bits": mult_bits if p.t & (p.t - 1) else 0.0,        # T not a power of two (linear.py)
                "acc_bits": p.n_pe * p.t * w["acc"] * 2,                       # accumulators + 2-slot hold
                "lane_bits": p.t * (w["o"] + p.a_width + w["acc2"] + p.out_width),   # bias/GELU/gate/acc/out
                "in_bits": p.n_pe * p.t * (p.x_width + p.a_width) + p.t * p.t * p.w_width,
                "route_bits": p.n_pe * 2 * (w["tk"] + 16) + p.top_k * (w["idx"] + 16) + p.experts}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        """MAC array (N_PE T^2 multipliers at the activation x weight widths), one GELU interpolation
        multiplier per output lane, one y x gate multiplier (E_W x 17) per lane."""
        w = self.widths(p)
        return float(self.multipliers(p) * dsps_per_multiplier(dsp_kind, w["mx"], p.w_width) + p.t
                     + p.t * dsps_per_multiplier(dsp_kind, p.e_width, 17))

    def bram36(self, p) -> float:
        """Block memories of rtl/hwmoe_moe.v: routes (idx, gate), per lane a copy of every token's activations
        and the lane's hidden activations, the gate-weighted accumulators, the core's T double-buffered weight
        rows and the T GELU tables."""
        w = self.widths(p)
        mt, md, mh = p.maxima()
        dt, ht, it = _ceil(md, p.t), _ceil(mh, p.t), _ceil(max(md, mh), p.t)
        groups = _ceil(mt, p.n_pe)
        routes = brams_for(mt, p.top_k * w["idx"]) + brams_for(mt, p.top_k * 16)
        lanes = p.n_pe * (brams_for(mt * dt, p.t * p.x_width) + brams_for(groups * ht, p.t * p.a_width))
        acc = brams_for(mt * dt, p.t * w["acc2"])
        weights = p.t * brams_for(2 * it, p.t * p.w_width)
        return routes + lanes + acc + weights + p.t * 1.0

    # ---- what the MoE mode adds to the linear engine -------------------------------------------------
    def linear_equivalent(self, p):
        """The linear kernel with the same core: T x T tile, N_PE lanes, widths, GELU fused, buffers for the
        same tokens and the wider of dim / hidden."""
        from .linear import COST as LINEAR
        mt, md, mh = p.maxima()
        return LINEAR.Params(t_in=p.t, t_out=p.t, n_pe=p.n_pe, x_width=max(p.x_width, p.a_width),
                             x_frac=p.x_frac, w_width=p.w_width, w_frac=p.w1_frac, b_width=p.b_width,
                             b_frac=p.b1_frac, out_width=p.a_width, out_frac=p.a_frac, gelu=True,
                             h_width=p.h_width, h_frac=p.h_frac, entries=p.entries, tokens=mt,
                             d_in=max(md, mh), d_out=max(md, mh))

    def extra(self, p, dsp_kind: str = "DSP48E2") -> Usage:
        """Resources of the MoE kernel beyond a linear kernel of the same tile (never negative)."""
        from .linear import COST as LINEAR
        a = self.resources(p, dsp_kind).as_dict()
        b = LINEAR.resources(self.linear_equivalent(p), dsp_kind).as_dict()
        return Usage(**{k: max(0.0, a[k] - b[k]) for k in a})

    def calibration_points(self) -> list:
        P = self.Params
        return [P(t=2, n_pe=1, tokens=8, dim=8, hidden=12, experts=4, top_k=2),
                P(t=4, n_pe=2),                                                  # the kernel's test case
                P(t=2, n_pe=3, tokens=12, dim=8, hidden=16, experts=4, top_k=1),
                P(t=4, n_pe=1, tokens=16, dim=16, hidden=32, experts=8, top_k=2),
                P(t=2, n_pe=2, tokens=8, dim=8, hidden=8, experts=4, top_k=2, **_W32),
                P(t=2, n_pe=1, tokens=64, dim=32, hidden=64, experts=4, top_k=2),
                P(t=4, n_pe=1, tokens=8, dim=8, hidden=16, experts=4, top_k=2, **_W32),
                P(t=3, n_pe=1, tokens=8, dim=12, hidden=12, experts=4, top_k=2),   # T not a power of two
                P(t=6, n_pe=1, tokens=8, dim=12, hidden=12, experts=4, top_k=2)]


COST = MoeCost()
