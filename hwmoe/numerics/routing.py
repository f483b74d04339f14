"""MoE routing semantics shared by the float and fixed-point references, the router unit and the MoE kernel:
which experts a token chooses and in which order each expert's tokens are served."""
from __future__ import annotations

import numpy as np


def top_k_lowest_index(scores, k: int) -> np.ndarray:
    """Indices of the k largest values per row, largest first, ties to the lower index."""
    return np.argsort(-np.asarray(scores), axis=-1, kind="stable")[..., :k]


def expert_queues(index, experts: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per expert: (tokens in increasing order, which of the token's k slots chose it)."""
    return [np.nonzero(np.asarray(index) == e) for e in range(experts)]
