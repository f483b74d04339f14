"""Off-chip memory: weight streaming at the board's bandwidth, overlapped with compute where double-buffered.

* Every weight layer reads its weights (and biases) once per *group* of images it runs on: the engine keeps
  a weight tile stationary while all the group's tokens pass, so a larger group amortises the weights.
* An MoE layer reads the weights of every expert that receives at least one token of the group (the MoE
  kernel requests exactly those).  With no measured routing the tokens x top_k choices are spread evenly
  (the kernel's ``balanced_counts``): all 16 experts at 129 tokens, top-2 of 16.
* With double-buffered weight tiles the next tile (or the next expert) loads while the current one computes:
  a layer takes ``max(compute, memory) + first-tile fill``; without, ``compute + memory``.
* Bandwidth: ``board.memory.bandwidth_gbps`` (a usable, not peak, figure) at the board clock, in bytes/cycle.
* Activations stay on chip between layers (see :func:`activation_buffers`); the input image is read once
  (counted) and the logits written once (ignored: 4 KB).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..boards import BRAM36_BITS, URAM_BITS
from .usage import Usage



@dataclass(frozen=True)
class Timing:
    """One op: compute cycles (the kernel formula), memory cycles (bytes / bandwidth), total and bound."""
    compute: float
    memory: float
    total: float
    bytes: float
    port_beats: float = 0.0      # weight beats through the kernel's own weight port (one per cycle)
    mac_cycles: float = 0.0      # cycles the MAC array issues

    @property
    def bound(self) -> str:
        """``memory``: off-chip bandwidth; ``weight-port``: the kernel's weight stream (T_IN words per cycle)
        takes longer than its MAC array; ``compute`` otherwise."""
        if self.memory > self.compute:
            return "memory"
        if self.port_beats > self.mac_cycles > 0:
            return "weight-port"
        return "compute"


def overlap(compute: float, nbytes: float, bytes_per_cycle: float, double_buffered: bool,
            fill_bytes: float = 0.0, port_beats: float = 0.0, mac_cycles: float = 0.0) -> Timing:
    mem = nbytes / bytes_per_cycle if nbytes else 0.0
    if double_buffered:
        total = max(compute, mem) + (min(fill_bytes, nbytes) / bytes_per_cycle if nbytes else 0.0)
    else:
        total = compute + mem
    return Timing(float(compute), mem, total, nbytes, float(port_beats), float(mac_cycles))


def activation_buffers(tokens: int, dim: int, hidden: int, images: int, prec, uram_available: int) -> Usage:
    """On-chip activation memory outside the kernels, for ``images`` images in flight: the residual stream,
    q/k/v for the attention engine, the attention output, and the widest hidden activation (the input of
    fc2 / an expert's second layer).  Placed in URAM when the board has room for it (at 90 %), else BRAM;
    each buffer rounded up to whole blocks."""
    bufs = [tokens * dim * prec.resid, 3 * tokens * dim * prec.attn, tokens * dim * prec.act,
            tokens * hidden * prec.act]
    bufs = [b * images for b in bufs]
    uram = sum(math.ceil(b / URAM_BITS) for b in bufs)
    if uram_available and uram <= 0.9 * uram_available:
        return Usage(uram=float(uram))
    return Usage(bram36=float(sum(math.ceil(b / BRAM36_BITS) for b in bufs)))
