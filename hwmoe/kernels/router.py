"""MoE router unit: gate logits, top-k on the logits, softmax over all experts, optional renormalisation.

Top-k is taken on the integer logits (softmax is monotonic, so the set is the one softmax-then-top-k picks,
without ties that rounding the probabilities would create); ties go to the lower expert index."""
from __future__ import annotations

import numpy as np

from ..fixed import Fmt, quantize
from .linear import linear
from .softmax import normalise, softmax_row_probs
from .tables import Q15, U1_15
from .attention import LOG2E

LOG2E_RAW = int(quantize(LOG2E, U1_15))


def top_k_lowest_index(scores, k: int) -> np.ndarray:
    """Indices of the k largest values per row, largest first, ties to the lower index."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :k]


def router(x, x_fmt: Fmt, w, w_fmt: Fmt, logit_fmt: Fmt, top_k: int, renormalize: bool):
    """Raw x [tokens, dim] -> (expert indices [tokens, k], gate weights [tokens, k] raw U1.15)."""
    logits = linear(x, x_fmt, w, w_fmt, None, None, logit_fmt)
    index = top_k_lowest_index(logits, top_k)
    probs = softmax_row_probs(logits, logit_fmt.frac, LOG2E_RAW, Q15, U1_15)
    gates = np.take_along_axis(probs, index, -1)
    if renormalize:
        gates = normalise(gates, gates.sum(-1, keepdims=True), Q15, Q15, U1_15)
    return index, gates
