"""Cost adapter of the LayerNorm unit (hwmoe.kernels.layernorm): LANES words per beat, NBUF row buffers."""
from __future__ import annotations

from .base import KernelCost, brams_for


class LayerNormCost(KernelCost):
    name = "layernorm"

    def engine_params(self, lanes: int, dim: int, prec, nbuf: int = 4):
        x_frac = prec.resid // 2
        return self.Params(lanes=lanes, dim_max=dim, dim=dim, tokens=1, x_width=prec.resid, x_frac=x_frac,
                           p_width=prec.param, p_frac=prec.param - 4, out_width=prec.act, out_frac=prec.act // 2,
                           stat_width=min(prec.stat, 19), norm_width=prec.norm, nbuf=nbuf)

    def cycles(self, p, *, rows: int, dim: int) -> int:
        return int(self.kernel.cycles(p.lanes, dim, rows, 1, p.nbuf))

    def _beats(self, p) -> int:
        return -(-p.dim_max // p.lanes)

    def features(self, p) -> dict[str, float]:
        return {"lanes": p.lanes, "lane_bits": p.lanes * (p.x_width + p.p_width + p.out_width),
                "wide_bits": p.lanes * max(0, p.x_width - 16) * 4}      # (x - mean) * r beyond one DSP

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        # per lane: x^2, (x - mean) * r (two DSPs once x is wider than the 27-bit port allows) and n * gamma;
        # shared: the statistics (sum * 1/dim, E[x]^2, ...).  Matches every point of
        # search/calibration/layernorm.json.
        from ..boards import dsps_per_multiplier
        return float(p.lanes * (2 + dsps_per_multiplier(dsp_kind, p.x_width + 1, 16)) + 7)

    def bram36(self, p) -> float:
        b = self._beats(p)
        return (brams_for(p.nbuf * b, p.lanes * p.x_width) + brams_for(b, 2 * p.lanes * p.p_width)
                + brams_for(512, 16))

    def calibration_points(self) -> list:
        P = self.Params
        return [P(lanes=1, dim_max=24, dim=24), P(lanes=2, dim_max=64, dim=64), P(lanes=4, dim_max=192, dim=192),
                P(lanes=4, dim_max=24, dim=22), P(lanes=2, dim_max=192, dim=192, x_width=32, x_frac=16)]


COST = LayerNormCost()
