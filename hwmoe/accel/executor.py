"""A Python model of the accelerator running its program: it fetches and decodes every command from the
memory image as the sequencer does, moves every stream through the DMA model (``dma.read_beats``,
``dma.write_memory``; a slot flagged on chip on the scratchpad's bytes instead of the image's) and runs each
engine as its ports define it, from the command's control inputs only (the kernels' reference functions on
the formats the controls give).

Why: equality with ``FixedRunner.run_raw`` checks everything the kernels' own tests do not: the command
encoding, the image layout, the descriptors and each engine's stream order.  The RTL top runs the same
program on the same image and must write the same bytes.
"""
from __future__ import annotations

import struct
from dataclasses import replace

import numpy as np

from ..kernels.add import add
from ..kernels.attention import attention_scored, to_stream
from ..kernels.gelu import gelu
from ..kernels.layernorm import layernorm
from ..kernels.linear import linear
from ..kernels.moe import moe
from ..kernels.router import route_beats, router
from ..kernels.testdata import row_beats
from ..numerics.fixed import Fmt
from ..numerics.intmath import ceil_div
from ..numerics.routing import expert_queues
from ..numerics.tables import GeluTable
from .dma import Descriptor, read_beats, write_memory
from .engines import ENGINES, KERNELS
from .image import load_input
from .program import CMD_BYTES, CMD_WORDS, CONTROL_WORDS, DESC_WORDS, READERS, STREAMS, Program, Slot

F = Fmt.from_frac


def decode(words: tuple[int, ...], program: Program) -> tuple[str, dict[str, int], list[Slot | None]] | None:
    """(engine, controls, slots) of one command's words; None at the end of the program."""
    op = words[0]
    if op == 0:
        return None
    engine = ENGINES[op - 1]
    names = list(KERNELS[engine].controls(program.engines.params[engine]))
    signed = [w - (1 << 32) if w >> 31 else w for w in words]
    controls = dict(zip(names, signed[1:1 + CONTROL_WORDS]))
    slots = []
    for s in range(READERS + 1):
        base, n1, stride1, n2, stride2, count, lanes, flags = words[1 + CONTROL_WORDS + DESC_WORDS * s:][:DESC_WORDS]
        slots.append(Slot(Descriptor(base, n1, stride1, n2, stride2, count, lanes, 1 << ((flags >> 1) & 3)),
                          bool(flags & 8), bool(flags & 16)) if flags & 1 else None)
    return engine, controls, slots


# ---- the engines on their streams (beats [n, lanes] in, beats out) ---------------------------------------------
def _rows(beats: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Beats of rows padded to whole beats -> [rows, cols]."""
    return beats.reshape(rows, -1)[:, :cols]


def _row_beats(a: np.ndarray, lanes: int) -> np.ndarray:
    return row_beats(a, ceil_div(a.shape[1], lanes), lanes)


def _dense(s, tokens: int, d_in: int, d_out: int, x_fmt: Fmt, w_fmt: Fmt, b_fmt: Fmt, h: Fmt, out: Fmt,
           bias: bool, gelu_en: bool, entries: int, t_out: int) -> np.ndarray:
    """One linear layer from its x, w, b beats -> y beats block-major (the linear engine, and the MoE engine
    in dense mode)."""
    x, w = _rows(s["x"], tokens, d_in), _rows(s["w"], d_out, d_in)
    b = s["b"].reshape(-1)[:d_out] if bias else None
    y = linear(x, x_fmt, w, w_fmt, b, b_fmt, h if gelu_en else out)
    if gelu_en:
        y = gelu(y, h, out, GeluTable(entries))
    ot = ceil_div(d_out, t_out)
    padded = np.zeros((tokens, ot * t_out), np.int64)
    padded[:, :d_out] = y
    return padded.reshape(tokens, ot, t_out).transpose(1, 0, 2).reshape(-1, t_out)


def _linear(e, c, s):
    return _dense(s, c["tokens"], c["d_in"], c["d_out"], F(e.x_width, c["x_frac"]), F(e.w_width, c["w_frac"]),
                  F(e.b_width, c["b_frac"]), F(c["h_width"], c["h_frac"]), F(c["out_width"], c["out_frac"]),
                  bool(c["bias_en"]), bool(c["gelu_en"]), e.entries, e.t_out)


def _attention(e, c, s):
    heads, tokens = c["heads"], c["tokens"]
    natural = lambda a: a.reshape(heads, tokens, e.head_dim).transpose(1, 0, 2).reshape(tokens, heads * e.head_dim)
    q, k, v = (natural(s[n]) for n in ("q", "k", "v"))
    y = attention_scored(q, k, v, F(e.q_width, c["q_frac"]), F(e.k_width, c["k_frac"]), F(e.v_width, c["v_frac"]),
                         heads, c["c_value"], c["c_frac"], F(c["t_width"], c["t_frac"]),
                         F(c["out_width"], c["out_frac"]), e.block)
    return to_stream(y, heads, e.lanes)


def _layernorm(e, c, s):
    dim, tokens, lanes = c["dim"], c["tokens"], e.lanes
    x = _rows(s["x"], tokens, dim)
    gamma, beta = s["p"][:, :lanes].reshape(-1)[:dim], s["p"][:, lanes:].reshape(-1)[:dim]
    # LayerNorm is invariant to the input's scale: the engine has no x_frac; the statistics fraction (the
    # scale of eps) is x_frac - X_W + STAT_W, so any x_frac with eps at that scale is the same computation
    x_fmt = F(e.x_width, 0)
    stat_frac = -e.x_width + e.stat_width
    eps = c["eps"] * 2.0 ** (-2 * stat_frac)
    y = layernorm(x, x_fmt, gamma, beta, F(e.p_width, c["p_frac"]), eps, F(c["out_width"], c["out_frac"]),
                  e.stat_width, e.norm_width)
    return _row_beats(y, lanes)


def _router(e, c, s):
    dim, tokens = c["dim"], c["tokens"]
    x, w = _rows(s["x"], tokens, dim), _rows(s["w"], e.experts, dim)
    index, gates = router(x, F(e.x_width, c["x_frac"]), w, F(e.w_width, c["w_frac"]),
                          F(c["logit_width"], c["logit_frac"]), e.top_k, bool(c["renorm"]))
    return route_beats(index, gates)


def _add(e, c, s):
    return add(s["a"], F(e.a_width, c["a_frac"]), s["b"], F(e.b_width, c["b_frac"]),
               F(c["out_width"], c["out_frac"]))


def moe_requests(e, c, s) -> list[int]:
    """The experts the MoE engine requests (wreq): those chosen by some token, in increasing order."""
    index = s["routes"][:, :e.top_k]
    return [n for n, (tok, _) in enumerate(expert_queues(index, e.experts)) if tok.size]


def _moe(e, c, s):
    tokens, dim, hidden, t, k = c["tokens"], c["dim"], c["hidden"], e.t, e.top_k
    if c["dense"]:                                  # a linear layer: d_in = dim, d_out = hidden
        return _dense(s, tokens, dim, hidden, F(e.x_width, c["x_frac"]), F(e.w_width, c["w1_frac"]),
                      F(e.b_width, c["b1_frac"]), F(c["h_width"], c["h_frac"]), F(c["out_width"], c["out_frac"]),
                      bool(c["bias_en"]), bool(c["gelu_en"]), e.entries, t)
    dt, ht = ceil_div(dim, t), ceil_div(hidden, t)
    x = _rows(s["x"], tokens, dim)
    index, gates = s["routes"][:, :k], s["routes"][:, k:2 * k]
    used = moe_requests(e, c, s)
    w1 = np.zeros((e.experts, hidden, dim), np.int64)
    w2 = np.zeros((e.experts, dim, hidden), np.int64)
    b1 = np.zeros((e.experts, hidden), np.int64)
    b2 = np.zeros((e.experts, dim), np.int64)
    w_blob, b_blob = s["w"].reshape(len(used), -1), s["b"].reshape(len(used), -1)
    for i, n in enumerate(used):
        w1[n] = w_blob[i, :hidden * dt * t].reshape(hidden, -1)[:, :dim]
        w2[n] = w_blob[i, hidden * dt * t:hidden * dt * t + dim * ht * t].reshape(dim, -1)[:, :hidden]
        b1[n], b2[n] = b_blob[i, :hidden], b_blob[i, ht * t:ht * t + dim]
    y = moe(x, F(e.x_width, c["x_frac"]), index, gates, w1, F(e.w_width, c["w1_frac"]), b1,
            F(e.b_width, c["b1_frac"]), w2, F(e.w_width, c["w2_frac"]), b2, F(e.b_width, c["b2_frac"]),
            F(c["h_width"], c["h_frac"]), F(c["a_width"], c["a_frac"]), F(c["e_width"], c["e_frac"]),
            F(c["out_width"], c["out_frac"]), GeluTable(e.entries))
    return _row_beats(y, t)


MODELS = {"linear": _linear, "attention": _attention, "layernorm": _layernorm, "router": _router, "add": _add,
          "moe": _moe}


# ---- the sequencer -------------------------------------------------------------------------------------------
def _read(memories: tuple[bytearray, bytearray], slot: Slot) -> np.ndarray:
    d = slot.d
    return read_beats(d, bytes(memories[slot.scratch]), d.lanes)


def run_command(program: Program, memory: bytearray, engine: str, controls: dict, slots: list,
                scratch: bytearray | None = None) -> None:
    """One command on ``memory`` (the image) and ``scratch`` (the scratchpad's bytes)."""
    e = program.engines.params[engine]
    memories = (memory, scratch)
    streams = {name: _read(memories, slot) for name, slot in zip(STREAMS[engine], slots) if slot and not slot.indexed}
    indexed = {name: slot for name, slot in zip(STREAMS[engine], slots) if slot and slot.indexed}
    if indexed:
        requests = tuple(moe_requests(e, controls, streams))
        for name, slot in indexed.items():
            streams[name] = (_read(memories, replace(slot, d=replace(slot.d, indices=requests))) if requests
                             else np.zeros((0, slot.d.lanes), np.int64))
    out = MODELS[engine](e, controls, streams)
    write = slots[READERS]
    target = memories[write.scratch]
    target[:] = write_memory(write.d, out, bytes(target))


def execute(program: Program, memory: bytearray, scratch: bytearray | None = None) -> int:
    """Run the program in ``memory`` (the image with its input) and ``scratch`` (the scratchpad's
    ``program.scratch_bytes``; a zeroed one if not given); returns the commands run."""
    scratch = bytearray(program.scratch_bytes) if scratch is None else scratch
    pc = program.program_offset
    done = 0
    while True:
        words = struct.unpack(f"<{CMD_WORDS}I", bytes(memory[pc:pc + CMD_BYTES]))
        command = decode(words, program)
        if command is None:
            return done
        run_command(program, memory, *command, scratch=scratch)
        pc += CMD_BYTES
        done += 1


def load_image(program: Program, x: np.ndarray) -> bytearray:
    """The program's image with one input image (quantised, as patches) written."""
    memory = bytearray(program.memory)
    load_input(program.graph, program.plan, program.layout, memory, x)
    return memory


def read_output(program: Program, memory: bytes) -> np.ndarray:
    graph = program.graph
    return program.layout.load(memory, program.output_region).reshape(graph.shapes[graph.output])


def run(program: Program, x: np.ndarray) -> np.ndarray:
    """One un-batched float input -> the raw output words the program writes."""
    memory = load_image(program, x)
    execute(program, memory)
    return read_output(program, memory)
