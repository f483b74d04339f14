"""Loading what a user hands to a command (a model, an array, a plan), with one-line errors naming the file."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError


def existing_file(path: str, label: str | None = None) -> Path:
    """``path`` when it is a file; a folder or a missing file is named as such (as ``label``, e.g.
    ``--weights w.pt``, default the path)."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{label or path}: is a directory, expected a file")
    if not p.is_file():
        raise UserError(f"{label or path}: no such file")
    return p


def load_graph(path: str):
    """The kernel graph of an ONNX file (from the import cache when it was imported before)."""
    from .graph_cache import import_cached
    existing_file(path)
    return import_cached(path)


def load_npy(path: str, label: str | None = None) -> np.ndarray:
    """An array from a .npy file (never unpickled); errors name it as ``label`` (default the path)."""
    existing_file(path, label)
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise UserError(f"{label or path}: not a readable .npy file ({e.__class__.__name__})") from None


def check_samples(x: np.ndarray, shape: tuple, what: str) -> np.ndarray:
    """``x`` (one model input of ``shape`` or a batch of them) as a float64 batch; ``what`` names it in the
    error (e.g. ``--input x.npy``).  Refused: a wrong shape, an empty batch, a non-real dtype (a complex
    input would silently lose its imaginary part) and NaN or infinite values."""
    x = np.asarray(x)
    if x.shape == tuple(shape):
        x = x[None]
    if x.shape[1:] != tuple(shape):
        raise UserError(f"{what}: shape {x.shape} does not match the model's input (batch, "
                        f"{', '.join(map(str, shape))})")
    if x.shape[0] == 0:
        raise UserError(f"{what}: empty batch (shape {x.shape})")
    if x.dtype.kind not in "iuf":
        raise UserError(f"{what}: dtype {x.dtype} is not a real number type (expected float or int)")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise UserError(f"{what}: {np.count_nonzero(~np.isfinite(x))} values are NaN or infinite")
    return x


def default_plan_path(model_path: str, precision: str) -> Path:
    return Path(model_path).with_suffix(f".{precision}.plan.json")


def random_samples(shape: tuple, seed: int, n: int = 4) -> np.ndarray:
    """The default calibration batch of a model file (no sample images of its own): ``n`` standard-normal
    inputs of ``shape`` from ``seed``."""
    return np.random.default_rng(seed).standard_normal((n, *shape))


def plan_for(graph, model_path: str | None, precision: str, plan_path: str | None = None,
             calib: str | np.ndarray | None = None, seed: int = 0, calibration: str | None = None):
    """The model's quantisation plan: loaded from ``plan_path`` (default: beside the model), or calibrated on
    ``calib`` (a .npy path or an array; default: random normal inputs from ``seed``) by ``calibration``
    (default :data:`~hwmoe.numerics.precision.DEFAULT_CALIBRATION`) and saved there (a plan path that does
    not exist yet is where the new plan goes).  A calibration method asked for when the plan exists is refused:
    the file would be used as it is.
    Returns (plan, path or None, made_now)."""
    from .numerics.calibration import calibrate, plan_formats
    from .numerics.precision import DEFAULT_CALIBRATION
    from .numerics.plan import Plan
    path = Path(plan_path) if plan_path else (default_plan_path(model_path, precision) if model_path else None)
    if path is not None and path.exists() and calibration is not None:
        raise UserError(f"--calibration {calibration}: the plan {path} exists and would be used as it is; "
                        "remove it or name a new one with --plan")
    if path is not None and path.exists():
        plan = Plan.load(path)
        if plan.precision != precision:
            raise UserError(f"{path}: plan is for {plan.precision}, not {precision}")
        try:
            plan_formats(graph, plan)
        except KeyError as e:
            raise UserError(f"{path}: not a plan of this model (no format for {e})") from None
        return plan, path, False
    shape = tuple(graph.shapes[graph.input])
    if isinstance(calib, str):
        samples = check_samples(load_npy(calib, f"--calib {calib}"), shape, f"--calib {calib}")
    elif calib is not None:
        samples = np.asarray(calib)
    else:
        samples = random_samples(shape, seed)
    plan = calibrate(graph, precision, samples, method=calibration or DEFAULT_CALIBRATION)
    if path is not None:
        plan.save(path)
    return plan, path, True
