"""Cost adapter of the linear kernel (hwmoe.kernels.linear): a T_OUT x T_IN weight tile per cycle shared by
N_PE token lanes, weight rows double-buffered, all tokens' activations on chip, GELU fused at the output."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..boards import dsps_per_multiplier
from .base import KernelCost, brams_for


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@lru_cache(maxsize=16384)
def _cycles(fn, p, rows: int, d_in: int, d_out: int) -> int:
    """The kernel's formula (~0.2-0.7 ms a call), memoised on the (frozen, hashable) parameters; keyed by the
    formula itself too, so a replaced formula is never answered from the cache."""
    return int(fn(p, rows, d_in, d_out))


class LinearCost(KernelCost):
    name = "linear"

    def engine_params(self, choice: dict, prec, max_tokens: int, max_in: int, max_out: int, gelu: bool = True):
        """The engine's kernel: widths from the precision, buffers sized for the largest layer it runs.
        ``choice["t"]``: a square T x T tile (the MoE kernel needs T_IN = T_OUT, and one engine runs dense
        layers and experts); ``t_in`` / ``t_out`` are still accepted for a rectangular kernel alone."""
        t_in, t_out = choice.get("t_in", choice.get("t")), choice.get("t_out", choice.get("t"))
        return self.Params(t_in=t_in, t_out=t_out, n_pe=choice["n_pe"],
                           x_width=prec.act, x_frac=prec.act // 2, w_width=prec.weight, w_frac=prec.weight - 2,
                           b_width=prec.param, b_frac=prec.param - 4, out_width=prec.act, out_frac=prec.act // 2,
                           gelu=gelu, h_width=prec.act, h_frac=prec.act // 2,
                           tokens=max_tokens, d_in=max_in, d_out=max_out)

    def cycles(self, p, *, rows: int, d_in: int, d_out: int, gelu: bool = False) -> int:
        """One layer through the kernel: ``hwmoe.kernels.linear.cycles`` (GELU adds its pipeline)."""
        if bool(gelu) != bool(p.gelu):
            p = replace(p, gelu=bool(gelu))
        return _cycles(self.kernel.cycles, p, int(rows), int(d_in), int(d_out))

    # ---- resources ----------------------------------------------------------------------------------
    def multipliers(self, p) -> int:
        return p.n_pe * p.t_out * p.t_in

    def features(self, p) -> dict[str, float]:
        mt, mi, mo = p.maxima()
        acc = p.x_width + p.w_width + max(mi, 2).bit_length() + 2
        np2 = any(t & (t - 1) for t in (p.t_in, p.t_out))                   # a tile edge not a power of two
        return {"mult_bits": self.multipliers(p) * (p.x_width + p.w_width),   # partial-product adders
                # yosys builds ~1 LUT more per product bit when a tile edge is not a power of two (3, 6, 12,
                # 24, 48 are in the search space: divisors of 192): measured on the 3x3 and 6x6 points
                "np2_mult_bits": self.multipliers(p) * (p.x_width + p.w_width) if np2 else 0.0,
                "acc_bits": p.n_pe * p.t_out * acc * 2,                        # accumulators + 2-slot hold
                "out_lanes": p.t_out * (p.out_width + (p.h_width if p.gelu else 0)),
                "in_bits": p.n_pe * p.t_in * p.x_width + p.t_out * p.t_in * p.w_width}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        gelu = p.t_out if p.gelu else 0
        return float(self.multipliers(p) * dsps_per_multiplier(dsp_kind, p.x_width, p.w_width) + gelu)

    def bram36(self, p) -> float:
        mt, mi, mo = p.maxima()
        it = _ceil(mi, p.t_in)
        x_banks = p.n_pe * brams_for(_ceil(mt, p.n_pe) * it, p.t_in * p.x_width)
        w_banks = p.t_out * brams_for(2 * it, p.t_in * p.w_width)
        gelu = p.t_out * 1.0 if p.gelu else 0.0
        return x_banks + w_banks + gelu

    def calibration_points(self) -> list:
        P = self.Params
        base = dict(tokens=8, d_in=32, d_out=16)
        return [P(t_in=2, t_out=2, n_pe=1, **base), P(t_in=4, t_out=2, n_pe=2, **base),
                P(t_in=2, t_out=4, n_pe=3, **base), P(t_in=4, t_out=4, n_pe=2, **base),
                P(t_in=4, t_out=2, n_pe=1, gelu=True, **base),
                P(t_in=2, t_out=2, n_pe=2, x_width=32, x_frac=16, out_width=32, out_frac=16, **base),
                P(t_in=2, t_out=2, n_pe=1, tokens=64, d_in=192, d_out=16),
                # the engine's configuration: square tile, GELU fused, 32-bit activations (w16a32)
                P(t_in=4, t_out=4, n_pe=1, gelu=True, x_width=32, x_frac=16, h_width=32, h_frac=16, out_width=32,
                  out_frac=16, **base),
                P(t_in=2, t_out=2, n_pe=3, gelu=True, x_width=32, x_frac=16, h_width=32, h_frac=16, out_width=32,
                  out_frac=16, **base),
                # tile edges that are not powers of two
                P(t_in=3, t_out=3, n_pe=1, **base), P(t_in=6, t_out=6, n_pe=1, **base),
                P(t_in=6, t_out=6, n_pe=1, gelu=True, x_width=32, x_frac=16, h_width=32, h_frac=16, out_width=32,
                  out_frac=16, **base)]


COST = LinearCost()
