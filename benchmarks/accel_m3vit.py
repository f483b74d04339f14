"""One whole m3vit-t image through the generated accelerator in Verilator, at the searched ZCU102 design: the
output compared with the bit-accurate reference, the measured cycles and the milliseconds they take at the
board's clock beside the timing model, the search's prediction and UbiMoE's published 25.76 ms.  A benchmark,
not a test (the build takes minutes, the run longer).

    .venv/bin/python benchmarks/accel_m3vit.py [--design search/examples/search-m3vit-t-zcu102/search.json]
        [--precision w16a32] [--bus-width 512] [--bandwidth 0.75] [--scratch-kib 0] [-o benchmarks/accel_m3vit.json]

The memory is cocotbext-axi's AxiRam, first-word latency 3 cycles; ``--bandwidth`` lets it return read data in
that fraction of the cycles (0.75 x 64 bytes per cycle at 300 MHz = 14.4 GB/s, the usable share of the
ZCU102's 19.2 GB/s DDR4 peak that published PL-to-DDR measurements reach)."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hwmoe.accel import executor, simulate, timing
from hwmoe.accel.top import TopConfig, write_project
from m3vit_case import DESIGN, prepare

UBIMOE_ZCU102_MS = 25.76


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default=DESIGN)
    ap.add_argument("--precision", default="w16a32")
    ap.add_argument("--bus-width", type=int, default=512)
    ap.add_argument("--bandwidth", type=float, default=0.75)
    ap.add_argument("--scratch-kib", type=int, default=0, help="on-chip scratchpad (default none)")
    ap.add_argument("--work", help="build folder (default: a temporary one)")
    ap.add_argument("-o", "--output", default="benchmarks/accel_m3vit.json")
    a = ap.parse_args()

    case = prepare(a.design, a.precision, a.scratch_kib)
    program, image, search = case.program, case.image, case.search
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="hwmoe_m3vit_"))
    config = TopConfig(bus_w=a.bus_width)
    write_project(program, work / "project", config)
    t1 = time.perf_counter()
    simulate.build(work / "project", "verilator", work)
    built = time.perf_counter() - t1
    t2 = time.perf_counter()
    run = simulate.run(work / "project", image, program.program_offset, "verilator", work,
                       bandwidth=a.bandwidth)[0]
    ran = time.perf_counter() - t2

    exact = run.error == 0 and np.array_equal(executor.read_output(program, run.image), case.reference)
    clock = float(search["clock_mhz"])
    predicted = timing.total_cycles(program, timing.Memory(bus_bytes=a.bus_width // 8, bandwidth=a.bandwidth),
                                    timing.routing_of(program, run.image))
    result = {
        "design": a.design, "precision": a.precision, "bus_width": a.bus_width, "bandwidth": a.bandwidth,
        "scratch_kib": a.scratch_kib,
        "clock_mhz": clock, "commands": run.commands, "bit_exact": bool(exact), "image_equal": run.image == case.want,
        "python_model_equals_reference": case.model_exact, "measured_cycles": run.cycles,
        "measured_ms": run.cycles / (clock * 1e3), "timing_model_cycles": predicted,
        "timing_model_error": (predicted - run.cycles) / run.cycles, "search_prediction_ms": search.get("latency_ms"),
        "ubimoe_ms": UBIMOE_ZCU102_MS, "engine_busy_cycles": [e["busy"] for e in run.engines],
        "wall_s": {"prepare": round(case.seconds, 1), "verilator_build": round(built, 1), "run": round(ran, 1)}}
    Path(a.output).write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
