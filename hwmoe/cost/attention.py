"""Cost adapter of the streaming attention kernel (hwmoe.kernels.attention): P query rows (``rows``) of LANES
multipliers each against K/V held in block RAM and replayed in blocks of BLOCK keys."""
from __future__ import annotations

from ..boards import dsps_per_multiplier
from ..kernels.attention import DEFAULT_BLOCK
from .base import KernelCost, brams_for


class AttentionCost(KernelCost):
    name = "attention"

    def engine_params(self, choice: dict, prec, max_tokens: int, head_dim: int, heads: int = 1):
        a = prec.attn
        return self.Params(rows=choice["p"], lanes=choice["lanes"], block=choice.get("block", DEFAULT_BLOCK),
                           head_dim=head_dim, heads=heads, tokens=max_tokens, max_tokens=max_tokens,
                           q_width=a, q_frac=a - 4, k_width=a, k_frac=a - 4, v_width=a, v_frac=a - 4,
                           t_width=prec.score, t_frac=prec.score - 6, out_width=prec.act, out_frac=prec.act - 8)

    def cycles(self, p, *, tokens: int, heads: int, head_dim: int) -> int:
        return int(self.kernel.cycles(p, tokens, heads, head_dim))

    def multipliers(self, p) -> int:
        return p.rows * p.lanes

    def features(self, p) -> dict[str, float]:
        acc = p.v_width + 15 + int(p.buffer_tokens).bit_length()
        return {"mult_bits": self.multipliers(p) * (p.q_width + p.k_width),
                "acc_bits": p.rows * p.head_dim * acc / 8,                # A.V accumulators (per row)
                "rows": p.rows * (p.t_width + p.out_width), "lanes": p.lanes * (p.k_width + p.v_width)}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        """Per lane of each row two multipliers (q.k and e.v / the accumulator rescale, which yosys does not
        share), per row one (score * C), plus 4 shared -- 2 P LANES + P + 4 at 16 and 18 bits; matches every
        point of search/calibration/attention.json."""
        per = max(dsps_per_multiplier(dsp_kind, p.q_width, p.k_width), dsps_per_multiplier(dsp_kind, 17, p.v_width))
        # + 2 for head_dim 64 (the only such point, 15 vs 13; head_dim 8/16 and 130 tokens add nothing):
        # empirical, not yet explained structurally
        return float(2 * self.multipliers(p) * per + p.rows + 4 + (2 if p.head_dim > 32 else 0))

    def bram36(self, p) -> float:
        depth = p.buffer_tokens * -(-p.head_dim // p.lanes)
        kv = brams_for(depth, p.lanes * p.k_width) + brams_for(depth, p.lanes * p.v_width)
        return kv + p.rows * self._row_bram

    _row_bram = 1.0     # per row: the exp2 and reciprocal tables (256 x 16 each, a RAMB18 each)

    def calibration_points(self) -> list:
        P = self.Params
        return [P(rows=1, lanes=2, head_dim=8, heads=1, tokens=16, block=8),
                P(rows=2, lanes=4, head_dim=16, heads=1, tokens=16, block=8),
                P(rows=4, lanes=2, head_dim=8, heads=1, tokens=32, block=16),
                P(rows=2, lanes=8, head_dim=16, heads=1, tokens=16, block=16),
                P(rows=1, lanes=4, head_dim=64, heads=1, tokens=130, block=16),
                P(rows=2, lanes=2, head_dim=8, heads=1, tokens=16, block=8, q_width=18, q_frac=14, k_width=18,
                  k_frac=14, v_width=18, v_frac=14, t_width=24, t_frac=18, out_width=32, out_frac=24)]


COST = AttentionCost()
