// hwmoe HLS kernels: MoE router, gate logits on the linear kernel, top-k on the integer logits (ties to the
// lower expert index), softmax over all experts with the shared exp2/reciprocal units, optional
// renormalisation of the k gate weights (hwmoe/kernels/router.py).
//
// Config C (generated in config.h):
//   typedef ... in_t, weight_t, logit_t;  input, gate weight and logit formats
//   typedef ... gate_t;                   U1.15 gate weights (ap_ufixed<16,1>)
//   typedef ... index_t;                  expert index (ap_uint)
//   typedef ... gate_linear;              linear.h config of the logits (dim -> experts, no bias)
//   static const int n_tokens, dim, experts, top_k;
//   static const bool renormalize;
//   static const long long log2e_raw;     log2(e) in U1.15
#ifndef HWMOE_ROUTER_H
#define HWMOE_ROUTER_H

#include "hwmoe_common.h"
#include "linear.h"
#include "softmax.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

// One token: top-k expert indices (largest logit first) and their gate weights.
template <class C>
void router_token(const typename C::logit_t logits[C::experts], typename C::index_t index[C::top_k],
                  typename C::gate_t gates[C::top_k]) {
    typedef typename C::gate_t gate_t;
    const int E = C::experts, K = C::top_k;
    const int LW = fx<typename C::logit_t>::width, LF = fx<typename C::logit_t>::frac;
    const int TW = LW + 17;                                  // logit * log2(e)
    const int SB = 16 + clog2<C::experts>::value + 1;       // sum of U1.15 terms
    ap_int<LW> lg[E];
    ap_int<TW> t[E];
    u1_15_raw_t ex[E];
    bool taken[E];
    HWMOE_HLS(ARRAY_PARTITION variable=lg complete)
    HWMOE_HLS(ARRAY_PARTITION variable=t complete)
    HWMOE_HLS(ARRAY_PARTITION variable=ex complete)
    HWMOE_HLS(ARRAY_PARTITION variable=taken complete)
    const ap_uint<16> log2e = C::log2e_raw;

    ap_int<TW> tmax = 0;
    for (int e = 0; e < E; e++) {
        HWMOE_HLS(UNROLL)
        lg[e] = raw(logits[e]);
        t[e] = lg[e] * log2e;
        if (e == 0 || t[e] > tmax) tmax = t[e];
        taken[e] = false;
    }
    ap_uint<SB> total = 0;
    for (int e = 0; e < E; e++) {
        HWMOE_HLS(UNROLL)
        ex[e] = exp2_neg<LF + Q15>(ap_int<TW + 1>(tmax - t[e]));
        total += ex[e];
    }
    // top-k by selection: strictly larger wins, so ties go to the lower index
    ap_uint<16 + clog2<C::top_k>::value + 1> gsum = 0;
TOP_K:
    for (int s = 0; s < K; s++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            HWMOE_HLS(UNROLL)
            if (!taken[e] && (best < 0 || lg[e] > lg[best])) best = e;
        }
        taken[best] = true;
        index[s] = best;
        gates[s] = normalise<gate_t, Q15, Q15>(ap_int<17>(ex[best]), total);
        gsum += raw(gates[s]);
    }
    if (C::renormalize) {
        for (int s = 0; s < K; s++) {
            HWMOE_HLS(UNROLL)
            gates[s] = normalise<gate_t, Q15, Q15>(ap_int<17>(raw(gates[s])), gsum);
        }
    }
}

// The router on n_tokens rows of x held on chip.
template <class C>
void router_rows(const typename C::in_t x[C::n_tokens][C::dim], const typename C::weight_t *w,
                 typename C::index_t index[C::n_tokens][C::top_k], typename C::gate_t gates[C::n_tokens][C::top_k]) {
    typename C::logit_t logits[C::n_tokens][C::experts];
    linear_rows<typename C::gate_linear>(x, C::n_tokens, w, (const typename C::gate_linear::bias_t *)0, logits);
TOKENS:
    for (int t = 0; t < C::n_tokens; t++) {
        HWMOE_HLS(PIPELINE II=1)
        router_token<C>(logits[t], index[t], gates[t]);
    }
}

// The router between streams: x rows in; per token top_k indices and top_k gate weights out.
template <class C>
void router_stream(hls::stream<typename C::in_t> &x, const typename C::weight_t *w,
                   hls::stream<typename C::index_t> &index, hls::stream<typename C::gate_t> &gates) {
    HWMOE_HLS(DATAFLOW)
    typename C::in_t xb[C::n_tokens][C::dim];
    typename C::index_t ib[C::n_tokens][C::top_k];
    typename C::gate_t gb[C::n_tokens][C::top_k];
    stream_to_rows<typename C::in_t, C::n_tokens, C::dim>(x, xb);
    router_rows<C>(xb, w, ib, gb);
    rows_to_stream<typename C::index_t, C::n_tokens, C::top_k>(ib, index);
    rows_to_stream<typename C::gate_t, C::n_tokens, C::top_k>(gb, gates);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
