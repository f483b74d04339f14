// hwmoe HLS kernels: GELU unit, GELU(x) = ReLU(x) - d(|x|), d(t) = t * Phi(-t) from a table sampled every
// 1/32 with linear interpolation (hwmoe/kernels/gelu.py, docs/numerics.md section 5).
//
// Config C (generated in config.h):
//   typedef ... in_t, out_t;         input and output formats
//   static const int entries;        table intervals; beyond entries/32 GELU is exactly ReLU
//   static const int n_words;        words per call of gelu_stream
//   static ap_uint<16> lut(int i);   d(i/32) in U0.16, i = 0..entries
#ifndef HWMOE_GELU_H
#define HWMOE_GELU_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

// d(|x|) interpolated, in GELU_FRAC fractional bits: t = |x| with sub = frac(x) - GELU_STEP_BITS bits below the
// table step (negative: the step is finer than x's LSB); 0 beyond the table's reach.  TAB::gelu(i) is the
// table (entries + 1 words).
template <class TAB, int W> ap_int<GELU_WIDTH + 3> gelu_d(const ap_uint<W> &t, int sub, int entries) {
    HWMOE_HLS(INLINE)
    const int IW = W + 18;                                  // t << -sub, compared with entries < 2**16
    ap_uint<IW> index = sub >= W ? ap_uint<IW>(0)
                        : sub >= 0 ? ap_uint<IW>(t >> sub)
                        : -sub <= 17 ? ap_uint<IW>(ap_uint<IW>(t) << -sub)
                        : ap_uint<IW>(t == 0 ? 0 : 1 << 17);
    bool inside = index < ap_uint<IW>(entries);
    int i = inside ? index.to_int() : 0;
    ap_int<GELU_WIDTH + 3> d = TAB::gelu(i);
    if (sub > 0) {
        ap_uint<W> between = sub >= W ? t : ap_uint<W>(t - ((t >> sub) << sub));   // |x| & (2**sub - 1)
        ap_int<GELU_WIDTH + 2> diff = ap_int<GELU_WIDTH + 2>(TAB::gelu(i + 1)) - ap_int<GELU_WIDTH + 2>(TAB::gelu(i));
        ap_int<GELU_WIDTH + W + 3> prod = diff * between;
        d += shift_trn_var<GELU_WIDTH + 3>(prod, sub);     // floor, as shift_round(..., AP_TRN)
    }
    return inside ? d : ap_int<GELU_WIDTH + 3>(0);
}

// A config's table (C::lut) as a table policy.
template <class C> struct gelu_lut_of {
    static ap_uint<16> gelu(int i) { return C::lut(i); }
};

template <class C> typename C::out_t gelu(const typename C::in_t &x) {
    HWMOE_HLS(INLINE)
    const int XW = fx<typename C::in_t>::width;
    const int XF = fx<typename C::in_t>::frac;
    const int FR = cmax<XF, GELU_FRAC>::value;           // fractional bits of the difference
    const int DW = GELU_WIDTH + 3;                       // d plus a signed interpolation term
    const int YW = cmax<XW + FR - XF, DW + FR - GELU_FRAC>::value + 1;

    ap_int<XW + 1> xr = raw(x);
    ap_uint<XW> t = xr < 0 ? ap_int<XW + 1>(-xr) : xr;      // |x|
    ap_int<DW> d = gelu_d<gelu_lut_of<C> >(t, XF - GELU_STEP_BITS, C::entries);
    ap_int<XW + 1> relu = xr < 0 ? ap_int<XW + 1>(0) : xr;
    ap_int<YW> y = shift_rnd<XF - FR>(relu);
    y -= shift_rnd<GELU_FRAC - FR>(d);
    return requant<typename C::out_t, FR>(y);
}

// gelu_rt<TAB, WO>(x, frac, out_frac, out_width, entries): GELU with the formats known at run time (the
// accelerator's engines), the output signed AP_RND/AP_SAT at out_width bits; frac within -16 .. W + 16.
template <class TAB, int WO, int W>
ap_int<WO> gelu_rt(const ap_int<W> &x, int frac, int out_frac, int out_width, int entries) {
    HWMOE_HLS(INLINE)
    const int LSH = 2 * GELU_FRAC;                          // reach of the alignment of ReLU(x) and of d
    ap_uint<W> t = x < 0 ? ap_uint<W>(-ap_int<W + 1>(x)) : ap_uint<W>(x);
    ap_int<GELU_WIDTH + 3> d = gelu_d<TAB>(t, frac - GELU_STEP_BITS, entries);
    int fr = frac > GELU_FRAC ? frac : GELU_FRAC;
    ap_int<W + 1> relu = x < 0 ? ap_int<W + 1>(0) : ap_int<W + 1>(x);
    ap_int<W + LSH + 2> y = shift_rnd_var<W + LSH + 2>(relu, frac - fr);
    y -= shift_rnd_var<W + LSH + 2>(d, GELU_FRAC - fr);
    return requant_rt<WO>(y, fr - out_frac, out_width);
}

// The GELU unit on a stream of C::n_words words.
template <class C> void gelu_stream(hls::stream<typename C::in_t> &x, hls::stream<typename C::out_t> &y) {
    for (int i = 0; i < C::n_words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        y.write(gelu<C>(x.read()));
    }
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
