// hwmoe HLS kernels: MoE expert-by-expert dispatch on the linear kernel (hwmoe/kernels/moe.py).
//
// For each expert in turn, the tokens that chose it are gathered into a queue; the expert's two linear
// layers (the first with the fused GELU) run once over the whole queue, so each expert's weights are
// fetched once per layer; an expert without tokens is skipped and its weights are never read.  Outputs
// are multiplied by the token's gate weight and accumulated exactly; one rounding at the end.
//
// Config C (generated in config.h):
//   typedef ... in_t, gate_t, index_t;   token, gate weight (U1.15) and expert index types
//   typedef ... expert_t, out_t;         expert output and layer output formats
//   typedef ... fc1, fc2;                linear.h configs: fc1 dim -> hidden with fused GELU, fc2 hidden -> dim
//   static const int n_tokens, dim, hidden, experts, top_k;
// Weights: w1[experts][hidden][dim], b1[experts][hidden], w2[experts][dim][hidden], b2[experts][dim].
#ifndef HWMOE_MOE_H
#define HWMOE_MOE_H

#include "hwmoe_common.h"
#include "linear.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

template <class C>
void moe_rows(const typename C::in_t x[C::n_tokens][C::dim], const typename C::index_t index[C::n_tokens][C::top_k],
              const typename C::gate_t gates[C::n_tokens][C::top_k], const typename C::fc1::weight_t *w1,
              const typename C::fc1::bias_t *b1, const typename C::fc2::weight_t *w2,
              const typename C::fc2::bias_t *b2, typename C::out_t y[C::n_tokens][C::dim]) {
    typedef typename C::fc1 fc1;
    typedef typename C::fc2 fc2;
    const int N = C::n_tokens, D = C::dim, H = C::hidden, K = C::top_k;
    const int EF = fx<typename C::expert_t>::frac;
    const int AW = fx<typename C::expert_t>::width + 16 + clog2<C::top_k>::value + 1;

    ap_int<AW> acc[N][D];
    typename C::in_t xq[N][D];
    typename fc1::out_t hq[N][H];
    typename fc2::out_t yq[N][D];
    int qtok[N];
    u1_15_raw_t qgate[N];
    HWMOE_HLS(ARRAY_PARTITION variable=xq cyclic factor=fc1::n_pe dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=xq cyclic factor=fc1::t_in dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=hq cyclic factor=fc2::n_pe dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=hq cyclic factor=fc2::t_in dim=2)

CLEAR:
    for (int t = 0; t < N; t++)
        for (int d = 0; d < D; d++) {
            HWMOE_HLS(PIPELINE II=1)
            acc[t][d] = 0;
        }
EXPERTS:
    for (int e = 0; e < C::experts; e++) {
        int count = 0;
    QUEUE:
        for (int t = 0; t < N; t++)
            for (int s = 0; s < K; s++) {
                HWMOE_HLS(PIPELINE II=1)
                if (index[t][s] == e) {
                    qtok[count] = t;
                    qgate[count] = raw(gates[t][s]);
                    count++;
                }
            }
        if (count == 0) continue;                 // an expert without tokens is skipped
    GATHER:
        for (int i = 0; i < N; i++) {
            if (i >= count) break;
            for (int d = 0; d < D; d++) {
                HWMOE_HLS(PIPELINE II=1)
                xq[i][d] = x[qtok[i]][d];
            }
        }
        linear_rows<fc1>(xq, count, w1 + e * (H * D), b1 + e * H, hq);
        linear_rows<fc2>(hq, count, w2 + e * (D * H), b2 + e * D, yq);
    SCATTER:
        for (int i = 0; i < N; i++) {
            if (i >= count) break;
            for (int d = 0; d < D; d++) {
                HWMOE_HLS(PIPELINE II=1)
                acc[qtok[i]][d] += raw(yq[i][d]) * qgate[i];
            }
        }
    }
OUTPUT:
    for (int t = 0; t < N; t++)
        for (int d = 0; d < D; d++) {
            HWMOE_HLS(PIPELINE II=1)
            y[t][d] = requant<typename C::out_t, EF + Q15>(acc[t][d]);
        }
}

// The MoE layer between streams: x rows, per-token top_k indices and gate weights in; rows out.
template <class C>
void moe_stream(hls::stream<typename C::in_t> &x, hls::stream<typename C::index_t> &index,
                hls::stream<typename C::gate_t> &gates, const typename C::fc1::weight_t *w1,
                const typename C::fc1::bias_t *b1, const typename C::fc2::weight_t *w2,
                const typename C::fc2::bias_t *b2, hls::stream<typename C::out_t> &y) {
    HWMOE_HLS(DATAFLOW)
    typename C::in_t xb[C::n_tokens][C::dim];
    typename C::index_t ib[C::n_tokens][C::top_k];
    typename C::gate_t gb[C::n_tokens][C::top_k];
    typename C::out_t yb[C::n_tokens][C::dim];
    stream_to_rows<typename C::in_t, C::n_tokens, C::dim>(x, xb);
    stream_to_rows<typename C::index_t, C::n_tokens, C::top_k>(index, ib);
    stream_to_rows<typename C::gate_t, C::n_tokens, C::top_k>(gates, gb);
    moe_rows<C>(xb, ib, gb, w1, b1, w2, b2, yb);
    rows_to_stream<typename C::out_t, C::n_tokens, C::dim>(yb, y);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
