"""Tests of ``hwmoe.numerics.fixed`` against hand-worked cases and against the real ap_fixed headers.

The ground truth is a small C++ program compiled once per session with g++ against the ap_types headers
that ship with hls4ml (``hwmoe.backends.hls.aptypes.include_dir()``).  It reads one case per line on stdin::

    <case id> R <src W> <src I> <src signed> <dst W> <dst I> <dst signed> <q> <o> <source raw word>
    <case id> D 0 0 0 <dst W> <dst I> <dst signed> <q> <o> <IEEE-754 bits of a double, hex>

and prints ``<case id> <destination raw word>``.  ``R`` assigns an ap_fixed holding the raw word to the
destination type (what ``requant`` models), ``D`` constructs the destination type from a double (what
``quantize`` models).  ``q``/``o`` are indices into ``list(Q)``/``list(O)``.  Every Q x O combination is
instantiated for a fixed list of format pairs (``PAIRS``) and destination formats (``DBL_FMTS``).
"""
from __future__ import annotations

import shutil
import subprocess
import time
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hwmoe.backends.hls import aptypes
from hwmoe.numerics.fixed import Fmt, O, Q, int_bits_for, matmul, overflow, quantize, requant, shift_round, to_float

QS = list(Q)
OS = list(O)

# --------------------------------------------------------------------------------------------------
# Fmt validation and properties
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", range(1, 63))
def test_fmt_widths_1_to_62(width):
    u = Fmt(width, width, signed=False)
    assert (u.raw_min, u.raw_max) == (0, 2**width - 1)
    if width == 1:
        with pytest.raises(ValueError):
            Fmt(1, 1, signed=True)
        return
    s = Fmt(width, width, signed=True)
    assert (s.raw_min, s.raw_max) == (-(2 ** (width - 1)), 2 ** (width - 1) - 1)
    # The extremes and one past them survive int64 arithmetic in every overflow mode.
    for f in (s, u):
        x = np.array([f.raw_min - 1, f.raw_min, f.raw_max, f.raw_max + 1], dtype=np.int64)
        assert overflow(x, f.with_modes(o=O.SAT)).tolist() == [f.raw_min, f.raw_min, f.raw_max, f.raw_max]
        assert overflow(x, f.with_modes(o=O.WRAP)).tolist() == [f.raw_max, f.raw_min, f.raw_max, f.raw_min]
        assert overflow(x, f.with_modes(o=O.SAT_ZERO)).tolist() == [0, f.raw_min, f.raw_max, 0]


@pytest.mark.parametrize("width", [-1, 0, 63, 64, 100])
@pytest.mark.parametrize("signed", [True, False])
def test_fmt_rejects_width_out_of_range(width, signed):
    with pytest.raises(ValueError, match="outside 1..62"):
        Fmt(width, 1, signed=signed)


def test_fmt_frac_lsb_ctype_and_dict_roundtrip():
    f = Fmt(16, 6, True, Q.RND_CONV, O.SAT_SYM)
    assert f.frac == 10 and f.lsb == 2.0**-10
    assert f.ctype() == "ap_fixed<16,6,AP_RND_CONV,AP_SAT_SYM>"
    assert Fmt(8, 10, False, Q.TRN, O.WRAP).ctype() == "ap_ufixed<8,10,AP_TRN,AP_WRAP>"
    assert Fmt(8, 10).frac == -2 and Fmt(8, -3).frac == 11
    for g in (f, Fmt(1, 0, False, Q.TRN_ZERO, O.WRAP), Fmt(62, -4)):
        assert Fmt.from_dict(g.to_dict()) == g
    assert f.with_modes(q=Q.TRN) == Fmt(16, 6, True, Q.TRN, O.SAT_SYM)
    assert f.with_modes(o=O.WRAP) == Fmt(16, 6, True, Q.RND_CONV, O.WRAP)
    assert Fmt(8, 4).q is Q.RND and Fmt(8, 4).o is O.SAT  # defaults


def test_to_float_and_int_bits_for():
    assert to_float(np.array([-3, 5]), Fmt(8, 6)).tolist() == [-0.75, 1.25]
    assert to_float(np.array([3]), -2).tolist() == [12.0]
    assert [int_bits_for(v) for v in (0.0, 0.5, 0.75, 1.0, 1.5, 2.0)] == [1, 1, 1, 2, 2, 3]
    assert int_bits_for(1.0, signed=False) == 1 and int_bits_for(3.0, headroom_bits=2) == 5


# --------------------------------------------------------------------------------------------------
# Hand-worked rounding cases
# --------------------------------------------------------------------------------------------------

# Values on a quarter grid: ties at x.5, just above/below ties at x.25 / x.75.
QUARTERS = [-2.5, -1.75, -1.5, -1.25, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75, 1.25, 1.5, 1.75, 2.5]
ROUNDED = {
    Q.TRN:         [-3, -2, -2, -2, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2],
    Q.TRN_ZERO:    [-2, -1, -1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2],
    Q.RND:         [-2, -2, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2, 2, 3],
    Q.RND_ZERO:    [-2, -2, -1, -1, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2],
    Q.RND_MIN_INF: [-3, -2, -2, -1, -1, 0, 0, 0, 0, 1, 1, 1, 2, 2],
    Q.RND_INF:     [-3, -2, -2, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, 3],
    Q.RND_CONV:    [-2, -2, -2, -1, 0, 0, 0, 0, 0, 1, 1, 2, 2, 2],
}

# Ties and one source LSB (2**-4) either side of them; 3.5 has an odd floor for RND_CONV.
NEAR_TIES = [-3.5, -2.5625, -2.5, -2.4375, 2.4375, 2.5, 2.5625, 3.5]
NEAR_TIES_ROUNDED = {
    Q.TRN:         [-4, -3, -3, -3, 2, 2, 2, 3],
    Q.TRN_ZERO:    [-3, -2, -2, -2, 2, 2, 2, 3],
    Q.RND:         [-3, -3, -2, -2, 2, 3, 3, 4],
    Q.RND_ZERO:    [-3, -3, -2, -2, 2, 2, 3, 3],
    Q.RND_MIN_INF: [-4, -3, -3, -2, 2, 2, 3, 3],
    Q.RND_INF:     [-4, -3, -3, -2, 2, 3, 3, 4],
    Q.RND_CONV:    [-4, -3, -2, -2, 2, 2, 3, 4],
}


@pytest.mark.parametrize("q", QS, ids=lambda q: q.name)
def test_rounding_hand_worked(q):
    raw = np.array([int(v * 4) for v in QUARTERS], dtype=np.int64)
    assert shift_round(raw, 2, q).tolist() == ROUNDED[q]
    assert requant(raw, 2, Fmt(8, 8, q=q, o=O.WRAP)).tolist() == ROUNDED[q]
    assert quantize(np.array(QUARTERS), Fmt(8, 8, q=q, o=O.SAT)).tolist() == ROUNDED[q]
    # The same grid one binary place lower (result LSB 0.5): identical raw results.
    assert quantize(np.array(QUARTERS) / 2, Fmt(8, 7, q=q)).tolist() == ROUNDED[q]

    raw16 = np.array([int(v * 16) for v in NEAR_TIES], dtype=np.int64)
    assert shift_round(raw16, 4, q).tolist() == NEAR_TIES_ROUNDED[q]
    assert quantize(np.array(NEAR_TIES), Fmt(8, 8, q=q)).tolist() == NEAR_TIES_ROUNDED[q]
    # Doubles one ulp either side of a tie round like non-ties in every RND mode.
    below, above = np.nextafter(2.5, 0.0), np.nextafter(2.5, 5.0)
    nearest = Q.RND, Q.RND_ZERO, Q.RND_MIN_INF, Q.RND_INF, Q.RND_CONV
    if q in nearest:
        assert quantize(np.array([below, above, -below, -above]), Fmt(8, 8, q=q)).tolist() == [2, 3, -2, -3]


@pytest.mark.parametrize("q", QS, ids=lambda q: q.name)
def test_shift_round_nonpositive_shift_is_exact(q):
    x = np.array([-5, -1, 0, 3, 1 << 40], dtype=np.int64)
    assert shift_round(x, 0, q).tolist() == x.tolist()
    assert shift_round(x, -3, q).tolist() == (x * 8).tolist()


@pytest.mark.parametrize("q", QS, ids=lambda q: q.name)
def test_rounding_drops_whole_word(q):
    """Shifts at least as wide as the word: |x| / 2**s < 1/2, so every RND mode gives 0."""
    x = np.array([-(1 << 40), -1, 1, (1 << 40) - 1], dtype=np.int64)
    expect = [-1, -1, 0, 0] if q is Q.TRN else [0, 0, 0, 0]
    for s in (42, 50, 62, 63):
        assert shift_round(x, s, q).tolist() == expect, s


# --------------------------------------------------------------------------------------------------
# Hand-worked overflow cases
# --------------------------------------------------------------------------------------------------

OVF_IN = [-17, -9, -8, -7, -1, 0, 7, 8, 9, 15, 16, 17]
OVF_SIGNED = {   # ap_fixed<4,4>: raw -8..7
    O.WRAP:     [-1, 7, -8, -7, -1, 0, 7, -8, -7, -1, 0, 1],
    O.SAT:      [-8, -8, -8, -7, -1, 0, 7, 7, 7, 7, 7, 7],
    O.SAT_ZERO: [0, 0, -8, -7, -1, 0, 7, 0, 0, 0, 0, 0],
    O.SAT_SYM:  [-7, -7, -7, -7, -1, 0, 7, 7, 7, 7, 7, 7],
}
OVF_UNSIGNED = {  # ap_ufixed<4,4>: raw 0..15; SAT_SYM is SAT for unsigned types
    O.WRAP:     [15, 7, 8, 9, 15, 0, 7, 8, 9, 15, 0, 1],
    O.SAT:      [0, 0, 0, 0, 0, 0, 7, 8, 9, 15, 15, 15],
    O.SAT_ZERO: [0, 0, 0, 0, 0, 0, 7, 8, 9, 15, 0, 0],
    O.SAT_SYM:  [0, 0, 0, 0, 0, 0, 7, 8, 9, 15, 15, 15],
}


@pytest.mark.parametrize("o", OS, ids=lambda o: o.name)
def test_overflow_hand_worked(o):
    x = np.array(OVF_IN, dtype=np.int64)
    assert overflow(x, Fmt(4, 4, True, o=o)).tolist() == OVF_SIGNED[o]
    assert overflow(x, Fmt(4, 4, False, o=o)).tolist() == OVF_UNSIGNED[o]
    # requant without a shift is the overflow alone, whatever the rounding mode
    for q in QS:
        assert requant(x, 0, Fmt(4, 4, True, q, o)).tolist() == OVF_SIGNED[o]


@pytest.mark.parametrize("o", OS, ids=lambda o: o.name)
@pytest.mark.parametrize("signed, width", [(s, w) for s in (True, False) for w in (1, 2, 3, 8, 31, 32, 33, 61, 62)
                                           if w >= 1 + s], ids=lambda v: str(v))
def test_overflow_extremes(o, signed, width):
    f = Fmt(width, width // 2, signed, Q.TRN, o)
    lo, hi = f.raw_min, f.raw_max
    x = np.array([lo - 1, lo, lo + 1, hi - 1, hi, hi + 1], dtype=np.int64)
    expect = {
        O.WRAP: [hi, lo, lo + 1, hi - 1, hi, lo],
        O.SAT: [lo, lo, lo + 1, hi - 1, hi, hi],
        O.SAT_ZERO: [0, lo, lo + 1, hi - 1, hi, 0],
        O.SAT_SYM: ([-hi, -hi, lo + 1, hi - 1, hi, hi] if signed else [0, 0, 1, hi - 1, hi, hi]),
    }[o]
    assert overflow(x, f).tolist() == expect


@pytest.mark.parametrize(
    "value, q, expect",
    [  # ap_fixed<4,4> from a value with 2 fraction bits: rounding first, then overflow
        (7.75, Q.RND, {O.WRAP: -8, O.SAT: 7, O.SAT_ZERO: 0, O.SAT_SYM: 7}),
        (7.5, Q.RND_CONV, {O.WRAP: -8, O.SAT: 7, O.SAT_ZERO: 0, O.SAT_SYM: 7}),
        (7.5, Q.RND_ZERO, {O.WRAP: 7, O.SAT: 7, O.SAT_ZERO: 7, O.SAT_SYM: 7}),
        (7.75, Q.TRN, {O.WRAP: 7, O.SAT: 7, O.SAT_ZERO: 7, O.SAT_SYM: 7}),
        (-8.5, Q.RND, {O.WRAP: -8, O.SAT: -8, O.SAT_ZERO: -8, O.SAT_SYM: -7}),
        (-8.5, Q.RND_MIN_INF, {O.WRAP: 7, O.SAT: -8, O.SAT_ZERO: 0, O.SAT_SYM: -7}),
        (-8.25, Q.TRN_ZERO, {O.WRAP: -8, O.SAT: -8, O.SAT_ZERO: -8, O.SAT_SYM: -7}),
        (-8.25, Q.TRN, {O.WRAP: 7, O.SAT: -8, O.SAT_ZERO: 0, O.SAT_SYM: -7}),
        (-7.75, Q.RND_INF, {O.WRAP: -8, O.SAT: -8, O.SAT_ZERO: -8, O.SAT_SYM: -7}),
        (-0.25, Q.RND, {O.WRAP: 0, O.SAT: 0, O.SAT_ZERO: 0, O.SAT_SYM: 0}),
    ],
)
def test_round_then_overflow_hand_worked(value, q, expect):
    raw = np.array([int(value * 4)], dtype=np.int64)
    for o, e in expect.items():
        assert requant(raw, 2, Fmt(4, 4, True, q, o)).tolist() == [e], o
        assert quantize(np.array([value]), Fmt(4, 4, True, q, o)).tolist() == [e], o


def test_signed_to_unsigned_hand_worked():
    # ap_ufixed<4,4> from ap_fixed<.,.,2 frac bits>: negatives saturate to 0 unless they round to 0.
    raw = np.array([-12, -2, -1, 0, 62, 63], dtype=np.int64)  # -3, -0.5, -0.25, 0, 15.5, 15.75
    assert requant(raw, 2, Fmt(4, 4, False, Q.RND, O.SAT)).tolist() == [0, 0, 0, 0, 15, 15]
    assert requant(raw, 2, Fmt(4, 4, False, Q.RND, O.WRAP)).tolist() == [13, 0, 0, 0, 0, 0]
    assert requant(raw, 2, Fmt(4, 4, False, Q.RND_MIN_INF, O.WRAP)).tolist() == [13, 15, 0, 0, 15, 0]
    assert requant(raw, 2, Fmt(4, 4, False, Q.TRN, O.SAT_ZERO)).tolist() == [0, 0, 0, 0, 15, 15]


def test_quantize_rejects_non_finite():
    for bad in (np.nan, np.inf, -np.inf):
        with pytest.raises(ValueError):
            quantize(np.array([1.0, bad]), Fmt(8, 4))


# --------------------------------------------------------------------------------------------------
# Known divergences from ap_fixed (minimal repros, no compiler needed)
# --------------------------------------------------------------------------------------------------

# Each of these once diverged from ap_fixed; they stay as regression tests.


def test_regression_requant_shift_of_64_bits():
    # +-5 * 2**-64 rounds to 0 in every RND mode (|x| < half an LSB); shifts of 42..63 are right, see
    # test_rounding_drops_whole_word.
    assert requant(np.array([5, -5]), 64, Fmt(8, 8, q=Q.RND)).tolist() == [0, 0]


def test_regression_requant_left_shift_overflows_int64():
    # 2**59 * 2**-4 = 2**55 saturates ap_fixed<16,2,AP_RND,AP_SAT> to its raw_max 32767.
    assert requant(np.array([1 << 59, -(1 << 59)]), 4, Fmt(16, 2)).tolist() == [32767, -32768]


@pytest.mark.parametrize("q", [Q.RND_MIN_INF, Q.RND_INF], ids=lambda q: q.name)
def test_regression_quantize_just_above_negative_tie(q):
    # -(0.5 - 2**-54) is nearer to 0 than to -1, in any rounding mode.
    x = np.nextafter(-0.5, 0.0)
    assert quantize(np.array([x, x / 8]), Fmt(8, 8, q=q)).tolist() == [0, 0]
    assert quantize(np.array([x / 8]), Fmt(8, 5, q=q)).tolist() == [0]


def test_regression_quantize_tiny_negative_underflows():
    # floor(-5e-324 / 16) = -1 in ap_fixed<20,24,AP_TRN> (LSB 16).
    assert quantize(np.array([-5e-324]), Fmt(20, 24, q=Q.TRN, o=O.WRAP)).tolist() == [-1]


def test_regression_quantize_wrap_of_huge_value():
    # 2**62 + 1024 as ap_fixed<16,16,AP_TRN,AP_WRAP> keeps its low 16 bits: 1024.
    assert quantize(np.array([2.0**62 + 1024]), Fmt(16, 16, q=Q.TRN, o=O.WRAP)).tolist() == [1024]


# --------------------------------------------------------------------------------------------------
# Ground truth from the ap_fixed headers compiled with g++
# --------------------------------------------------------------------------------------------------

# (source (W, I, signed), destination (W, I, signed)); the source's own modes do not matter.
PAIRS = [
    ((8, 6, True), (4, 4, True)),        # small enough to check by hand
    ((16, 6, True), (8, 3, True)),       # narrowing: 6 bits rounded, 3 bits saturated
    ((8, 4, True), (8, 4, True)),        # same format: only SAT_SYM changes anything (raw_min)
    ((24, 8, True), (12, 4, False)),     # signed -> unsigned
    ((12, 4, False), (8, 2, True)),      # unsigned -> signed
    ((10, 6, True), (12, 2, True)),      # more fraction bits: left shift, then overflow
    ((16, 8, True), (2, 1, True)),       # smallest signed destination
    ((12, 4, True), (1, 0, False)),      # 1-bit unsigned destination
    ((20, 10, True), (10, 12, True)),    # destination LSB 4 (negative fraction bits)
    ((14, -2, True), (8, -4, True)),     # negative integer bits on both sides
    ((40, 20, True), (18, 8, True)),     # wide source
    ((62, 30, True), (32, 16, True)),    # widest signed source
    ((62, 31, False), (61, 30, False)),  # widest unsigned source
]
# A left shift by 10 of a 60-bit word: the cast must saturate, not overflow int64 first.
LIMIT_PAIRS = [((60, 56, True), (16, 2, True))]
# No pair shifts right by more than the source width: the ap_fixed C-simulation model asserts
# ("Attempting to read bit beyond MSB") on such an assignment, so g++ cannot judge test_regression_requant_shift_of_64_bits.
ALL_PAIRS = PAIRS + LIMIT_PAIRS

# Destination formats for construction from double.
DBL_FMTS = [(8, 3, True), (12, 4, False), (16, 2, True), (32, 16, True), (2, 1, True), (1, 0, False),
            (20, 24, True), (10, -2, True), (62, 10, True), (16, 16, True)]


def _ctype(w: int, i: int, s: bool, q: Q, o: O) -> str:
    return f"{'ap_fixed' if s else 'ap_ufixed'}<{w},{i},{q.value},{o.value}>"


def _cpp_source() -> str:
    out = [
        "#include <ap_fixed.h>",
        "#include <cstdio>",
        "#include <cstdlib>",
        "#include <cstring>",
        "",
        "static long long sext(unsigned long long u, int w, bool s) {",
        "  unsigned long long m = (w >= 64) ? ~0ULL : ((1ULL << w) - 1);",
        "  u &= m;",
        "  if (s && w < 64 && ((u >> (w - 1)) & 1)) u |= ~m;",
        "  return (long long)u;",
        "}",
        "template <class SRC, class DST, int W, bool S>",
        "static long long cast_raw(long long raw) {",
        "  SRC src;",
        "  src.setBits((unsigned long long)raw);",
        "  DST dst = src;",
        "  return sext(dst.bits_to_uint64(), W, S);",
        "}",
        "template <class DST, int W, bool S>",
        "static long long from_double(double d) {",
        "  DST dst = d;",
        "  return sext(dst.bits_to_uint64(), W, S);",
        "}",
    ]
    req_dispatch, dbl_dispatch = [], []
    for n, ((sw, si, ss), (dw, di, ds)) in enumerate(ALL_PAIRS):
        src = _ctype(sw, si, ss, Q.TRN, O.WRAP)
        out.append(f"static long long req{n}(int qo, long long raw, bool* ok) {{\n  switch (qo) {{")
        for a, q in enumerate(QS):
            for b, o in enumerate(OS):
                dst = _ctype(dw, di, ds, q, o)
                out.append(f"    case {a * 4 + b}: return cast_raw<{src}, {dst}, {dw}, {int(ds)}>(raw);")
        out.append("  }\n  *ok = false;\n  return 0;\n}")
        req_dispatch.append(f"  if (sw == {sw} && si == {si} && ss == {int(ss)} && dw == {dw} && di == {di} "
                            f"&& ds == {int(ds)}) return req{n}(qo, raw, ok);")
    for n, (dw, di, ds) in enumerate(DBL_FMTS):
        out.append(f"static long long dbl{n}(int qo, double d, bool* ok) {{\n  switch (qo) {{")
        for a, q in enumerate(QS):
            for b, o in enumerate(OS):
                out.append(f"    case {a * 4 + b}: return from_double<{_ctype(dw, di, ds, q, o)}, {dw}, "
                           f"{int(ds)}>(d);")
        out.append("  }\n  *ok = false;\n  return 0;\n}")
        dbl_dispatch.append(f"  if (dw == {dw} && di == {di} && ds == {int(ds)}) return dbl{n}(qo, d, ok);")
    out += [
        "static long long req(int sw, int si, int ss, int dw, int di, int ds, int qo, long long raw, bool* ok) {",
        *req_dispatch,
        "  *ok = false;\n  return 0;\n}",
        "static long long dbl(int dw, int di, int ds, int qo, double d, bool* ok) {",
        *dbl_dispatch,
        "  *ok = false;\n  return 0;\n}",
        "int main() {",
        "  char line[512], kind, val[64];",
        "  long long id;",
        "  int sw, si, ss, dw, di, ds, q, o;",
        "  while (fgets(line, sizeof line, stdin)) {",
        "    if (sscanf(line, \"%lld %c %d %d %d %d %d %d %d %d %63s\", &id, &kind, &sw, &si, &ss, &dw, &di,",
        "               &ds, &q, &o, val) != 11) { printf(\"-1 PARSE\\n\"); continue; }",
        "    bool ok = q >= 0 && q < 7 && o >= 0 && o < 4;",
        "    long long r = 0;",
        "    if (ok && kind == 'R') {",
        "      r = req(sw, si, ss, dw, di, ds, q * 4 + o, strtoll(val, 0, 10), &ok);",
        "    } else if (ok && kind == 'D') {",
        "      unsigned long long bits = strtoull(val, 0, 16);",
        "      double d;",
        "      memcpy(&d, &bits, sizeof d);",
        "      r = dbl(dw, di, ds, q * 4 + o, d, &ok);",
        "    } else {",
        "      ok = false;",
        "    }",
        "    if (ok) printf(\"%lld %lld\\n\", id, r); else printf(\"%lld UNSUPPORTED\\n\", id);",
        "  }",
        "  return 0;",
        "}",
    ]
    return "\n".join(out) + "\n"


class APFixedOracle:
    """Runs the compiled ap_fixed program on batches of cases."""

    def __init__(self, exe):
        self.exe = str(exe)

    def _run(self, lines: list[str]) -> np.ndarray:
        proc = subprocess.run([self.exe], input="".join(lines), capture_output=True, text=True, check=True,
                              timeout=120)
        rows = proc.stdout.split("\n")[:-1]
        assert len(rows) == len(lines), proc.stderr
        res = np.empty(len(rows), dtype=np.int64)
        for k, row in enumerate(rows):
            ident, value = row.split(" ")
            assert int(ident) == k and value.lstrip("-").isdigit(), f"case {lines[k].strip()!r}: {row!r}"
            res[k] = int(value)
        return res

    @staticmethod
    def _spec(f: Fmt) -> str:
        return f"{f.width} {f.int_bits} {int(f.signed)}"

    def requant(self, raw, src: Fmt, dst: Fmt) -> np.ndarray:
        """ap_fixed assignment of raw words of ``src`` to ``dst`` (with ``dst``'s Q and O)."""
        return self.requant_modes(raw, src, dst, [(dst.q, dst.o)])[0]

    def requant_modes(self, raw, src: Fmt, dst: Fmt, modes) -> np.ndarray:
        """Shape (len(modes), len(raw)): the same raw words under every (q, o) in ``modes``."""
        raw = [int(r) for r in np.asarray(raw, dtype=np.int64).ravel()]
        head = f"R {self._spec(src)} {self._spec(dst)}"
        lines, k = [], 0
        for q, o in modes:
            tag = f"{head} {QS.index(q)} {OS.index(o)} "
            for r in raw:
                lines.append(f"{k} {tag}{r}\n")
                k += 1
        return self._run(lines).reshape(len(modes), len(raw))

    def from_double_modes(self, x, dst: Fmt, modes) -> np.ndarray:
        bits = np.ascontiguousarray(np.asarray(x, dtype=np.float64).ravel()).view(np.uint64)
        hexs = [format(int(b), "x") for b in bits]
        head = f"D 0 0 0 {self._spec(dst)}"
        lines, k = [], 0
        for q, o in modes:
            tag = f"{head} {QS.index(q)} {OS.index(o)} "
            for h in hexs:
                lines.append(f"{k} {tag}{h}\n")
                k += 1
        return self._run(lines).reshape(len(modes), len(hexs))


ALL_MODES = [(q, o) for q in QS for o in OS]


def test_aptypes_include_dir(monkeypatch):
    pytest.importorskip("hls4ml")
    d = aptypes.include_dir()
    assert d.is_absolute() and (d / "ap_fixed.h").is_file() and (d / "ap_int.h").is_file()
    monkeypatch.setattr(aptypes.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(aptypes.APTypesNotFound, match="hls4ml is not installed"):
        aptypes.include_dir()


@pytest.fixture(scope="session")
def apfixed(tmp_path_factory) -> APFixedOracle:
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not found: cannot build the ap_fixed reference")
    try:
        inc = aptypes.include_dir()
    except aptypes.APTypesNotFound as e:
        pytest.skip(str(e))
    d = tmp_path_factory.mktemp("apfixed")
    (d / "apfixed_ref.cpp").write_text(_cpp_source())
    t0 = time.perf_counter()
    cc = subprocess.run([gxx, "-std=c++14", "-O0", "-w", "-I", str(inc), "-o", str(d / "apfixed_ref"),
                         str(d / "apfixed_ref.cpp")], capture_output=True, text=True, timeout=300)
    if cc.returncode != 0:
        pytest.fail(f"g++ could not build the ap_fixed reference {d / 'apfixed_ref.cpp'}:\n{cc.stderr[-4000:]}")
    print(f"compiled the ap_fixed reference in {time.perf_counter() - t0:.1f} s")
    return APFixedOracle(d / "apfixed_ref")


def _fmts(pair) -> tuple[Fmt, Fmt]:
    (sw, si, ss), (dw, di, ds) = pair
    return Fmt(sw, si, ss, Q.TRN, O.WRAP), Fmt(dw, di, ds)


def _pair_id(pair) -> str:
    s, d = _fmts(pair)
    return f"{'s' if s.signed else 'u'}{s.width}.{s.int_bits}-{'s' if d.signed else 'u'}{d.width}.{d.int_bits}"


def _clip(v, f: Fmt) -> np.ndarray:
    return np.clip(np.asarray(v, dtype=np.int64), f.raw_min, f.raw_max)


def edge_raws(src: Fmt, dst: Fmt) -> np.ndarray:
    """Source words at the rounding and saturation edges of ``dst``: the source extremes, and source words
    within a few LSBs of half-LSB ties and of the destination extremes (and one past them)."""
    s = src.frac - dst.frac
    ks = {dst.raw_min - 2, dst.raw_min - 1, dst.raw_min, dst.raw_min + 1, -dst.raw_max, dst.raw_max - 1,
          dst.raw_max, dst.raw_max + 1, dst.raw_max + 2, -3, -2, -1, 0, 1, 2, 3}
    vals = {src.raw_min, src.raw_min + 1, src.raw_max - 1, src.raw_max, -1, 0, 1}
    top = 1 << 62
    for k in ks:
        if s > 0:
            if s > 62 or abs(k) > (top >> s):
                continue
            half = 1 << (s - 1)
            for off in (0, half, -half, 2 * half):
                for d in (-2, -1, 0, 1, 2):
                    vals.add((k << s) + off + d)
        else:
            lo, hi = (k - 1) >> -s, (k + 1) >> -s  # the source words whose shifted value is near k
            vals.update(range(lo - 2, hi + 3))
    return np.unique(_clip(sorted(v for v in vals if -top <= v <= top), src))


def random_raws(src: Fmt, dst: Fmt, n: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform source words, plus words clustered around ties and the destination's extremes."""
    s = src.frac - dst.frac
    uni = rng.integers(src.raw_min, src.raw_max, size=n, endpoint=True, dtype=np.int64)
    if 0 < s <= 60:
        k = rng.integers(dst.raw_min - 4, dst.raw_max + 4, size=n, endpoint=True)
        half = np.int64(1) << (s - 1)
        k = np.clip(k, src.raw_min >> s, src.raw_max >> s)
        near = (k << s) + half + rng.integers(-3, 3, size=n, endpoint=True)
        return np.concatenate([uni, _clip(near, src)])
    if s <= 0:
        k = rng.integers(dst.raw_min - 8, dst.raw_max + 8, size=n, endpoint=True) >> -s
        return np.concatenate([uni, _clip(k + rng.integers(-2, 2, size=n, endpoint=True), src)])
    return uni


def _assert_same(got: np.ndarray, ref: np.ndarray, raw: np.ndarray, src: Fmt, dst: Fmt, q: Q, o: O):
    bad = np.flatnonzero(got != ref)
    if bad.size:
        shown = ", ".join(f"raw {raw[i]} -> fixed.py {got[i]} / ap_fixed {ref[i]}" for i in bad[:6])
        pytest.fail(f"requant {src.ctype()} -> {dst.with_modes(q, o).ctype()} (frac_in={src.frac}): "
                    f"{bad.size}/{raw.size} differ: {shown}")


def _check_requant_batch(apfixed, pair, n_random: int):
    src, dst = _fmts(pair)
    rng = np.random.default_rng(zlib.crc32(_pair_id(pair).encode()))
    raw = np.concatenate([edge_raws(src, dst), random_raws(src, dst, n_random, rng)])
    ref = apfixed.requant_modes(raw, src, dst, ALL_MODES)
    for m, (q, o) in enumerate(ALL_MODES):
        _assert_same(requant(raw, src.frac, dst.with_modes(q, o)), ref[m], raw, src, dst, q, o)


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=_pair_id)
def test_requant_matches_apfixed_batch(apfixed, pair):
    """Every Q x O on the edge words and 2 x 800 random words of each pair (~22k words, ~600k casts in all)."""
    _check_requant_batch(apfixed, pair, 800)


def test_oracle_distinguishes_modes(apfixed):
    """Guard against a reference that ignores its template arguments."""
    src, dst = Fmt(8, 6, True), Fmt(4, 4, True)
    raw = np.array([-34, -2, 2, 6, 30, 31], dtype=np.int64)  # -8.5, -0.5, 0.5, 1.5, 7.5, 7.75
    ref = apfixed.requant_modes(raw, src, dst, ALL_MODES)
    assert len({tuple(r) for r in ref}) > 20
    assert apfixed.requant(raw, src, dst.with_modes(Q.RND_CONV, O.WRAP)).tolist() == [-8, 0, 0, 2, -8, -8]
    assert apfixed.requant(raw, src, dst.with_modes(Q.TRN, O.SAT_SYM)).tolist() == [-7, -1, 0, 1, 7, 7]


@st.composite
def requant_cases(draw):
    pair = draw(st.sampled_from(PAIRS))
    src, dst = _fmts(pair)
    q, o = draw(st.sampled_from(QS)), draw(st.sampled_from(OS))
    s = src.frac - dst.frac
    word = st.integers(src.raw_min, src.raw_max)
    # words just around a destination word k (ties when s > 0) for k near the ends and the middle
    k = st.one_of(st.integers(dst.raw_min - 3, dst.raw_max + 3),
                  st.sampled_from([dst.raw_min - 1, dst.raw_min, -dst.raw_max, dst.raw_max, dst.raw_max + 1]))
    if s > 0:
        near = st.builds(lambda k, d: (k << s) + (1 << (s - 1)) + d, k, st.integers(-2, 2))
    else:
        near = st.builds(lambda k, d: (k >> -s) + d, k, st.integers(-2, 2))
    raws = draw(st.lists(st.one_of(word, near), min_size=1, max_size=50))
    return src, dst.with_modes(q, o), np.array([min(max(r, src.raw_min), src.raw_max) for r in raws])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=requant_cases())
def test_requant_matches_apfixed_hypothesis(apfixed, case):
    src, dst, raw = case
    _assert_same(requant(raw, src.frac, dst), apfixed.requant(raw, src, dst), raw, src, dst, dst.q, dst.o)


# ---- construction from double -------------------------------------------------------------------


def edge_doubles(f: Fmt) -> np.ndarray:
    """Doubles at, and one ulp either side of, the ties and the extremes of ``f``."""
    lsb = 2.0**-f.frac
    ks = np.array([f.raw_min - 2, f.raw_min - 1, f.raw_min, f.raw_min + 1, -f.raw_max, f.raw_max - 1,
                   f.raw_max, f.raw_max + 1, -3, -2, -1, 0, 1, 2, 3], dtype=np.float64)
    base = np.concatenate([ks * lsb, (ks + 0.5) * lsb, (ks + 0.25) * lsb, [0.0, -0.0]])
    return np.unique(np.concatenate([base, np.nextafter(base, np.inf), np.nextafter(base, -np.inf)]))


def random_doubles(f: Fmt, n: int, rng: np.random.Generator) -> np.ndarray:
    lsb = 2.0**-f.frac
    span = min(2.0 ** (f.int_bits + 2), 2.0**59 * lsb)  # beyond the range, but |x / lsb| < 2**62
    uni = rng.uniform(-span, span, size=n)
    k = rng.integers(f.raw_min - 4, f.raw_max + 4, size=n, endpoint=True).astype(np.float64)
    ties = (k + 0.5) * lsb
    ulps = rng.integers(-2, 2, size=n, endpoint=True)
    near = ties + ulps * np.spacing(ties)
    return np.concatenate([uni, ties, near])


def _assert_same_double(got, ref, x, f: Fmt):
    differ = got != ref
    bad = np.flatnonzero(differ)
    if bad.size:
        shown = ", ".join(f"{x[i]!r} -> fixed.py {got[i]} / ap_fixed {ref[i]}" for i in bad[:6])
        pytest.fail(f"quantize to {f.ctype()}: {bad.size}/{x.size} differ: {shown}")


@pytest.mark.parametrize("fmt", DBL_FMTS, ids=lambda t: f"{'s' if t[2] else 'u'}{t[0]}.{t[1]}")
def test_quantize_matches_apfixed_batch(apfixed, fmt):
    f = Fmt(*fmt)
    rng = np.random.default_rng(fmt[0] * 1000 + fmt[1] + 500)
    x = np.concatenate([edge_doubles(f), random_doubles(f, 300, rng)])
    ref = apfixed.from_double_modes(x, f, ALL_MODES)
    for m, (q, o) in enumerate(ALL_MODES):
        g = f.with_modes(q, o)
        _assert_same_double(quantize(x, g), ref[m], x, g)


@st.composite
def double_cases(draw):
    f = Fmt(*draw(st.sampled_from(DBL_FMTS)))
    f = f.with_modes(draw(st.sampled_from(QS)), draw(st.sampled_from(OS)))
    lim = min(2.0 ** (f.int_bits + 3), 2.0**60 * f.lsb)
    plain = st.floats(-lim, lim, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    tie = st.builds(lambda k, u: float(np.nextafter((k + 0.5) * f.lsb, np.inf) if u > 0 else
                                       np.nextafter((k + 0.5) * f.lsb, -np.inf) if u < 0 else (k + 0.5) * f.lsb),
                    st.integers(f.raw_min - 3, f.raw_max + 3), st.integers(-1, 1))
    xs = draw(st.lists(st.one_of(plain, tie), min_size=1, max_size=40))
    return f, np.array(xs, dtype=np.float64)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=double_cases())
def test_quantize_matches_apfixed_hypothesis(apfixed, case):
    f, x = case
    ref = apfixed.from_double_modes(x, f, [(f.q, f.o)])[0]
    _assert_same_double(quantize(x, f), ref, x, f)


def _huge_doubles(f: Fmt) -> np.ndarray:
    """Doubles with |x / lsb| >= 2**62 (integers with plenty of non-zero low bits)."""
    e = np.arange(62, 75, dtype=np.float64)
    mags = 2.0**e * (1 + 2.0**-52 * np.array([1, 3, 12345, 2**40 + 7] * 4)[: e.size])
    x = np.concatenate([mags, -mags, 2.0**62 + 2.0**10 * np.arange(1, 9)]) * f.lsb
    return x


@pytest.mark.parametrize("o", [O.SAT, O.SAT_ZERO, O.SAT_SYM], ids=lambda o: o.name)
def test_quantize_huge_values_saturate_like_apfixed(apfixed, o):
    for t in [(16, 16, True), (8, 3, True), (12, 4, False), (62, 10, True)]:
        f = Fmt(*t, q=Q.RND, o=o)
        x = _huge_doubles(f)
        for q in QS:
            g = f.with_modes(q=q)
            _assert_same_double(quantize(x, g), apfixed.from_double_modes(x, g, [(q, o)])[0], x, g)


def test_quantize_huge_values_wrap_like_apfixed(apfixed):
    for t in [(16, 16, True), (8, 3, True), (12, 4, False), (62, 10, True)]:
        f = Fmt(*t, q=Q.TRN, o=O.WRAP)
        x = _huge_doubles(f)
        _assert_same_double(quantize(x, f), apfixed.from_double_modes(x, f, [(f.q, f.o)])[0], x, f)


def test_quantize_just_above_negative_tie_like_apfixed(apfixed):
    for t in DBL_FMTS:
        f = Fmt(*t)
        x = np.array([np.nextafter(-0.5 * f.lsb, 0.0)])
        ref = apfixed.from_double_modes(x, f, ALL_MODES)
        for m, (q, o) in enumerate(ALL_MODES):
            g = f.with_modes(q, o)
            _assert_same_double(quantize(x, g), ref[m], x, g)


def test_quantize_tiny_negative_like_apfixed(apfixed):
    f = Fmt(20, 24, q=Q.TRN)
    x = np.array([-5e-324, -1.5e-323])  # both underflow to -0.0 when scaled by 2**-4
    for o in OS:
        g = f.with_modes(o=o)
        _assert_same_double(quantize(x, g), apfixed.from_double_modes(x, g, [(Q.TRN, o)])[0], x, g)


# --------------------------------------------------------------------------------------------------
# matmul exactness
# --------------------------------------------------------------------------------------------------


def _rand_words(rng, shape, bits, signed=True):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64)


def _exact(a, b):
    return np.matmul(a.astype(object), b.astype(object))


@pytest.mark.parametrize("a_bits, b_bits", [(32, 16), (16, 32), (24, 24), (18, 18), (8, 8)])
@pytest.mark.parametrize("k", [1, 3, 64, 257, 1024])
def test_matmul_exact_random(a_bits, b_bits, k):
    rng = np.random.default_rng(a_bits * 10000 + b_bits * 100 + k)
    a, b = _rand_words(rng, (7, k), a_bits), _rand_words(rng, (k, 5), b_bits)
    got = matmul(a, b, a_bits, b_bits)
    assert got.dtype == np.int64
    assert got.tolist() == _exact(a, b).tolist()


@pytest.mark.parametrize("a_bits, b_bits", [(32, 16), (24, 24), (18, 18), (8, 8)])
@pytest.mark.parametrize("k", [1000, 1024])
def test_matmul_exact_extremes(a_bits, b_bits, k):
    """Largest-magnitude words, all of one sign: the float64 partial sums are at their largest."""
    amin, amax = -(1 << (a_bits - 1)), (1 << (a_bits - 1)) - 1
    bmin, bmax = -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1
    a = np.array([[amin] * k, [amax] * k, [amin, amax] * (k // 2), [-1] * k], dtype=np.int64)
    b = np.array([[bmin] * 3, [bmax] * 3] * (k // 2), dtype=np.int64)
    b[:, 1] = bmin
    b[:, 2] = bmax
    got = matmul(a, b, a_bits, b_bits)
    assert got.tolist() == _exact(a, b).tolist()
    # a random mix of the two extremes
    rng = np.random.default_rng(k + a_bits)
    a2 = np.where(rng.random((6, k)) < 0.5, amin, amax).astype(np.int64)
    b2 = np.where(rng.random((k, 4)) < 0.5, bmin, bmax).astype(np.int64)
    assert matmul(a2, b2, a_bits, b_bits).tolist() == _exact(a2, b2).tolist()


def test_matmul_batched_broadcast():
    rng = np.random.default_rng(7)
    a = _rand_words(rng, (3, 1, 4, 300), 24)
    b = _rand_words(rng, (2, 300, 5), 24)
    got = matmul(a, b, 24, 24)
    assert got.shape == (3, 2, 4, 5)
    ref = np.empty((3, 2, 4, 5), dtype=object)
    for i in range(3):
        for j in range(2):
            ref[i, j] = _exact(a[i, 0], b[j])
    assert got.tolist() == ref.tolist()


@st.composite
def matmul_cases(draw):
    """Signed or unsigned words of a_bits / b_bits bits, K as large as keeps the exact result in int64."""
    a_bits, b_bits = draw(st.integers(1, 32)), draw(st.integers(1, 32))
    a_signed = a_bits >= 2 and draw(st.booleans())   # a signed word needs 2 bits
    b_signed = b_bits >= 2 and draw(st.booleans())
    mag = (a_bits - a_signed) + (b_bits - b_signed)    # |a * b| <= 2**mag
    assume(mag <= 62 or (mag == 63 and not (a_signed and b_signed)))  # the product itself fits int64
    k = draw(st.integers(1, min(1024, max((1 << (63 - mag)) - 1, 1))))
    seed = draw(st.integers(0, 2**32 - 1))
    return a_bits, b_bits, a_signed, b_signed, k, seed


def _words(rng, shape, bits, signed):
    """Random words, 30 % of them at the extremes of the range."""
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    extremes = rng.choice(np.array([lo, hi], dtype=np.int64), size=shape)
    return np.where(rng.random(shape) < 0.3, extremes, _rand_words(rng, shape, bits, signed))


@settings(max_examples=80, deadline=None)
@given(case=matmul_cases())
def test_matmul_exact_hypothesis(case):
    a_bits, b_bits, a_signed, b_signed, k, seed = case
    rng = np.random.default_rng(seed)
    a, b = _words(rng, (3, k), a_bits, a_signed), _words(rng, (k, 2), b_bits, b_signed)
    assert matmul(a, b, a_bits, b_bits).tolist() == _exact(a, b).tolist()
