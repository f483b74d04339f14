// hwmoe HLS kernels: the exp2 unit of the log2-domain softmax (attention and MoE router), 2**-d as an integer
// shift and a 2**EXP_INDEX_BITS-entry table on the fraction (hwmoe/numerics/softmax.py, docs/numerics.md section 4; RTL
// rtl/hwmoe_exp2_lane.v).  The table is generated from hwmoe/numerics/tables.py into hwmoe_tables.h.
#ifndef HWMOE_EXP2_H
#define HWMOE_EXP2_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

namespace hwmoe {

// The table policy of the shared EXP2 table (hwmoe_tables.h); the accelerator's engines pass their own build's.
struct shared_exp2_table {
    static u1_15_raw_t exp2(int i) { return EXP2_LUT[i]; }
};

// exp2_neg_rt<TAB>(d, frac): 2**-d in U1.15 for raw d >= 0 with frac >= 0 fractional bits known at run time:
// TAB::exp2(top EXP_INDEX_BITS fraction bits) >> floor(d).
template <class TAB, int W> u1_15_raw_t exp2_neg_rt(const ap_int<W> &d, int frac) {
    HWMOE_HLS(INLINE)
    ap_uint<W> t = d;
    ap_uint<W> whole = frac >= W ? ap_uint<W>(0) : ap_uint<W>(t >> frac);
    ap_uint<W> fraction = frac >= W ? t : ap_uint<W>(t - (whole << frac));
    int index;
    if (frac >= EXP_INDEX_BITS)                     // the fraction's top bits
        index = frac - EXP_INDEX_BITS >= W ? 0 : ap_uint<W>(fraction >> (frac - EXP_INDEX_BITS)).to_int();
    else                                            // fraction < 2**frac: index bits below it are 0
        index = fraction.to_int() << (EXP_INDEX_BITS - frac);
    if (whole >= 16) return 0;                      // the table holds 16-bit values: >> 16.. is 0
    return TAB::exp2(index) >> whole.to_uint();
}

// exp2_neg<FRAC>(d): the same with the fraction fixed at compile time, on the shared table.
template <int FRAC, int W> u1_15_raw_t exp2_neg(const ap_int<W> &d) {
    HWMOE_HLS(INLINE)
    return exp2_neg_rt<shared_exp2_table>(d, FRAC);
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
