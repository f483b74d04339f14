"""The accelerator's program and memory image: ``compile_program(graph, plan)`` places every parameter (in the
order and width its engine streams it), every activation and the program in one memory image, and turns each
engine call into one command (docs/accelerator.md, "Program").

A command is ``CMD_WORDS`` little-endian 32-bit words:

* word 0: the opcode, engine number + 1 (``engines.ENGINES``); 0 ends the program;
* words 1 .. CONTROL_WORDS: the engine's control inputs in the order of ``kernel.controls`` (two's complement);
* then ``SLOTS`` descriptors of ``DESC_WORDS`` words each, readers 0 .. READERS-1 then the writer:
  base (relative to the image), n1, stride1, n2, stride2, words, lanes, flags (bit 0 the slot is used,
  bits 2:1 log2 of the container bytes, bit 3 indexed: the groups come from the engine's request stream,
  bit 4 on chip: base is an offset in the scratchpad, not in the image).

With a scratchpad (``scratch_bytes``), intermediate tensors live on chip where they fit (``hwmoe.accel.scratch``).

Which stream each slot carries, per engine (``STREAMS``): linear x, w, b -> y; attention q, k, v -> y;
layernorm x, p -> y; router x, w -> routes; add a, b -> y; moe x, routes, w, b -> y (w and b indexed by the
engine's expert requests; in dense mode, a linear layer: x, no routes, w, b -> y block-major, as linear).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..numerics.fixed import Fmt, quantize
from ..numerics.intmath import ceil_div
from ..numerics.plan import Plan
from ..kernels.testdata import row_beats
from ..reference import FixedRunner
from .dma import Descriptor
from ..kernels.moe import MoeParams
from .engines import ENGINES, KERNELS, Call, Engines, bind, build_engines, calls
from . import scratch
from .image import ALIGN, ImageLayout, Region, fmt_container

CMD_WORDS = 64
CONTROL_WORDS = 20
READERS = 4
DESC_WORDS = 8
SLOTS = READERS + 1
CMD_BYTES = 4 * CMD_WORDS
ROUTE_CONTAINER = 4                 # routes: expert indices and U1.15 gates (up to 2^15) in 4-byte words

STREAMS = {"linear": ("x", "w", "b"), "attention": ("q", "k", "v"), "layernorm": ("x", "p"),
           "router": ("x", "w"), "add": ("a", "b"), "moe": ("x", "routes", "w", "b")}


def tiles(p) -> tuple[int, int]:
    """(T_IN, T_OUT) of the engine running a linear call: the linear engine's tile, or the MoE engine's T."""
    return (p.t, p.t) if isinstance(p, MoeParams) else (p.t_in, p.t_out)


def stream_lanes(engine: str, p) -> dict[str, int]:
    """Words per beat of each stream of an engine (inputs in slot order, then y): what its descriptors ask of
    the DMA and what the top wires to it."""
    if engine == "linear":
        return {"x": p.t_in, "w": p.t_in, "b": p.t_out, "y": p.t_out}
    if engine == "moe":
        return {"x": p.t, "routes": 2 * p.top_k, "w": p.t, "b": p.t, "y": p.t}
    if engine == "layernorm":
        return {"x": p.lanes, "p": 2 * p.lanes, "y": p.lanes}
    if engine == "router":
        return {"x": p.lanes, "w": p.lanes, "y": 2 * p.top_k}
    return {**{s: p.lanes for s in STREAMS[engine]}, "y": p.lanes}


@dataclass(frozen=True)
class Slot:
    """A descriptor in a command; ``indexed``: its groups are the engine's requests (``d.indices`` unset);
    ``scratch``: it moves words of the on-chip scratchpad, not of the image."""
    d: Descriptor
    indexed: bool = False
    scratch: bool = False


@dataclass
class Command:
    engine: str
    node: str                                   # the IR node it runs (for reports)
    controls: dict[str, int]
    reads: tuple[Slot | None, ...]              # READERS slots
    write: Slot


@dataclass
class Program:
    """A compiled model: its engines, image layout, the memory (parameters and program written; input and
    activations zero) and the commands (the program's bytes are at ``layout.regions['program']``)."""
    graph: ir.Graph
    plan: Plan
    engines: Engines
    layout: ImageLayout
    memory: bytearray
    commands: list[Command] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)          # the engine call of each command
    scratch_bytes: int = 0                                   # the scratchpad's capacity (0: none)

    @property
    def program_offset(self) -> int:
        return self.layout.regions["program"].offset

    @property
    def lanes_max(self) -> int:
        """The widest stream of any descriptor: the DMA's LANES_MAX."""
        slots = [s for c in self.commands for s in (*c.reads, c.write) if s is not None]
        return max(s.d.lanes for s in slots)

    @property
    def input_region(self) -> Region:
        return self.layout.regions[self.graph.input]

    @property
    def output_region(self) -> Region:
        return self.layout.regions[self.graph.output]


# ---- parameters in stream order ------------------------------------------------------------------------
def padded_rows(a: np.ndarray, lanes: int) -> np.ndarray:
    """[rows, cols] -> [rows, ceil(cols/lanes)*lanes], zero-padded: rows of whole beats."""
    a = np.atleast_2d(np.asarray(a, np.int64))
    return row_beats(a, ceil_div(a.shape[1], lanes), lanes).reshape(a.shape[0], -1)


def flat(*parts: np.ndarray) -> np.ndarray:
    """One contiguous run of words: [1, total]."""
    return np.concatenate([np.asarray(p, np.int64).reshape(-1) for p in parts])[None, :]


class _Builder:
    """Allocates regions and writes parameters while the commands are made."""

    def __init__(self, graph: ir.Graph, plan: Plan, engines: Engines, image: bool = True,
                 raw: dict | None = None, on_chip: dict[str, int] | None = None):
        self.graph, self.plan, self.engines = graph, plan, engines
        self.layout = ImageLayout()
        # without an image only the parameters' shapes matter: the float values stand in for their words
        self.raw = raw if raw is not None else FixedRunner(graph, plan).raw if image else \
            {f"{n.name}.{k}": v for n in graph.nodes for k, v in n.params().items()}
        self.params: dict[str, np.ndarray] = {}
        self.on_chip = on_chip or {}                # tensor -> its scratchpad offset
        self.tensors: list[str] = []                # activation regions, in allocation order
        self.in_image: set[str] = set()             # activation regions the host reads after a run

    def param(self, name: str, words: np.ndarray, container: int) -> Region:
        region = self.layout.add(name, *words.shape, container)
        self.params[name] = words
        return region

    def tensor(self, name: str, rows: int, cols: int, container: int, row_words: int = 0,
               in_image: bool = False) -> Region:
        """An activation region; ``row_words``: words a writer may put in a row (zero padding past cols);
        ``in_image``: the host reads it after a run, so it never goes on chip."""
        self.tensors.append(name)
        if in_image:
            self.in_image.add(name)
        return self.layout.add(name, rows, cols, container, row_words, self.on_chip.get(name))

    def fmt(self, key: str) -> Fmt:
        return self.plan.params[key]


def rows_slot(region: Region, lanes: int, rows: int | None = None, row0: int = 0) -> Slot:
    """``rows`` rows of ``region`` from ``row0``, each one segment of its ``cols`` words; rows that fill whole
    beats and lie back to back are one segment (the same beats, in longer bursts)."""
    n = region.rows - row0 if rows is None else rows
    base = region.offset + row0 * region.stride
    if region.cols % lanes == 0 and region.stride == region.cols * region.container:
        return Slot(Descriptor(base, 1, 0, 1, 0, n * region.cols, lanes, region.container), scratch=region.scratch)
    return Slot(Descriptor(base, n, region.stride, 1, 0, region.cols, lanes, region.container),
                scratch=region.scratch)


def blob_slot(region: Region, lanes: int) -> Slot:
    """A one-row region as one contiguous segment."""
    return Slot(Descriptor(region.offset, 1, 0, 1, 0, region.cols, lanes, region.container))


def experts_slot(region: Region, lanes: int) -> Slot:
    """One row (one segment) per expert, the rows chosen by the engine's requests."""
    return Slot(Descriptor(region.offset, 1, 0, region.rows, region.stride, region.cols, lanes, region.container),
                indexed=True)


# ---- one command per call: (reader slots, writer slot) --------------------------------------------------
def _linear(b: _Builder, call: Call, run, regions: dict[str, Region]):
    """A linear layer on the linear engine, or on the MoE engine in dense mode (its slots x, -, w, b)."""
    node = call.node
    t_in, t_out = tiles(run)
    w = b.raw[f"{node.name}.weight"]
    wr = b.param(f"{node.name}.weight", flat(padded_rows(w, t_in)), fmt_container(b.fmt(f"{node.name}.weight")))
    br = None
    if run.bias:
        bias = b.raw[f"{node.name}.bias"]
        br = b.param(f"{node.name}.bias", flat(padded_rows(bias, t_out)), fmt_container(b.fmt(f"{node.name}.bias")))
    x = regions[node.inputs[0]]
    row0 = 0
    if node.kind == "patch_embed":
        y = regions[f"{node.name}.tokens"]
        row0 = 1                                           # row 0: the class token
    else:
        y = regions[call.outputs[0]]
    d_out = run.hidden if call.engine == "moe" else run.d_out
    lanes = stream_lanes(call.engine, run)
    write = Slot(Descriptor(y.offset + row0 * y.stride, run.tokens, y.stride, ceil_div(d_out, t_out),
                            t_out * y.container, t_out, lanes["y"], y.container), scratch=y.scratch)
    streams = {"x": rows_slot(x, lanes["x"], rows=run.tokens), "w": blob_slot(wr, lanes["w"]),
               "b": blob_slot(br, lanes["b"]) if br else None}
    return tuple(streams.get(name) for name in STREAMS[call.engine]), write


def _attention(b: _Builder, call: Call, run, regions: dict[str, Region]):
    q, k, v = (regions[t] for t in call.node.inputs)
    y = regions[call.outputs[0]]
    lanes = stream_lanes("attention", run)
    heads = lambda r, stream: Slot(r.head_descriptor(run.heads, lanes[stream]), scratch=r.scratch)
    return (heads(q, "q"), heads(k, "k"), heads(v, "v")), heads(y, "y")


def _layernorm(b: _Builder, call: Call, run, regions: dict[str, Region]):
    node = call.node
    beats = ceil_div(run.dim, run.lanes)
    gamma, beta = (padded_rows(b.raw[f"{node.name}.{k}"], run.lanes).reshape(beats, run.lanes)
                   for k in ("gamma", "beta"))
    pr = b.param(f"{node.name}.params", flat(np.concatenate([gamma, beta], 1)),
                 fmt_container(b.fmt(f"{node.name}.gamma")))
    x, y = regions[node.inputs[0]], regions[call.outputs[0]]
    lanes = stream_lanes("layernorm", run)
    return (rows_slot(x, lanes["x"]), blob_slot(pr, lanes["p"])), rows_slot(y, lanes["y"])


def _router(b: _Builder, call: Call, run, regions: dict[str, Region]):
    node = call.node
    w = b.param(f"{node.name}.weight", flat(padded_rows(b.raw[f"{node.name}.weight"], run.lanes)),
                fmt_container(b.fmt(f"{node.name}.weight")))
    x, routes = regions[node.inputs[0]], regions[f"{node.name}.routes"]
    lanes = stream_lanes("router", run)
    return (rows_slot(x, lanes["x"]), blob_slot(w, lanes["w"])), rows_slot(routes, lanes["y"])


def _moe(b: _Builder, call: Call, run, regions: dict[str, Region]):
    if run.dense:
        return _linear(b, call, run, regions)
    node = call.node
    t = run.t
    raw = lambda k: b.raw[f"{node.name}.{k}"]
    w = np.stack([flat(padded_rows(raw("w1")[e], t), padded_rows(raw("w2")[e], t))[0] for e in range(run.experts)])
    bias = np.stack([flat(padded_rows(raw("b1")[e], t), padded_rows(raw("b2")[e], t))[0] for e in range(run.experts)])
    c = lambda *keys: max(fmt_container(b.fmt(f"{node.name}.{k}")) for k in keys)
    wr = b.param(f"{node.name}.w", w, c("w1", "w2"))
    br = b.param(f"{node.name}.b", bias, c("b1", "b2"))
    x, routes = regions[node.inputs[0]], regions[f"{_router_of(b.graph, node).name}.routes"]
    y = regions[call.outputs[0]]
    lanes = stream_lanes("moe", run)
    return (rows_slot(x, lanes["x"]), rows_slot(routes, lanes["routes"]), experts_slot(wr, lanes["w"]),
            experts_slot(br, lanes["b"])), rows_slot(y, lanes["y"])


def _add(b: _Builder, call: Call, run, regions: dict[str, Region]):
    node = call.node
    if node.kind == "patch_embed":
        a, other = regions[f"{node.name}.tokens"], regions[f"{node.name}.pos_embed"]
    else:
        a, other = (regions[t] for t in node.inputs)
    y = regions[node.outputs[0]]
    lanes = stream_lanes("add", run)
    return (rows_slot(a, lanes["a"]), rows_slot(other, lanes["b"])), rows_slot(y, lanes["y"])


COMMANDS = {"linear": _linear, "attention": _attention, "layernorm": _layernorm, "router": _router, "moe": _moe,
            "add": _add}


def _router_of(graph: ir.Graph, node: ir.Experts) -> ir.Router:
    producer = {t: n for n in graph.nodes for t in n.outputs}
    return producer[node.inputs[1]]


# ---- the image -------------------------------------------------------------------------------------------------
def _activation_regions(b: _Builder, program_calls: list[Call]) -> dict[str, Region]:
    """The input (as patches), every tensor an engine writes, the patch embedding's token rows (class token
    in row 0) and position embedding, and each router's routes."""
    graph, plan = b.graph, b.plan
    regions: dict[str, Region] = {}
    shape = graph.shapes[graph.input]
    first = graph.nodes[0]
    if first.kind != "patch_embed" or first.inputs[0] != graph.input:
        raise ValueError("the accelerator expects the graph to start with the patch embedding of its input")
    p = first.patch
    regions[graph.input] = b.tensor(graph.input, (shape[1] // p) * (shape[2] // p), shape[0] * p * p,
                                    fmt_container(plan.tensors[graph.input]))
    for call in program_calls:
        node, run = call.node, b.engines.params[call.engine]
        if call.engine == "add" and node.kind == "patch_embed":
            continue
        if node.kind == "patch_embed":
            tok_fmt = plan.internal[f"{node.name}.tokens"]
            rows, cols = graph.shapes[node.outputs[0]]
            pad = ceil_div(cols, tiles(run)[1]) * tiles(run)[1]
            regions[f"{node.name}.tokens"] = b.tensor(f"{node.name}.tokens", rows, cols, fmt_container(tok_fmt), pad)
            b.params[f"{node.name}.tokens"] = np.zeros((rows, cols), np.int64)
            b.params[f"{node.name}.tokens"][0] = quantize(node.cls_token, tok_fmt)
            pos = b.raw[f"{node.name}.pos_embed"]
            regions[f"{node.name}.pos_embed"] = b.param(f"{node.name}.pos_embed", pos.reshape(rows, cols),
                                                        fmt_container(b.fmt(f"{node.name}.pos_embed")))
            name = node.outputs[0]
            regions[name] = b.tensor(name, rows, cols, fmt_container(plan.tensors[name]))
            continue
        if node.kind == "router":
            rows = graph.shapes[node.inputs[0]][0]
            # in the image: a run's routing prices its MoE commands (timing.routing_of, the build report)
            regions[f"{node.name}.routes"] = b.tensor(f"{node.name}.routes", rows, 2 * node.top_k, ROUTE_CONTAINER,
                                                      in_image=True)
            continue
        name = call.outputs[0]
        shape = graph.shapes[name]
        rows, cols = (1, shape[0]) if len(shape) == 1 else shape
        pad = ceil_div(cols, tiles(run)[1]) * tiles(run)[1] if node.kind in ("linear", "head") else 0
        regions[name] = b.tensor(name, rows, cols, fmt_container(plan.tensors[name]), pad)
    return regions


def encode(command: Command | None) -> bytes:
    """One command's CMD_WORDS words (``None``: the end of the program)."""
    words = [0] * CMD_WORDS
    if command is not None:
        words[0] = ENGINES.index(command.engine) + 1
        if len(command.controls) > CONTROL_WORDS:
            raise ValueError(f"{command.engine}: {len(command.controls)} control inputs, room for {CONTROL_WORDS}")
        for i, value in enumerate(command.controls.values()):
            words[1 + i] = int(value)
        for s, slot in enumerate((*command.reads, *(None,) * (READERS - len(command.reads)), command.write)):
            if slot is None:
                continue
            d = slot.d
            flags = 1 | (d.log2_c << 1) | (int(slot.indexed) << 3) | (int(slot.scratch) << 4)
            base = 1 + CONTROL_WORDS + DESC_WORDS * s
            words[base:base + DESC_WORDS] = [d.base, d.n1, d.stride1, d.n2, d.stride2, d.words, d.lanes, flags]
    return struct.pack(f"<{CMD_WORDS}I", *(w & 0xFFFFFFFF for w in words))


def _commands(b: _Builder, program_calls: list[Call]) -> list[Command]:
    regions = _activation_regions(b, program_calls)
    commands = []
    for call in program_calls:
        run = bind(b.engines, call)
        reads, write = COMMANDS[call.engine](b, call, run, regions)
        commands.append(Command(call.engine, call.node.name, KERNELS[call.engine].controls(run), tuple(reads), write))
    return commands


def on_chip_tensors(b: _Builder, commands: list[Command], scratch_bytes: int) -> dict[str, int]:
    """{tensor: scratchpad offset} for the program ``b`` laid out all in the image: the intermediate tensors
    (every activation region but the input, the output, those with contents in the image, such as the
    class-token row, and those the host reads after a run: the routes) by ``scratch.allocate``'s rule."""
    layout = b.layout
    keep_out = {b.graph.input, b.graph.output, *b.params, *b.in_image}
    candidates = [layout.regions[n] for n in b.tensors if n not in keep_out]
    uses = [[s.d.base for s in (*c.reads, c.write) if s is not None] for c in commands]
    return scratch.allocate(scratch.live_ranges(candidates, uses), {r.name: r.size for r in candidates},
                            scratch_bytes)


def compile_program(graph: ir.Graph, plan: Plan, choice: dict | None = None, image: bool = True,
                    scratch_bytes: int = 0) -> Program:
    """The engines, the image and the program of ``graph`` under ``plan`` (``choice``: engine parallelism,
    ``engines.DEFAULT_CHOICE`` where not given; ``scratch_bytes``: the on-chip scratchpad, a multiple of 64,
    0 for none).  ``image=False``: the same engines, layout and commands (so the same cycles) without
    quantising the parameters or filling the memory (``memory`` is empty): what pricing a design needs."""
    if scratch_bytes < 0 or scratch_bytes % ALIGN:
        raise ValueError(f"scratchpad of {scratch_bytes} bytes: must be a multiple of {ALIGN} (0: none)")
    program_calls = calls(graph, plan, choice)
    engines = build_engines(program_calls)
    b = _Builder(graph, plan, engines, image)
    commands = _commands(b, program_calls)
    on_chip = on_chip_tensors(b, commands, scratch_bytes) if scratch_bytes else {}
    if on_chip:                                     # again, with those tensors in the scratchpad
        b = _Builder(graph, plan, engines, image, raw=b.raw, on_chip=on_chip)
        commands = _commands(b, program_calls)
    b.layout.add("program", 1, (len(commands) + 1) * CMD_WORDS, 4)
    if not image:
        return Program(graph, plan, engines, b.layout, bytearray(), commands, program_calls, scratch_bytes)
    memory = bytearray(b.layout.size)
    for name, words in b.params.items():
        b.layout.store(memory, b.layout.regions[name], words)
    prog = b.layout.regions["program"]
    memory[prog.offset:prog.offset + prog.size] = b"".join(encode(c) for c in [*commands, None]).ljust(prog.size, b"\0")
    return Program(graph, plan, engines, b.layout, memory, commands, program_calls, scratch_bytes)

