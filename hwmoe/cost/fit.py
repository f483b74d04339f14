"""The LUT/FF model: per kernel, a linear function of the kernel's features (Kernel.features), fitted on yosys runs.

Coefficients live in :mod:`hwmoe.cost.fitted` (written by ``python -m hwmoe.cost.calibrate``), so an installed
package carries them.  A kernel not yet calibrated gets a conservative fallback and is flagged."""
from __future__ import annotations

import numpy as np

# Fallback when a kernel has no fit yet (per feature, generous): flagged in reports as "uncalibrated".
_FALLBACK = {"lut": 40.0, "ff": 40.0}


def coefficients(kernel: str) -> dict | None:
    from . import fitted
    return fitted.FIT.get(kernel)


def is_calibrated(kernel: str) -> bool:
    return coefficients(kernel) is not None


def predict_lut_ff(kernel: str, features: dict[str, float]) -> tuple[float, float]:
    c = coefficients(kernel)
    if c is None:
        s = sum(features.values())
        return _FALLBACK["lut"] * s, _FALLBACK["ff"] * s
    out = []
    for kind in ("lut", "ff"):
        coef = c[kind]
        out.append(max(0.0, sum(coef.get(k, 0.0) * v for k, v in features.items()) + coef.get("const", 0.0)))
    return out[0], out[1]


def predict(name: str, features: dict[str, float]) -> dict[str, float]:
    """Every resource kind fitted for ``name`` (a shell part's LUT, FF, DSP, BRAM36) at ``features``."""
    c = coefficients(name)
    if c is None:
        raise RuntimeError(f"{name} has no fit: run python -m hwmoe.cost.calibrate --kernel {name}")
    return {kind: max(0.0, sum(coef.get(k, 0.0) * v for k, v in features.items()) + coef.get("const", 0.0))
            for kind, coef in c.items()}


def fit_linear(rows: list[dict[str, float]], target: list[float], names: list[str]) -> dict[str, float]:
    """Non-negative least squares of ``target`` on the named features plus a constant, relative error weighted
    (each point counts by its relative error, so small points are not ignored)."""
    a = np.array([[r.get(n, 0.0) for n in names] + [1.0] for r in rows], dtype=float)
    y = np.asarray(target, dtype=float)
    w = 1.0 / np.maximum(y, 1.0)
    coef = _nnls(a * w[:, None], y * w)
    return {**{n: float(c) for n, c in zip(names, coef[:-1])}, "const": float(coef[-1])}


def _nnls(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares with non-negative coefficients: refit without the columns that come out negative
    until none do (enough for a handful of well-chosen features)."""
    active = list(range(a.shape[1]))
    coef = np.zeros(a.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(a[:, active], y, rcond=None)
        if (sol >= -1e-12).all():
            coef[:] = 0.0
            coef[active] = np.maximum(sol, 0.0)
            return coef
        active.pop(int(np.argmin(sol)))
    return coef
