"""Lookup-table contents, generated once here from docs/numerics.md and used by the reference, written into
the RTL ($readmemh files) and the HLS config header.  Every table's range comes from the values it must
cover (a mantissa interval, or the calibrated input range), never from the width of a type."""
from __future__ import annotations

from dataclasses import dataclass
from math import erf, sqrt

import numpy as np

from .fixed import Fmt

Q15 = 15                          # fractional bits of exp2, reciprocal, 1/sqrt outputs and gate weights
ONE_Q15 = 1 << Q15                # 1.0 in that U1.15 format
U1_15 = Fmt(16, 1, signed=False)  # table outputs and gate weights
GELU_FMT = Fmt(16, 0, signed=False)  # d(t) = t * Phi(-t) <= 0.17, unsigned, 16 fractional bits
#: index bits of the three tables, format-independent (one build serves every precision).  10 rather than 8:
#: at 16 bits the 8-bit tables dominated the error upstream of the router (docs/numerics.md §10), and a
#: 1024 x 16 table still fills one RAMB18 (the 1/sqrt table's two halves one RAMB36); 12 bits gained
#: nothing measurable for 2-4 times the block RAM
EXP_INDEX_BITS = 10               # 2**-f for f in [0, 1): 1024 entries
RECIP_INDEX_BITS = 10             # 1/m for m in [1, 2): 1024 entries
RSQRT_INDEX_BITS = 10             # 1/sqrt(m * 2**parity) for m in [1, 2): 2 x 1024 entries
GELU_STEP_BITS = 5                # d(t) sampled every 1/32
GELU_CUTOFF = 2.0 ** -(GELU_FMT.frac + 1)  # d(t) below half an LSB of its table is exactly 0


def exp2_table() -> np.ndarray:
    """EXP2[i] = round(2**(-i / N) * 2**15), N = 2**EXP_INDEX_BITS: 2**-f at the left edge of each
    f-interval."""
    i = np.arange(1 << EXP_INDEX_BITS)
    return np.round(2.0 ** (-i / (1 << EXP_INDEX_BITS)) * ONE_Q15).astype(np.int64)


def recip_table() -> np.ndarray:
    """RECIP[i] = round(2**15 / m) at the midpoint m of the i-th of 2**RECIP_INDEX_BITS intervals of [1, 2)."""
    m = 1.0 + (np.arange(1 << RECIP_INDEX_BITS) + 0.5) / (1 << RECIP_INDEX_BITS)
    return np.round(ONE_Q15 / m).astype(np.int64)


def rsqrt_table() -> np.ndarray:
    """RSQRT[parity * N + i] = round(2**15 / sqrt(m * 2**parity)), m the i-th of the N = 2**RSQRT_INDEX_BITS
    midpoints of [1, 2)."""
    m = 1.0 + (np.arange(1 << RSQRT_INDEX_BITS) + 0.5) / (1 << RSQRT_INDEX_BITS)
    return np.round(np.concatenate([ONE_Q15 / np.sqrt(m), ONE_Q15 / np.sqrt(2 * m)])).astype(np.int64)


def _gelu_d(t: float) -> float:
    """d(t) = t * Phi(-t), so that GELU(x) = ReLU(x) - d(|x|)."""
    return t * 0.5 * (1.0 - erf(t / sqrt(2.0)))


def gelu_cutoff() -> float:
    """Smallest multiple of the step beyond which d(t) rounds to 0 in GELU_FMT."""
    step = 2.0 ** -GELU_STEP_BITS
    t = 1.0
    while _gelu_d(t) >= GELU_CUTOFF:
        t += step
    return t


@dataclass(frozen=True)
class GeluTable:
    """d(t) sampled at t = i / 32 for i = 0..entries (one extra entry for interpolation); beyond
    ``entries / 32`` GELU is exactly ReLU.  ``entries`` covers min(calibrated max |x|, cutoff)."""
    entries: int

    @classmethod
    def for_range(cls, max_abs: float) -> "GeluTable":
        reach = min(float(max_abs), gelu_cutoff())
        return cls(max(1, int(np.ceil(reach * (1 << GELU_STEP_BITS)))))

    def values(self) -> np.ndarray:
        t = np.arange(self.entries + 1) / (1 << GELU_STEP_BITS)
        return np.round(np.array([_gelu_d(v) for v in t]) * (1 << GELU_FMT.frac)).astype(np.int64)


def write_memh(path, values: np.ndarray, width: int) -> None:
    """One hex word per line, for $readmemh."""
    digits = (width + 3) // 4
    mask = (1 << width) - 1
    with open(path, "w") as f:
        for v in np.asarray(values, dtype=np.int64):
            f.write(f"{int(v) & mask:0{digits}x}\n")
