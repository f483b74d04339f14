// hwmoe HLS kernels: streaming attention, softmax(q k^T * scale) v per head without the N x N score matrix
// (hwmoe/kernels/attention.py, docs/numerics.md section 7).
//
// P query rows are processed together; keys and values go by in blocks of BLOCK tokens.  Per row a running
// max m, running sum l and running A.V accumulator are kept; when the max grows they are rescaled by
// 2**-(m_new - m_old) (floor, as the reference), and the row is divided by l at the end.  The block width
// is part of the numerics: it must equal the plan's attention_block.
//
// Config C (generated in config.h):
//   typedef ... q_t, k_t, v_t, out_t;   operand and output formats
//   typedef ... score_t;                t = q.k * scale * log2(e), the log2-domain score
//   static const int n_tokens, heads, head_dim, block, p;
//   static const long long c_raw;       scale * log2(e) as an unsigned 16-bit constant ...
//   static const int c_frac;            ... with c_frac fractional bits (attention.score_constant)
// q, k, v and the output are [n_tokens][heads * head_dim], head h in columns h*head_dim ...
#ifndef HWMOE_ATTENTION_H
#define HWMOE_ATTENTION_H

#include "hwmoe_common.h"
#include "softmax.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

template <class C>
void attention_rows(const typename C::q_t q[C::n_tokens][C::heads * C::head_dim],
                    const typename C::k_t k[C::n_tokens][C::heads * C::head_dim],
                    const typename C::v_t v[C::n_tokens][C::heads * C::head_dim],
                    typename C::out_t o[C::n_tokens][C::heads * C::head_dim]) {
    const int N = C::n_tokens, D = C::head_dim, B = C::block, P = C::p;
    const int QW = fx<typename C::q_t>::width, QF = fx<typename C::q_t>::frac;
    const int KW = fx<typename C::k_t>::width, KF = fx<typename C::k_t>::frac;
    const int VW = fx<typename C::v_t>::width, VF = fx<typename C::v_t>::frac;
    const int TW = fx<typename C::score_t>::width;
    const int TF = fx<typename C::score_t>::frac;
    const int SW = QW + KW + clog2<C::head_dim>::value + 1;   // q.k, exact
    const int LW = 16 + clog2<C::n_tokens>::value + 1;        // running sum of U1.15 terms
    const int AW = 16 + VW + clog2<C::n_tokens>::value + 1;   // running sum of e * v
    const int Q_GROUPS = cdiv<C::n_tokens, C::p>::value;
    const int K_BLOCKS = cdiv<C::n_tokens, C::block>::value;
    HWMOE_HLS(ARRAY_PARTITION variable=q cyclic factor=P dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=k cyclic factor=D dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=q cyclic factor=D dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=v cyclic factor=D dim=2)

    const ap_uint<16> c = C::c_raw;
    ap_int<TW> m[P];
    ap_uint<LW> l[P];
    ap_int<AW> acc[P][D];
    ap_int<TW> t[P][B];
    u1_15_raw_t e[P][B];
    HWMOE_HLS(ARRAY_PARTITION variable=m complete)
    HWMOE_HLS(ARRAY_PARTITION variable=l complete)
    HWMOE_HLS(ARRAY_PARTITION variable=acc complete dim=0)
    HWMOE_HLS(ARRAY_PARTITION variable=t complete dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=e complete dim=1)

HEADS:
    for (int h = 0; h < C::heads; h++) {
    QUERY_GROUPS:
        for (int g = 0; g < Q_GROUPS; g++) {
        KEY_BLOCKS:
            for (int kb = 0; kb < K_BLOCKS; kb++) {
                const int j0 = kb * B;
                const int nb = N - j0 < B ? N - j0 : B;           // keys in this block
            SCORES:
                for (int j = 0; j < B; j++) {
                    HWMOE_HLS(PIPELINE II=1)
                    if (j >= nb) break;
                    for (int p = 0; p < P; p++) {
                        HWMOE_HLS(UNROLL)
                        const int i = g * P + p;
                        if (i >= N) continue;
                        ap_int<SW> s = 0;
                        for (int d = 0; d < D; d++) {
                            HWMOE_HLS(UNROLL)
                            s += raw(q[i][h * D + d]) * raw(k[j0 + j][h * D + d]);
                        }
                        ap_int<SW + 17> sc = s * c;
                        t[p][j] = raw(requant<typename C::score_t, QF + KF + C::c_frac>(sc));
                    }
                }
            RESCALE:
                for (int p = 0; p < P; p++) {
                    HWMOE_HLS(UNROLL)
                    if (g * P + p >= N) continue;
                    ap_int<TW> bm = t[p][0];
                    for (int j = 1; j < B; j++) {
                        if (j < nb && t[p][j] > bm) bm = t[p][j];
                    }
                    if (kb == 0) {
                        m[p] = bm;
                        l[p] = 0;
                        for (int d = 0; d < D; d++) acc[p][d] = 0;
                    } else if (bm > m[p]) {
                        // rescale factor 2**-(m_new - m_old); for an unchanged max it is exactly 1.0
                        u1_15_raw_t r = exp2_neg<TF>(ap_int<TW + 1>(bm - m[p]));
                        ap_uint<LW + 16> lr = l[p] * r;
                        l[p] = lr >> Q15;
                        for (int d = 0; d < D; d++) {
                            HWMOE_HLS(UNROLL)
                            ap_int<AW + 17> ar = acc[p][d] * r;
                            acc[p][d] = ar >> Q15;
                        }
                        m[p] = bm;
                    }
                }
            EXP:
                for (int j = 0; j < B; j++) {
                    HWMOE_HLS(PIPELINE II=1)
                    for (int p = 0; p < P; p++) {
                        HWMOE_HLS(UNROLL)
                        if (g * P + p >= N) continue;
                        e[p][j] = j < nb ? exp2_neg<TF>(ap_int<TW + 1>(m[p] - t[p][j])) : u1_15_raw_t(0);
                        l[p] += e[p][j];
                    }
                }
            AV:
                for (int j = 0; j < B; j++) {
                    HWMOE_HLS(PIPELINE II=1)
                    if (j >= nb) break;
                    for (int p = 0; p < P; p++) {
                        HWMOE_HLS(UNROLL)
                        if (g * P + p >= N) continue;
                        for (int d = 0; d < D; d++) {
                            HWMOE_HLS(UNROLL)
                            acc[p][d] += e[p][j] * raw(v[j0 + j][h * D + d]);
                        }
                    }
                }
            }
        OUTPUT:
            for (int p = 0; p < P; p++)
                for (int d = 0; d < D; d++) {
                    HWMOE_HLS(PIPELINE II=1)
                    const int i = g * P + p;
                    if (i < N) o[i][h * D + d] = normalise<typename C::out_t, Q15 + VF, Q15>(acc[p][d], l[p]);
                }
        }
    }
}

// Attention between streams: q, k, v rows in (row-major words), output rows out.
template <class C>
void attention_stream(hls::stream<typename C::q_t> &q, hls::stream<typename C::k_t> &k,
                      hls::stream<typename C::v_t> &v, hls::stream<typename C::out_t> &o) {
    HWMOE_HLS(DATAFLOW)
    const int N = C::n_tokens, E = C::heads * C::head_dim;
    typename C::q_t qb[N][E];
    typename C::k_t kb[N][E];
    typename C::v_t vb[N][E];
    typename C::out_t ob[N][E];
    HWMOE_HLS(ARRAY_PARTITION variable=qb cyclic factor=C::p dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=qb cyclic factor=C::head_dim dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=kb cyclic factor=C::head_dim dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=vb cyclic factor=C::head_dim dim=2)
    stream_to_rows<typename C::q_t, N, E>(q, qb);
    stream_to_rows<typename C::k_t, N, E>(k, kb);
    stream_to_rows<typename C::v_t, N, E>(v, vb);
    attention_rows<C>(qb, kb, vb, ob);
    rows_to_stream<typename C::out_t, N, E>(ob, o);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
