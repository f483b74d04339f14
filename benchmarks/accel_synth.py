"""yosys ``synth_xilinx -family xcup`` of the generated accelerator top, against the cost model's resources
of its engines.  A benchmark, not a test (minutes per design).

    .venv/bin/python benchmarks/accel_synth.py [--preset tiny] [--precision w16a16] [--design search.json]
        [--bus-width 128] [-o benchmarks/accel_synth_tiny.json]

Default: the tiny model at the default (small) engines.  With ``--design``, the engines of a search result."""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from hwmoe.accel.build import load_design
from hwmoe.accel.engines import DEFAULT_CHOICE, KERNELS
from hwmoe.accel.program import compile_program
from hwmoe.accel.top import TOP, TopConfig, write_project
from hwmoe.backends.rtl.yosys import synth
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--precision", default="w16a16")
    ap.add_argument("--design")
    ap.add_argument("--bus-width", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=7200.0)
    ap.add_argument("-o", "--output", default="benchmarks/accel_synth_tiny.json")
    a = ap.parse_args()
    model = build_model(make_config(a.preset), 0)
    graph = graph_from_model(model)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(2)])
    choice = load_design(a.design)[0] if a.design else DEFAULT_CHOICE
    program = compile_program(graph, calibrate(graph, a.precision, images), choice)
    with tempfile.TemporaryDirectory(prefix="hwmoe_synth_") as tmp:
        project = Path(tmp)
        files = write_project(program, project, TopConfig(bus_w=a.bus_width))
        sources = [project / name for name in files["filelist"].read_text().split()]
        result = synth(TOP, {name: str(path) for name, path in files["tables"].items()}, files=sources,
                       timeout=a.timeout)
    engines = {e: KERNELS[e].resources(p).as_dict() for e, p in program.engines.params.items()}
    model_total = {k: round(sum(u[k] for u in engines.values())) for k in ("lut", "ff", "dsp", "bram36")}
    out = {"preset": a.preset, "precision": a.precision, "design": a.design or "default", "bus_width": a.bus_width,
           "yosys": result["counts"], "seconds": result["seconds"], "cost_model_engines": engines,
           "cost_model_engines_total": model_total}
    Path(a.output).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
