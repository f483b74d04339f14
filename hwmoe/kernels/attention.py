"""Streaming attention kernel: softmax(q k^T * scale) v per head without the N x N score matrix.

Keys and values stream by in blocks of ``block`` tokens; a running max, running sum and running A.V
accumulator are rescaled when the max grows, and the row is divided by the sum at the end
(docs/numerics.md §7).  The block width is part of the numerics: rescaling rounds."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, Q, int_bits_for, quantize, requant, shift_round
from .softmax import exp2_neg, normalise
from .tables import Q15

LOG2E = 1.4426950408889634
DEFAULT_BLOCK = 16


def score_constant(scale: float, width: int = 16) -> tuple[int, Fmt]:
    """scale * log2(e) as an unsigned constant of ``width`` bits with as many fractional bits as fit."""
    c = scale * LOG2E
    fmt = Fmt(width, int_bits_for(c, signed=False), signed=False)
    return int(quantize(c, fmt)), fmt


def attention(q, k, v, q_fmt: Fmt, k_fmt: Fmt, v_fmt: Fmt, heads: int, scale: float,
              t_fmt: Fmt, out: Fmt, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Raw q, k, v [tokens, heads*head_dim] -> raw attention output [tokens, heads*head_dim] in ``out``.

    t = q.k * scale * log2(e) in ``t_fmt``; e = 2**-(m - t) in U1.15 with m the running max."""
    n = q.shape[0]
    hd = q.shape[1] // heads
    split = lambda a: np.asarray(a, np.int64).reshape(n, heads, hd).transpose(1, 0, 2)   # [H, N, D]
    qh, kh, vh = split(q), split(k), split(v)
    c, c_fmt = score_constant(scale)
    s = np.einsum("hid,hjd->hij", qh, kh)                      # exact: |s| < 2**(2*attn + log2 D)
    t = requant(s * c, q_fmt.frac + k_fmt.frac + c_fmt.frac, t_fmt)
    ft = t_fmt.frac
    m = l = acc = None
    for j0 in range(0, n, block):
        tb, vb = t[:, :, j0:j0 + block], vh[:, j0:j0 + block, :]
        m_new = tb.max(-1, keepdims=True) if m is None else np.maximum(m, tb.max(-1, keepdims=True))
        if m is not None:
            r = exp2_neg(m_new - m, ft)                            # rescale factor 2**-(m_new - m_old)
            l = shift_round(l * r, Q15, Q.TRN)
            acc = shift_round(acc * r, Q15, Q.TRN)
        e = exp2_neg(m_new - tb, ft)                               # [H, N, B] U1.15
        l = (0 if l is None else l) + e.sum(-1, keepdims=True)
        acc = (0 if acc is None else acc) + np.einsum("hij,hjd->hid", e, vb)
        m = m_new
    o = normalise(acc, l, Q15 + v_fmt.frac, Q15, out)               # [H, N, D]
    return o.transpose(1, 0, 2).reshape(n, heads * hd)
