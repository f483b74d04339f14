"""The case both whole-image benchmarks run (benchmarks/accel_m3vit.py on the RTL top, benchmarks/hls_accel_m3vit.py
on the HLS top): m3vit-t (seed 0) calibrated on two sample images, compiled for a searched design, the third
image loaded into the memory image, with the Python model's image after the run and the reference output."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from hwmoe.accel import executor
from hwmoe.accel.build import load_design
from hwmoe.accel.program import Program, compile_program
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.reference import FixedRunner

DESIGN = "search/examples/search-m3vit-t-zcu102/search.json"


@dataclass
class Case:
    program: Program
    search: dict            # the search result the design came from (its clock, predicted latency)
    image: bytes            # the memory image with the input
    want: bytes             # the same after the Python model's run
    reference: np.ndarray   # the bit-accurate reference's output words
    model_exact: bool       # the Python model's output equals the reference
    seconds: float          # wall time to prepare all this


def prepare(design: str, precision: str, scratch_kib: int = 0) -> Case:
    t0 = time.perf_counter()
    model = build_model(make_config("m3vit-t"), 0)
    graph = graph_from_model(model)
    images = sample_input(model.cfg, 0, batch=3).numpy()
    plan = calibrate(graph, precision, images[:2])
    choice, search = load_design(design)
    program = compile_program(graph, plan, choice, scratch_bytes=scratch_kib * 1024)
    image = executor.load_image(program, images[2])
    want = bytearray(image)
    executor.execute(program, want)
    reference = FixedRunner(graph, plan).run_raw(images[2])
    exact = bool(np.array_equal(executor.read_output(program, want), reference))
    return Case(program, search, bytes(image), bytes(want), reference, exact, time.perf_counter() - t0)
