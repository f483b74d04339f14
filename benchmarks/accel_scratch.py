"""What the on-chip scratchpad buys a model on a board, by the timing and resource models (no simulation): for
each scratchpad size, how many intermediate tensors go on chip (the rest spill to the image), the predicted
cycles and milliseconds at the board's clock and memory, and the build's block RAM against the board's.

    .venv/bin/python benchmarks/accel_scratch.py [--preset m3vit-t] [--board zcu102]
        [--design search/examples/search-m3vit-t-zcu102/search.json] [--sizes 0 64 128 256 512 1024]
        [-o benchmarks/accel_scratch.json]

Without ``--design`` the default (small) engines.  The model has been checked against simulation on tiny only
(docs/accelerator.md, "Scratchpad")."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hwmoe.accel import timing
from hwmoe.accel.build import build_memory, fit, load_design
from hwmoe.accel.engines import DEFAULT_CHOICE
from hwmoe.accel.program import compile_program
from hwmoe.boards import load_board
from hwmoe.cost.accel import model_program_inputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="m3vit-t")
    ap.add_argument("--board", default="zcu102")
    ap.add_argument("--design")
    ap.add_argument("--precision", default="w16a32")
    ap.add_argument("--bus-width", type=int, default=128)
    ap.add_argument("--sizes", type=int, nargs="+", default=[0, 64, 128, 256, 512, 1024], help="KiB")
    ap.add_argument("-o", "--output")
    a = ap.parse_args()
    graph, plan = model_program_inputs(a.preset, a.precision)
    choice = load_design(a.design)[0] if a.design else DEFAULT_CHOICE
    board = load_board(a.board)
    memory = build_memory(board, a.bus_width, board.clock_mhz)
    everything = compile_program(graph, plan, choice, image=False, scratch_bytes=64 << 20)
    tensors = sum(r.scratch for r in everything.layout.regions.values())
    print(f"{a.preset} on {a.board} ({a.precision}, {a.bus_width}-bit AXI, read latency {memory.read_latency}, "
          f"read data in {memory.bandwidth:.0%} of the cycles): {tensors} intermediate tensors, "
          f"{everything.layout.scratch_size / 1024:.0f} KiB to hold them all")
    rows = []
    for kib in a.sizes:
        program = compile_program(graph, plan, choice, image=False, scratch_bytes=kib * 1024)
        cycles = timing.total_cycles(program, memory)
        f = fit(program, board, a.bus_width)
        rows.append({"kib": kib, "on_chip": sum(r.scratch for r in program.layout.regions.values()),
                     "cycles": cycles, "ms": cycles / (board.clock_mhz * 1e3), "bram36": f["used"]["bram36"],
                     "bram36_available": f["available"]["bram36"], "over": f["over"]})
        r = rows[-1]
        print(f"{kib:>6} KiB: {r['on_chip']:>4}/{tensors} on chip, {cycles:>10,} cycles = {r['ms']:.3f} ms, "
              f"BRAM36 {r['bram36']:.0f}/{r['bram36_available']}" + (f", over: {', '.join(r['over'])}" if r["over"] else ""))
    if a.output:
        Path(a.output).write_text(json.dumps({"preset": a.preset, "board": a.board, "design": a.design,
                                              "precision": a.precision, "bus_w": a.bus_width, "tensors": tensors,
                                              "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
