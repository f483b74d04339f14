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

template <class C> typename C::out_t gelu(const typename C::in_t &x) {
    HWMOE_HLS(INLINE)
    const int XW = fx<typename C::in_t>::width;
    const int XF = fx<typename C::in_t>::frac;
    const int SUB = XF - GELU_STEP_BITS;                 // bits of |x| below the table step
    const int R = SUB > 0 ? SUB : 0;
    const int L = SUB < 0 ? -SUB : 0;
    const int FR = cmax<XF, GELU_FRAC>::value;           // fractional bits of the difference
    const int DW = GELU_WIDTH + 3;                       // d plus a signed interpolation term
    const int YW = cmax<XW + FR - XF, DW + FR - GELU_FRAC>::value + 1;

    ap_int<XW + 1> xr = raw(x);
    ap_uint<XW + L> t = xr < 0 ? ap_int<XW + 1>(-xr) : xr;      // |x|
    ap_uint<XW + L> index = (t << L) >> R;
    bool inside = index < C::entries;
    int i = inside ? index.to_int() : 0;
    ap_int<DW> d = C::lut(i);
    if (SUB > 0) {
        ap_uint<XW + L> between = t - ((t >> R) << R);            // |x| & (2**SUB - 1)
        ap_int<GELU_WIDTH + 2> diff = ap_int<GELU_WIDTH + 2>(C::lut(i + 1)) - ap_int<GELU_WIDTH + 2>(C::lut(i));
        ap_int<GELU_WIDTH + XW + L + 3> prod = diff * between;
        d += ap_int<DW>(prod >> R);                               // floor, as shift_round(..., AP_TRN)
    }
    if (!inside) d = 0;
    ap_int<XW + 1> relu = xr < 0 ? ap_int<XW + 1>(0) : xr;
    ap_int<YW> y = shift_rnd<XF - FR>(relu);
    y -= shift_rnd<GELU_FRAC - FR>(d);
    return requant<typename C::out_t, FR>(y);
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
