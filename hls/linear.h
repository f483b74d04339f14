// hwmoe HLS kernels: the reusable linear kernel y = x W^T + b (hwmoe/kernels/linear.py), with exact integer
// accumulation and one rounding at the output, optionally followed by the GELU unit (fused GELU).
//
// Dataflow: a T_OUT x T_IN weight tile is fetched once from off-chip memory (m_axi) and applied to every
// token, N_PE tokens per cycle (N_PE x T_OUT x T_IN products; with 8-bit words two per multiplication,
// mul_column); the accumulators of all tokens for the current output tile stay on chip.  Every weight word
// is read exactly once per call.
//
// Config C (generated in config.h):
//   typedef ... in_t, weight_t, bias_t, out_t;   bias_t is unused without bias
//   typedef ... hidden_t;          with fused_gelu: the linear output (GELU input); out_t is the GELU output
//   typedef ... gelu_config;       with fused_gelu: a gelu.h config with in_t = hidden_t, out_t = out_t
//   static const int n_tokens;     the largest token count (buffers); a call may process fewer
//   static const int n_in, n_out, t_in, t_out, n_pe;
//   static const bool has_bias, fused_gelu;
// Weights are W[n_out][n_in] row-major, as in torch.nn.Linear.
#ifndef HWMOE_LINEAR_H
#define HWMOE_LINEAR_H

#include "hwmoe_common.h"
#include "gelu.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

// The accumulator: x.frac + w.frac fractional bits, wide enough for n_in products plus the bias.
template <class C> struct linear_acc {
    static const int frac = fx<typename C::in_t>::frac + fx<typename C::weight_t>::frac;
    static const int bias_shift = frac - fx<typename C::bias_t>::frac;   // align(b): left if >= 0
    static const int bias_width = fx<typename C::bias_t>::width + (bias_shift > 0 ? bias_shift : 0);
    static const int width = cmax<fx<typename C::in_t>::width + fx<typename C::weight_t>::width +
                                      clog2<C::n_in>::value, bias_width>::value + 2;
    typedef ap_int<width> acc_t;
};

// Two products sharing the operand a from one multiplication, as rtl/hwmoe_mul_outer.v (docs/numerics.md
// section 3): b_lo + b_hi * 2^S packed, S = A + B bits apart (a 25-bit operand at 8 bits), multiplied by a and
// split exactly: the low field sign-extended is a * b_lo; the rest, over 2^S, is a * b_hi.  Vitis HLS maps
// the one multiplication to one DSP; it does not pack two multiplications by itself.
template <int A, int B> struct mul_pair {
    static const int S = A + B;
    static void apply(const ap_int<A> &a, const ap_int<B> &b_lo, const ap_int<B> &b_hi, ap_int<S> &p_lo,
                      ap_int<S> &p_hi) {
        const ap_int<B + S + 1> q = (ap_int<B + S + 1>(b_hi) << S) + b_lo;
        const ap_int<2 * S> m = a * q;      // the low 2S bits of the product: all the split reads
        p_lo = m;                           // wraps to the low field, sign-extended
        p_hi = (m - p_lo) >> S;             // the high field plus the borrow of the low field's sign
    }
};

// The products a * b[o] (o < N) of one activation by one column of a weight tile: in pairs sharing one
// multiplication when both words have 8 bits or fewer (the RTL's rule), one multiplication each otherwise.
template <int A, int B, int N> void mul_column(const ap_int<A> &a, const ap_int<B> b[N], ap_int<A + B> p[N]) {
    const bool pack = A <= 8 && B <= 8;
    int o = 0;
PAIRS:
    for (; pack && o + 1 < N; o += 2) {
        HWMOE_HLS(UNROLL)
        mul_pair<A, B>::apply(a, b[o], b[o + 1], p[o], p[o + 1]);
    }
SINGLE:
    for (; o < N; o++) {
        HWMOE_HLS(UNROLL)
        p[o] = a * b[o];
    }
}

// Output stage: requant (AP_RND/AP_SAT or whatever out_t says), or requant to hidden_t then GELU.
template <class C, bool GELU = C::fused_gelu> struct linear_finish;
template <class C> struct linear_finish<C, false> {
    static typename C::out_t apply(const typename linear_acc<C>::acc_t &acc) {
        return requant<typename C::out_t, linear_acc<C>::frac>(acc);
    }
};
template <class C> struct linear_finish<C, true> {
    static typename C::out_t apply(const typename linear_acc<C>::acc_t &acc) {
        typename C::hidden_t h = requant<typename C::hidden_t, linear_acc<C>::frac>(acc);
        return gelu<typename C::gelu_config>(h);
    }
};

// y[0..n) = x[0..n) W^T + b, for n <= C::n_tokens tokens held on chip.
template <class C>
void linear_rows(const typename C::in_t x[C::n_tokens][C::n_in], int n, const typename C::weight_t *w,
                 const typename C::bias_t *b, typename C::out_t y[C::n_tokens][C::n_out]) {
    typedef typename linear_acc<C>::acc_t acc_t;
    const int T_IN = C::t_in, T_OUT = C::t_out, N_PE = C::n_pe;
    const int OUT_TILES = cdiv<C::n_out, C::t_out>::value;
    const int IN_TILES = cdiv<C::n_in, C::t_in>::value;
    const int MAX_GROUPS = cdiv<C::n_tokens, C::n_pe>::value;
    HWMOE_HLS(ARRAY_PARTITION variable=x cyclic factor=N_PE dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=x cyclic factor=T_IN dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=y cyclic factor=N_PE dim=1)

    acc_t acc[C::n_tokens][C::t_out];
    HWMOE_HLS(ARRAY_PARTITION variable=acc cyclic factor=N_PE dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=acc complete dim=2)
    typedef typename fx<typename C::in_t>::raw_t x_raw_t;
    typedef typename fx<typename C::weight_t>::raw_t w_raw_t;
    const int XW = fx<typename C::in_t>::width, WW = fx<typename C::weight_t>::width;
    w_raw_t wt[C::t_in][C::t_out];                  // the tile by input column: the weights one x word meets
    HWMOE_HLS(ARRAY_PARTITION variable=wt complete dim=0)
    acc_t bias[C::t_out];
    HWMOE_HLS(ARRAY_PARTITION variable=bias complete dim=1)
    const int groups = (n + N_PE - 1) / N_PE;

OUT_TILE:
    for (int ot = 0; ot < OUT_TILES; ot++) {
    LOAD_BIAS:
        for (int o = 0; o < T_OUT; o++) {
            HWMOE_HLS(PIPELINE II=1)
            int oo = ot * T_OUT + o;
            bias[o] = (C::has_bias && oo < C::n_out) ? acc_t(shift_rnd<-linear_acc<C>::bias_shift>(raw(b[oo])))
                                                     : acc_t(0);
        }
    IN_TILE:
        for (int it = 0; it < IN_TILES; it++) {
        LOAD_WEIGHTS:
            for (int o = 0; o < T_OUT; o++)
                for (int i = 0; i < T_IN; i++) {
                    HWMOE_HLS(PIPELINE II=1)
                    int oo = ot * T_OUT + o, ii = it * T_IN + i;
                    wt[i][o] = (oo < C::n_out && ii < C::n_in) ? raw(w[oo * C::n_in + ii]) : w_raw_t(0);
                }
        TOKENS:
            for (int g = 0; g < MAX_GROUPS; g++) {
                HWMOE_HLS(PIPELINE II=1)
                if (g >= groups) break;
            LANES:
                for (int p = 0; p < N_PE; p++) {
                    HWMOE_HLS(UNROLL)
                    int tok = g * N_PE + p;
                    if (tok >= n) continue;
                    acc_t s[C::t_out];
                    HWMOE_HLS(ARRAY_PARTITION variable=s complete dim=1)
                OUTS:
                    for (int o = 0; o < T_OUT; o++) {
                        HWMOE_HLS(UNROLL)
                        s[o] = it == 0 ? bias[o] : acc[tok][o];
                    }
                MACS:
                    for (int i = 0; i < T_IN; i++) {
                        HWMOE_HLS(UNROLL)
                        int ii = it * T_IN + i;
                        if (ii >= C::n_in) continue;
                        ap_int<XW + WW> prod[C::t_out];
                        HWMOE_HLS(ARRAY_PARTITION variable=prod complete dim=1)
                        mul_column<XW, WW, C::t_out>(x_raw_t(raw(x[tok][ii])), wt[i], prod);
                        for (int o = 0; o < T_OUT; o++) {
                            HWMOE_HLS(UNROLL)
                            s[o] += prod[o];
                        }
                    }
                ACCS:
                    for (int o = 0; o < T_OUT; o++) {
                        HWMOE_HLS(UNROLL)
                        acc[tok][o] = s[o];
                    }
                }
            }
        }
    STORE:
        for (int tok = 0; tok < C::n_tokens; tok++) {
            if (tok >= n) break;
            for (int o = 0; o < T_OUT; o++) {
                HWMOE_HLS(PIPELINE II=1)
                int oo = ot * T_OUT + o;
                if (oo < C::n_out) y[tok][oo] = linear_finish<C>::apply(acc[tok][o]);
            }
        }
    }
}

// The linear kernel between streams of C::n_tokens rows (row-major words): read, compute, write.
template <class C>
void linear_stream(hls::stream<typename C::in_t> &x, const typename C::weight_t *w,
                   const typename C::bias_t *b, hls::stream<typename C::out_t> &y) {
    HWMOE_HLS(DATAFLOW)
    typename C::in_t xb[C::n_tokens][C::n_in];
    typename C::out_t yb[C::n_tokens][C::n_out];
    HWMOE_HLS(ARRAY_PARTITION variable=xb cyclic factor=C::n_pe dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=xb cyclic factor=C::t_in dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=yb cyclic factor=C::n_pe dim=1)
    stream_to_rows<typename C::in_t, C::n_tokens, C::n_in>(x, xb);
    linear_rows<C>(xb, C::n_tokens, w, b, yb);
    rows_to_stream<typename C::out_t, C::n_tokens, C::n_out>(yb, y);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
