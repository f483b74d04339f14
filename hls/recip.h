// hwmoe HLS kernels: the reciprocal unit of the softmax normalisation (attention and MoE router), leading
// one and a 2**RECIP_INDEX_BITS-entry table on the mantissa (hwmoe/numerics/softmax.py, docs/numerics.md section 4; RTL
// rtl/hwmoe_recip_lane.v).  The table is generated from hwmoe/numerics/tables.py into hwmoe_tables.h.
#ifndef HWMOE_RECIP_H
#define HWMOE_RECIP_H

#include "hwmoe_common.h"
#include "hwmoe_tables.h"

namespace hwmoe {

// The table policy of the shared RECIP table (hwmoe_tables.h); the accelerator's engines pass their own build's.
struct shared_recip_table {
    static u1_15_raw_t recip(int i) { return RECIP_LUT[i]; }
};

// reciprocal_rt<TAB>(x): for raw x > 0, r (U1.15) and p with 1/x ~= r * 2**-(15 + p): p = msb(x), r the
// reciprocal of the mantissa x / 2**p in [1, 2), looked up by its RECIP_INDEX_BITS bits below the leading one.
template <class TAB, int W> void reciprocal_rt(const ap_uint<W> &x, u1_15_raw_t &r, int &p) {
    HWMOE_HLS(INLINE)
    p = msb(x);
    typedef ap_uint<W + RECIP_INDEX_BITS> word_t;
    word_t t = x;
    word_t m = p >= RECIP_INDEX_BITS ? word_t(t >> (p - RECIP_INDEX_BITS)) : word_t(t << (RECIP_INDEX_BITS - p));
    ap_uint<RECIP_INDEX_BITS> index = m & ((1 << RECIP_INDEX_BITS) - 1);
    r = TAB::recip(index.to_int());
}

// reciprocal(x): the same on the shared table.
template <int W> void reciprocal(const ap_uint<W> &x, u1_15_raw_t &r, int &p) {
    HWMOE_HLS(INLINE)
    reciprocal_rt<shared_recip_table>(x, r, p);
}

// recip_stream<C>: C::n_words words x > 0 (C::in_t) -> the word {p, r} (r in the low 16 bits), as the RTL
// unit's stream top gives it.
template <class C> void recip_stream(hls::stream<typename C::in_t> &x, hls::stream<typename C::out_t> &y) {
    for (int i = 0; i < C::n_words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        u1_15_raw_t r;
        int p;
        reciprocal<C::in_width>(x.read(), r, p);
        typename C::out_t word = p;
        y.write((word << 16) | r);
    }
}

}  // namespace hwmoe

#endif
