// hwmoe HLS kernels: the add engine, y = requant(align(a, a_frac -> f) + align(b, b_frac -> f), out) with
// f = max(a_frac, b_frac), AP_RND then AP_SAT (hwmoe/kernels/add.py, rtl/hwmoe_add.v, docs/numerics.md §3).
//
// add_word computes one sum at run-time formats; two stream forms use it:
//   add_stream<C>(a, b, y)            formats fixed by the config's types (the encoder block's residual adds):
//                                     C has a_t, b_t, out_t (ap_fixed) and n_words;
//   add_run_stream<C>(a, b, y, ...)   formats as run-time arguments, as the RTL engine's control inputs:
//                                     C has a_t, b_t, out_t (ap_int words of the widest formats) and align_max.
#ifndef HWMOE_ADD_H
#define HWMOE_ADD_H

#include "hwmoe_common.h"

namespace hwmoe {

// One sum.  |a_frac - b_frac| <= ALIGN_MAX, 2 <= out_width <= OUT_W; the result is the out_width-bit word
// sign-extended to OUT_W bits.
template <int A_W, int B_W, int OUT_W, int ALIGN_MAX>
ap_int<OUT_W> add_word(const ap_int<A_W> &a, const ap_int<B_W> &b, int a_frac, int b_frac, int out_width,
                       int out_frac) {
    HWMOE_HLS(INLINE)
    const int SW = cmax<A_W, B_W>::value + ALIGN_MAX + 1;      // the aligned sum
    int f = a_frac > b_frac ? a_frac : b_frac;
    ap_int<SW> sum = (ap_int<SW>(a) << (f - a_frac)) + (ap_int<SW>(b) << (f - b_frac));
    return requant_rt<OUT_W>(sum, f - out_frac, out_width);
}

template <class C>
void add_stream(hls::stream<typename C::a_t> &a, hls::stream<typename C::b_t> &b, hls::stream<typename C::out_t> &y) {
    typedef fx<typename C::a_t> A;
    typedef fx<typename C::b_t> B;
    typedef fx<typename C::out_t> O;
    const int ALIGN = A::frac > B::frac ? A::frac - B::frac : B::frac - A::frac;
    for (int i = 0; i < C::n_words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        ap_int<O::width> s = add_word<A::width, B::width, O::width, ALIGN>(raw(a.read()), raw(b.read()), A::frac,
                                                                            B::frac, O::width, O::frac);
        y.write(from_raw<typename C::out_t>(s));
    }
}

template <class C>
void add_run_stream(hls::stream<typename C::a_t> &a, hls::stream<typename C::b_t> &b,
                    hls::stream<typename C::out_t> &y, int a_frac, int b_frac, int out_width, int out_frac,
                    int words) {
    for (int i = 0; i < words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        y.write(add_word<fx<typename C::a_t>::width, fx<typename C::b_t>::width, fx<typename C::out_t>::width,
                         C::align_max>(a.read(), b.read(), a_frac, b_frac, out_width, out_frac));
    }
}

}  // namespace hwmoe

#endif
