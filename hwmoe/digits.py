"""The trained example: scikit-learn's digits (1,797 8x8 images, 10 classes) as 16x16 inputs of the
``digits`` preset, a fixed train/test split, and the committed checkpoint (examples/digits/, trained by
``examples/digits/train.py``).  scikit-learn is in the ``test`` extra."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import UserError

#: the committed checkpoint (a state_dict of the ``digits`` preset)
CHECKPOINT = Path(__file__).resolve().parent.parent / "examples" / "digits" / "digits.pt"
#: the plans of the checkpoint's kernel graph (:func:`digits_graph`) at each precision, calibrated by the default
#: method on :func:`calibration_images` (written by ``benchmarks/accuracy.py --save-plans``)
PLAN = str(CHECKPOINT.with_suffix("")) + ".{precision}.plan.json"
#: held-out images (a seeded permutation of the 1,797; the rest train)
TEST_IMAGES = 360
SPLIT_SEED = 0
#: training images the plans are calibrated on (the first of the training split)
CALIB_IMAGES = 64


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): images [N, 1, 16, 16] float64 in [-1, 1] (each pixel of the 8x8
    original repeated 2x2; 0..16 mapped linearly), labels int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise UserError("the digits example needs scikit-learn: pip install 'hwmoe[test]'") from None
    d = load_digits()
    x = np.repeat(np.repeat(d.images, 2, axis=1), 2, axis=2)[:, None] / 8.0 - 1.0
    order = np.random.default_rng(SPLIT_SEED).permutation(len(x))
    test, train = order[:TEST_IMAGES], order[TEST_IMAGES:]
    y = d.target.astype(np.int64)
    return x[train], y[train], x[test], y[test]


def calibration_images() -> np.ndarray:
    """The images plans of the example are calibrated on (training split, never the test split)."""
    return digits_split()[0][:CALIB_IMAGES]


def digits_graph(weights: str | Path = CHECKPOINT):
    """The kernel graph of the ``digits`` preset with the trained weights (default the committed ones)."""
    from .frontend.from_torch import graph_from_model
    from .frontend.model import build_model, make_config
    return graph_from_model(build_model(make_config("digits"), weights=str(weights)))
