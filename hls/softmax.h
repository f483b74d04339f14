// hwmoe HLS kernels: the softmax normalisation shared by the attention and the MoE router (hwmoe/numerics/
// softmax.py, docs/numerics.md section 4), on the exp2 and reciprocal units (exp2.h, recip.h).  Softmax runs
// in the log2 domain: exp becomes 2**-d for d >= 0, an integer shift and a table lookup on the fraction.
#ifndef HWMOE_SOFTMAX_H
#define HWMOE_SOFTMAX_H

#include "exp2.h"
#include "hwmoe_common.h"
#include "recip.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

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

// normalise_rt<TAB, WO>(value, total, vf, tf, of, width): the same with every format known at run time and
// the output signed AP_RND/AP_SAT at width bits (a U1.15 result of non-negative values: width 17).
template <class TAB, int WO, int WV, int WT>
ap_int<WO> normalise_rt(const ap_int<WV> &value, const ap_uint<WT> &total, int vf, int tf, int of, int width) {
    HWMOE_HLS(INLINE)
    u1_15_raw_t r;
    int p;
    reciprocal_rt<TAB>(total, r, p);
    ap_int<WV + 17> prod = value * r;
    return requant_rt<WO>(prod, vf + Q15 + p - tf - of, width);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
