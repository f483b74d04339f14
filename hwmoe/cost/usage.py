"""A resource vector (LUT, FF, DSP, BRAM36, URAM) with the arithmetic the cost model and the search need, and
the block-RAM count of one memory (what the kernels' resource models are built from)."""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

KINDS = ("lut", "ff", "dsp", "bram36", "uram")

#: Fraction of each device resource a design may use (routing and timing closure need the rest).
DEFAULT_MARGINS = {"lut": 0.80, "ff": 0.80, "dsp": 0.90, "bram36": 0.90, "uram": 0.90}


@dataclass(frozen=True)
class Usage:
    """Resources used by a unit or a whole design.  Floats: the fitted models are not integral."""
    lut: float = 0.0
    ff: float = 0.0
    dsp: float = 0.0
    bram36: float = 0.0
    uram: float = 0.0

    def __add__(self, other: "Usage") -> "Usage":
        return Usage(*(getattr(self, k) + getattr(other, k) for k in KINDS))

    def __mul__(self, n: float) -> "Usage":
        return Usage(*(getattr(self, k) * n for k in KINDS))

    __rmul__ = __mul__

    def as_dict(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in KINDS}

    def rounded(self) -> dict[str, int]:
        """Whole units (a block RAM or DSP cannot be shared): ceil for DSP/BRAM/URAM, round for LUT/FF."""
        return {k: (math.ceil(v - 1e-9) if k in ("dsp", "bram36", "uram") else int(round(v)))
                for k, v in self.as_dict().items()}

    def utilisation(self, resources) -> dict[str, float]:
        """Fraction of each device total (``resources`` is a :class:`hwmoe.boards.Resources`)."""
        return {k: (getattr(self, k) / resources[k] if resources[k] else (math.inf if getattr(self, k) else 0.0))
                for k in KINDS}

    def fits(self, resources, margins: dict[str, float] | None = None) -> bool:
        m = DEFAULT_MARGINS if margins is None else margins
        return all(getattr(self, k) <= m[k] * resources[k] + 1e-9 for k in KINDS)

    def worst(self, resources, margins: dict[str, float] | None = None) -> tuple[str, float]:
        """The resource closest to (or furthest over) its limit, as (kind, used / allowed)."""
        m = DEFAULT_MARGINS if margins is None else margins
        ratios = {k: (getattr(self, k) / (m[k] * resources[k]) if resources[k] else
                      (math.inf if getattr(self, k) > 0 else 0.0)) for k in KINDS}
        k = max(ratios, key=ratios.get)
        return k, ratios[k]

    @classmethod
    def from_dict(cls, d: dict) -> "Usage":
        return cls(**{f.name: float(d.get(f.name, 0.0)) for f in fields(cls)})


def brams_for(depth: int, width: int, block: bool = True) -> float:
    """RAMB36 equivalents (RAMB18 = 1/2) for one ``depth x width`` memory, using the widest aspect ratio that
    holds ``depth`` words: 512x72, 1Kx36, 2Kx18, 4Kx9, 8Kx4, 16Kx2, 32Kx1 per RAMB36, 512x36 .. 16Kx1 per
    RAMB18.  The kernels mark their buffers ``ram_style = "block"``, so even shallow ones take a block; with
    ``block=False`` memories of 64 words or fewer go to LUTRAM (0 blocks)."""
    if width <= 0 or depth <= 0 or (not block and depth <= 64):
        return 0.0
    best = math.inf
    for d18, w18 in ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)):
        if depth <= d18:
            best = min(best, 0.5 * math.ceil(width / w18))
    for d36, w36 in ((512, 72), (1024, 36), (2048, 18), (4096, 9), (8192, 4), (16384, 2), (32768, 1)):
        cascade = math.ceil(depth / d36)
        best = min(best, cascade * math.ceil(width / w36))
    return best
