"""Command-line start-up: wall time (best of 3) of ``hwmoe --help``, every sub-command's ``--help``, ``hwmoe info``
on an exported m3vit-t (first call with an empty import cache, then cached) and ``hwmoe run`` of one m3vit-t image
(after the first call: cached graph, plan on disk).  A benchmark, not a test.

    .venv/bin/python benchmarks/cli_speed.py

Each command is a fresh process, as a user runs it; the import cache is a temporary folder (HWMOE_CACHE)."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

COMMANDS = ["export", "info", "run", "sim", "hls", "boards", "search", "build", "sweep", "demo"]


def timed(args, env) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "hwmoe.cli", *args], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def best(args, env, n=3) -> float:
    return min(timed(args, env) for _ in range(n))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "HWMOE_CACHE": str(tmp / "cache")}
        print(f"hwmoe --help: {best(['--help'], env):.2f} s")
        helps = {c: best([c, "--help"], env) for c in COMMANDS}
        print("sub-command --help: " + ", ".join(f"{c} {t:.2f}" for c, t in helps.items())
              + f" s (slowest {max(helps.values()):.2f} s)")
        model = tmp / "m3vit-t.onnx"
        timed(["export", "--preset", "m3vit-t", "-o", str(model)], env)
        print(f"hwmoe info m3vit-t.onnx, empty cache: {timed(['info', str(model)], env):.2f} s")
        print(f"hwmoe info m3vit-t.onnx, cached: {best(['info', str(model)], env):.2f} s")
        x = tmp / "x.npy"
        np.save(x, np.random.default_rng(0).standard_normal((3, 128, 256)).astype(np.float32))
        for precision in ("float", "w16a16"):
            run = ["run", str(model), "--input", str(x), "-o", str(tmp / "y.npy"), "--precision", precision]
            timed(run, env)                       # the first call imports the model and calibrates the plan
            print(f"hwmoe run m3vit-t, one image, {precision}, after the first call: {best(run, env):.2f} s")


if __name__ == "__main__":
    main()
