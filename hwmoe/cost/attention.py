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
        """Per lane: operand, product and accumulator registers; per lane of a row CH = head_dim / LANES
        accumulator and q words -- yosys keeps memories of 1-2 words in flip-flops and puts deeper ones in
        LUT RAM, hence two features; per row the score path, the block's t and e words and the running max;
        per output lane the normaliser."""
        w = self.widths(p)
        ch = max(1, p.head_dim // p.lanes)
        mem = p.rows * p.lanes * ch * (w["acc"] + p.q_width)
        return {"lane_bits": p.rows * p.lanes * (2 * (w["a"] + w["b"]) + w["acc"]),
                "mem_ff_bits": mem if ch <= 2 else 0.0, "mem_lut_bits": mem if ch > 2 else 0.0,
                "row_bits": p.rows * (w["s"] + w["c"] + p.block * (p.t_width + 16) / 4 + 2 * p.t_width),
                "norm_bits": p.lanes * (w["acc"] + 17 + p.out_width)}

    @staticmethod
    def widths(p) -> dict[str, int]:
        """Multiplier operand widths of rtl/hwmoe_attention*.v (signed; unsigned operands count a sign bit)."""
        from ..kernels.attention import score_constant
        tok_w = int(p.buffer_tokens).bit_length()                  # $clog2(MAX_TOKENS + 1)
        acc = p.v_width + 15 + tok_w                               # A.V accumulator
        a_w = max(p.q_width, p.v_width, (acc + 2) // 2, 16)        # lane multiplier, operand A
        b_w = max(p.k_width, 17)                                   # operand B (k, or r / e zero-extended)
        s_w = p.q_width + p.k_width + max(0, (p.head_dim - 1).bit_length())
        c_w = score_constant(p.score_scale)[1].width
        return {"acc": acc, "a": a_w, "b": b_w, "s": s_w, "c": c_w, "l": 15 + tok_w}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        """Structural: every lane of every row has ONE multiplier, time-shared between q.k (SCORE), the
        accumulator rescale (RSH/RSL) and e.v (AV) -- A_W x B_W, one DSP48E2 up to 27 x 18; per row s x C
        (S_W x C_W unsigned: 36 x 17 bits at 16-bit q/k, two DSPs) and l x r (L_W x 16 unsigned, one); LANES
        output normalisers acc x r (ACC_W x 17: two).  P LANES + 3 P + 2 LANES at 16- or 18-bit operands."""
        w = self.widths(p)
        n = lambda a, b: dsps_per_multiplier(dsp_kind, a, b)
        lane = n(w["a"], w["b"])
        row = n(w["s"], w["c"] + 1) + n(w["l"] + 1, 17)
        norm = n(w["acc"], 17)
        return float(p.rows * p.lanes * lane + p.rows * row + p.lanes * norm)

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
                  k_frac=14, v_width=18, v_frac=14, t_width=24, t_frac=18, out_width=32, out_frac=24),
                # neither P nor LANES 2: separate the lane term P*LANES from the row and normaliser terms
                P(rows=3, lanes=4, head_dim=8, heads=1, tokens=16, block=8),
                P(rows=4, lanes=4, head_dim=16, heads=1, tokens=16, block=8, q_width=18, q_frac=14, k_width=18,
                  k_frac=14, v_width=18, v_frac=14, t_width=24, t_frac=18, out_width=32, out_frac=24),
                P(rows=1, lanes=8, head_dim=16, heads=1, tokens=32, block=16, q_width=18, q_frac=14, k_width=18,
                  k_frac=14, v_width=18, v_frac=14, t_width=24, t_frac=18, out_width=32, out_frac=24)]


COST = AttentionCost()
