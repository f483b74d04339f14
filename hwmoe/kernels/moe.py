"""MoE expert-by-expert dispatch on the linear kernel: each expert's weights are used once per layer for
its whole token queue; outputs are scaled by the gate weight and accumulated exactly."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, requant
from .gelu import gelu
from .linear import linear
from .tables import Q15, GeluTable


def expert_queues(index, experts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per expert: (tokens in increasing order, which of the token's k slots chose it)."""
    return [np.nonzero(np.asarray(index) == e) for e in range(experts)]


def moe(x, x_fmt: Fmt, index, gates, w1, w1_fmt: Fmt, b1, b1_fmt: Fmt, w2, w2_fmt: Fmt, b2, b2_fmt: Fmt,
        hidden_fmt: Fmt, act_fmt: Fmt, expert_fmt: Fmt, out: Fmt, table: GeluTable) -> np.ndarray:
    """Raw x [tokens, dim] -> raw sum over the token's experts of gate * expert(x), in ``out``.
    hidden_fmt: first linear's output (GELU input); act_fmt: GELU output; expert_fmt: expert output."""
    x = np.asarray(x, np.int64)
    acc = np.zeros(x.shape, np.int64)                 # frac expert_fmt.frac + 15
    for e, (tok, slot) in enumerate(expert_queues(index, len(w1))):
        if tok.size == 0:
            continue                                   # an expert without tokens is skipped
        h = linear(x[tok], x_fmt, w1[e], w1_fmt, b1[e], b1_fmt, hidden_fmt)
        y = linear(gelu(h, hidden_fmt, act_fmt, table), act_fmt, w2[e], w2_fmt, b2[e], b2_fmt, expert_fmt)
        acc[tok] += y * np.asarray(gates, np.int64)[tok, slot][:, None]
    return requant(acc, expert_fmt.frac + Q15, out)
