"""The accelerator's memory image: where every tensor and parameter of a graph sits in the one memory the DMA
reads and writes, and a Python executor of the graph through that image.

Why: the address arithmetic (regions, containers, strides, the descriptors that move a tensor) is the part of
the accelerator the bit-accurate reference knows nothing about.  ``run_through_image`` reads every operand and
every parameter from the image bytes through the DMA model (``dma.read_beats`` over a ``Descriptor``) and writes
every result back through ``dma.write_memory``, while the arithmetic stays ``FixedRunner.step``; equality with
``FixedRunner.run_raw`` therefore checks the layout and the descriptors, not the kernels.

Layout (docs/accelerator.md, "Tensors in memory"):
- a region is ``[rows, cols]`` words row-major, each word a little-endian sign-extended container of 1, 2 or 4
  bytes; every region's offset and row stride are multiples of 64 bytes (the widest bus, 512 bits), so each row
  starts on a bus word; row padding is 0.
- a format's container holds its raw integer as a *signed* value: ``fmt.width`` bits, plus one for unsigned
  formats (the U1.15 gate weights reach 1.0 = 2**15, so they take 4-byte containers).
- the router's expert indices: signed words of ``bit_length(experts - 1) + 1`` bits (1-byte containers up to
  128 experts), since the DMA sign-extends every container.
- parameters sit in natural layout ``[rows, cols]`` (the last axis is ``cols``; experts' weights stacked
  expert after expert, biases one row).  The engines' stream-order packing (rows padded to whole beats, one
  blob per expert at a fixed stride) comes with the engines' tile sizes and replaces this later.
- the input region holds the patches ``[N, C*p*p]`` of the quantised image (a host-side layout change).
- the executor runs whole IR nodes; the regions of an engine program's own intermediates (e.g. the patch
  embedding's token rows before the position embedding, with the class token pre-filled) come with the program.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..numerics.fixed import Fmt, quantize
from ..numerics.intmath import ceil_div
from ..numerics.plan import Plan
from ..reference import FixedRunner, patches
from .dma import Descriptor, from_containers, read_beats, to_containers, write_memory

ALIGN = 64          # bytes: the widest bus word (512 bits); every region offset and row stride is a multiple
LANES = 16          # stream lanes of the executor's DMA transfers (any 1..LANES_MAX gives the same words)


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
    """``rows x cols`` words at byte ``offset``, each in ``container`` bytes, rows ``stride`` bytes apart."""
    name: str
    offset: int
    rows: int
    cols: int
    container: int
    stride: int

    @property
    def size(self) -> int:
        return self.rows * self.stride

    def check(self, raw: np.ndarray) -> None:
        """Refuse a shape other than [rows, cols] or a value outside the signed container."""
        if raw.shape != (self.rows, self.cols):
            raise ValueError(f"region {self.name!r} is [{self.rows}, {self.cols}], got {list(raw.shape)}")
        bound = 1 << (8 * self.container - 1)
        if raw.size and (raw.min() < -bound or raw.max() >= bound):
            raise ValueError(f"region {self.name!r}: values outside {self.container}-byte signed containers")

    def descriptor(self) -> Descriptor:
        """The whole region, row by row (plain 2-level addressing)."""
        return Descriptor(self.offset, self.rows, self.stride, 1, 0, self.cols, LANES, self.container)

    def head_descriptor(self, heads: int) -> Descriptor:
        """The region's columns as ``heads`` groups of ``cols/heads``: head after head, token after token."""
        head_dim = self.cols // heads
        return Descriptor(self.offset, self.rows, self.stride, heads, head_dim * self.container, head_dim,
                          LANES, self.container)


@dataclass
class ImageLayout:
    """Regions allocated one after another, each aligned to ``ALIGN``."""
    regions: dict[str, Region] = field(default_factory=dict)
    size: int = 0

    def add(self, name: str, rows: int, cols: int, container: int) -> Region:
        if name in self.regions:
            raise ValueError(f"region {name!r} allocated twice")
        region = Region(name, self.size, rows, cols, container, align(cols * container))
        self.regions[name] = region
        self.size += region.size
        return region

    def pack(self, region: Region, raw: np.ndarray) -> bytes:
        """[rows, cols] raw integers -> the region's bytes (containers, rows padded with 0)."""
        raw = np.asarray(raw, np.int64)
        region.check(raw)
        rows = np.zeros((region.rows, region.stride), np.uint8)
        rows[:, :region.cols * region.container] = np.frombuffer(
            to_containers(raw, region.container), np.uint8).reshape(region.rows, -1)
        return rows.tobytes()

    def unpack(self, region: Region, data: bytes) -> np.ndarray:
        """The region's bytes -> [rows, cols] sign-extended raw integers."""
        rows = np.frombuffer(data, np.uint8).reshape(region.rows, region.stride)
        return from_containers(rows[:, :region.cols * region.container].tobytes(),
                               region.container).reshape(region.rows, region.cols)

    def store(self, memory: bytearray, region: Region, raw: np.ndarray) -> None:
        memory[region.offset:region.offset + region.size] = self.pack(region, raw)

    def load(self, memory: bytes, region: Region) -> np.ndarray:
        return self.unpack(region, memory[region.offset:region.offset + region.size])


def as_rows(shape: tuple) -> tuple[int, int]:
    """A tensor's natural [rows, cols]: the last axis is the columns, the others the rows."""
    shape = tuple(shape)
    return (int(np.prod(shape[:-1], dtype=np.int64)), shape[-1]) if shape else (1, 1)


def index_width(node: ir.Router) -> int:
    """Signed bits of the router's expert indices."""
    return (node.weight.shape[0] - 1).bit_length() + 1


def build_image(graph: ir.Graph, plan: Plan) -> tuple[ImageLayout, bytearray]:
    """The layout of ``graph`` under ``plan`` and the memory with every parameter written (activation regions
    zero; the input comes with ``load_input``)."""
    layout = ImageLayout()
    runner = FixedRunner(graph, plan)
    in_shape = graph.shapes[graph.input]
    first = graph.nodes[0]
    if first.kind != "patch_embed" or first.inputs[0] != graph.input:
        raise ValueError("the image expects the graph to start with the patch embedding of its input")
    p = first.patch
    layout.add(graph.input, (in_shape[1] // p) * (in_shape[2] // p), in_shape[0] * p * p,
               fmt_container(plan.tensors[graph.input]))
    for node in graph.nodes:
        for i, t in enumerate(node.outputs):
            width = index_width(node) if node.kind == "router" and i == 0 else None
            c = container_bytes(width) if width else fmt_container(plan.tensors[t])
            layout.add(t, *as_rows(graph.shapes[t]), c)
    for key, raw in runner.raw.items():
        layout.add(key, *as_rows(raw.shape), fmt_container(plan.params[key]))
    memory = bytearray(layout.size)
    for key, raw in runner.raw.items():
        layout.store(memory, layout.regions[key], raw.reshape(as_rows(raw.shape)))
    return layout, memory


def load_input(graph: ir.Graph, plan: Plan, layout: ImageLayout, memory: bytearray, x: np.ndarray) -> None:
    """The host's part: quantise one image to the input format and write its patches."""
    raw = quantize(np.asarray(x, np.float64), plan.tensors[graph.input])
    layout.store(memory, layout.regions[graph.input], patches(raw, graph.nodes[0].patch))


def unpatch(rows: np.ndarray, shape: tuple, p: int) -> np.ndarray:
    """The inverse of ``reference.patches``: [H/p * W/p, C*p*p] -> [C, H, W]."""
    c, h, w = shape
    return rows.reshape(h // p, w // p, c, p, p).transpose(2, 0, 3, 1, 4).reshape(c, h, w)


def dma_read(memory: bytes, d: Descriptor) -> np.ndarray:
    """The words a descriptor reads: [segments, words]."""
    per = ceil_div(d.words, d.lanes)
    beats = read_beats(d, bytes(memory), d.lanes)
    return beats.reshape(-1, per * d.lanes)[:, :d.words]


def dma_write(memory: bytearray, d: Descriptor, words: np.ndarray) -> None:
    """Write [segments, words] through the writer model, each segment padded to whole beats."""
    words = np.asarray(words, np.int64)
    per = ceil_div(d.words, d.lanes)
    beats = np.zeros((words.shape[0], per * d.lanes), np.int64)
    beats[:, :d.words] = words
    memory[:] = write_memory(d, beats.reshape(-1, d.lanes), bytes(memory))


def read_tensor(layout: ImageLayout, memory: bytes, name: str, heads: int = 0) -> np.ndarray:
    """[rows, cols] of a region through the DMA; with ``heads``, read head by head and reassembled."""
    region = layout.regions[name]
    if not heads:
        return dma_read(memory, region.descriptor())
    words = dma_read(memory, region.head_descriptor(heads))            # [heads * rows, head_dim]
    return words.reshape(heads, region.rows, -1).transpose(1, 0, 2).reshape(region.rows, region.cols)


def run_through_image(graph: ir.Graph, plan: Plan, x: np.ndarray) -> np.ndarray:
    """One un-batched float input -> raw output words, every operand read from and every result written to
    the memory image through the DMA model; the arithmetic is ``FixedRunner.step``."""
    layout, memory = build_image(graph, plan)
    load_input(graph, plan, layout, memory, x)
    runner = FixedRunner(graph, plan)
    runner.raw = {key: read_tensor(layout, memory, key).reshape(raw.shape) for key, raw in runner.raw.items()}
    for node in graph.nodes:
        heads = node.heads if isinstance(node, ir.Attention) else 0
        args = []
        for t in node.inputs:
            words = read_tensor(layout, memory, t, heads)
            if t == graph.input:
                words = unpatch(words, graph.shapes[t], node.patch)
            args.append(words.reshape(graph.shapes[t]))
        for t, value in zip(node.outputs, runner.step(node, args)):
            region = layout.regions[t]
            words = np.asarray(value, np.int64).reshape(region.rows, region.cols)
            region.check(words)
            dma_write(memory, region.descriptor(), words)
    return read_tensor(layout, memory, graph.output).reshape(graph.shapes[graph.output])
