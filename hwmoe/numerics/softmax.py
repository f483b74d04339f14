"""The exp2 and reciprocal units shared by the attention softmax and the MoE router (docs/numerics.md §4).

Softmax runs in the log2 domain: scores are pre-multiplied by log2(e), so exp becomes 2**-d for d >= 0,
split into an integer shift and a table lookup on the fraction."""
from __future__ import annotations

import numpy as np

from .fixed import Fmt, Q, msb, shift_round, shift_round_var, overflow
from .tables import EXP_INDEX_BITS, Q15, RECIP_INDEX_BITS, exp2_table, recip_table

EXP2 = exp2_table()
RECIP = recip_table()
MAX_SHIFT = 62
LOG2E = 1.4426950408889634        # log2(e): scores and logits enter the exp2 unit pre-multiplied by it
#: keys per block of the streaming attention softmax: part of the numerics (rescaling rounds), so the plan
#: records it (Plan.attention_block) and the hardware's BLOCK must equal it
DEFAULT_BLOCK = 16


def exp2_neg(d, frac: int) -> np.ndarray:
    """2**-d in U1.15 for raw d >= 0 with ``frac`` fractional bits: EXP2[top EXP_INDEX_BITS fraction bits]
    >> floor(d)."""
    d = np.asarray(d, dtype=np.int64)
    whole = d >> frac
    fraction = d & ((np.int64(1) << frac) - 1)
    index = shift_round(fraction, frac - EXP_INDEX_BITS, Q.TRN)
    return EXP2[index] >> np.minimum(whole, MAX_SHIFT)


def reciprocal(x) -> tuple[np.ndarray, np.ndarray]:
    """For raw x > 0 (any fixed point), return (r, p) with 1/x_raw ~= r * 2**-(15 + p): p = msb(x), r the
    U1.15 reciprocal of the mantissa x / 2**p in [1, 2), looked up by its RECIP_INDEX_BITS bits below the
    leading one."""
    x = np.asarray(x, dtype=np.int64)
    p = msb(x)
    index = shift_round_var(x, p - RECIP_INDEX_BITS, Q.TRN) & ((1 << RECIP_INDEX_BITS) - 1)
    return RECIP[index], p


def normalise(values, total, values_frac: int, total_frac: int, out: Fmt) -> np.ndarray:
    """values / total in ``out`` (AP_RND, AP_SAT), ``total`` > 0 broadcast along the last axis:
    values * r has values_frac + 15 + p - total_frac fractional bits."""
    r, p = reciprocal(total)
    shift = values_frac + Q15 + p - total_frac - out.frac
    return overflow(shift_round_var(np.asarray(values, np.int64) * r, shift, Q.RND), out)


def softmax_row_probs(logits, frac: int, log2e: int, log2e_frac: int, out: Fmt) -> np.ndarray:
    """Softmax over the last axis of raw logits: t = logits * log2(e); e = 2**-(max t - t);
    p = e / sum(e) in ``out``."""
    t = np.asarray(logits, np.int64) * log2e
    d = t.max(-1, keepdims=True) - t
    e = exp2_neg(d, frac + log2e_frac)
    return normalise(e, e.sum(-1, keepdims=True), Q15, Q15, out)
