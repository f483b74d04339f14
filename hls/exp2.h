// hwmoe HLS kernels: the exp2 unit of the log2-domain softmax (attention and MoE router), 2**-d as an integer
// shift and a 256-entry table on the fraction (hwmoe/numerics/softmax.py, docs/numerics.md section 4; RTL
// rtl/hwmoe_exp2_lane.v).  The table is generated from hwmoe/numerics/tables.py into hwmoe_tables.h.
#ifndef HWMOE_EXP2_H
#define HWMOE_EXP2_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

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

// exp2_stream<C>: C::n_words words d (C::in_t, unsigned values with C::frac fractional bits) -> 2**-d.
template <class C> void exp2_stream(hls::stream<typename C::in_t> &x, hls::stream<u1_15_raw_t> &y) {
    for (int i = 0; i < C::n_words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        y.write(exp2_neg<C::frac, C::in_width>(x.read()));
    }
}

}  // namespace hwmoe

#endif
