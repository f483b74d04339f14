// hwmoe HLS kernels: LayerNorm unit, one pass over E[x] and E[x^2], 1/sqrt from a table
// (hwmoe/kernels/layernorm.py, docs/numerics.md section 6).
//
// Config C (generated in config.h):
//   typedef ... in_t, param_t, out_t;  input, gamma/beta (one shared format) and output formats
//   typedef ... stat_t;                x cut to the statistics width (same integer bits, AP_TRN, AP_SAT)
//   typedef ... norm_t;                (x - mean) / std, AP_RND, AP_SAT
//   static const int dim, n_tokens;
//   static const long long recip_dim;  round(2**24 / dim)
//   static const long long eps_raw;    round(eps * 2**(2 * frac(stat_t)))
#ifndef HWMOE_LAYERNORM_H
#define HWMOE_LAYERNORM_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

template <class C>
void layernorm_row(const typename C::in_t x[C::dim], const typename C::param_t gamma[C::dim],
                   const typename C::param_t beta[C::dim], typename C::out_t y[C::dim]) {
    typedef typename C::in_t in_t;
    typedef typename C::stat_t stat_t;
    typedef typename C::norm_t norm_t;
    typedef typename C::param_t param_t;
    const int XW = fx<in_t>::width, XF = fx<in_t>::frac;
    const int SW = fx<stat_t>::width, FS = fx<stat_t>::frac;
    const int NW = fx<norm_t>::width, NF = fx<norm_t>::frac;
    const int PW = fx<param_t>::width, PF = fx<param_t>::frac;
    const int DB = clog2<C::dim + 1>::value;
    const int RB = RECIP_DIM_BITS + 2;                    // round(2**24 / dim) as a signed word
    const int VW = 2 * SW + 4;                           // variance + eps
    const int FC = cmax<XF, FS>::value;                  // fractional bits of x - mean
    const int CW = cmax<XW + FC - XF, SW + 1 + FC - FS>::value + 1;
    const int LEFT = cmax<0, NF + FS + 1 - FC - Q15>::value;   // largest left shift of (x - mean) / std
    const int YF = NF + PF;
    const int YW = cmax<NW + PW, PW + (YF - PF > 0 ? YF - PF : 0)>::value + 1;

    // statistics: sum of x and of x^2 over the row, at the statistics width
    ap_int<SW + DB> sum = 0;
    ap_int<2 * SW + DB> sum2 = 0;
STATS:
    for (int d = 0; d < C::dim; d++) {
        HWMOE_HLS(PIPELINE II=1)
        stat_t s = x[d];
        ap_int<SW> xs = raw(s);
        sum += xs;
        sum2 += xs * xs;
    }
    ap_int<RB> recip = C::recip_dim;
    ap_int<SW + DB + RB> mean_full = shift_rnd<RECIP_DIM_BITS>(ap_int<SW + DB + RB>(sum * recip));
    ap_int<2 * SW + DB + RB> ex2_full = shift_rnd<RECIP_DIM_BITS>(ap_int<2 * SW + DB + RB>(sum2 * recip));
    ap_int<SW + 1> mean = mean_full;                      // frac FS
    ap_int<2 * SW + 2> ex2 = ex2_full;                    // frac 2 FS
    ap_int<VW> var = ex2 - mean * mean;
    if (var < 0) var = 0;
    ap_int<VW> v = var + ap_int<VW>(C::eps_raw);
    if (v < 1) v = 1;

    // 1/sqrt(v) = RSQRT[parity][mantissa index] * 2**-(half_exp)
    int top = msb(v);
    int exponent = top - 2 * FS;
    int parity = exponent & 1;
    int half_exp = (exponent - parity) / 2;
    ap_int<VW + RSQRT_INDEX_BITS> m = shift_trn_var<VW + RSQRT_INDEX_BITS>(v, top - RSQRT_INDEX_BITS);
    int index = (m & ((1 << RSQRT_INDEX_BITS) - 1)).to_int();
    ap_uint<16> r = RSQRT_LUT[parity * (1 << RSQRT_INDEX_BITS) + index];
    int shift = FC + Q15 + half_exp - NF;

NORM:
    for (int d = 0; d < C::dim; d++) {
        HWMOE_HLS(PIPELINE II=1)
        ap_int<CW> centred = shift_rnd<XF - FC>(raw(x[d]));
        centred -= shift_rnd<FS - FC>(mean);
        ap_int<CW + 17> prod = centred * r;
        ap_int<CW + 17 + LEFT> scaled = shift_rnd_var<CW + 17 + LEFT>(prod, shift);
        norm_t n = requant<norm_t, NF>(scaled);           // saturates to the norm format
        ap_int<YW> acc = raw(n) * raw(gamma[d]);
        acc += shift_rnd<PF - YF>(raw(beta[d]));
        y[d] = requant<typename C::out_t, YF>(acc);
    }
}

// LayerNorm on a stream of C::n_tokens rows of C::dim words; gamma and beta are read once.
template <class C>
void layernorm_stream(hls::stream<typename C::in_t> &x, const typename C::param_t *gamma,
                      const typename C::param_t *beta, hls::stream<typename C::out_t> &y) {
    typename C::param_t g[C::dim], b[C::dim];
    typename C::in_t row[C::dim];
    typename C::out_t out[C::dim];
LOAD_PARAMS:
    for (int d = 0; d < C::dim; d++) {
        HWMOE_HLS(PIPELINE II=1)
        g[d] = gamma[d];
        b[d] = beta[d];
    }
TOKENS:
    for (int t = 0; t < C::n_tokens; t++) {
    READ:
        for (int d = 0; d < C::dim; d++) {
            HWMOE_HLS(PIPELINE II=1)
            row[d] = x.read();
        }
        layernorm_row<C>(row, g, b, out);
    WRITE:
        for (int d = 0; d < C::dim; d++) {
            HWMOE_HLS(PIPELINE II=1)
            y.write(out[d]);
        }
    }
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
