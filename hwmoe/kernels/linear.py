"""Reusable linear kernel: y = x W^T + b, exact integer accumulation, one rounding at the output."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, align, matmul, requant


def accumulate(x, x_fmt: Fmt, w, w_fmt: Fmt, b=None, b_fmt: Fmt | None = None) -> tuple[np.ndarray, int]:
    """The accumulator of the MAC array: (x W^T + b aligned, fractional bits = x.frac + w.frac)."""
    frac = x_fmt.frac + w_fmt.frac
    acc = matmul(np.asarray(x, np.int64), np.asarray(w, np.int64).T, x_fmt.width, w_fmt.width)
    if b is not None:
        acc = acc + align(b, b_fmt.frac, frac)
    return acc, frac


def linear(x, x_fmt: Fmt, w, w_fmt: Fmt, b, b_fmt: Fmt | None, out: Fmt) -> np.ndarray:
    """Raw x [tokens, in] and W [out, in] -> raw y [tokens, out] in ``out`` (AP_RND, AP_SAT)."""
    acc, frac = accumulate(x, x_fmt, w, w_fmt, b, b_fmt)
    return requant(acc, frac, out)
