// hwmoe HLS kernels: the exp2 and reciprocal units shared by the attention softmax and the MoE router
// (hwmoe/kernels/softmax.py, docs/numerics.md section 4).  Softmax runs in the log2 domain: exp becomes
// 2**-d for d >= 0, an integer shift and a 256-entry table on the fraction.  The tables are generated
// from hwmoe/numerics/tables.py into hwmoe_tables.h.
#ifndef HWMOE_SOFTMAX_H
#define HWMOE_SOFTMAX_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

// exp2_neg(d, FRAC): 2**-d in U1.15 for raw d >= 0 with FRAC fractional bits:
// EXP2[top 8 fraction bits] >> floor(d).
template <int FRAC, int W> u1_15_raw_t exp2_neg(const ap_int<W> &d) {
    HWMOE_HLS(INLINE)
    const int R = FRAC >= EXP_INDEX_BITS ? FRAC - EXP_INDEX_BITS : 0;   // fraction bits below the index
    const int L = FRAC < EXP_INDEX_BITS ? EXP_INDEX_BITS - FRAC : 0;    // index bits below the fraction
    ap_uint<W + L> t = d;
    ap_uint<W + L> whole = t >> FRAC;
    t <<= L;
    ap_uint<EXP_INDEX_BITS> index = (t >> R) & ((1 << EXP_INDEX_BITS) - 1);
    u1_15_raw_t e = EXP2_LUT[index];
    if (whole >= 16) return 0;                      // the table holds 16-bit values: >> 16.. is 0
    return e >> whole.to_uint();
}

// reciprocal(x): for raw x > 0, r (U1.15) and p with 1/x ~= r * 2**-(15 + p): p = msb(x), r the
// reciprocal of the mantissa x / 2**p in [1, 2), looked up by its 8 bits below the leading one.
template <int W> void reciprocal(const ap_uint<W> &x, u1_15_raw_t &r, int &p) {
    HWMOE_HLS(INLINE)
    p = msb(x);
    ap_uint<W + RECIP_INDEX_BITS> t = x;
    ap_uint<W + RECIP_INDEX_BITS> m = p >= RECIP_INDEX_BITS ? ap_uint<W + RECIP_INDEX_BITS>(t >> (p - RECIP_INDEX_BITS))
                                                            : ap_uint<W + RECIP_INDEX_BITS>(t << (RECIP_INDEX_BITS - p));
    ap_uint<RECIP_INDEX_BITS> index = m & ((1 << RECIP_INDEX_BITS) - 1);
    r = RECIP_LUT[index];
}

// normalise(values, total, VF, TF, OT): values / total, rounded half up (AP_RND) to OT's fractional
// bits, then OT's overflow mode.  values * r has VF + 15 + p - TF fractional bits.
template <class OT, int VF, int TF, int WV, int WT> OT normalise(const ap_int<WV> &value, const ap_uint<WT> &total) {
    HWMOE_HLS(INLINE)
    const int OF = fx<OT>::frac;
    const int LEFT = cmax<0, OF + TF - VF - Q15>::value;   // largest left shift (p = 0)
    const int WP = WV + 17;
    const int WS = WP + LEFT;
    u1_15_raw_t r;
    int p;
    reciprocal(total, r, p);
    ap_int<WP> prod = value * r;
    ap_int<WS> s = shift_rnd_var<WS>(prod, VF + Q15 + p - TF - OF);
    return requant<OT, OF>(s);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
