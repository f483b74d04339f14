"""Every kernel's full-size parameter points (``Point(..., full_size=True)``: whole m3vit-t layers) through its
RTL testbench, as the suite runs the small points: random idle input and back-pressure, then a clean run;
bit-exact against the reference, measured cycles against the kernel's formula (the search's), and wall time.
A benchmark, not a test: each takes a minute or more, so the suite runs only the small points.

    .venv/bin/python benchmarks/kernels_full_size.py [-o benchmarks/kernels_full_size.json] [--kernel K]
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from hwmoe.backends.rtl.simulate import cycles_agree, simulate_kernel
from hwmoe.kernels.registry import KERNELS


def full_size_points(only: str | None) -> list[tuple[str, str, dict, str]]:
    """(kernel, point, overrides, simulator) of every full-size point."""
    return [(k.name, p, point.overrides, sim) for k in KERNELS.values() if only in (None, k.name)
            for p, point in k.points.items() if point.full_size for sim in point.simulators]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", help="write the figures as JSON")
    ap.add_argument("--kernel", help="only this kernel")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for kernel, point, overrides, sim in full_size_points(a.kernel):
            t0 = time.perf_counter()
            r = simulate_kernel(kernel, sim, overrides, seed=1, work=Path(work))
            row = {"kernel": kernel, "point": point, "simulator": sim, "bit_exact": r.bit_exact, "words": r.words,
                   "measured_cycles": r.measured_cycles, "predicted_cycles": r.predicted_cycles,
                   "cycles_agree": cycles_agree(r.measured_cycles, r.predicted_cycles),
                   "wall_s": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            print(f"{kernel:10s} {point:8s} {sim:9s} bit-exact {'yes' if r.bit_exact else 'NO'} "
                  f"({r.words} words), {r.measured_cycles} cycles measured, {r.predicted_cycles} predicted, "
                  f"{row['wall_s']} s (build, stressed run, clean run)", flush=True)
    if a.output:
        Path(a.output).write_text(json.dumps(rows, indent=1) + "\n")
    if not all(r["bit_exact"] and r["cycles_agree"] for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
