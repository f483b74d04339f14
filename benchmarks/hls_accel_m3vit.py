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
from hwmoe.accel.build import load_design
from hwmoe.accel.program import compile_program
from hwmoe.backends.hls.accel import build, csim, write_hls
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.reference import FixedRunner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--design", default="search/examples/search-m3vit-t-zcu102/search.json")
    ap.add_argument("--precision", default="w16a32")
    ap.add_argument("--bus-width", type=int, default=512)
    ap.add_argument("--work", help="project folder (default: a temporary one)")
    ap.add_argument("-o", "--output", default="benchmarks/hls_accel_m3vit.json")
    a = ap.parse_args()

    t0 = time.perf_counter()
    model = build_model(make_config("m3vit-t"), 0)
    graph = graph_from_model(model)
    images = sample_input(model.cfg, 0, batch=3).numpy()
    plan = calibrate(graph, a.precision, images[:2])
    choice, _ = load_design(a.design)
    program = compile_program(graph, plan, choice)
    image = executor.load_image(program, images[2])
    want = bytearray(image)
    executor.execute(program, want)
    reference = FixedRunner(graph, plan).run_raw(images[2])
    prepared = time.perf_counter() - t0

    project = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="hwmoe_hls_m3vit_"))
    write_hls(program, project, a.bus_width)
    t1 = time.perf_counter()
    build(project)
    built = time.perf_counter() - t1
    run = csim(project, image, program.program_offset)

    result = {
        "design": a.design, "precision": a.precision, "bus_width": a.bus_width, "commands": run.commands,
        "error": run.error, "image_equal": run.image == bytes(want),
        "bit_exact": bool(run.error == 0 and np.array_equal(executor.read_output(program, run.image), reference)),
        "image_bytes": len(image),
        "wall_s": {"prepare": round(prepared, 1), "gxx_build": round(built, 1), "run": round(run.run_seconds, 1)}}
    Path(a.output).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
