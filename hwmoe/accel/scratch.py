"""Which intermediate tensors live in the accelerator's on-chip scratchpad (docs/accelerator.md, "Scratchpad").

Why: a tensor one command writes and a later one reads need not travel through the AXI master when it fits
on chip.  The rule, deterministic and first-fit: a tensor is live from the command that first uses it (the one
that writes it) to the last command that reads it; in program order, at each command the tensors first used
there (in the order of their regions) take the lowest 64-byte-aligned offset where they overlap no tensor
still live; a tensor that finds no room stays in the image (it is *spilled*).  A tensor's room is free again
after its last reader.
"""
from __future__ import annotations

from bisect import bisect_right

from .image import Region, align


def live_ranges(regions: list[Region], uses: list[list[int]]) -> dict[str, tuple[int, int]]:
    """(first, last) command of every region in ``regions`` that some command uses; ``uses[i]``: the byte
    addresses of command i's descriptors (each inside one region of the image)."""
    ordered = sorted(regions, key=lambda r: r.offset)
    starts = [r.offset for r in ordered]
    ranges: dict[str, tuple[int, int]] = {}
    for i, addresses in enumerate(uses):
        for a in addresses:
            k = bisect_right(starts, a) - 1
            if k < 0 or a >= ordered[k].offset + ordered[k].size:
                continue
            name = ordered[k].name
            first = ranges.get(name, (i, i))[0]
            ranges[name] = (first, i)
    return ranges


def allocate(ranges: dict[str, tuple[int, int]], sizes: dict[str, int], capacity: int) -> dict[str, int]:
    """{tensor: scratchpad offset} of the tensors that fit (module rule); ``sizes`` in bytes, in the order the
    tensors are considered when they are first used at the same command."""
    order = sorted((ranges[n][0], k, n) for k, n in enumerate(sizes) if n in ranges)
    placed: dict[str, int] = {}
    for first, _, name in order:
        live = sorted((placed[m], placed[m] + sizes[m]) for m in placed if ranges[m][1] >= first)
        at = 0
        for lo, hi in live:
            if at + sizes[name] <= lo:
                break
            at = max(at, align(hi))
        if at + sizes[name] <= capacity:
            placed[name] = at
    return placed
