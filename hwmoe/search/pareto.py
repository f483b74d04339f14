"""Pareto fronts of (cycles, resources) points."""
from __future__ import annotations

KEYS = ("cycles", "dsp", "lut", "ff", "bram36", "uram")


def vector(p: dict) -> tuple:
    return (p["cycles"],) + tuple(p["usage"][k] for k in KEYS[1:])


def dominates(a: tuple, b: tuple) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def front(points: list[dict]) -> list[dict]:
    """The non-dominated points (minimising cycles and every resource), duplicates removed, sorted by cycles
    then DSP then choice (a deterministic order, whatever order the trials finished in)."""
    uniq = {}
    for p in points:
        uniq.setdefault(tuple(sorted(p["choice"].items())), p)
    pts = sorted(uniq.values(), key=lambda p: (vector(p), sorted(p["choice"].items())))
    out: list[dict] = []
    for p in pts:
        v = vector(p)
        if not any(dominates(vector(q), v) or vector(q) == v for q in out):
            out = [q for q in out if not dominates(v, vector(q))]
            out.append(p)
    return sorted(out, key=lambda p: (vector(p), sorted(p["choice"].items())))
