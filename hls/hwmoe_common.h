// hwmoe HLS kernels: common types and the integer operations of hwmoe/fixed.py.
//
// Every kernel computes on the raw words of its ap_fixed operands with ap_int of exact width (products
// and sums of ap_int widen exactly), and rounds only where the NumPy reference rounds:
//   * requant<OUT, F>(raw)   == fixed.requant(raw, F, OUT): an ap_fixed cast with OUT's own AP_Q/AP_O modes;
//   * shift_rnd<S>(x)        == fixed.shift_round(x, S, Q.RND)  (round half up; S <= 0 shifts left);
//   * x >> S on ap_int       == fixed.shift_round(x, S, Q.TRN)  (floor);
//   * shift_rnd_var / shift_trn_var == fixed.shift_round_var with a run-time shift;
//   * requant_rt<WO>(x, s, width)  == fixed.requant to a signed AP_RND/AP_SAT format known at run time;
//   * msb(x)                 == fixed.msb(x).
// HLS pragmas are written HWMOE_HLS(...): they expand to _Pragma("HLS ...") under Vitis HLS synthesis
// (__SYNTHESIS__) and to nothing in a host compiler, which would only warn about an unknown pragma.
#ifndef HWMOE_COMMON_H
#define HWMOE_COMMON_H

#include <ap_fixed.h>
#include <ap_int.h>
#include <hls_stream.h>

#ifdef __SYNTHESIS__
#define HWMOE_DO_PRAGMA(x) _Pragma(#x)
#define HWMOE_HLS(x) HWMOE_DO_PRAGMA(HLS x)
#else
#define HWMOE_HLS(x)
#endif

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

typedef ap_uint<16> u1_15_raw_t;      // raw U1.15: exp2 results, reciprocals, gate weights

// ---------------------------------------------------------------- compile-time helpers
template <int A, int B> struct cmax { static const int value = A > B ? A : B; };
template <int A, int B> struct cmin { static const int value = A < B ? A : B; };
// ceil(log2(N)), 0 for N <= 1
template <int N> struct clog2 { static const int value = 1 + clog2<(N + 1) / 2>::value; };
template <> struct clog2<1> { static const int value = 0; };
template <> struct clog2<0> { static const int value = 0; };
// ceil(A / B)
template <int A, int B> struct cdiv { static const int value = (A + B - 1) / B; };

// ---------------------------------------------------------------- raw words of the ap_ types
// fx<T>: width, fractional bits and signedness of a fixed-point or integer type, and its raw word type.
template <class T> struct fx;
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fx<ap_fixed<W, I, Q, O, N> > {
    static const int width = W;
    static const int frac = W - I;
    static const bool is_signed = true;
    typedef ap_int<W> raw_t;
};
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N> struct fx<ap_ufixed<W, I, Q, O, N> > {
    static const int width = W;
    static const int frac = W - I;
    static const bool is_signed = false;
    typedef ap_uint<W> raw_t;
};
template <int W> struct fx<ap_int<W> > {
    static const int width = W;
    static const int frac = 0;
    static const bool is_signed = true;
    typedef ap_int<W> raw_t;
};
template <int W> struct fx<ap_uint<W> > {
    static const int width = W;
    static const int frac = 0;
    static const bool is_signed = false;
    typedef ap_uint<W> raw_t;
};

// The raw word (value * 2**frac) of a fixed-point value, as ap_int<W> or ap_uint<W>.
template <class T> inline typename fx<T>::raw_t raw(const T &v) {
    typename fx<T>::raw_t r = v.range(fx<T>::width - 1, 0);
    return r;
}
template <int W> inline ap_int<W> raw(const ap_int<W> &v) { return v; }
template <int W> inline ap_uint<W> raw(const ap_uint<W> &v) { return v; }

// The fixed-point value whose raw word is the low bits of x (used by testbenches and param loads).
template <class T, class R> inline T from_raw(const R &x) {
    typename fx<T>::raw_t r = x;
    T v;
    v.range(fx<T>::width - 1, 0) = r;
    return v;
}

// fixed.requant(x, F, OT): raw integer x with F fractional bits, cast to OT (OT's rounding, then OT's
// overflow).  With F == fx<OT>::frac only OT's overflow mode applies.
template <class OT, int F, int W> inline OT requant(const ap_int<W> &x) {
    ap_fixed<W, W - F, AP_TRN, AP_WRAP> t;
    t.range(W - 1, 0) = x;
    OT y = t;
    return y;
}
template <class OT, int F, int W> inline OT requant(const ap_uint<W> &x) {
    return requant<OT, F>(ap_int<W + 1>(x));
}

// ---------------------------------------------------------------- shifts with the reference's rounding
// fixed.shift_round(x, S, Q.RND) for a constant S: floor((x + 2**(S-1)) / 2**S) if S > 0, x * 2**-S else.
template <int S, bool RIGHT = (S > 0)> struct shifter;
template <int S> struct shifter<S, true> {
    template <int W> static ap_int<W> rnd(const ap_int<W> &x) {
        ap_int<W + 1> t = x;
        t += ap_int<W + 1>(1) << (S - 1 < W ? S - 1 : W - 1);
        if (S - 1 >= W) return ap_int<W>(0);        // |x| < 2**(S-2): rounds to 0
        ap_int<W + 1> q = t >> S;
        return ap_int<W>(q);
    }
    template <int W> static ap_int<W> trn(const ap_int<W> &x) { return x >> S; }
};
template <int S> struct shifter<S, false> {
    template <int W> static ap_int<W - S> rnd(const ap_int<W> &x) {
        ap_int<W - S> t = x;
        return t << (-S);
    }
    template <int W> static ap_int<W - S> trn(const ap_int<W> &x) { return rnd<W>(x); }
};
template <int S, int W> inline ap_int<(S > 0 ? W : W - S)> shift_rnd(const ap_int<W> &x) {
    return shifter<S>::template rnd<W>(x);
}
template <int S, int W> inline ap_int<(S > 0 ? W : W - S)> shift_trn(const ap_int<W> &x) {
    return shifter<S>::template trn<W>(x);
}

// fixed.shift_round_var(x, s, Q.RND) with a run-time s: s > 0 rounds half up, s <= 0 shifts left.
// WO must hold the result (W plus the largest left shift).
template <int WO, int W> inline ap_int<WO> shift_rnd_var(const ap_int<W> &x, int s) {
    if (s <= 0) {
        ap_int<WO> t = x;
        return t << (-s);
    }
    if (s > W) return ap_int<WO>(0);                // |x| < 2**(s-2): rounds to 0
    ap_int<W + 2> t = x;
    t += ap_int<W + 2>(1) << (s - 1);
    t >>= s;
    return ap_int<WO>(t);
}
// fixed.shift_round_var(x, s, Q.TRN): floor for s > 0, left shift for s <= 0.
template <int WO, int W> inline ap_int<WO> shift_trn_var(const ap_int<W> &x, int s) {
    if (s <= 0) {
        ap_int<WO> t = x;
        return t << (-s);
    }
    if (s >= W) return ap_int<WO>(x < 0 ? -1 : 0);
    ap_int<W> t = x >> s;
    return ap_int<WO>(t);
}

// fixed.requant(x, frac_in, Fmt.from_frac(width, frac_out)) with the shift s = frac_in - frac_out and the
// width known only at run time (the accelerator's engines): AP_RND (half up), then AP_SAT at 2 <= width <= WO
// bits; the result is the width-bit word sign-extended to WO bits.
template <int WO, int W> inline ap_int<WO> requant_rt(const ap_int<W> &x, int s, int width) {
    const int TW = W + WO + 1;                      // x after a left shift of up to WO bits
    if (s < -WO) s = -WO;                           // further left saturates every non-zero x anyway
    ap_int<TW> y = shift_rnd_var<TW>(x, s);
    ap_int<TW> hi = (ap_int<TW>(1) << (width - 1)) - 1;
    ap_int<TW> lo = -hi - 1;
    return ap_int<WO>(y > hi ? hi : y < lo ? lo : y);
}

// fixed.msb: index of the most significant set bit of a positive integer (a priority encoder).
template <int W, bool S> inline int msb(const ap_int_base<W, S> &x) {
    int p = 0;
    for (int i = 0; i < W; i++) {
        HWMOE_HLS(UNROLL)
        if (x[i]) p = i;
    }
    return p;
}

// ---------------------------------------------------------------- stream helpers
template <class T, int N> void stream_copy2(hls::stream<T> &in, hls::stream<T> &a, hls::stream<T> &b) {
    for (int i = 0; i < N; i++) {
        HWMOE_HLS(PIPELINE II=1)
        T v = in.read();
        a.write(v);
        b.write(v);
    }
}
template <class T, int N>
void stream_copy3(hls::stream<T> &in, hls::stream<T> &a, hls::stream<T> &b, hls::stream<T> &c) {
    for (int i = 0; i < N; i++) {
        HWMOE_HLS(PIPELINE II=1)
        T v = in.read();
        a.write(v);
        b.write(v);
        c.write(v);
    }
}
// A row-major [ROWS][COLS] stream into a buffer and back.
template <class T, int ROWS, int COLS> void stream_to_rows(hls::stream<T> &in, T buf[ROWS][COLS]) {
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            HWMOE_HLS(PIPELINE II=1)
            buf[r][c] = in.read();
        }
}
template <class T, int ROWS, int COLS> void rows_to_stream(T buf[ROWS][COLS], hls::stream<T> &out) {
    for (int r = 0; r < ROWS; r++)
        for (int c = 0; c < COLS; c++) {
            HWMOE_HLS(PIPELINE II=1)
            out.write(buf[r][c]);
        }
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
