"""LayerNorm unit: one pass over E[x] and E[x^2], 1/sqrt from a table (docs/numerics.md §6)."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, O, Q, align, int_bits_for, msb, overflow, requant, shift_round, shift_round_var
from .tables import Q15, RSQRT_INDEX_BITS, rsqrt_table

RSQRT = rsqrt_table()
RECIP_DIM_BITS = 24   # 1/dim as round(2**24 / dim)


def stat_fmt(x_fmt: Fmt, width: int) -> Fmt:
    """x cut to ``width`` bits (same integer bits, AP_TRN) for the statistics."""
    return Fmt(width, x_fmt.int_bits, True, Q.TRN, O.SAT)


def norm_fmt(dim: int, width: int) -> Fmt:
    """(x - mean) / std lies within +-sqrt(dim)."""
    return Fmt(width, int_bits_for(np.sqrt(dim)))


def eps_raw(eps: float, frac: int) -> int:
    return int(round(eps * 2.0 ** frac))


def layernorm(x, x_fmt: Fmt, gamma, beta, p_fmt: Fmt, eps: float, out: Fmt,
              stat_width: int = 16, norm_width: int = 18) -> np.ndarray:
    """Raw x [tokens, dim] -> raw LayerNorm(x) in ``out``; gamma and beta raw in ``p_fmt``."""
    x = np.asarray(x, dtype=np.int64)
    dim = x.shape[-1]
    s_fmt = stat_fmt(x_fmt, stat_width)
    xs = requant(x, x_fmt.frac, s_fmt)
    fs = s_fmt.frac
    recip_dim = int(round(2 ** RECIP_DIM_BITS / dim))
    mean = shift_round(xs.sum(-1, keepdims=True) * recip_dim, RECIP_DIM_BITS, Q.RND)        # frac fs
    ex2 = shift_round((xs * xs).sum(-1, keepdims=True) * recip_dim, RECIP_DIM_BITS, Q.RND)  # frac 2fs
    var = np.maximum(ex2 - mean * mean, 0)
    v = np.maximum(var + eps_raw(eps, 2 * fs), 1)
    top = msb(v)
    exponent = top - 2 * fs
    parity = exponent & 1
    index = shift_round_var(v, top - RSQRT_INDEX_BITS, Q.TRN) & ((1 << RSQRT_INDEX_BITS) - 1)
    r = RSQRT[parity * (1 << RSQRT_INDEX_BITS) + index]                  # U1.15 * 2**(-(exponent - parity)/2)
    half_exp = (exponent - parity) // 2
    fc = max(x_fmt.frac, fs)
    centred = align(x, x_fmt.frac, fc) - align(mean, fs, fc)
    n_fmt = norm_fmt(dim, norm_width)
    n = overflow(shift_round_var(centred * r, fc + Q15 + half_exp - n_fmt.frac, Q.RND), n_fmt)
    frac = n_fmt.frac + p_fmt.frac
    y = n * np.asarray(gamma, np.int64) + align(beta, p_fmt.frac, frac)
    return requant(y, frac, out)
