"""Precision presets: the word width of every class of tensor.  Integer bits per tensor come from
calibration (hwmoe.numerics.calibration); the rules are in docs/numerics.md."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Precision:
    name: str
    act: int        # activations between kernels (LayerNorm, GELU, attention and linear outputs)
    weight: int     # linear, gate and expert weights
    param: int      # biases, LayerNorm gamma/beta, class token, position embedding
    resid: int      # the residual stream (patch embedding and residual-add outputs)
    attn: int       # q, k, v operands of the attention kernel
    score: int      # scaled attention scores (log2 domain)
    norm: int = 18  # normalised LayerNorm value (x - mean) / std, before gamma
    stat: int = 16  # LayerNorm statistics input (x cut to this width for E[x], E[x^2])
    headroom: int = 1  # extra integer bits above the calibrated maximum of activations

    def describe(self) -> str:
        return (f"{self.name}: weights {self.weight} b, activations {self.act} b, residual {self.resid} b, "
                f"q/k/v {self.attn} b, params {self.param} b")


PRECISIONS = {
    # UbiMoE's types: ap_fixed<32,10> activations, <16,x> weights (integer bits calibrated here)
    "w16a32": Precision("w16a32", act=32, weight=16, param=16, resid=32, attn=18, score=24),
    "w16a16": Precision("w16a16", act=16, weight=16, param=16, resid=16, attn=16, score=16),
    "w8a8": Precision("w8a8", act=8, weight=8, param=16, resid=16, attn=8, score=16),
}


def get_precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: expected float or one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]
