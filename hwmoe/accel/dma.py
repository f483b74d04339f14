"""Address generation of the accelerator's DMA (``rtl/hwmoe_dma_reader.v``, ``rtl/hwmoe_dma_writer.v``):
the single Python definition of which bytes a descriptor moves, in which bursts, and how fast.

A descriptor moves ``n2 x n1`` segments of ``words`` words each; a word sits in memory in a little-endian
container of ``c`` = 1, 2 or 4 bytes (sign-extended raw integer).  Segment ``(i2, i1)`` starts at byte
``base + off2(i2) + i1*stride1`` where ``off2(i2) = i2*stride2``, or in indexed mode ``e*stride2`` with ``e``
the i2-th value of the index stream (which may end early with its ``last``).  On the stream side a segment
is ``ceil(words/lanes)`` beats of ``lanes`` words, the last one zero-padded.

Each segment is read (or written) on its own, as the bus words that cover its bytes: no bus word is shared
between segments, so segments may overlap or touch.  The bus words of a segment are cut into INCR bursts of
at most ``max_burst`` beats that never cross a 4 KiB boundary.  The writer's strobes cover exactly the
segment's ``words*c`` bytes; every other byte of memory is left as it was.

Throughput (``cycles``): the reader moves at most one bus word in and one stream beat out per cycle, so a
segment costs ``max(bus_words, beats)`` cycles plus ``SEGMENT_GAP`` cycles to change segments; a transfer
adds the memory's first-word latency and the pipeline's fill (``FILL``, plus ``INDEX_FILL`` in indexed mode).
The formula is exact for long segments; it does not model the memory's own gaps between bursts, so transfers
of many short memory-bound segments measure a few cycles more.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..numerics.intmath import ceil_div

PAGE = 4096                 # AXI: an INCR burst never crosses a 4 KiB boundary
AXI_MAX_BURST = 256         # AXI4 INCR bursts: 1..256 beats
SEGMENT_GAP = 1             # cycles between the last beat of a segment and the first of the next
FILL = 3                    # reader pipeline cycles from start to done beside the memory latency
INDEX_FILL = 1              # indexed mode: the cycle that takes the first index
WRITE_FILL = 4              # writer pipeline cycles from start to done beside the write-response latency
SCRATCH_READ_LATENCY = 2    # the on-chip scratchpad (rtl/hwmoe_scratch.v): its read latency, as a memory's
SCRATCH_WRITE_LATENCY = 1   # and its write response's


@dataclass(frozen=True)
class Descriptor:
    """One transfer.  ``indices``: indexed mode, the values of the index stream (``n2`` caps how many are
    used); ``None`` for plain 2-level addressing."""
    base: int
    n1: int
    stride1: int
    n2: int
    stride2: int
    words: int
    lanes: int
    c: int
    indices: tuple[int, ...] | None = None

    def check(self, lanes_max: int) -> None:
        if self.c not in (1, 2, 4):
            raise ValueError(f"container bytes c = {self.c}, must be 1, 2 or 4")
        if not 1 <= self.lanes <= lanes_max:
            raise ValueError(f"lanes = {self.lanes}, must be 1..{lanes_max}")
        if min(self.n1, self.n2, self.words) < 1:
            raise ValueError(f"n1 = {self.n1}, n2 = {self.n2}, words = {self.words}: each must be >= 1")
        if any(v % self.c for v in (self.base, self.stride1, self.stride2)):
            raise ValueError(f"base, strides must be multiples of c = {self.c}")
        if self.indices is not None and not self.indices:
            raise ValueError("indexed mode needs at least one index")

    @property
    def groups(self) -> list[int]:
        """Byte offset of each i2 group from ``base``."""
        if self.indices is None:
            return [i2 * self.stride2 for i2 in range(self.n2)]
        return [e * self.stride2 for e in self.indices[:self.n2]]

    @property
    def log2_c(self) -> int:
        return self.c.bit_length() - 1


def segments(d: Descriptor) -> list[tuple[int, int]]:
    """(byte address, words) of every segment, in transfer order."""
    return [(d.base + g + i1 * d.stride1, d.words) for g in d.groups for i1 in range(d.n1)]


def segment_bus_words(address: int, words: int, c: int, bus_bytes: int) -> tuple[int, int]:
    """(first bus-word address, number of bus words) covering a segment's bytes."""
    first = address - address % bus_bytes
    return first, ceil_div(address + words * c - first, bus_bytes)


def bus_words(d: Descriptor, bus_bytes: int) -> int:
    """Bus words a transfer moves (each segment's covering words)."""
    return sum(segment_bus_words(a, w, d.c, bus_bytes)[1] for a, w in segments(d))


def bursts(d: Descriptor, bus_bytes: int, max_burst: int = AXI_MAX_BURST) -> list[tuple[int, int]]:
    """(byte address, beats) of every AXI burst, in issue order."""
    out = []
    for address, words in segments(d):
        cur, left = segment_bus_words(address, words, d.c, bus_bytes)
        while left:
            beats = min(left, max_burst, (PAGE - cur % PAGE) // bus_bytes)
            out.append((cur, beats))
            cur += beats * bus_bytes
            left -= beats
    return out


def to_containers(values: np.ndarray, c: int) -> bytes:
    """Raw integers -> little-endian containers of c bytes (truncated two's complement)."""
    return (np.asarray(values, np.int64) & ((1 << (8 * c)) - 1)).astype(f"<u{c}").tobytes()


def from_containers(data: bytes, c: int) -> np.ndarray:
    """Little-endian containers of c bytes -> sign-extended raw integers."""
    return np.frombuffer(data, f"<i{c}").astype(np.int64)


def read_beats(d: Descriptor, memory: bytes, lanes_max: int) -> np.ndarray:
    """The reader's output: [beats, lanes_max] 32-bit words (lanes >= ``lanes`` and padding are 0)."""
    beats = []
    for address, words in segments(d):
        values = from_containers(memory[address:address + words * d.c], d.c)
        for b in range(0, words, d.lanes):
            beat = np.zeros(lanes_max, np.int64)
            chunk = values[b:b + d.lanes]
            beat[:len(chunk)] = chunk
            beats.append(beat)
    return np.array(beats, np.int64).reshape(-1, lanes_max)


def segment_count(d: Descriptor) -> int:
    """``len(segments(d))`` without listing them."""
    return d.n1 * (d.n2 if d.indices is None else min(d.n2, len(d.indices)))


def stream_beats(d: Descriptor) -> int:
    """Stream beats of the whole transfer."""
    return segment_count(d) * ceil_div(d.words, d.lanes)


def write_memory(d: Descriptor, beats: np.ndarray, memory: bytes) -> bytes:
    """The writer's effect: ``memory`` after writing ``beats`` ([stream_beats, >= lanes] words)."""
    out = bytearray(memory)
    per = ceil_div(d.words, d.lanes)
    for s, (address, words) in enumerate(segments(d)):
        values = np.asarray(beats[s * per:(s + 1) * per, :d.lanes], np.int64).reshape(-1)[:words]
        out[address:address + words * d.c] = to_containers(values, d.c)
    return bytes(out)


def cycles(d: Descriptor, bus_bytes: int, latency: int) -> int:
    """Cycles of a transfer that neither the memory (beyond its first-word ``latency``) nor the stream stalls:
    one bus word and one stream beat per cycle at most, ``SEGMENT_GAP`` per segment change, ``FILL`` once."""
    per_segment = [max(segment_bus_words(a, w, d.c, bus_bytes)[1], ceil_div(w, d.lanes)) for a, w in segments(d)]
    return sum(per_segment) + SEGMENT_GAP * (len(per_segment) - 1) + FILL + latency \
        + (INDEX_FILL if d.indices is not None else 0)


def write_cycles(d: Descriptor, bus_bytes: int, latency: int) -> int:
    """Cycles of a clean write transfer: as ``cycles``, with ``latency`` the edges from the last W beat to its
    B response instead of the read latency."""
    per_segment = [max(segment_bus_words(a, w, d.c, bus_bytes)[1], ceil_div(w, d.lanes)) for a, w in segments(d)]
    return sum(per_segment) + SEGMENT_GAP * (len(per_segment) - 1) + WRITE_FILL + latency


def words_per_cycle(d: Descriptor, transfer_cycles: int) -> float:
    """Throughput: the transfer's words over its cycles (of ``cycles`` or ``write_cycles``, or measured)."""
    return len(segments(d)) * d.words / transfer_cycles
