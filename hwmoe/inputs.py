"""Loading what a user hands to a command (a model, an array, a plan), with one-line errors naming the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError


def load_graph(path: str):
    """The kernel graph of an ONNX file."""
    from .frontend.onnx_import import import_onnx
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    return import_onnx(path)


def load_npy(path: str) -> np.ndarray:
    """An array from a .npy file (never unpickled)."""
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"{path}: not a readable .npy file ({e.__class__.__name__})") from None


def default_plan_path(model_path: str, precision: str) -> Path:
    return Path(model_path).with_suffix(f".{precision}.plan.json")


def plan_for(graph, model_path: str | None, precision: str, plan_path: str | None = None,
             calib: str | np.ndarray | None = None, seed: int = 0):
    """The model's quantisation plan: loaded from ``plan_path`` (default: beside the model), or calibrated on
    ``calib`` (a .npy path or an array; default: random normal inputs from ``seed``) and saved there (a plan
    path that does not exist yet is where the new plan goes).
    Returns (plan, path or None, made_now)."""
    from .numerics.calibration import calibrate
    from .numerics.plan import Plan
    path = Path(plan_path) if plan_path else (default_plan_path(model_path, precision) if model_path else None)
    if path is not None and path.exists():
        try:
            plan = Plan.load(path)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UserError(f"{path}: not a readable plan ({e.__class__.__name__}: {e})") from None
        if plan.precision != precision:
            raise UserError(f"{path}: plan is for {plan.precision}, not {precision}")
        return plan, path, False
    if isinstance(calib, str):
        samples = load_npy(calib)
    elif calib is not None:
        samples = np.asarray(calib)
    else:
        samples = np.random.default_rng(seed).standard_normal((4,) + tuple(graph.shapes[graph.input]))
    plan = calibrate(graph, precision, samples)
    if path is not None:
        plan.save(path)
    return plan, path, True
