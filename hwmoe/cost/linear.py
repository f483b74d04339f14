"""Cost adapter of the linear kernel (hwmoe.kernels.linear): a T_OUT x T_IN weight tile per cycle shared by
N_PE token lanes, weight rows double-buffered, all tokens' activations on chip, GELU fused at the output."""
from __future__ import annotations

from dataclasses import replace

from ..boards import dsps_per_multiplier
from .base import KernelCost, brams_for


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


class LinearCost(KernelCost):
    name = "linear"

    def engine_params(self, choice: dict, prec, max_tokens: int, max_in: int, max_out: int, gelu: bool = True):
        """The engine's kernel: widths from the precision, buffers sized for the largest layer it runs."""
        return self.Params(t_in=choice["t_in"], t_out=choice["t_out"], n_pe=choice["n_pe"],
                           x_width=prec.act, x_frac=prec.act // 2, w_width=prec.weight, w_frac=prec.weight - 2,
                           b_width=prec.param, b_frac=prec.param - 4, out_width=prec.act, out_frac=prec.act // 2,
                           gelu=gelu, h_width=prec.act, h_frac=prec.act // 2,
                           tokens=max_tokens, d_in=max_in, d_out=max_out)

    def cycles(self, p, *, rows: int, d_in: int, d_out: int, gelu: bool = False) -> int:
        """One layer through the kernel: ``hwmoe.kernels.linear.cycles`` (GELU adds its pipeline)."""
        if bool(gelu) != bool(p.gelu):
            p = replace(p, gelu=bool(gelu))
        return int(self.kernel.cycles(p, rows, d_in, d_out))

    # ---- resources ----------------------------------------------------------------------------------
    def multipliers(self, p) -> int:
        return p.n_pe * p.t_out * p.t_in

    def features(self, p) -> dict[str, float]:
        mt, mi, mo = p.maxima()
        acc = p.x_width + p.w_width + max(mi, 2).bit_length() + 2
        return {"mult_bits": self.multipliers(p) * (p.x_width + p.w_width),   # partial-product adders
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
                P(t_in=2, t_out=2, n_pe=1, tokens=64, d_in=192, d_out=16)]


COST = LinearCost()
