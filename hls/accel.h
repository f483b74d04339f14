// hwmoe HLS accelerator: the sequencer and the DMA of hwmoe_accel, the same program on the same memory image as
// the generated RTL top (docs/accelerator.md is the contract; hwmoe/accel/executor.py the Python model).
//
// The memory image is reached through one m_axi port of BUS_W-bit words (bus_t) addressed from 0: BASE (a
// control register) is the image's byte address, every address in a command is relative to it.  run():
//   fetch the 64-word command at BASE + PROG (+ 256 bytes per command), opcode 0 ends the program;
//   decode the opcode (engine + 1), the 20 control words and the 5 descriptor slots;
//   run the engine's command as one dataflow region: a DMA reader per used slot (dma_read: the descriptor's
//   segments as beats of `lanes` words, hwmoe/accel/dma.py), the engine, the DMA writer (dma_write: exactly
//   the segments' bytes).  The MoE engine's weight and bias readers are indexed by its expert requests.
// An opcode of no built engine ends the run with ERROR 1.  AXI errors (ERROR 2, 3) are not visible to HLS code.
//
// Needs the generated accel_config.h first: LANES_MAX, BUS_W, the engines' build structs and control names,
// and HWMOE_ACCEL_<ENGINE> for each built engine.
#ifndef HWMOE_ACCEL_H
#define HWMOE_ACCEL_H

#include "accel_engines.h"
#include "hwmoe_common.h"

// Loop labels name the loops in Vitis HLS reports; a host compiler sees them as unused labels.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-label"

namespace hwmoe {
namespace accel {

typedef ap_uint<BUS_W> bus_t;
typedef ap_uint<64> addr_t;
static const int BUS_BYTES = BUS_W / 8;
static const int CMD_WORDS = 64, CONTROL_WORDS = 20, READERS = 4, DESC_WORDS = 8;
static const int ERROR_NO_ENGINE = 1;

// A descriptor slot of a command (docs/accelerator.md, "Program"): flags bit 0 used, bits 2:1 log2 of the
// container bytes, bit 3 indexed, bit 4 on chip (base is an offset in the scratchpad).
struct desc_t {
    ap_uint<32> base, n1, stride1, n2, stride2, words, lanes, flags;
    bool used() const { return flags[0]; }
    int container() const { return 1 << flags.range(2, 1).to_int(); }
    bool indexed() const { return flags[3]; }
    bool on_chip() const { return flags[4]; }
};

// The on-chip scratchpad: SCRATCH_WORDS bus words (accel_config.h; one word when the build has none, as C++
// has no empty array), where the compiler keeps intermediate tensors that fit (hwmoe/accel/scratch.py).
static bus_t scratchpad[SCRATCH_WORDS > 0 ? SCRATCH_WORDS : 1];

// Container value (c = 1, 2, 4 bytes, sign-extended) at byte offset off of a bus word, and its inverse.
inline ap_int<32> unpack(const bus_t &w, int off, int c) {
    ap_uint<32> raw = w.range(8 * off + 8 * c - 1, 8 * off);
    return c == 1 ? ap_int<32>(ap_int<8>(raw)) : c == 2 ? ap_int<32>(ap_int<16>(raw)) : ap_int<32>(raw);
}
inline void pack(bus_t &w, int off, int c, const ap_int<32> &v) {
    w.range(8 * off + 8 * c - 1, 8 * off) = ap_uint<32>(v).range(8 * c - 1, 0);
}

// One segment read: `words` containers from byte address a, as beats of `lanes` words (the last one padded).
inline void read_segment(const bus_t *mem, addr_t a, int words, int c, int lanes, beats_t &out) {
    addr_t idx = a / BUS_BYTES;
    int off = (a % BUS_BYTES).to_int();
    bus_t w = mem[idx];
    beat_t b = zero_beat();
    int l = 0;
SEGMENT_READ:
    for (int i = 0; i < words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        if (off == BUS_BYTES) {
            w = mem[++idx];
            off = 0;
        }
        b.v[l] = unpack(w, off, c);
        off += c;
        if (++l == lanes || i == words - 1) {
            out.write(b);
            b = zero_beat();
            l = 0;
        }
    }
}

// One segment written: the first `words` words of ceil(words/lanes) beats, exactly the segment's bytes (a bus
// word the segment covers only in part is read first and merged: the write strobes of the RTL writer).
inline void write_segment(bus_t *mem, addr_t a, int words, int c, int lanes, beats_t &in) {
    addr_t idx = a / BUS_BYTES;
    int off = (a % BUS_BYTES).to_int();
    int left = words * c;                          // bytes still to write
    bus_t w = off != 0 || left < BUS_BYTES ? mem[idx] : bus_t(0);
    beat_t b;
    int l = lanes;
SEGMENT_WRITE:
    for (int i = 0; i < words; i++) {
        HWMOE_HLS(PIPELINE II=1)
        if (l == lanes) {
            b = in.read();
            l = 0;
        }
        if (off == BUS_BYTES) {
            mem[idx++] = w;
            off = 0;
            w = left < BUS_BYTES ? mem[idx] : bus_t(0);
        }
        pack(w, off, c, b.v[l++]);
        off += c;
        left -= c;
    }
    mem[idx] = w;
}

// The reader of one slot (dma.read_beats): n2 x n1 segments, segment (i2, i1) at base + off2(i2) + i1*stride1
// with off2(i2) = i2*stride2, or e*stride2 for the i2-th request e in indexed mode (at most n2 of them); base
// is the image's, or 0 in the scratchpad for a slot on chip.
inline void dma_read(const bus_t *image, addr_t image_base, const desc_t &d, requests_t &requests, beats_t &out) {
    if (!d.used()) return;
    const bus_t *mem = d.on_chip() ? scratchpad : image;
    const addr_t base = d.on_chip() ? addr_t(0) : image_base;
    const int c = d.container(), n1 = d.n1, n2 = d.n2, words = d.words, lanes = d.lanes;
    bool more = true;
GROUPS:
    for (int i2 = 0; i2 < n2 && more; i2++) {
        addr_t group = addr_t(i2) * d.stride2;
        if (d.indexed()) {
            request_t q = requests.read();
            group = addr_t(q.expert) * d.stride2;
            more = !q.last;
        }
    SEGMENTS:
        for (int i1 = 0; i1 < n1; i1++)
            read_segment(mem, base + d.base + group + addr_t(i1) * d.stride1, words, c, lanes, out);
    }
    while (d.indexed() && more) more = !requests.read().last;      // requests beyond n2 are not used
}
inline void dma_read(const bus_t *mem, addr_t base, const desc_t &d, beats_t &out) {
    requests_t none;
    dma_read(mem, base, d, none, out);
}

// The writer (dma.write_memory): the same segments, from ceil(words/lanes) beats each.
inline void dma_write(bus_t *image, addr_t image_base, const desc_t &d, beats_t &in) {
    bus_t *mem = d.on_chip() ? scratchpad : image;
    const addr_t base = d.on_chip() ? addr_t(0) : image_base;
    const int c = d.container(), n1 = d.n1, n2 = d.n2, words = d.words, lanes = d.lanes;
GROUPS:
    for (int i2 = 0; i2 < n2; i2++)
    SEGMENTS:
        for (int i1 = 0; i1 < n1; i1++)
            write_segment(mem, base + d.base + addr_t(i2) * d.stride2 + addr_t(i1) * d.stride1, words, c, lanes, in);
}

// ---------------------------------------------------------------- one command per engine: readers, engine, writer
// Each is one dataflow region; the descriptors come by value and only the engine reads the control words, so
// that every array and stream has one reader.
#ifdef HWMOE_ACCEL_LINEAR
inline void run_linear(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t dx, desc_t dw, desc_t db,
                       desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t x, w, b, y;
    dma_read(mem, base, dx, x);
    dma_read(mem, base, dw, w);
    dma_read(mem, base, db, b);
    linear_engine<linear_build, linear_ctl>(ctl, x, w, b, y);
    dma_write(mem, base, dy, y);
}
#endif
#ifdef HWMOE_ACCEL_ATTENTION
inline void run_attention(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t dq, desc_t dk, desc_t dv,
                          desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t q, k, v, y;
    dma_read(mem, base, dq, q);
    dma_read(mem, base, dk, k);
    dma_read(mem, base, dv, v);
    attention_engine<attention_build>(ctl, q, k, v, y);
    dma_write(mem, base, dy, y);
}
#endif
#ifdef HWMOE_ACCEL_LAYERNORM
inline void run_layernorm(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t dx, desc_t dp, desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t x, p, y;
    dma_read(mem, base, dx, x);
    dma_read(mem, base, dp, p);
    layernorm_engine<layernorm_build>(ctl, x, p, y);
    dma_write(mem, base, dy, y);
}
#endif
#ifdef HWMOE_ACCEL_ROUTER
inline void run_router(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t dx, desc_t dw, desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t x, w, y;
    dma_read(mem, base, dx, x);
    dma_read(mem, base, dw, w);
    router_engine<router_build>(ctl, x, w, y);
    dma_write(mem, base, dy, y);
}
#endif
#ifdef HWMOE_ACCEL_ADD
inline void run_add(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t da, desc_t db, desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t a, b, y;
    dma_read(mem, base, da, a);
    dma_read(mem, base, db, b);
    add_engine<add_build>(ctl, a, b, y);
    dma_write(mem, base, dy, y);
}
#endif
#ifdef HWMOE_ACCEL_MOE
// The MoE engine's dense mode (control dense): one linear layer on its MAC array, the linear engine's
// computation at the MoE build's words (d_in = dim held in the hidden banks, d_out = hidden) and the MoE
// command's control words; slots x, -, w, b (executor._moe, rtl/hwmoe_moe.v).
struct moe_dense_build : moe_build {
    static const int T_IN = moe_build::T, T_OUT = moe_build::T;
    static const int X_W = moe_build::X_W > moe_build::A_W ? moe_build::X_W : moe_build::A_W;
    static const int MAX_IN = moe_build::MAX_HID;
    static const int MAX_OUT = moe_build::MAX_DIM > moe_build::MAX_HID ? moe_build::MAX_DIM : moe_build::MAX_HID;
    static const int HAS_GELU = 1;
};
struct moe_dense_ctl {
    enum { tokens = moe_ctl::tokens, d_in = moe_ctl::dim, d_out = moe_ctl::hidden, x_frac = moe_ctl::x_frac,
           w_frac = moe_ctl::w1_frac, b_frac = moe_ctl::b1_frac, h_frac = moe_ctl::h_frac, h_width = moe_ctl::h_width,
           out_frac = moe_ctl::out_frac, out_width = moe_ctl::out_width, bias_en = moe_ctl::bias_en,
           gelu_en = moe_ctl::gelu_en };
};
inline void run_moe_dense(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], desc_t dx, desc_t dw, desc_t db,
                          desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t x, w, b, y;
    dma_read(mem, base, dx, x);
    dma_read(mem, base, dw, w);
    dma_read(mem, base, db, b);
    linear_engine<moe_dense_build, moe_dense_ctl>(ctl, x, w, b, y);
    dma_write(mem, base, dy, y);
}
inline void run_moe(bus_t *mem, addr_t base, const ctl_t ctl[CONTROL_WORDS], int tokens, desc_t dx, desc_t dr,
                    desc_t dw, desc_t db, desc_t dy) {
    HWMOE_HLS(DATAFLOW)
    beats_t x, routes, routed, w, b, y;
    requests_t req_w, req_b;
    dma_read(mem, base, dx, x);
    dma_read(mem, base, dr, routes);
    moe_requests<moe_build>(tokens, routes, routed, req_w, req_b);
    dma_read(mem, base, dw, req_w, w);
    dma_read(mem, base, db, req_b, b);
    moe_engine<moe_build>(ctl, x, routed, w, b, y);
    dma_write(mem, base, dy, y);
}
#endif

// ---------------------------------------------------------------- the sequencer
// Runs the program at base + prog; commands: the commands completed; error: 0, or ERROR_NO_ENGINE.
inline void run(bus_t *mem, addr_t base, ap_uint<32> prog, ap_uint<32> &commands, ap_uint<32> &error) {
    addr_t pc = base + prog;
    ap_uint<32> done = 0;
    error = 0;
COMMANDS:
    for (;;) {
        beats_t fetched;
        ap_uint<32> word[CMD_WORDS];
        read_segment(mem, pc, CMD_WORDS, 4, 1, fetched);
    FETCH:
        for (int i = 0; i < CMD_WORDS; i++) word[i] = ap_uint<32>(fetched.read().v[0]);
        const int op = word[0];
        if (op == 0) break;
        ctl_t ctl[CONTROL_WORDS];
        desc_t d[READERS + 1];
        for (int i = 0; i < CONTROL_WORDS; i++) ctl[i] = word[1 + i];
        for (int s = 0; s <= READERS; s++) {
            const ap_uint<32> *f = word + 1 + CONTROL_WORDS + DESC_WORDS * s;
            d[s].base = f[0];
            d[s].n1 = f[1];
            d[s].stride1 = f[2];
            d[s].n2 = f[3];
            d[s].stride2 = f[4];
            d[s].words = f[5];
            d[s].lanes = f[6];
            d[s].flags = f[7];
        }
        switch (op) {
#ifdef HWMOE_ACCEL_LINEAR
        case 1: run_linear(mem, base, ctl, d[0], d[1], d[2], d[READERS]); break;
#endif
#ifdef HWMOE_ACCEL_ATTENTION
        case 2: run_attention(mem, base, ctl, d[0], d[1], d[2], d[READERS]); break;
#endif
#ifdef HWMOE_ACCEL_LAYERNORM
        case 3: run_layernorm(mem, base, ctl, d[0], d[1], d[READERS]); break;
#endif
#ifdef HWMOE_ACCEL_ROUTER
        case 4: run_router(mem, base, ctl, d[0], d[1], d[READERS]); break;
#endif
#ifdef HWMOE_ACCEL_ADD
        case 5: run_add(mem, base, ctl, d[0], d[1], d[READERS]); break;
#endif
#ifdef HWMOE_ACCEL_MOE
        case 6:
            if (ctl[moe_ctl::dense] != 0) run_moe_dense(mem, base, ctl, d[0], d[2], d[3], d[READERS]);
            else run_moe(mem, base, ctl, ctl[moe_ctl::tokens], d[0], d[1], d[2], d[3], d[READERS]);
            break;
#endif
        default: error = ERROR_NO_ENGINE; break;
        }
        if (error != 0) break;
        done++;
        pc += CMD_WORDS * 4;
    }
    commands = done;
}

}  // namespace accel
}  // namespace hwmoe

#pragma GCC diagnostic pop

#endif
