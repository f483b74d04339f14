"""Cost adapter of the GELU unit (hwmoe.kernels.gelu): LANES lanes, one beat per cycle."""
from __future__ import annotations

from .base import KernelCost, brams_for


class GeluCost(KernelCost):
    name = "gelu"

    def cycles(self, params, *, words: int) -> int:
        """``words`` values through ``params.lanes`` lanes: the kernel's formula on the beat count."""
        return int(self.kernel.cycles(-(-words // params.lanes)))

    def features(self, p) -> dict[str, float]:
        return {"lanes": p.lanes, "lane_bits": p.lanes * (p.in_width + p.out_width)}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        return float(p.lanes)                       # one interpolation multiplier per lane

    def bram36(self, p) -> float:
        from ..numerics.tables import GELU_FMT
        return p.lanes * 2 * brams_for(p.entries + 1, GELU_FMT.width)   # two read ports' copies per lane

    def calibration_points(self) -> list:
        P = self.Params
        return [P(lanes=1), P(lanes=2), P(lanes=4), P(lanes=2, in_width=32, in_frac=22),
                P(lanes=4, in_width=32, in_frac=22, out_width=32, out_frac=22)]


COST = GeluCost()
