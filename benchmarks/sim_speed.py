"""Simulation speed: simulated cycles per second on Icarus and Verilator, and the wall time of a full m3vit-t
attention layer and of one m3vit-t expert MLP in Verilator.  A benchmark, not a test.

    .venv/bin/python benchmarks/sim_speed.py [--quick]

Each case is built once (build time reported separately) and then run without idle cycles or back-pressure;
the run's wall time includes starting the simulator and cocotb (about a second)."""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hwmoe.kernels.registry import get_kernel
from hwmoe.overrides import apply_overrides
from hwmoe.backends.rtl.simulate import run_case

# (label, kernel, overrides, simulators)
CASES = [
    ("gelu stream, 2 lanes, 16k words", "gelu", {"words": "16384"}, ("icarus", "verilator")),
    ("linear 64 tokens 192->192, 16x16x3 tiles", "linear",
     {"tokens": "64", "d_in": "192", "d_out": "192"}, ("icarus", "verilator")),
    ("m3vit-t attention layer: 129 tokens, 3 heads x 64, P=4, 8 lanes", "attention",
     {"tokens": "129", "heads": "3", "head_dim": "64"}, ("verilator",)),
    ("m3vit-t expert MLP: 17 tokens (129 x 2 / 16), 192->384->192, T=16, N_PE=3", "moe",
     {"t": "16", "n_pe": "3", "experts": "1", "top_k": "1", "tokens": "17", "dim": "192", "hidden": "384",
      "routing": "uniform"}, ("verilator",)),
]


def measure(kernel: str, overrides: dict, simulator: str, work: Path) -> dict:
    k = get_kernel(kernel)
    params = apply_overrides(k.params(), overrides, kernel)
    case = k.make_case(params, 0)
    t0 = time.perf_counter()
    run_case(case, kernel, simulator, work, seed=0)          # builds, then runs once
    t1 = time.perf_counter()
    r = run_case(case, kernel, simulator, work, seed=0)      # the build is reused: this times the run
    t2 = time.perf_counter()
    assert r.bit_exact, r.summary()
    return {"build_and_first_run_s": round(t1 - t0, 2), "run_s": round(t2 - t1, 2),
            "cycles": r.measured_cycles, "cycles_per_s": round(r.measured_cycles / (t2 - t1))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="only the two small streaming cases")
    ap.add_argument("-o", "--output", help="write the figures as JSON")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, kernel, overrides, sims in CASES[:2] if a.quick else CASES:
            for sim in sims:
                m = measure(kernel, overrides, sim, Path(tmp))
                rows.append({"case": label, "simulator": sim, **m})
                print(f"{label:75s} {sim:9s} cycles {m['cycles']:>8d}  run {m['run_s']:7.2f} s  "
                      f"{m['cycles_per_s']:>8d} cycles/s  (build + first run {m['build_and_first_run_s']:.1f} s)",
                      flush=True)
    if a.output:
        Path(a.output).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
