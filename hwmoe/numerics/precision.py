"""Precision presets: the word width of every tensor role.  Integer bits per tensor come from calibration
(hwmoe.numerics.calibration, which assigns each tensor its role); without a calibrated plan the cost model and
the search use :meth:`Precision.formats`, the one place the default integer bits are written.  The rules are in
docs/numerics.md."""
from __future__ import annotations

from dataclasses import dataclass

from .fixed import O, Q, Fmt

#: The tensor roles a precision gives a width to (the fields of :class:`Precision` that are widths).
ROLES = ("act", "weight", "param", "resid", "attn", "score", "norm", "stat", "logit")

#: Integer bits (sign included) of a role's format when no calibration is at hand: weights |w| < 2,
#: parameters and q/k/v below 8, log2-domain scores below 32, the normalised LayerNorm value below 2**10
#: (sqrt of the largest row the unit takes, 2**20 words); activations and the residual stream (and the
#: LayerNorm statistics, which keep the residual's integer bits) and router logits get half of their word.
DEFAULT_INT_BITS = {"weight": 2, "param": 4, "attn": 4, "score": 6, "norm": 11}


#: how calibration (hwmoe.numerics.calibration) picks integer bits from the observed values: the largest
#: magnitude plus the precision's headroom; the fewest holding all but 1 in 10^4 values; the least squared
#: quantisation error (docs/numerics.md §2, which has the measurements behind the default)
CALIBRATIONS = ("max", "percentile", "mse")
DEFAULT_CALIBRATION = "mse"


def stat_fmt(x_fmt: Fmt, width: int) -> Fmt:
    """LayerNorm's statistics format: x rounded to ``width`` bits, same integer bits (AP_RND: a floor would
    bias the mean by half an LSB), AP_SAT (rounding up may pass the largest word)."""
    return Fmt(width, x_fmt.int_bits, True, Q.RND, O.SAT)


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
    stat: int = 16  # LayerNorm statistics input (x rounded to this width for E[x], E[x^2])
    logit: int = 16  # router logits (never narrower than 16 bits: they decide the routing)
    headroom: int = 1  # extra integer bits above the calibrated maximum of activations

    def width(self, role: str) -> int:
        if role not in ROLES:
            raise ValueError(f"unknown tensor role {role!r}: expected one of {', '.join(ROLES)}")
        return getattr(self, role)

    def formats(self, known: dict[str, Fmt] | None = None) -> dict[str, Fmt]:
        """role -> format at this precision: ``known`` formats (a calibrated plan's, see
        :func:`hwmoe.numerics.calibration.plan_formats`) where given, else the role's width with the default
        integer bits; the statistics keep the residual stream's integer bits either way."""
        half = lambda w: w - w // 2
        out = {role: Fmt(self.width(role), DEFAULT_INT_BITS.get(role) or half(self.width(role)))
               for role in ROLES if role != "stat"}
        out.update({role: fmt for role, fmt in (known or {}).items() if role != "stat"})
        out["stat"] = stat_fmt(out["resid"], self.stat)
        return out

    def describe(self) -> str:
        return (f"{self.name}: weights {self.weight} b, activations {self.act} b, residual {self.resid} b, "
                f"q/k/v {self.attn} b, params {self.param} b")


PRECISIONS = {
    # UbiMoE's types: ap_fixed<32,10> activations, <16,x> weights (integer bits calibrated here)
    # statistics at 18 bits (x^2 still one 27x18 DSP multiply): finer than w16a16's, whose 16-bit residual
    # they hold exactly, so the wider preset's LayerNorm is never the coarser one
    "w16a32": Precision("w16a32", act=32, weight=16, param=16, resid=32, attn=18, score=24, logit=32, stat=18),
    "w16a16": Precision("w16a16", act=16, weight=16, param=16, resid=16, attn=16, score=16),
    "w8a8": Precision("w8a8", act=8, weight=8, param=16, resid=16, attn=8, score=16),
}


def get_precision(name: str) -> Precision:
    if name not in PRECISIONS:
        raise ValueError(f"unknown precision {name!r}: expected float or one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]
