"""Fixed-point arithmetic with the exact semantics of Vitis ``ap_fixed<W,I,Q,O>`` / ``ap_ufixed``.

Values are carried as NumPy ``int64`` arrays holding the raw word: real value = raw * 2**-frac.
Every rounding and overflow mode of ap_fixed is implemented, so that the reference, the HLS C++ and
the RTL can be compared word for word.  ``docs/numerics.md`` is the spec; this module is its code.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np


class Q(str, Enum):
    """Quantisation (rounding) modes, named as in ap_fixed."""
    TRN = "AP_TRN"            # floor (towards -inf)
    TRN_ZERO = "AP_TRN_ZERO"  # towards zero
    RND = "AP_RND"            # nearest, ties towards +inf
    RND_ZERO = "AP_RND_ZERO"  # nearest, ties towards zero
    RND_MIN_INF = "AP_RND_MIN_INF"  # nearest, ties towards -inf
    RND_INF = "AP_RND_INF"    # nearest, ties away from zero
    RND_CONV = "AP_RND_CONV"  # nearest, ties to even


class O(str, Enum):
    """Overflow modes, named as in ap_fixed."""
    WRAP = "AP_WRAP"
    SAT = "AP_SAT"
    SAT_ZERO = "AP_SAT_ZERO"
    SAT_SYM = "AP_SAT_SYM"


@dataclass(frozen=True)
class Fmt:
    """A fixed-point format: ``width`` bits of which ``int_bits`` are integer bits (sign included)."""
    width: int
    int_bits: int
    signed: bool = True
    q: Q = Q.RND
    o: O = O.SAT

    def __post_init__(self):
        if not 1 <= self.width <= 62:
            raise ValueError(f"fixed-point width {self.width} outside 1..62")
        if self.signed and self.width < 2:
            raise ValueError("a signed fixed-point format needs at least 2 bits")

    @property
    def frac(self) -> int:
        return self.width - self.int_bits

    @property
    def raw_min(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def raw_max(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def lsb(self) -> float:
        return 2.0 ** -self.frac

    def ctype(self) -> str:
        """The Vitis HLS type spelling of this format."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{base}<{self.width},{self.int_bits},{self.q.value},{self.o.value}>"

    @classmethod
    def from_frac(cls, width: int, frac: int, signed: bool = True) -> "Fmt":
        """The format of ``width`` bits with ``frac`` fractional bits (how kernel parameters spell formats)."""
        return cls(width, width - frac, signed)

    def with_modes(self, q: Q | None = None, o: O | None = None) -> "Fmt":
        return Fmt(self.width, self.int_bits, self.signed, q or self.q, o or self.o)

    def to_dict(self) -> dict:
        return {"width": self.width, "int_bits": self.int_bits, "signed": self.signed,
                "q": self.q.value, "o": self.o.value}

    @classmethod
    def from_dict(cls, d: dict) -> "Fmt":
        return cls(int(d["width"]), int(d["int_bits"]), bool(d["signed"]), Q(d["q"]), O(d["o"]))

    def __str__(self) -> str:
        return self.ctype()


def _floor_div_pow2(x: np.ndarray, s: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split ``x`` into ``floor(x / 2**s)`` and the dropped bits (``rem``, ``half`` = 2**(s-1))."""
    q = x >> s
    rem = x - (q << s)
    return q, rem, np.int64(1) << (s - 1)


def shift_round(x, s: int, q: Q) -> np.ndarray:
    """Divide raw integers by ``2**s`` (s >= 0 drops bits; s < 0 adds zero bits) with rounding mode ``q``."""
    x = np.asarray(x, dtype=np.int64)
    if s <= 0:
        return x << (-s)
    if s >= 64:            # every bit is dropped: only the sign (AP_TRN) or nothing is left
        return np.where(x < 0, -1, 0).astype(np.int64) if q is Q.TRN else np.zeros_like(x)
    fl, rem, half = _floor_div_pow2(x, s)
    if q is Q.TRN:
        return fl
    if q is Q.TRN_ZERO:
        return fl + ((x < 0) & (rem != 0))
    if q is Q.RND:
        return fl + (rem >= half)
    if q is Q.RND_ZERO:
        return fl + ((rem > half) | ((rem == half) & (x < 0)))
    if q is Q.RND_MIN_INF:
        return fl + (rem > half)
    if q is Q.RND_INF:
        return fl + ((rem > half) | ((rem == half) & (x >= 0)))
    if q is Q.RND_CONV:
        return fl + ((rem > half) | ((rem == half) & ((fl & 1) == 1)))
    raise ValueError(f"unknown quantisation mode {q}")


def overflow(x, fmt: Fmt) -> np.ndarray:
    """Bring raw integers into ``fmt``'s word with its overflow mode."""
    x = np.asarray(x, dtype=np.int64)
    lo, hi = fmt.raw_min, fmt.raw_max
    if fmt.o is O.WRAP:
        mask = (np.int64(1) << fmt.width) - 1
        w = x & mask
        if fmt.signed:
            w = np.where(w > hi, w - (np.int64(1) << fmt.width), w)
        return w
    if fmt.o is O.SAT:
        return np.clip(x, lo, hi)
    if fmt.o is O.SAT_ZERO:
        return np.where((x < lo) | (x > hi), 0, x)
    if fmt.o is O.SAT_SYM:
        return np.clip(x, -hi if fmt.signed else lo, hi)
    raise ValueError(f"unknown overflow mode {fmt.o}")


def requant(x, frac_in: int, fmt: Fmt) -> np.ndarray:
    """Cast raw integers with ``frac_in`` fractional bits to ``fmt`` (rounding, then overflow), like an
    assignment between ap_fixed types."""
    x = np.asarray(x, dtype=np.int64)
    s = frac_in - fmt.frac
    if s < 0 and fmt.o is not O.WRAP:
        # a left shift that would leave int64 saturates anyway: clamp first, outside every 62-bit word
        lim = (1 << 62) >> -s
        big = np.int64(1) << 62
        y = shift_round(np.clip(x, -lim, lim), s, fmt.q)
        return overflow(np.where(x > lim, big, np.where(x < -lim, -big, y)), fmt)
    return overflow(shift_round(x, s, fmt.q), fmt)


def quantize(x, fmt: Fmt) -> np.ndarray:
    """Float to raw integers in ``fmt``.  Exact for float64 inputs: the float is first scaled by a power of
    two (exact) and rounded to an integer with the format's mode, then overflow is applied."""
    x = np.asarray(x, dtype=np.float64)
    v = x * (2.0 ** fmt.frac)
    if not np.all(np.isfinite(v)):
        raise ValueError("cannot quantise a non-finite value")
    v = np.where((v == 0) & (x != 0), np.copysign(0.25, x), v)   # keep the sign of underflowed values
    if fmt.o is O.WRAP:
        v = np.fmod(v, 2.0 ** fmt.width)                          # exact; keeps sign and parity
    fl = np.floor(v)
    mid = fl + 0.5
    gt = v > mid                      # compare with the midpoint: v - floor(v) is inexact near -0
    tie = (v == mid) & (v != fl)
    q = fmt.q
    if q is Q.TRN:
        r = fl
    elif q is Q.TRN_ZERO:
        r = np.where(v < 0, np.ceil(v), fl)
    elif q is Q.RND:
        r = fl + (gt | tie)
    elif q is Q.RND_ZERO:
        r = fl + (gt | (tie & (v < 0)))
    elif q is Q.RND_MIN_INF:
        r = fl + gt
    elif q is Q.RND_INF:
        r = fl + (gt | (tie & (v >= 0)))
    elif q is Q.RND_CONV:
        r = fl + (gt | (tie & (np.mod(fl, 2) == 1)))
    else:
        raise ValueError(f"unknown quantisation mode {q}")
    big = float(1 << 62)
    return overflow(np.clip(r, -big, big).astype(np.int64), fmt)


def to_float(raw, fmt_or_frac) -> np.ndarray:
    frac = fmt_or_frac.frac if isinstance(fmt_or_frac, Fmt) else int(fmt_or_frac)
    return np.asarray(raw, dtype=np.float64) * (2.0 ** -frac)


def int_bits_for(max_abs: float, signed: bool = True, headroom_bits: int = 0) -> int:
    """Smallest number of integer bits (sign included) that holds ``max_abs``, plus ``headroom_bits``."""
    m = float(max_abs)
    need = 0 if m <= 0 else int(np.floor(np.log2(m))) + 1
    return need + int(signed) + headroom_bits


def matmul(a, b, a_bits: int = 32, b_bits: int = 32) -> np.ndarray:
    """Exact integer matrix product of raw words of at most ``a_bits``/``b_bits`` bits.

    NumPy's int64 matmul bypasses BLAS and is slow; float64 products are exact while every partial sum
    stays below 2**53, so operands are cut into slices small enough for that and recombined in int64.
    The caller guarantees that the true result fits int64 (the accumulator widths in docs/numerics.md).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    k = a.shape[-1]
    budget = 52 - int(np.ceil(np.log2(max(k, 2))))
    sa = min(a_bits, max(budget - min(b_bits, budget // 2), 1))
    sb = min(b_bits, budget - sa)
    out = np.zeros(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]), np.int64)
    for ia, pa in _slices(a, a_bits, sa):
        for ib, pb in _slices(b, b_bits, sb):
            part = np.matmul(pa.astype(np.float64), pb.astype(np.float64))
            out += part.astype(np.int64) << (ia + ib)
    return out


def _slices(x: np.ndarray, bits: int, step: int):
    """Yield (shift, slice) with x == sum(slice << shift); the top slice carries the sign."""
    if bits <= step:
        yield 0, x
        return
    shift = 0
    while shift + step < bits:
        yield shift, (x >> shift) & ((1 << step) - 1)
        shift += step
    yield shift, x >> shift


def shift_round_var(x, s, q: Q = Q.RND) -> np.ndarray:
    """``shift_round`` with a per-element shift ``s`` (negative = shift left); AP_RND or AP_TRN only.
    Used where a normalisation exponent differs per row (reciprocal, 1/sqrt)."""
    x = np.asarray(x, dtype=np.int64)
    s = np.broadcast_to(np.asarray(s, dtype=np.int64), x.shape)
    right = np.maximum(s, 0)
    fl = x >> right
    if q is Q.RND:
        half = (np.int64(1) << right) >> 1
        fl = fl + ((right > 0) & ((x - (fl << right)) >= half))
    elif q is not Q.TRN:
        raise ValueError(f"variable shifts support AP_RND and AP_TRN, not {q.value}")
    return np.where(s < 0, x << np.maximum(-s, 0), fl)


def align(x, frac_in: int, frac_out: int) -> np.ndarray:
    """Move raw words to more fractional bits (exact); fewer bits rounds with AP_RND."""
    return shift_round(x, frac_in - frac_out, Q.RND)


def msb(x) -> np.ndarray:
    """Index of the most significant set bit of positive integers below 2**53 (exact via frexp)."""
    _, e = np.frexp(np.asarray(x, dtype=np.float64))
    return e.astype(np.int64) - 1
