"""A resource vector (LUT, FF, DSP, BRAM36, URAM) with the arithmetic the cost model and the search need."""
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
