"""End-to-end testbench of the generated accelerator (hwmoe_accel): a whole model's program and image in a
cocotbext-axi AxiRam, the run started and watched through an AxiLiteMaster on the control registers, and the
memory after the run compared byte for byte with the Python model of the accelerator (hwmoe.accel.executor),
whose output equals the bit-accurate reference.  The AXI channels may pause at random (memory latency and
back-pressure) or move read data in a given fraction of the cycles (a bandwidth cap); the cycle count is read
from the CYCLES register."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

from hwmoe.accel import registers as reg
from tb import pauses

BASE = 0x3000                       # the image's address in the memory: not 0, so BASE is exercised


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


async def read_reg(axil, address: int) -> int:
    return int.from_bytes((await axil.read(address, 4)).data, "little")


async def write_reg(axil, address: int, value: int) -> None:
    await axil.write(address, value.to_bytes(4, "little"))


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
    from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
    case_dir = Path(os.environ["HWMOE_CASE"])
    case = json.loads((case_dir / "case.json").read_text())
    image = (case_dir / "image.bin").read_bytes()
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=BASE + len(image) + 4096)
    for part in (ram.read_if, ram.write_if):
        part.log.setLevel("WARNING")
    axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
    axil.write_if.log.setLevel("WARNING")
    axil.read_if.log.setLevel("WARNING")
    rng = random.Random(case["seed"])
    if case["stress"]:
        for ch in (ram.read_if.ar_channel, ram.read_if.r_channel, ram.write_if.aw_channel, ram.write_if.w_channel,
                   ram.write_if.b_channel):
            ch.set_pause_generator(pauses(rng, case["stress"]))
    elif case.get("bandwidth", 1.0) < 1.0:
        ram.read_if.r_channel.set_pause_generator(duty(case["bandwidth"]))
    ram.write(BASE, image)
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await write_reg(axil, reg.BASE_LO, BASE)
    await write_reg(axil, reg.BASE_HI, 0)
    await write_reg(axil, reg.PROG, case["prog"])
    runs = []
    # later runs, without a reset: new input bytes written into the image first
    for n, (offset, name) in enumerate([(None, None), *case.get("reruns", [])]):
        if name is not None:
            ram.write(BASE + offset, (case_dir / name).read_bytes())
            await write_reg(axil, reg.STATUS, reg.STATUS_DONE)  # clear DONE (and so the interrupt)
        ends: list[int] = []
        watcher = cocotb.start_soon(command_ends(dut, ends))
        await write_reg(axil, reg.CTRL, reg.CTRL_START | reg.CTRL_IRQ_EN)
        waited = 0
        while not int(dut.irq.value):
            await RisingEdge(dut.clk)
            waited += 1
            if waited > case["timeout"]:
                raise AssertionError(f"run {n}: no interrupt within {case['timeout']} cycles")
        watcher.cancel()
        status = await read_reg(axil, reg.STATUS)
        cycles = await read_reg(axil, reg.CYCLES_LO) | await read_reg(axil, reg.CYCLES_HI) << 32
        engines = []
        for e in range(case["counters"]):
            base = reg.ENGINE0 + reg.ENGINE_STRIDE * e
            busy = await read_reg(axil, base) | await read_reg(axil, base + 4) << 32
            stall = await read_reg(axil, base + 8) | await read_reg(axil, base + 12) << 32
            engines.append({"busy": busy, "stall": stall})
        (case_dir / f"after-{n}.bin").write_bytes(ram.read(BASE, len(image)))
        runs.append({"status": status, "error": await read_reg(axil, reg.ERROR),
                     "commands": await read_reg(axil, reg.COMMANDS), "cycles": cycles, "engines": engines,
                     "command_ends": ends})
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
RUNS = [("icarus", "w16a16", 0.0, 128), ("verilator", "w16a32", 0.0, 256), ("icarus", "w8a8", 0.3, 64)]


@pytest.mark.parametrize("simulator,precision,stress,bus", RUNS)
def test_accel_tiny(tiny, simulator, precision, stress, bus, tmp_path):
    """The whole tiny model through the generated accelerator: every byte of the image after the run equals
    the Python model's (whose output equals the reference), every command completed, no error, and on a clean
    memory the cycles within 2% of the timing model."""
    from hwmoe.accel import executor, simulate, timing
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
    write_project(program, project, TopConfig(bus_w=bus))
    run, = simulate.run(project, image, program.program_offset, simulator, tmp_path, stress)
    assert run.error == 0 and run.status & (reg.STATUS_DONE | reg.STATUS_ERROR) == reg.STATUS_DONE, run
    assert run.commands == len(program.commands)
    assert run.image == bytes(want), first_difference(program, run.image, bytes(want))
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
                        reruns=[(region.offset, second[region.offset:region.offset + region.size])])
    routes = program.layout.load(runs[0].image, program.layout.regions["blocks.1.moe.gate.routes"])
    # expert 0 for every token; its renormalised gate is 1.0 through the reciprocal table (within 2^-10)
    assert (routes[:, 0] == 0).all() and (routes[:, 1] == routes[0, 1]).all() and routes[0, 1] >= (1 << 15) - 32
    for run, memory, x in zip(runs, (first, second), images[2:]):
        want = bytearray(memory)
        executor.execute(program, want)
        assert run.error == 0 and run.commands == len(program.commands), run
        assert run.image == bytes(want), first_difference(program, run.image, bytes(want))
        assert np.array_equal(executor.read_output(program, run.image), FixedRunner(graph, program.plan).run_raw(x))
