"""One whole m3vit-t image through the C simulation (g++) of the HLS accelerator top, at the searched ZCU102 design
(the build benchmarks/accel_m3vit.py simulates in Verilator): every byte of the image after the run compared with
the Python model of the accelerator, the output with the bit-accurate reference, and the wall time of the
compile and of the run.  A benchmark, not a test.

    .venv/bin/python benchmarks/hls_accel_m3vit.py [--design search/examples/search-m3vit-t-zcu102/search.json]
        [--precision w16a32] [--bus-width 512] [-o benchmarks/hls_accel_m3vit.json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from hwmoe.accel import executor
from hwmoe.backends.hls.accel import build, csim, write_hls
from m3vit_case import DESIGN, prepare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default=DESIGN)
    ap.add_argument("--precision", default="w16a32")
    ap.add_argument("--bus-width", type=int, default=512)
    ap.add_argument("--work", help="project folder (default: a temporary one)")
    ap.add_argument("-o", "--output", default="benchmarks/hls_accel_m3vit.json")
    a = ap.parse_args()

    case = prepare(a.design, a.precision)
    program, image = case.program, case.image
    project = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="hwmoe_hls_m3vit_"))
    write_hls(program, project, a.bus_width)
    t1 = time.perf_counter()
    build(project)
    built = time.perf_counter() - t1
    run = csim(project, image, program.program_offset)

    result = {
        "design": a.design, "precision": a.precision, "bus_width": a.bus_width, "commands": run.commands,
        "error": run.error, "image_equal": run.image == case.want,
        "bit_exact": bool(run.error == 0 and np.array_equal(executor.read_output(program, run.image), case.reference)),
        "image_bytes": len(image),
        "wall_s": {"prepare": round(case.seconds, 1), "gxx_build": round(built, 1), "run": round(run.run_seconds, 1)}}
    Path(a.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
