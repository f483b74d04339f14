"""Random raw words and stream layouts shared by the kernels' ``make_data`` / ``make_case``."""
from __future__ import annotations

import numpy as np

from ..numerics.fixed import Fmt
from ..numerics.intmath import ceil_div


def signed_range(rng: np.random.Generator, width: int, shape, saturating: float = 0.0) -> np.ndarray:
    """Random raw words of a signed ``width``-bit format; a fraction ``saturating`` at the extremes."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    x = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    if saturating:
        pick = rng.random(shape) < saturating
        x = np.where(pick, rng.choice([lo, hi], size=shape), x)
    return x


def row_beats(rows: np.ndarray, beats: int, lanes: int) -> np.ndarray:
    """[rows, dim] -> [rows * beats, lanes], each row padded with zeros to whole beats."""
    rows = np.asarray(rows, np.int64)
    padded = np.zeros((rows.shape[0], beats * lanes), np.int64)
    padded[:, :rows.shape[1]] = rows
    return padded.reshape(-1, lanes)


def pad_rows(a: np.ndarray, lanes: int, rng, width: int) -> np.ndarray:
    """Rows padded to whole chunks of ``lanes`` words with random garbage (the kernel must ignore it)."""
    rows, cols = a.shape
    chunks = ceil_div(cols, lanes)
    out = signed_range(rng, width, (rows, chunks * lanes))
    out[:, :cols] = a
    return out.reshape(rows * chunks, lanes)


def linear_operands(rng, tokens: int, d_in: int, d_out: int, x_fmt: Fmt, w_fmt: Fmt, b_fmt: Fmt, y_fmt: Fmt,
                    saturating: float):
    """Activations, weights and biases of a linear layer scaled so that the outputs spread over ``y_fmt``
    (about a quarter of its range as standard deviation); a fraction ``saturating`` of the tokens made of
    extreme words (their outputs saturate) and half that fraction of the output rows made of extreme weights."""
    sx = 2.0 ** (x_fmt.width - 3)
    x = np.clip(np.round(rng.normal(0, sx, (tokens, d_in))), x_fmt.raw_min, x_fmt.raw_max).astype(np.int64)
    sy = 2.0 ** (y_fmt.width - 3 + x_fmt.frac + w_fmt.frac - y_fmt.frac)
    sw = min(sy / (sx * np.sqrt(d_in)), 2.0 ** (w_fmt.width - 2))
    w = np.clip(np.round(rng.normal(0, sw, (d_out, d_in))), w_fmt.raw_min, w_fmt.raw_max).astype(np.int64)
    sb = min(2.0 ** (y_fmt.width - 3 + b_fmt.frac - y_fmt.frac), 2.0 ** (b_fmt.width - 2))
    b = np.clip(np.round(rng.normal(0, sb, d_out)), b_fmt.raw_min, b_fmt.raw_max).astype(np.int64)
    if saturating:                               # whole tokens of extreme words: their outputs saturate
        pick = rng.random(tokens) < saturating
        x[pick] = rng.choice([x_fmt.raw_min, x_fmt.raw_max], size=(int(pick.sum()), d_in))
        pick = rng.random(d_out) < saturating / 2  # and whole output rows of extreme weights
        w[pick] = rng.choice([w_fmt.raw_min, w_fmt.raw_max], size=(int(pick.sum()), d_in))
    return x, w, b
