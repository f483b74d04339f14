"""The accelerator's memory image: regions of words in little-endian containers, aligned for AXI bursts.

Layout (docs/accelerator.md, "Tensors in memory"):
- a region is ``[rows, cols]`` words row-major, each word a little-endian sign-extended container of 1, 2 or 4
  bytes; every region starts at a multiple of 64 bytes (the widest bus, 512 bits); rows follow each other
  (the DMA reads and writes any multiple of the container, and back-to-back rows are one long burst), unless
  a row has room for more words than ``cols`` (a writer's zero padding, e.g. the linear engine's last output
  block); the region's size is rounded up to 64 bytes.
- a format's container holds its raw integer as a *signed* value: ``fmt.width`` bits, plus one for unsigned
  formats (the U1.15 gate weights reach 1.0 = 2**15, so they take 4-byte containers).
- the input region holds the patches ``[N, C*p*p]`` of the quantised image (a host-side layout change).
What goes where (parameters in the engines' stream order, activations, the program) is
:mod:`hwmoe.accel.program`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..numerics.fixed import Fmt, quantize
from ..numerics.intmath import ceil_div
from ..numerics.plan import Plan
from ..reference import patches
from .dma import Descriptor, from_containers, to_containers

ALIGN = 64          # bytes: the widest bus word (512 bits); every region offset is a multiple


def container_bytes(width: int) -> int:
    """Bytes of the container of a signed ``width``-bit word: 1, 2 or 4."""
    for c in (1, 2, 4):
        if 1 <= width <= 8 * c:
            return c
    raise ValueError(f"word width {width} does not fit a container of 1, 2 or 4 bytes (1..32 bits)")


def fmt_container(fmt: Fmt) -> int:
    """Container bytes of a format's raw words held as signed integers (one more bit when unsigned)."""
    return container_bytes(fmt.width + (0 if fmt.signed else 1))


def align(n: int) -> int:
    return ceil_div(n, ALIGN) * ALIGN


@dataclass(frozen=True)
class Region:
    """``rows x cols`` words at byte ``offset``, each in ``container`` bytes, rows ``stride`` bytes apart;
    ``scratch``: the offset is in the accelerator's on-chip scratchpad, not in the image."""
    name: str
    offset: int
    rows: int
    cols: int
    container: int
    stride: int
    scratch: bool = False

    @property
    def size(self) -> int:
        return align(self.rows * self.stride)

    def check(self, raw: np.ndarray) -> None:
        """Refuse a shape other than [rows, cols] or a value outside the signed container."""
        if raw.shape != (self.rows, self.cols):
            raise ValueError(f"region {self.name!r} is [{self.rows}, {self.cols}], got {list(raw.shape)}")
        bound = 1 << (8 * self.container - 1)
        if raw.size and (raw.min() < -bound or raw.max() >= bound):
            raise ValueError(f"region {self.name!r}: values outside {self.container}-byte signed containers")

    def head_descriptor(self, heads: int, lanes: int) -> Descriptor:
        """The region's columns as ``heads`` groups of ``cols/heads``: head after head, token after token."""
        head_dim = self.cols // heads
        return Descriptor(self.offset, self.rows, self.stride, heads, head_dim * self.container, head_dim,
                          lanes, self.container)


@dataclass
class ImageLayout:
    """Regions allocated one after another in the image, each aligned to ``ALIGN`` (``size``: the image's
    bytes), and regions placed in the scratchpad (``scratch_size``: the bytes its placements reach)."""
    regions: dict[str, Region] = field(default_factory=dict)
    size: int = 0
    scratch_size: int = 0

    def add(self, name: str, rows: int, cols: int, container: int, row_words: int = 0,
            scratch_offset: int | None = None) -> Region:
        """A region of [rows, cols] words; ``row_words``: room for that many words per row (a writer's zero
        padding past ``cols``); ``scratch_offset``: placed there in the scratchpad instead of in the image."""
        if name in self.regions:
            raise ValueError(f"region {name!r} allocated twice")
        stride = max(cols, row_words) * container
        if scratch_offset is None:
            region = Region(name, self.size, rows, cols, container, stride)
            self.size += region.size
        else:
            region = Region(name, scratch_offset, rows, cols, container, stride, scratch=True)
            self.scratch_size = max(self.scratch_size, scratch_offset + region.size)
        self.regions[name] = region
        return region

    def pack(self, region: Region, raw: np.ndarray) -> bytes:
        """[rows, cols] raw integers -> the region's bytes (containers, rows padded with 0)."""
        raw = np.asarray(raw, np.int64)
        region.check(raw)
        rows = np.zeros((region.rows, region.stride), np.uint8)
        rows[:, :region.cols * region.container] = np.frombuffer(
            to_containers(raw, region.container), np.uint8).reshape(region.rows, -1)
        return rows.tobytes().ljust(region.size, b"\0")

    def unpack(self, region: Region, data: bytes) -> np.ndarray:
        """The region's bytes -> [rows, cols] sign-extended raw integers."""
        rows = np.frombuffer(data[:region.rows * region.stride], np.uint8).reshape(region.rows, region.stride)
        return from_containers(rows[:, :region.cols * region.container].tobytes(),
                               region.container).reshape(region.rows, region.cols)

    def store(self, memory: bytearray, region: Region, raw: np.ndarray) -> None:
        memory[region.offset:region.offset + region.size] = self.pack(region, raw)

    def load(self, memory: bytes, region: Region) -> np.ndarray:
        return self.unpack(region, memory[region.offset:region.offset + region.size])


def input_words(x: np.ndarray, fmt: Fmt, patch: int) -> np.ndarray:
    """The host's part: one image quantised to the input format, as the input region's patches."""
    return patches(quantize(np.asarray(x, np.float64), fmt), patch)


def load_input(graph: ir.Graph, plan: Plan, layout: ImageLayout, memory: bytearray, x: np.ndarray) -> None:
    """Write one image into the input region (a driver on a board does the same from layout.json)."""
    layout.store(memory, layout.regions[graph.input], input_words(x, plan.tensors[graph.input], graph.nodes[0].patch))
