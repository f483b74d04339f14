// hwmoe HLS kernels: a whole ViT / MoE-ViT encoder block as one dataflow region of the kernels,
//   s1 = x + proj(attention(q(LN1(x)), k(LN1(x)), v(LN1(x))))
//   y  = s1 + MLP(LN2(s1))                      (dense block: fc1 with fused GELU, fc2)
//   y  = s1 + MoE(LN2(s1), router(LN2(s1)))     (MoE block)
// with hls::stream between the stages; the residual streams hold a whole token matrix.
//
// Config C (generated in config.h): the configs of the stages,
//   typedef ... norm1, q, k, v, attn, proj, add1, norm2, add2;
//   typedef ... fc1, fc2;         (dense block)
//   typedef ... router, moe;      (MoE block)
//   static const int n_tokens, dim;
// An add config has a_t, b_t, out_t and n_words (add.h's add_stream).
#ifndef HWMOE_BLOCK_H
#define HWMOE_BLOCK_H

#include "hwmoe_common.h"
#include "add.h"
#include "attention.h"
#include "layernorm.h"
#include "linear.h"
#include "moe.h"
#include "router.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {

// LN1, q/k/v, attention, projection and the first residual addition.
template <class C>
void attention_part(hls::stream<typename C::norm1::in_t> &x, const typename C::norm1::param_t *ln1_gamma,
                    const typename C::norm1::param_t *ln1_beta, const typename C::q::weight_t *wq,
                    const typename C::q::bias_t *bq, const typename C::k::weight_t *wk, const typename C::k::bias_t *bk,
                    const typename C::v::weight_t *wv, const typename C::v::bias_t *bv,
                    const typename C::proj::weight_t *wp, const typename C::proj::bias_t *bp,
                    hls::stream<typename C::add1::out_t> &s1) {
    HWMOE_HLS(DATAFLOW)
    const int WORDS = C::n_tokens * C::dim;
    hls::stream<typename C::norm1::in_t> x_res("x_res"), x_ln("x_ln");
    HWMOE_HLS(STREAM variable=x_res depth=WORDS)
    hls::stream<typename C::norm1::out_t> n1("n1"), n1q("n1q"), n1k("n1k"), n1v("n1v");
    hls::stream<typename C::q::out_t> qs("q");
    hls::stream<typename C::k::out_t> ks("k");
    hls::stream<typename C::v::out_t> vs("v");
    hls::stream<typename C::attn::out_t> as("attn");
    hls::stream<typename C::proj::out_t> ps("proj");

    stream_copy2<typename C::norm1::in_t, WORDS>(x, x_res, x_ln);
    layernorm_stream<typename C::norm1>(x_ln, ln1_gamma, ln1_beta, n1);
    stream_copy3<typename C::norm1::out_t, WORDS>(n1, n1q, n1k, n1v);
    linear_stream<typename C::q>(n1q, wq, bq, qs);
    linear_stream<typename C::k>(n1k, wk, bk, ks);
    linear_stream<typename C::v>(n1v, wv, bv, vs);
    attention_stream<typename C::attn>(qs, ks, vs, as);
    linear_stream<typename C::proj>(as, wp, bp, ps);
    add_stream<typename C::add1>(x_res, ps, s1);
}

// A dense encoder block.
template <class C>
void encoder_block_dense(hls::stream<typename C::norm1::in_t> &x, const typename C::norm1::param_t *ln1_gamma,
                         const typename C::norm1::param_t *ln1_beta, const typename C::q::weight_t *wq,
                         const typename C::q::bias_t *bq, const typename C::k::weight_t *wk,
                         const typename C::k::bias_t *bk, const typename C::v::weight_t *wv,
                         const typename C::v::bias_t *bv, const typename C::proj::weight_t *wp,
                         const typename C::proj::bias_t *bp, const typename C::norm2::param_t *ln2_gamma,
                         const typename C::norm2::param_t *ln2_beta, const typename C::fc1::weight_t *w1,
                         const typename C::fc1::bias_t *b1, const typename C::fc2::weight_t *w2,
                         const typename C::fc2::bias_t *b2, hls::stream<typename C::add2::out_t> &y) {
    HWMOE_HLS(DATAFLOW)
    const int WORDS = C::n_tokens * C::dim;
    hls::stream<typename C::add1::out_t> s1("s1"), s1_res("s1_res"), s1_ln("s1_ln");
    HWMOE_HLS(STREAM variable=s1_res depth=WORDS)
    hls::stream<typename C::norm2::out_t> n2("n2");
    hls::stream<typename C::fc1::out_t> h("mlp_hidden");
    hls::stream<typename C::fc2::out_t> m("mlp");

    attention_part<C>(x, ln1_gamma, ln1_beta, wq, bq, wk, bk, wv, bv, wp, bp, s1);
    stream_copy2<typename C::add1::out_t, WORDS>(s1, s1_res, s1_ln);
    layernorm_stream<typename C::norm2>(s1_ln, ln2_gamma, ln2_beta, n2);
    linear_stream<typename C::fc1>(n2, w1, b1, h);
    linear_stream<typename C::fc2>(h, w2, b2, m);
    add_stream<typename C::add2>(s1_res, m, y);
}

// An MoE encoder block: router and expert-by-expert MoE in place of the MLP.
template <class C>
void encoder_block_moe(hls::stream<typename C::norm1::in_t> &x, const typename C::norm1::param_t *ln1_gamma,
                       const typename C::norm1::param_t *ln1_beta, const typename C::q::weight_t *wq,
                       const typename C::q::bias_t *bq, const typename C::k::weight_t *wk,
                       const typename C::k::bias_t *bk, const typename C::v::weight_t *wv,
                       const typename C::v::bias_t *bv, const typename C::proj::weight_t *wp,
                       const typename C::proj::bias_t *bp, const typename C::norm2::param_t *ln2_gamma,
                       const typename C::norm2::param_t *ln2_beta, const typename C::router::weight_t *wg,
                       const typename C::moe::fc1::weight_t *w1, const typename C::moe::fc1::bias_t *b1,
                       const typename C::moe::fc2::weight_t *w2, const typename C::moe::fc2::bias_t *b2,
                       hls::stream<typename C::add2::out_t> &y) {
    HWMOE_HLS(DATAFLOW)
    const int WORDS = C::n_tokens * C::dim;
    hls::stream<typename C::add1::out_t> s1("s1"), s1_res("s1_res"), s1_ln("s1_ln");
    HWMOE_HLS(STREAM variable=s1_res depth=WORDS)
    hls::stream<typename C::norm2::out_t> n2("n2"), n2_router("n2_router"), n2_moe("n2_moe");
    HWMOE_HLS(STREAM variable=n2_moe depth=WORDS)
    hls::stream<typename C::router::index_t> index("moe_index");
    hls::stream<typename C::router::gate_t> gates("moe_gates");
    hls::stream<typename C::moe::out_t> m("moe");

    attention_part<C>(x, ln1_gamma, ln1_beta, wq, bq, wk, bk, wv, bv, wp, bp, s1);
    stream_copy2<typename C::add1::out_t, WORDS>(s1, s1_res, s1_ln);
    layernorm_stream<typename C::norm2>(s1_ln, ln2_gamma, ln2_beta, n2);
    stream_copy2<typename C::norm2::out_t, WORDS>(n2, n2_router, n2_moe);
    router_stream<typename C::router>(n2_router, wg, index, gates);
    moe_stream<typename C::moe>(n2_moe, index, gates, w1, b1, w2, b2, m);
    add_stream<typename C::add2>(s1_res, m, y);
}

}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
