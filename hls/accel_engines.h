// hwmoe HLS accelerator: the engines with RUN-TIME formats (docs/accelerator.md, "Engines and their run-time
// configuration").  Each engine takes its command's control words (in the order of its kernel's controls(),
// hwmoe/kernels/<k>.py; the generated accel_config.h names them: linear_ctl::tokens, ...) and its streams of
// beats (LANES_MAX 32-bit words, the lanes beyond the stream's own zero) in the order hwmoe/accel/program.py
// gives them, and computes what hwmoe/accel/executor.py computes from the same controls: the kernels'
// reference functions at the formats the controls give.  Word widths, maxima and tables are the build's
// (C: linear_build, ... in accel_config.h).
//
// The rounding steps are the shared ones with run-time shift arguments: requant_rt (hwmoe_common.h),
// exp2_neg_rt (exp2.h), reciprocal_rt (recip.h), normalise_rt (softmax.h), gelu_rt (gelu.h), add_word (add.h).
// MAC arrays are exact at the build's widths; the per-row and per-output scalar steps (statistics, softmax
// sums) use 64-bit words, which hold every value the int64 reference holds.
#ifndef HWMOE_ACCEL_ENGINES_H
#define HWMOE_ACCEL_ENGINES_H

#include "add.h"
#include "gelu.h"
#include "hwmoe_common.h"
#include "softmax.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {
namespace accel {

typedef ap_int<32> ctl_t;                   // one control word (two's complement)
typedef ap_int<64> wide_t;                  // scalar steps: as wide as the reference's int64

// One stream beat: lane l is the l-th word (sign-extended to 32 bits, as the DMA reader gives it).
struct beat_t {
    ap_int<32> v[LANES_MAX];
};
typedef hls::stream<beat_t> beats_t;

inline beat_t zero_beat() {
    beat_t b;
    for (int l = 0; l < LANES_MAX; l++) {
        HWMOE_HLS(UNROLL)
        b.v[l] = 0;
    }
    return b;
}

// An expert request of the MoE engine (its wreq stream): the expert, and whether it is the last one.
struct request_t {
    ap_uint<16> expert;
    bool last;
};
typedef hls::stream<request_t> requests_t;

inline int ceil_div(int a, int b) { return (a + b - 1) / b; }

// ------------------------------------------------------------------------------------------------- linear
// x [tokens][d_in] (T_IN lanes, rows of whole beats), w [d_out][d_in] likewise, b [d_out] (T_OUT lanes, when
// bias_en) -> y block-major: per block of T_OUT outputs, one beat per token (linear.linear, then gelu.gelu
// at the h format when gelu_en; executor._linear).  The weights stream by one block of T_OUT rows at a time.
// K names the control words: linear_ctl, or moe_dense_ctl (hls/accel.h: the MoE engine's dense mode).
template <class C, class K> void linear_engine(const ctl_t *ctl, beats_t &xs, beats_t &ws, beats_t &bs, beats_t &ys) {
    const int IN_P = cdiv<C::MAX_IN, C::T_IN>::value * C::T_IN;
    const int OUT_P = cdiv<C::MAX_OUT, C::T_OUT>::value * C::T_OUT;
    const int ACC_W = cmax<C::X_W + C::W_W + clog2<C::MAX_IN>::value, C::B_W + C::BSH_MAX>::value + 2;
    const int tokens = ctl[K::tokens], d_in = ctl[K::d_in], d_out = ctl[K::d_out];
    const int frac = ctl[K::x_frac] + ctl[K::w_frac];
    const bool bias_en = ctl[K::bias_en] != 0, gelu_en = ctl[K::gelu_en] != 0;
    const int it = ceil_div(d_in, C::T_IN), ot = ceil_div(d_out, C::T_OUT);

    ap_int<C::X_W> x[C::MAX_TOKENS][IN_P];
    ap_int<C::W_W> w[C::T_OUT][IN_P];
    ap_int<C::B_W> b[OUT_P];
    HWMOE_HLS(ARRAY_PARTITION variable=x cyclic factor=C::T_IN dim=2)
    HWMOE_HLS(ARRAY_PARTITION variable=w complete dim=1)
    HWMOE_HLS(ARRAY_PARTITION variable=w cyclic factor=C::T_IN dim=2)
LOAD_X:
    for (int i = 0; i < tokens * it; i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t v = xs.read();
        for (int l = 0; l < C::T_IN; l++) x[i / it][(i % it) * C::T_IN + l] = v.v[l];
    }
LOAD_B:
    for (int i = 0; i < (bias_en ? ot : 0); i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t v = bs.read();
        for (int l = 0; l < C::T_OUT; l++) b[i * C::T_OUT + l] = v.v[l];
    }
BLOCKS:
    for (int k = 0; k < ot; k++) {
        const int rows = d_out - k * C::T_OUT < C::T_OUT ? d_out - k * C::T_OUT : C::T_OUT;
    LOAD_W:
        for (int i = 0; i < rows * it; i++) {
            HWMOE_HLS(PIPELINE II=1)
            beat_t v = ws.read();
            for (int l = 0; l < C::T_IN; l++) w[i / it][(i % it) * C::T_IN + l] = v.v[l];
        }
    TOKENS:
        for (int t = 0; t < tokens; t++) {
            beat_t y = zero_beat();
        OUTS:
            for (int o = 0; o < C::T_OUT; o++) {
                if (o >= rows) break;
                const int oo = k * C::T_OUT + o;
                ap_int<ACC_W> acc = bias_en ? shift_rnd_var<ACC_W>(b[oo], ctl[K::b_frac] - frac) : ap_int<ACC_W>(0);
            MACS:
                for (int i = 0; i < IN_P; i++) {
                    HWMOE_HLS(PIPELINE II=1)
                    if (i >= d_in) break;
                    acc += x[t][i] * w[o][i];
                }
                if (C::HAS_GELU && gelu_en) {
                    ap_int<C::H_W> h = requant_rt<C::H_W>(acc, frac - ctl[K::h_frac], ctl[K::h_width]);
                    y.v[o] = gelu_rt<C, 32>(h, ctl[K::h_frac], ctl[K::out_frac], ctl[K::out_width], C::ENTRIES);
                } else {
                    y.v[o] = requant_rt<32>(acc, frac - ctl[K::out_frac], ctl[K::out_width]);
                }
            }
            ys.write(y);
        }
    }
}

// ---------------------------------------------------------------------------------------------- attention
// q, k, v head-major (per head, per token, HEAD_DIM / LANES beats) -> the output likewise
// (attention.attention_scored: streaming softmax over blocks of BLOCK keys, rescaled when the max grows).
template <class C> void attention_engine(const ctl_t *ctl, beats_t &qs, beats_t &ks, beats_t &vs, beats_t &ys) {
    typedef attention_ctl K;
    const int HD = C::HEAD_DIM, L = C::LANES, CH = C::HEAD_DIM / C::LANES;
    const int SW = C::Q_W + C::K_W + clog2<C::HEAD_DIM>::value + 1;     // q.k, exact
    const int LW = 16 + clog2<C::MAX_TOKENS>::value + 1;                // running sum of U1.15 terms
    const int AW = 16 + C::V_W + clog2<C::MAX_TOKENS>::value + 1;       // running sum of e * v
    const int tokens = ctl[K::tokens], heads = ctl[K::heads], t_frac = ctl[K::t_frac];
    const int score_shift = ctl[K::q_frac] + ctl[K::k_frac] + ctl[K::c_frac] - t_frac;
    const ap_uint<16> c = ctl[K::c_value];

    ap_int<C::Q_W> q[C::MAX_HEADS][C::MAX_TOKENS][HD];
    ap_int<C::K_W> k[C::MAX_HEADS][C::MAX_TOKENS][HD];
    ap_int<C::V_W> v[C::MAX_HEADS][C::MAX_TOKENS][HD];
    HWMOE_HLS(ARRAY_PARTITION variable=q complete dim=3)
    HWMOE_HLS(ARRAY_PARTITION variable=k complete dim=3)
    HWMOE_HLS(ARRAY_PARTITION variable=v complete dim=3)
LOAD:
    for (int i = 0; i < heads * tokens * CH; i++) {
        HWMOE_HLS(PIPELINE II=1)
        const int h = i / (tokens * CH), t = i / CH % tokens, d0 = i % CH * L;
        beat_t bq = qs.read(), bk = ks.read(), bv = vs.read();
        for (int l = 0; l < L; l++) {
            q[h][t][d0 + l] = bq.v[l];
            k[h][t][d0 + l] = bk.v[l];
            v[h][t][d0 + l] = bv.v[l];
        }
    }
    ap_int<C::T_W> s[C::MAX_TOKENS];
    ap_int<AW> acc[HD];
    HWMOE_HLS(ARRAY_PARTITION variable=acc complete)
HEADS:
    for (int h = 0; h < heads; h++) {
    ROWS:
        for (int i = 0; i < tokens; i++) {
        SCORES:
            for (int j = 0; j < tokens; j++) {
                HWMOE_HLS(PIPELINE II=1)
                ap_int<SW> dot = 0;
                for (int d = 0; d < HD; d++) dot += q[h][i][d] * k[h][j][d];
                s[j] = requant_rt<C::T_W>(ap_int<SW + 17>(dot * c), score_shift, ctl[K::t_width]);
            }
            ap_int<C::T_W> m = 0;
            ap_uint<LW> sum = 0;
        KEY_BLOCKS:
            for (int j0 = 0; j0 < tokens; j0 += C::BLOCK) {
                const int nb = tokens - j0 < C::BLOCK ? tokens - j0 : C::BLOCK;
                ap_int<C::T_W> bm = s[j0];
                for (int j = 1; j < C::BLOCK; j++)
                    if (j < nb && s[j0 + j] > bm) bm = s[j0 + j];
                if (j0 == 0) {
                    m = bm;
                    for (int d = 0; d < HD; d++) acc[d] = 0;
                } else if (bm > m) {
                    // rescale by 2**-(m_new - m_old); for an unchanged max it is exactly 1.0
                    u1_15_raw_t r = exp2_neg_rt<C>(ap_int<C::T_W + 1>(bm - m), t_frac);
                    sum = ap_uint<LW + 16>(sum * r) >> Q15;
                    for (int d = 0; d < HD; d++) acc[d] = ap_int<AW + 17>(acc[d] * r) >> Q15;
                    m = bm;
                }
            AV:
                for (int j = 0; j < nb; j++) {
                    HWMOE_HLS(PIPELINE II=1)
                    u1_15_raw_t e = exp2_neg_rt<C>(ap_int<C::T_W + 1>(m - s[j0 + j]), t_frac);
                    sum += e;
                    for (int d = 0; d < HD; d++) acc[d] += e * v[h][j0 + j][d];
                }
            }
        OUTPUT:
            for (int c0 = 0; c0 < CH; c0++) {
                HWMOE_HLS(PIPELINE II=1)
                beat_t y = zero_beat();
                for (int l = 0; l < L; l++)
                    y.v[l] = normalise_rt<C, 32>(acc[c0 * L + l], sum, Q15 + ctl[K::v_frac], Q15, ctl[K::out_frac],
                                                 ctl[K::out_width]);
                ys.write(y);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------- layernorm
// x rows (LANES lanes, rows of whole beats), gamma/beta (2 LANES lanes per beat: LANES gamma, then LANES beta)
// -> y rows (layernorm.layernorm with the input at X_W bits and 0 fractional bits: LayerNorm does not depend
// on the input's scale, and eps comes at the statistics' scale; executor._layernorm).
template <class C> void layernorm_engine(const ctl_t *ctl, beats_t &xs, beats_t &ps, beats_t &ys) {
    typedef layernorm_ctl K;
    const int L = C::LANES, DIM_P = cdiv<C::DIM_MAX, C::LANES>::value * C::LANES;
    const int FS = C::STAT_W - C::X_W;                  // fractional bits of the statistics
    const int FC = FS > 0 ? FS : 0;                     // of x - mean
    const int dim = ctl[K::dim], tokens = ctl[K::tokens], p_frac = ctl[K::p_frac];
    const int beats = ceil_div(dim, L);
    const wide_t recip_dim = (wide_t(1) << (RECIP_DIM_BITS + 1)) / dim + 1 >> 1;   // round(2**24 / dim)
    const int norm_frac = C::NORM_W - ((msb(ap_uint<32>(dim)) >> 1) + 2);           // norm_fmt(dim, NORM_W)

    ap_int<C::P_W> gamma[DIM_P], beta[DIM_P];
    ap_int<C::X_W> x[DIM_P];
LOAD_P:
    for (int i = 0; i < beats; i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t v = ps.read();
        for (int l = 0; l < L; l++) {
            gamma[i * L + l] = v.v[l];
            beta[i * L + l] = v.v[L + l];
        }
    }
TOKENS:
    for (int t = 0; t < tokens; t++) {
        wide_t sum = 0, sum2 = 0;
    STATS:
        for (int i = 0; i < beats; i++) {
            HWMOE_HLS(PIPELINE II=1)
            beat_t v = xs.read();
            for (int l = 0; l < L; l++) {
                x[i * L + l] = v.v[l];
                if (i * L + l < dim) {
                    // x rounded to the statistics width: AP_RND, AP_SAT (stat_fmt)
                    ap_int<C::STAT_W> xs_ = requant_rt<C::STAT_W>(ap_int<C::X_W>(v.v[l]), -FS, C::STAT_W);
                    sum += xs_;
                    sum2 += xs_ * xs_;
                }
            }
        }
        wide_t mean = shift_rnd_var<64>(ap_int<128>(sum * recip_dim), RECIP_DIM_BITS);
        wide_t ex2 = shift_rnd_var<64>(ap_int<128>(sum2 * recip_dim), RECIP_DIM_BITS);
        wide_t var = ex2 - mean * mean;
        if (var < 0) var = 0;
        wide_t vv = var + wide_t(ctl[K::eps]);
        if (vv < 1) vv = 1;
        const int top = msb(vv);
        const int exponent = top - 2 * FS;
        const int parity = exponent & 1;
        const int half_exp = (exponent - parity) / 2;
        const int index = (shift_trn_var<64>(vv, top - RSQRT_INDEX_BITS) & ((1 << RSQRT_INDEX_BITS) - 1)).to_int();
        const ap_uint<16> r = C::rsqrt(parity * (1 << RSQRT_INDEX_BITS) + index);
        const wide_t mean_c = shift_rnd_var<64>(mean, FS - FC);
    NORM:
        for (int i = 0; i < beats; i++) {
            HWMOE_HLS(PIPELINE II=1)
            beat_t y = zero_beat();
            for (int l = 0; l < L; l++) {
                const int d = i * L + l;
                if (d >= dim) break;
                wide_t centred = (wide_t(x[d]) << FC) - mean_c;
                ap_int<C::NORM_W> n = requant_rt<C::NORM_W>(centred * r, FC + Q15 + half_exp - norm_frac, C::NORM_W);
                wide_t acc = wide_t(n * gamma[d]) + shift_rnd_var<64>(beta[d], -norm_frac);
                y.v[l] = requant_rt<32>(acc, norm_frac + p_frac - ctl[K::out_frac], ctl[K::out_width]);
            }
            ys.write(y);
        }
    }
}

// ------------------------------------------------------------------------------------------------- router
// x rows, gate weights [EXPERTS][dim] (LANES lanes, rows of whole beats) -> per token one beat of 2 TOP_K
// words: the top-k experts (largest logit first, ties to the lower index), then their U1.15 gate weights
// (router.router: softmax over all experts in the log2 domain, renormalised when renorm).
template <class C> void router_engine(const ctl_t *ctl, beats_t &xs, beats_t &ws, beats_t &ys) {
    typedef router_ctl K;
    const int L = C::LANES, E = C::EXPERTS, TK = C::TOP_K, DIM_P = cdiv<C::DIM_MAX, C::LANES>::value * C::LANES;
    const int ACC_W = C::X_W + C::W_W + clog2<C::DIM_MAX>::value + 2;
    const int TW = C::L_W + 17;                          // logit * log2(e)
    const int SB = 16 + clog2<C::EXPERTS>::value + 1;   // sum of U1.15 terms
    const int dim = ctl[K::dim], tokens = ctl[K::tokens], logit_frac = ctl[K::logit_frac];
    const int beats = ceil_div(dim, L);
    const int shift = ctl[K::x_frac] + ctl[K::w_frac] - logit_frac;

    ap_int<C::W_W> w[C::EXPERTS][DIM_P];
    ap_int<C::X_W> x[DIM_P];
LOAD_W:
    for (int i = 0; i < E * beats; i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t v = ws.read();
        for (int l = 0; l < L; l++) w[i / beats][(i % beats) * L + l] = v.v[l];
    }
TOKENS:
    for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < beats; i++) {
            HWMOE_HLS(PIPELINE II=1)
            beat_t v = xs.read();
            for (int l = 0; l < L; l++) x[i * L + l] = v.v[l];
        }
        ap_int<C::L_W> logit[C::EXPERTS];
        ap_int<TW> tl[C::EXPERTS];
        ap_int<TW> tmax = 0;
    LOGITS:
        for (int e = 0; e < E; e++) {
            ap_int<ACC_W> acc = 0;
            for (int d = 0; d < dim; d++) acc += x[d] * w[e][d];
            logit[e] = requant_rt<C::L_W>(acc, shift, ctl[K::logit_width]);
            tl[e] = logit[e] * ap_uint<16>(C::LOG2E);
            if (e == 0 || tl[e] > tmax) tmax = tl[e];
        }
        u1_15_raw_t ex[C::EXPERTS];
        ap_uint<SB> total = 0;
        for (int e = 0; e < E; e++) {
            ex[e] = exp2_neg_rt<C>(ap_int<TW + 1>(tmax - tl[e]), logit_frac + Q15);
            total += ex[e];
        }
        bool taken[C::EXPERTS];
        for (int e = 0; e < E; e++) taken[e] = false;
        beat_t y = zero_beat();
        ap_uint<16 + clog2<C::TOP_K>::value + 1> gsum = 0;
    TOP_K:
        for (int s = 0; s < TK; s++) {      // selection: strictly larger wins, so ties go to the lower index
            int best = -1;
            for (int e = 0; e < E; e++)
                if (!taken[e] && (best < 0 || logit[e] > logit[best])) best = e;
            taken[best] = true;
            y.v[s] = best;
            y.v[TK + s] = normalise_rt<C, 17>(ap_int<17>(ex[best]), total, Q15, Q15, Q15, 17);   // U1.15
            gsum += ap_uint<16>(y.v[TK + s]);
        }
        if (ctl[K::renorm] != 0)
            for (int s = 0; s < TK; s++)
                y.v[TK + s] = normalise_rt<C, 17>(ap_int<17>(y.v[TK + s]), gsum, Q15, Q15, Q15, 17);
        ys.write(y);
    }
}

// ---------------------------------------------------------------------------------------------------- add
// a, b (LANES lanes) -> y = add.add word by word over ceil(words / LANES) beats (padding lanes: 0 + 0).
template <class C> void add_engine(const ctl_t *ctl, beats_t &as, beats_t &bs, beats_t &ys) {
    typedef add_ctl K;
    const int a_frac = ctl[K::a_frac], b_frac = ctl[K::b_frac], out_frac = ctl[K::out_frac];
    const int out_width = ctl[K::out_width];
WORDS:
    for (int i = 0; i < ceil_div(ctl[K::words], C::LANES); i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t a = as.read(), b = bs.read(), y = zero_beat();
        for (int l = 0; l < C::LANES; l++)
            y.v[l] = add_word<C::A_W, C::B_W, C::OUT_W, C::ALIGN_MAX>(ap_int<C::A_W>(a.v[l]), ap_int<C::B_W>(b.v[l]),
                                                                      a_frac, b_frac, out_width, out_frac);
        ys.write(y);
    }
}

// ---------------------------------------------------------------------------------------------------- moe
// The route scanner: the routes (one beat per token: TOP_K experts, TOP_K gates) pass through to the engine,
// and every expert some token chose is requested, in increasing order, from the weight and bias readers
// (executor.moe_requests; the RTL's wreq stream forked to both readers).
template <class C> void moe_requests(int tokens, beats_t &routes, beats_t &to_engine, requests_t &req_w,
                                     requests_t &req_b) {
    bool chosen[C::EXPERTS];
    for (int e = 0; e < C::EXPERTS; e++) chosen[e] = false;
SCAN:
    for (int t = 0; t < tokens; t++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t r = routes.read();
        for (int s = 0; s < C::TOP_K; s++) chosen[r.v[s].to_int()] = true;
        to_engine.write(r);
    }
    int last = 0;
    for (int e = 0; e < C::EXPERTS; e++)
        if (chosen[e]) last = e;
REQUEST:
    for (int e = 0; e < C::EXPERTS; e++) {
        if (!chosen[e]) continue;
        request_t q;
        q.expert = e;
        q.last = e == last;
        req_w.write(q);
        req_b.write(q);
    }
}

// x rows (T lanes), routes (from moe_requests), per requested expert its weights (W1 rows, then W2 rows, each
// a row of whole T-lane beats) and biases (b1, then b2, each padded to whole beats) -> y rows: the sum over the
// token's experts of gate * expert(x) (moe.moe; executor._moe).  Each expert runs once over its queue of
// tokens, its weights streaming by one row at a time.
template <class C> void moe_engine(const ctl_t *ctl, beats_t &xs, beats_t &routes, beats_t &ws, beats_t &bs,
                                   beats_t &ys) {
    typedef moe_ctl K;
    const int T = C::T, TK = C::TOP_K;
    const int DIM_P = cdiv<C::MAX_DIM, C::T>::value * C::T, HID_P = cdiv<C::MAX_HID, C::T>::value * C::T;
    const int ACC1_W = cmax<C::X_W + C::W_W + clog2<C::MAX_DIM>::value, C::B_W + C::BSH_MAX>::value + 2;
    const int ACC2_W = cmax<C::A_W + C::W_W + clog2<C::MAX_HID>::value, C::B_W + C::BSH_MAX>::value + 2;
    const int SUM_W = C::E_W + 16 + clog2<C::TOP_K>::value + 1;        // gate-weighted sum, exact
    const int tokens = ctl[K::tokens], dim = ctl[K::dim], hidden = ctl[K::hidden];
    const int dt = ceil_div(dim, T), ht = ceil_div(hidden, T);
    const int frac1 = ctl[K::x_frac] + ctl[K::w1_frac], frac2 = ctl[K::a_frac] + ctl[K::w2_frac];

    ap_int<C::X_W> x[C::MAX_TOKENS][DIM_P];
    ap_uint<16> index[C::MAX_TOKENS][C::TOP_K];
    u1_15_raw_t gate[C::MAX_TOKENS][C::TOP_K];
    ap_int<SUM_W> sum[C::MAX_TOKENS][DIM_P];
    ap_int<C::A_W> act[C::MAX_TOKENS][HID_P];       // the queue's GELU outputs
    int queue[C::MAX_TOKENS];
    u1_15_raw_t qgate[C::MAX_TOKENS];
    ap_int<C::W_W> w[HID_P > DIM_P ? HID_P : DIM_P];
    ap_int<C::B_W> b[HID_P + DIM_P];
LOAD:
    for (int i = 0; i < tokens * dt; i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t v = xs.read();
        for (int l = 0; l < T; l++) {
            x[i / dt][(i % dt) * T + l] = v.v[l];
            sum[i / dt][(i % dt) * T + l] = 0;
        }
    }
ROUTES:
    for (int t = 0; t < tokens; t++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t r = routes.read();
        for (int s = 0; s < TK; s++) {
            index[t][s] = r.v[s];
            gate[t][s] = r.v[TK + s];
        }
    }
EXPERTS:
    for (int e = 0; e < C::EXPERTS; e++) {
        int count = 0;
    QUEUE:
        for (int t = 0; t < tokens; t++)
            for (int s = 0; s < TK; s++)
                if (index[t][s] == e) {
                    queue[count] = t;
                    qgate[count] = gate[t][s];
                    count++;
                }
        if (count == 0) continue;                   // not requested: its weights are never read
    LOAD_BIAS:
        for (int i = 0; i < ht + dt; i++) {
            HWMOE_HLS(PIPELINE II=1)
            beat_t v = bs.read();
            for (int l = 0; l < T; l++) b[i * T + l] = v.v[l];
        }
    HIDDEN_ROWS:                                    // W1, one row per hidden unit: dim -> hidden, GELU
        for (int o = 0; o < hidden; o++) {
            for (int i = 0; i < dt; i++) {
                HWMOE_HLS(PIPELINE II=1)
                beat_t v = ws.read();
                for (int l = 0; l < T; l++) w[i * T + l] = v.v[l];
            }
            for (int q = 0; q < count; q++) {
                ap_int<ACC1_W> acc = shift_rnd_var<ACC1_W>(b[o], ctl[K::b1_frac] - frac1);
                for (int d = 0; d < dim; d++) acc += x[queue[q]][d] * w[d];
                ap_int<C::H_W> h = requant_rt<C::H_W>(acc, frac1 - ctl[K::h_frac], ctl[K::h_width]);
                act[q][o] = gelu_rt<C, C::A_W>(h, ctl[K::h_frac], ctl[K::a_frac], ctl[K::a_width], C::ENTRIES);
            }
        }
    OUT_ROWS:                                       // W2, one row per output: hidden -> dim, gate-weighted
        for (int o = 0; o < dim; o++) {
            for (int i = 0; i < ht; i++) {
                HWMOE_HLS(PIPELINE II=1)
                beat_t v = ws.read();
                for (int l = 0; l < T; l++) w[i * T + l] = v.v[l];
            }
            for (int q = 0; q < count; q++) {
                ap_int<ACC2_W> acc = shift_rnd_var<ACC2_W>(b[ht * T + o], ctl[K::b2_frac] - frac2);
                for (int d = 0; d < hidden; d++) acc += act[q][d] * w[d];
                ap_int<C::E_W> y = requant_rt<C::E_W>(acc, frac2 - ctl[K::e_frac], ctl[K::e_width]);
                sum[queue[q]][o] += y * qgate[q];
            }
        }
    }
OUTPUT:
    for (int i = 0; i < tokens * dt; i++) {
        HWMOE_HLS(PIPELINE II=1)
        beat_t y = zero_beat();
        for (int l = 0; l < T; l++) {
            const int d = (i % dt) * T + l;
            if (d < dim)
                y.v[l] = requant_rt<32>(sum[i / dt][d], ctl[K::e_frac] + Q15 - ctl[K::out_frac], ctl[K::out_width]);
        }
        ys.write(y);
    }
}

}  // namespace accel
}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
