"""Cycles of a program on the generated accelerator in its first schedule (one command at a time, every tensor
through memory): per command, the sequencer fetches the command (``fetch_cycles``: its reader 0 transfer,
exactly ``dma.cycles``), decodes and launches it, the engine runs for its own cycle formula (the formula its
kernel testbench checks) and the DMA adds what lies outside that formula: the readers' first beats (their fill
and the memory's latency) and the writer's last response (``hand_off_cycles``).  A command bound by memory
bandwidth rather than by its engine takes at least its bus words.  A descriptor on the on-chip scratchpad
moves one bus word per cycle at the scratchpad's own latencies (``dma.SCRATCH_READ_LATENCY``,
``dma.SCRATCH_WRITE_LATENCY``), beside the memory and not under its bandwidth; the scratchpad's one read port
is shared by the command's on-chip readers.  Checked against the end-to-end simulation (``sim/test_accel.py``:
the whole program within 2%).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

from .. import ir
from ..numerics.routing import expert_queues
from . import dma
from ..kernels.router import routes_cycles
from ..numerics.intmath import ceil_div
from .engines import KERNELS, Call, bind
from ..kernels.linear import LinearWork
from .program import CMD_WORDS, STREAMS, Program, tiles

SEQ_CYCLES = 3          # hwmoe_seq: FETCH0, DECODE, LAUNCH
SAME_WAIT = {"layernorm"}   # engines whose second stream waits for reader 0's first burst from either memory


@dataclass(frozen=True)
class Memory:
    """What the memory side looks like to the DMA: bus width, first-word latencies (cycles), longest burst."""
    bus_bytes: int = 16
    read_latency: int = 3
    write_latency: int = 3
    max_burst: int = 16
    bandwidth: float = 1.0          # share of cycles the memory returns read data in

    @property
    def bytes_per_cycle(self) -> float:
        return self.bus_bytes * self.bandwidth

    @classmethod
    def from_board(cls, board, bus_bytes: int, clock_mhz: float | None = None) -> "Memory":
        """The memory as the accelerator's one AXI master (``bus_bytes`` wide, on one channel, through the
        board's memory port) sees it on ``board`` at ``clock_mhz`` (default the board's): the board's read
        latency, and read data in the share of cycles that one channel's usable bandwidth, or the port's width
        if narrower, fills (at most every cycle)."""
        m = board.memory
        per_cycle = min(m.bandwidth_gbps / m.channels * 1e3 / (clock_mhz or board.clock_mhz), m.port_bits / 8)
        return cls(bus_bytes=bus_bytes, read_latency=m.read_latency_cycles,
                   bandwidth=min(1.0, per_cycle / bus_bytes))


def fetch_cycles(program: Program, memory: Memory) -> int:
    """One command's fetch through reader 0: CMD_WORDS 4-byte words, LANES_MAX per beat."""
    d = dma.Descriptor(program.program_offset, 1, 0, 1, 0, CMD_WORDS, program.lanes_max, 4)
    return dma.cycles(d, memory.bus_bytes, memory.read_latency)


def hand_off_cycles(memory: Memory, command=None) -> int:
    """Around an engine's own cycles: the readers' start (a cycle after launch), fill and first word (the
    slowest of its readers' memories), and the writer's fill and last response (its memory's), and the
    sequencer seeing the writer done."""
    reads = [s for s in command.reads if s is not None] if command else []
    read = max((dma.SCRATCH_READ_LATENCY if s.scratch else memory.read_latency for s in reads),
               default=memory.read_latency)
    write = dma.SCRATCH_WRITE_LATENCY if command and command.write.scratch else memory.write_latency
    return 1 + dma.FILL + read + dma.WRITE_FILL + write + 1


def first_data_cycles(command, memory: Memory) -> int:
    """How much later than reader 0 the command's second stream sees its first word: the readers start
    together and the memory returns reader 0's first burst first (round-robin from reader 0), and every engine
    needs two of its streams to start (linear x and w, add a and b, ...).  Indexed readers start later, on the
    engine's requests, and are not counted.  Streams from different memories (the image and the scratchpad)
    do not wait for each other, except that a LayerNorm command measures the same cycles whichever memory its x
    comes from (``SAME_WAIT``: measured on tiny, not yet explained by its formula)."""
    plain = [slot for slot in command.reads if slot is not None and not slot.indexed]
    if len(plain) < 2 or plain[0].scratch != plain[1].scratch and command.engine not in SAME_WAIT:
        return 0
    return _first_burst(plain[0].d, memory.bus_bytes, memory.max_burst)


@lru_cache(maxsize=65536)
def _first_burst(d: dma.Descriptor, bus_bytes: int, max_burst: int) -> int:
    return dma.bursts(replace(d, n1=1, n2=1), bus_bytes, max_burst)[0][1]


def call_work(call: Call, graph: ir.Graph, expert_tokens: list[int] | None = None):
    """The Work of a call for its kernel's cycle formula (a fused GELU, the MoE's real routing if known)."""
    work = KERNELS[call.engine].work(call.node, graph)
    if isinstance(work, LinearWork):                 # on the linear engine, or the MoE engine's dense mode
        work = replace(work, gelu=call.gelu is not None)
    if call.engine == "moe" and expert_tokens is not None:
        work = replace(work, expert_tokens=tuple(expert_tokens))
    return work


def engine_cycles(call: Call, run, work) -> int:
    """The engine's cycles in the accelerator: its kernel's formula, but the router's command ends with its
    last routing beat (the queue stream after it is not read)."""
    return _engine_cycles(call.engine, run, work)


@lru_cache(maxsize=65536)
def _engine_cycles(engine: str, run, work) -> int:
    if engine == "router":
        return routes_cycles(run.lanes, work.dim, work.experts, work.tokens, run.expert_par)
    return KERNELS[engine].cycles(run, work)


def _memory_time(nbytes: float, memory: Memory) -> int:
    return ceil_div(int(round(nbytes)), max(1, int(memory.bytes_per_cycle)))


def _streams_time(slots, memory: Memory, first_blocks=None) -> int:
    """Cycles the memory and the scratchpad (one bus word per cycle, beside it) take to deliver ``slots``'
    bus words; ``first_blocks`` = (weight slot, bytes): only that much of the weights (``_double_buffer``)."""
    def bytes_of(s):
        if first_blocks and s is first_blocks[0]:
            return first_blocks[1]
        return _bus_words(s.d, memory.bus_bytes) * memory.bus_bytes
    image = sum(bytes_of(s) for s in slots if not s.scratch)
    on_chip = sum(bytes_of(s) for s in slots if s.scratch)
    return max(_memory_time(image, memory), ceil_div(on_chip, memory.bus_bytes))


def _double_buffer(w, rows: int, row_beats: int) -> tuple:
    """(w, bytes) of the weights' first two blocks of ``rows`` rows, which the loader fills while the
    activations arrive (the MAC array's double buffer)."""
    return w, min(dma.stream_beats(w.d), 2 * rows * row_beats) * w.d.lanes * w.d.c


def load_phase_cycles(call: Call, run, command, memory: Memory) -> int:
    """What an engine's formula misses while streams it takes at one beat per cycle together exceed what the
    memory delivers: that phase takes the memory's time instead.  The linear engine takes its activations while
    the weight reader fills the double buffer (two blocks); the attention engine takes every head's K and V
    side by side, then each group's q before its scores (a linear layer on the MoE engine as the linear
    engine); the MoE engine in an MoE layer takes all its activations and routes before its first expert, and
    its read-out moves one bus word per cycle."""
    if call.engine == "linear" or call.engine == "moe" and run.dense:
        streams = STREAMS[call.engine]
        x, w = command.reads[streams.index("x")], command.reads[streams.index("w")]
        t_in, t_out = tiles(run)
        d_in = run.dim if call.engine == "moe" else run.d_in
        both = _streams_time((x, w), memory, _double_buffer(w, t_out, ceil_div(d_in, t_in)))
        return max(0, both - dma.stream_beats(x.d))
    if call.engine == "moe":                     # an MoE layer: its activations and routes before the first expert,
        x, routes, w = command.reads[:3]         # beside two weight blocks; its output read out after the last
        t, _ = tiles(run)                        # one, a bus word per cycle
        inputs = _streams_time((x, routes, w), memory, _double_buffer(w, t, ceil_div(run.dim, t)))
        y = command.write.d
        return (max(0, inputs - dma.stream_beats(x.d))
                + max(0, _bus_words(y, memory.bus_bytes) - dma.stream_beats(y)))
    if call.engine == "attention":               # every head's K and V side by side; each group's q before its scores
        q, k, v = command.reads[:3]
        return (max(0, _streams_time((k, v), memory) - dma.stream_beats(k.d))
                + max(0, _streams_time((q,), memory) - dma.stream_beats(q.d)))
    return 0


def bus_words(command, bus_bytes: int, scratch: bool = False, requested: tuple[int, ...] | None = None) -> int:
    """Bus words the command's reads move from the image (``scratch``: from the scratchpad); its indexed reads
    for the ``requested`` experts (default: every group of the descriptor, i.e. every expert: balanced routing
    touches them all)."""
    return sum(_bus_words(slot.d if requested is None or not slot.indexed else replace(slot.d, indices=requested),
                          bus_bytes) for slot in command.reads if slot is not None and slot.scratch == scratch)


def memory_cycles(call: Call, run, command, memory: Memory, requested: tuple[int, ...] | None = None) -> int:
    """What the memory ports alone take: the reads (the image's at the memory's rate, the scratchpad's at a bus
    word per cycle beside them), or the writer's segments (``dma.write_cycles``) after what must come before
    its first word, if longer: a linear layer's activations (its first block needs them all), an MoE layer's
    every read (its output is read out after the last expert)."""
    reads = max(int(round(bus_words(command, memory.bus_bytes, requested=requested) / memory.bandwidth)),
                bus_words(command, memory.bus_bytes, scratch=True, requested=requested))
    writes = _write_cycles(command.write.d, memory.bus_bytes, 0) - dma.WRITE_FILL
    if call.engine == "linear" or call.engine == "moe" and run.dense:
        writes += _streams_time((command.reads[STREAMS[call.engine].index("x")],), memory)
    elif call.engine == "moe":
        writes += reads
    return max(reads, writes)


def requested_experts(work) -> tuple[int, ...] | None:
    """The experts an MoE call requests (those with tokens), when its routing is known; None otherwise."""
    tokens = getattr(work, "expert_tokens", None)
    return None if tokens is None else tuple(e for e, n in enumerate(tokens) if n)


#: a descriptor's bus words and its write cycles (the search prices many engine choices with the same descriptors)
_bus_words = lru_cache(maxsize=65536)(dma.bus_words)
_write_cycles = lru_cache(maxsize=65536)(dma.write_cycles)


@dataclass(frozen=True)
class CommandTiming:
    """One command's predicted cycles, term by term: ``fetch`` (its fetch and the sequencer's states),
    ``hand_off`` (the readers' start and fill, the writer's last response), ``first_data`` (the second
    stream's wait for reader 0's first burst), ``engine`` (its kernel's cycle formula), ``load_phase`` (what
    the formula misses while its streams together exceed the memory) and ``memory`` (what the memory ports
    take: ``memory_cycles``); ``port_beats``: beats of its longest stream (``port_stream``) at one beat per cycle;
    ``mac_cycles``: its MACs over the engine's multipliers (0 for an engine without MACs; None where the
    kernel does not count its multipliers: attention)."""
    fetch: int
    hand_off: int
    first_data: int
    engine: int
    load_phase: int
    memory: int
    port_beats: int
    port_stream: str
    macs: int
    mac_cycles: int | None

    @property
    def overhead(self) -> int:
        return self.fetch + self.hand_off + self.first_data

    @property
    def compute(self) -> int:
        return self.engine + self.load_phase

    @property
    def total(self) -> int:
        return self.overhead + max(self.compute, self.memory)

    @property
    def bound(self) -> str:
        """``memory`` when its bus words take longer than its engine; else ``overhead`` when the fixed cycles
        exceed the engine's; else ``port`` when a stream's beats exceed the MAC array's issue cycles (always,
        for an engine without MACs: it moves one beat per cycle); else ``compute``."""
        if self.memory > self.compute:
            return "memory"
        if self.overhead > self.compute:
            return "overhead"
        if self.mac_cycles is not None and self.port_beats > self.mac_cycles:
            return "port"
        return "compute"


def _longest_stream(call: Call, command) -> tuple[str, int]:
    """The command's stream with the most beats (its readers' and its writer's) and those beats."""
    names = (*STREAMS[call.engine], "y")
    slots = [(n, s) for n, s in zip(names, (*command.reads, command.write)) if s is not None]
    return max(((n, dma.stream_beats(s.d)) for n, s in slots), key=lambda t: t[1])


def command_timing(program: Program, index: int, memory: Memory = Memory(),
                   routing: dict[str, list[int]] | None = None, fetch: int | None = None) -> CommandTiming:
    """The terms of command ``index``.  ``routing``: tokens per expert of each MoE node (default: balanced);
    ``fetch``: the program's ``fetch_cycles`` when known."""
    call, command = program.calls[index], program.commands[index]
    run = bind(program.engines, call)
    work = call_work(call, program.graph, (routing or {}).get(call.node.name))
    kernel = KERNELS[call.engine]
    macs = kernel.macs(work)
    requested = requested_experts(work)
    multipliers = getattr(kernel, "multipliers", None)
    stream, beats = _longest_stream(call, command)
    return CommandTiming(
        fetch=(fetch_cycles(program, memory) if fetch is None else fetch) + SEQ_CYCLES,
        hand_off=hand_off_cycles(memory, command),
        first_data=first_data_cycles(command, memory), engine=engine_cycles(call, run, work),
        load_phase=load_phase_cycles(call, run, command, memory),
        memory=memory_cycles(call, run, command, memory, requested),
        port_beats=beats, port_stream=stream, macs=macs,
        mac_cycles=0 if not macs else ceil_div(macs, multipliers(run)) if multipliers else None)


def command_timings(program: Program, memory: Memory = Memory(),
                    routing: dict[str, list[int]] | None = None) -> list[CommandTiming]:
    """The terms of every command in program order."""
    fetch = fetch_cycles(program, memory)
    return [command_timing(program, i, memory, routing, fetch) for i in range(len(program.commands))]


def program_cycles(program: Program, memory: Memory = Memory(),
                   routing: dict[str, list[int]] | None = None) -> list[int]:
    """Cycles of every command in program order (each from the start of its fetch to its end)."""
    return [t.total for t in command_timings(program, memory, routing)]


def end_cycles(program: Program, memory: Memory = Memory()) -> int:
    """After the last command: the fetch of the end command and the sequencer's end."""
    return fetch_cycles(program, memory) + SEQ_CYCLES


def routing_of(program: Program, memory: bytes) -> dict[str, list[int]]:
    """Tokens per expert of every MoE node, read from the routes its router wrote in ``memory`` (after a run;
    routes never go on chip)."""
    out = {}
    layout = program.layout
    for node in program.graph.nodes:
        if node.kind == "router":
            routes = layout.load(memory, layout.regions[f"{node.name}.routes"])
            consumer = next(n for n in program.graph.nodes if n.kind == "experts" and n.inputs[1] == node.outputs[0])
            experts = node.weight.shape[0]
            out[consumer.name] = [len(t) for t, _ in expert_queues(routes[:, :node.top_k], experts)]
    return out


def total_cycles(program: Program, memory: Memory = Memory(), routing=None) -> int:
    """START to DONE: every command, then the fetch of the end command and the sequencer's end."""
    return sum(program_cycles(program, memory, routing)) + end_cycles(program, memory)

