"""The float64 definitions the fixed-point kernels are measured against (and the importer executes recognised
regions with): exact erf GELU, LayerNorm, softmax, and the cosine similarity accuracy is quoted in."""
from __future__ import annotations

from math import erf, sqrt

import numpy as np

_erf = np.vectorize(erf, otypes=[np.float64])


def gelu_float(x) -> np.ndarray:
    """GELU(x) = x Phi(x) with the exact erf."""
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * x * (1.0 + _erf(x / sqrt(2.0)))


def layernorm_float(x, gamma, beta, eps) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def softmax_float(x) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def cosine(a, b) -> float:
    """Cosine similarity of two arrays taken as flat vectors."""
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
