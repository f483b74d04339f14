"""End-to-end testbench of the generated accelerator (hwmoe_accel): a whole model's program and image in a
cocotbext-axi AxiRam, the run controlled by the host driver (hwmoe.driver: its simulation backend drives an
AxiLiteMaster on the control registers and waits for the interrupt), and the memory after the run compared
byte for byte with the Python model of the accelerator (hwmoe.accel.executor), whose output equals the
bit-accurate reference; one run also C-simulates the HLS top on the same image (reference == RTL == HLS, byte for
byte).  The AXI channels may pause at random (memory latency and back-pressure) or move read
data in a given fraction of the cycles (a bandwidth cap); the cycle count is the driver's read of CYCLES."""
from __future__ import annotations

import io
import json
import os
import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hwmoe.accel import registers as reg
from tb import pauses

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "driver"     # the recorded board session


# ----------------------------------------------------------------------------------------------- cocotb side

def duty(fraction: float):
    """A pause pattern letting a channel move in ``fraction`` of the cycles, evenly spread (a bandwidth cap)."""
    credit = 0.0
    while True:
        credit += fraction
        if credit >= 1.0:
            credit -= 1.0
            yield False
        else:
            yield True


async def command_ends(dut, ends: list):
    """The cycle (counted from the START pulse) of every command's end."""
    while not int(dut.start.value):
        await RisingEdge(dut.clk)
    cycle = 0
    while True:
        await RisingEdge(dut.clk)
        cycle += 1
        if int(dut.command_done.value):
            ends.append(cycle)


@cocotb.test()
async def run_accel(dut):
    from hwmoe.driver.core import Driver, drive
    from hwmoe.driver.sim import CocotbBackend
    from hwmoe.driver.trace import Trace
    case_dir = Path(os.environ["HWMOE_CASE"])
    case = json.loads((case_dir / "case.json").read_text())
    image = (case_dir / "image.bin").read_bytes()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    backend = CocotbBackend(dut, len(image), case["timeout"])
    ram = backend.ram
    rng = random.Random(case["seed"])
    if case["stress"]:
        for ch in (ram.read_if.ar_channel, ram.read_if.r_channel, ram.write_if.aw_channel, ram.write_if.w_channel,
                   ram.write_if.b_channel):
            ch.set_pause_generator(pauses(rng, case["stress"]))
    elif case.get("bandwidth", 1.0) < 1.0:
        ram.read_if.r_channel.set_pause_generator(duty(case["bandwidth"]))
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    driver, trace = Driver(image, case["prog"]), Trace()
    await drive(driver.load(), backend, trace)
    runs = []
    # later runs without a reset: the driver writes new input bytes into the image first
    for n, writes in enumerate(case["runs"]):
        ends: list[int] = []
        watcher = cocotb.start_soon(command_ends(dut, ends))
        steps = driver.run([(offset, (case_dir / name).read_bytes()) for offset, name in writes],
                           [tuple(r) for r in case["reads"]])
        result = await drive(steps, backend, trace)
        watcher.cancel()
        (case_dir / f"after-{n}.bin").write_bytes(await backend.read_mem(0, len(image)))
        runs.append({"status": result.status, "error": result.error, "commands": result.commands,
                     "cycles": result.cycles, "engines": result.engines, "command_ends": ends,
                     "output": result.data[0].hex() if result.data else None})
    trace.save(case_dir / "trace.json")
    (case_dir / "result.json").write_text(json.dumps(runs))


# ----------------------------------------------------------------------------------------------- pytest side

def first_difference(program, got: bytes, want: bytes) -> str:
    """Where two images first differ, by region."""
    at = next(i for i in range(len(want)) if got[i] != want[i])
    region = next(r for r in program.layout.regions.values() if r.offset <= at < r.offset + r.size)
    return f"byte 0x{at:x} (region {region.name!r}, row {(at - region.offset) // region.stride}): " \
           f"got 0x{got[at]:02x}, expected 0x{want[at]:02x}"


@pytest.fixture(scope="module")
def tiny():
    from hwmoe.frontend.config import make_config
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, sample_input
    model = build_model(make_config("tiny"), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(3)])
    return graph_from_model(model), images


# (simulator, precision, AXI pause probability, bus bits): the clean runs are timed against the model (on a bus
# wide enough for the linear engine's activation and weight streams together; docs/accelerator.md, "Timing")
# (simulator, precision, AXI pause probability, AXI data bits); the Verilator run's top has 64-bit AXI addresses
# (an Alveo kernel's) with the image above 4 GiB, the others 32
RUNS = [("icarus", "w16a16", 0.0, 128), ("verilator", "w16a32", 0.0, 256), ("icarus", "w8a8", 0.3, 64)]
RECORDED = RUNS[0]      # the run whose session tests/data/driver/ keeps for the board backends' replay


def hls_csim(program, image: bytes, project: Path, bus: int):
    """The C simulation of the HLS top (hwmoe.backends.hls.accel) of the same build, on ``image``."""
    from hwmoe.backends.hls.accel import csim, write_hls
    write_hls(program, project, bus)
    return csim(project, image, program.program_offset)


def check_recorded(program, x: np.ndarray, run) -> None:
    """tests/data/driver/ (image.bin and layout.json as ``hwmoe build`` writes them, the input, the driver's
    trace, the simulation's result) must be what this run produced: tests/test_driver.py replays the trace on
    the board backends.  ``HWMOE_UPDATE_DATA=1`` rewrites them instead."""
    from hwmoe.accel import executor
    from hwmoe.accel.build import layout_json
    npy = io.BytesIO()
    np.save(npy, x)
    result = {"status": run.status, "error": run.error, "commands": run.commands, "cycles": run.cycles,
              "engines": run.engines, "output": executor.read_output(program, run.image).tolist()}
    files = {"image.bin": bytes(program.memory), "layout.json": json.dumps(layout_json(program), indent=1).encode(),
             "input.npy": npy.getvalue(), "trace.json": run.trace.read_bytes(),
             "result.json": (json.dumps(result) + "\n").encode()}
    for name, content in files.items():
        if os.environ.get("HWMOE_UPDATE_DATA"):
            DATA.mkdir(parents=True, exist_ok=True)
            (DATA / name).write_bytes(content)
        assert (DATA / name).read_bytes() == content, \
            f"{DATA / name} is stale: rewrite with HWMOE_UPDATE_DATA=1 pytest sim/test_accel.py -k 'icarus-w16a16'"


@pytest.mark.parametrize("simulator,precision,stress,bus", RUNS)
def test_accel_tiny(tiny, simulator, precision, stress, bus, tmp_path):
    """The whole tiny model through the generated accelerator: every byte of the image after the run equals
    the Python model's (whose output equals the reference), every command completed, no error, and on a clean
    memory the cycles within 2% of the timing model."""
    from hwmoe.accel import executor, simulate, timing
    from hwmoe.accel.build import layout_json
    from hwmoe.accel.program import compile_program
    from hwmoe.accel.top import TopConfig, write_project
    from hwmoe.numerics.calibration import calibrate
    from hwmoe.reference import FixedRunner
    graph, images = tiny
    program = compile_program(graph, calibrate(graph, precision, images[:2]))
    image = executor.load_image(program, images[2])
    want = bytearray(image)
    executor.execute(program, want)
    assert np.array_equal(executor.read_output(program, want), FixedRunner(graph, program.plan).run_raw(images[2]))
    project = tmp_path / "project"
    write_project(program, project, TopConfig(bus_w=bus, addr_w=64 if simulator == "verilator" else 32))
    recorded = (simulator, precision, stress, bus) == RECORDED
    with ThreadPoolExecutor(1) as pool:
        # the recorded run is also the three-way check: the HLS top's C simulation on the same image, beside it
        hls = pool.submit(hls_csim, program, image, tmp_path / "hls", bus) if recorded else None
        run, = simulate.run(project, image, program.program_offset, simulator, tmp_path, stress,
                            layout=layout_json(program))
        hls = hls.result() if hls else None
    assert run.error == 0 and run.status & reg.AP_DONE, run
    assert run.commands == len(program.commands)
    assert run.image == bytes(want), first_difference(program, run.image, bytes(want))
    out = program.output_region
    assert run.output == bytes(want[out.offset:out.offset + out.size])      # what the driver read
    if recorded:
        assert (hls.error, hls.commands, hls.ident) == (0, len(program.commands), reg.ID_VALUE)
        assert hls.image == run.image, first_difference(program, hls.image, run.image)   # reference == RTL == HLS
        check_recorded(program, images[2], run)
    if not stress:
        predicted = timing.total_cycles(program, timing.Memory(bus_bytes=bus // 8), timing.routing_of(program, want))
        assert abs(run.cycles - predicted) <= 0.02 * run.cycles, (run.cycles, predicted)


def test_accel_one_expert_renormalised_and_rerun(tmp_path):
    """A tiny model with top-1 renormalised routing whose gate weights are all zero: every token chooses
    expert 0 (ties go to the lowest index) at a gate of 1.0 (renormalised), the other experts get no token and
    are never requested.  The program runs twice without a reset in between, on two different inputs: both
    outputs equal the reference (no state carried over) and so does every byte of the image."""
    import torch

    from hwmoe.accel import executor, simulate
    from hwmoe.accel.build import layout_json
    from hwmoe.accel.program import compile_program
    from hwmoe.accel.top import write_project
    from hwmoe.frontend.config import make_config
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, sample_input
    from hwmoe.numerics.calibration import calibrate
    from hwmoe.reference import FixedRunner
    cfg = make_config("tiny", {"top_k": "1", "renormalize": "true"})
    model = build_model(cfg, 0)
    with torch.no_grad():
        model.blocks[1].mlp.gate.weight.zero_()
    graph = graph_from_model(model)
    images = np.stack([sample_input(cfg, s)[0].numpy() for s in range(4)])
    program = compile_program(graph, calibrate(graph, "w16a16", images[:2]))
    first, second = (executor.load_image(program, x) for x in images[2:])
    region = program.input_region
    project = tmp_path / "project"
    write_project(program, project)
    runs = simulate.run(project, first, program.program_offset, "icarus", tmp_path,
                        reruns=[(region.offset, second[region.offset:region.offset + region.size])],
                        layout=layout_json(program))
    routes = program.layout.load(runs[0].image, program.layout.regions["blocks.1.moe.gate.routes"])
    # expert 0 for every token; its renormalised gate is 1.0 through the reciprocal table (within 2^-10)
    assert (routes[:, 0] == 0).all() and (routes[:, 1] == routes[0, 1]).all() and routes[0, 1] >= (1 << 15) - 32
    for run, memory, x in zip(runs, (first, second), images[2:]):
        want = bytearray(memory)
        executor.execute(program, want)
        assert run.error == 0 and run.commands == len(program.commands), run
        assert run.image == bytes(want), first_difference(program, run.image, bytes(want))
        reference = FixedRunner(graph, program.plan).run_raw(x)
        assert np.array_equal(executor.read_output(program, run.image), reference)
        assert np.array_equal(program.layout.unpack(program.output_region, run.output).reshape(reference.shape),
                              reference)        # what the driver read


# (scratchpad KiB, on-chip tensors expected, AXI pause probability): 64 KiB holds every intermediate tensor of
# tiny, timed against the model; 2 KiB holds some, the others spill to the image, and the memory pauses at
# random on every channel (transfers of both memories in flight while the image's stall)
SCRATCH_RUNS = [(64, "all", 0.0), (2, "some", 0.3)]


@pytest.mark.parametrize("kib,fits,stress", SCRATCH_RUNS)
def test_accel_tiny_scratch(tiny, kib, fits, stress, tmp_path):
    """The whole tiny model with an on-chip scratchpad: the output equals the reference, the image after the
    run (what is left in it: parameters, program, input, spilled tensors, output) equals the Python model's byte
    for byte, and on a clean memory the cycles are within 2% of the timing model (on-chip transfers at one bus
    word per cycle)."""
    from hwmoe.accel import executor, simulate, timing
    from hwmoe.accel.build import layout_json
    from hwmoe.accel.program import compile_program
    from hwmoe.accel.top import TopConfig, write_project
    from hwmoe.numerics.calibration import calibrate
    from hwmoe.reference import FixedRunner
    graph, images = tiny
    bus = 128
    program = compile_program(graph, calibrate(graph, "w16a16", images[:2]), scratch_bytes=kib * 1024)
    on_chip = [r for r in program.layout.regions.values() if r.scratch]
    spilled = [n for n, r in program.layout.regions.items() if not r.scratch and "." in n and n.split(".")[-1] in
               ("norm1", "q", "k", "v", "core", "proj", "add1", "norm2", "act", "mlp", "out")]
    assert on_chip and (not spilled if fits == "all" else spilled), (len(on_chip), spilled)
    image = executor.load_image(program, images[2])
    want = bytearray(image)
    executor.execute(program, want)
    assert np.array_equal(executor.read_output(program, want), FixedRunner(graph, program.plan).run_raw(images[2]))
    project = tmp_path / "project"
    write_project(program, project, TopConfig(bus_w=bus))
    run, = simulate.run(project, image, program.program_offset, "icarus", tmp_path, stress,
                        layout=layout_json(program))
    assert run.error == 0 and run.commands == len(program.commands), run
    assert run.image == bytes(want), first_difference(program, run.image, bytes(want))
    assert np.array_equal(executor.read_output(program, run.image), executor.read_output(program, want))
    if stress:
        return
    predicted = timing.total_cycles(program, timing.Memory(bus_bytes=bus // 8), timing.routing_of(program, run.image))
    assert abs(run.cycles - predicted) <= 0.02 * run.cycles, (run.cycles, predicted)
