"""Exhaustive enumeration of a (reduced) design space: the yardstick the search is tested against."""
from __future__ import annotations

import itertools
import math

from ..cost.model import Design, Evaluator
from .stages import group_sizes, score


def choices(space: dict[str, list]) -> list[dict]:
    keys = list(space)
    return [dict(zip(keys, vals)) for vals in itertools.product(*(space[k] for k in keys))]


def exhaustive(ev: Evaluator, batch: int = 1) -> tuple[Design | None, float, int]:
    """(best design, its ms per image, points evaluated) over every combination of the engines' (and the
    router unit's) spaces and the grouping; infeasible points are skipped."""
    best, best_ms, n = None, math.inf, 0
    per = [[(e, c) for c in choices(ev.space(e))] for e in ev.engines]
    for g in group_sizes(batch):
        for combo in itertools.product(*per):
            d = Design.of(dict(combo), g)
            ms, worst = score(ev, d, batch)
            n += 1
            if worst <= 1.0 and ms < best_ms:
                best, best_ms = d, ms
    return best, best_ms, n
