"""GELU unit: GELU(x) = ReLU(x) - d(|x|), d(t) = t * Phi(-t) from a table with linear interpolation."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, Q, align, requant, shift_round
from .tables import GELU_FMT, GELU_STEP_BITS, GeluTable


def gelu(x, x_fmt: Fmt, out: Fmt, table: GeluTable) -> np.ndarray:
    """Raw x in ``x_fmt`` -> raw GELU(x) in ``out`` (docs/numerics.md §5)."""
    x = np.asarray(x, dtype=np.int64)
    lut = table.values()
    t = np.abs(x)
    sub = x_fmt.frac - GELU_STEP_BITS            # bits of |x| below the table step
    index = shift_round(t, sub, Q.TRN)
    inside = index < table.entries
    i = np.where(inside, index, 0)
    d = lut[i]
    if sub > 0:
        between = t & ((np.int64(1) << sub) - 1)
        d = d + shift_round((lut[i + 1] - lut[i]) * between, sub, Q.TRN)
    d = np.where(inside, d, 0)
    frac = max(x_fmt.frac, GELU_FMT.frac)
    y = align(np.maximum(x, 0), x_fmt.frac, frac) - align(d, GELU_FMT.frac, frac)
    return requant(y, frac, out)
