"""End-to-end testbench of the generated accelerator (hwmoe_accel): a whole model's program and image in a
cocotbext-axi AxiRam, the run started and watched through an AxiLiteMaster on the control registers, and the
memory after the run compared byte for byte with the Python model of the accelerator (hwmoe.accel.executor),
whose output equals the bit-accurate reference.  The AXI channels may pause at random (memory latency and
back-pressure); the cycle count is read from the CYCLES register."""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

BASE = 0x3000                       # the image's address in the memory: not 0, so BASE is exercised
REG_CTRL, REG_STATUS, REG_ERROR, REG_BASE_LO, REG_BASE_HI, REG_PROG, REG_COMMANDS = 0x00, 0x04, 0x08, 0x10, 0x14, \
    0x18, 0x1C
REG_CYCLES_LO, REG_CYCLES_HI, REG_ENGINES = 0x20, 0x24, 0x40


# ----------------------------------------------------------------------------------------------- cocotb side

def pauses(rng: random.Random, p: float):
    while True:
        yield rng.random() < p


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
    ram.write(BASE, image)
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    await write_reg(axil, REG_BASE_LO, BASE)
    await write_reg(axil, REG_BASE_HI, 0)
    await write_reg(axil, REG_PROG, case["prog"])
    ends: list[int] = []
    cocotb.start_soon(command_ends(dut, ends))
    await write_reg(axil, REG_CTRL, 0b11)                    # START, IRQ_EN
    waited = 0
    while not int(dut.irq.value):
        await RisingEdge(dut.clk)
        waited += 1
        if waited > case["timeout"]:
            raise AssertionError(f"no interrupt within {case['timeout']} cycles")
    status = await read_reg(axil, REG_STATUS)
    cycles = await read_reg(axil, REG_CYCLES_LO) | await read_reg(axil, REG_CYCLES_HI) << 32
    engines = []
    for e in range(case["counters"]):
        busy = await read_reg(axil, REG_ENGINES + 16 * e) | await read_reg(axil, REG_ENGINES + 16 * e + 4) << 32
        stall = await read_reg(axil, REG_ENGINES + 16 * e + 8) | await read_reg(axil, REG_ENGINES + 16 * e + 12) << 32
        engines.append({"busy": busy, "stall": stall})
    after = ram.read(BASE, len(image))
    (case_dir / "after.bin").write_bytes(after)
    (case_dir / "result.json").write_text(json.dumps({
        "status": status, "error": await read_reg(axil, REG_ERROR), "commands": await read_reg(axil, REG_COMMANDS),
        "cycles": cycles, "engines": engines, "command_ends": ends}))


# ----------------------------------------------------------------------------------------------- pytest side

def simulate(program, simulator: str, work: Path, stress: float, seed: int = 1, config=None) -> tuple[dict, bytes]:
    """Write the accelerator's project, build it (once per design and simulator), run the program on the
    image; returns (registers read after the run, the image after it)."""
    from cocotb_tools.runner import get_runner

    from hwmoe.accel.top import COUNTERS, TOP, TopConfig, write_project
    from hwmoe.backends.rtl.simulate import simulator_path_setup
    from hwmoe.paths import REPO, SIM_DIR
    import sys
    simulator_path_setup()
    project = work / "project"
    files = write_project(program, project, config or TopConfig())
    sources = [Path(line) for line in files["filelist"].read_text().split()]
    key = hashlib.sha1(json.dumps([simulator] + [hashlib.sha1(p.read_bytes()).hexdigest() for p in sources]
                                  + [hashlib.sha1(p.read_bytes()).hexdigest() for p in files["tables"].values()])
                       .encode()).hexdigest()[:12]
    build_dir = work / f"accel-{simulator}-{key}"
    runner = get_runner(simulator)
    if not (build_dir / ".built").exists():
        args = (["-Wno-fatal", "--x-assign", "0", "--x-initial", "0", "--output-split", "0", str(files["waiver"])]
                if simulator == "verilator" else [])
        runner.build(sources=sources, hdl_toplevel=TOP, build_dir=build_dir, build_args=args, always=True,
                     parameters={k: f'"{v}"' for k, v in files["tables"].items()}, timescale=("1ns", "1ps"),
                     log_file=build_dir / "build.log")
        (build_dir / ".built").touch()
    run_dir = build_dir / f"run-{os.getpid()}-{stress}"
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "image.bin").write_bytes(bytes(program.memory_with_input))
    (run_dir / "case.json").write_text(json.dumps({"prog": program.program_offset, "seed": seed, "stress": stress,
                                                   "counters": len(COUNTERS), "timeout": 2_000_000}))
    runner.test(test_module="test_accel", hdl_toplevel=TOP, hdl_toplevel_lang="verilog", build_dir=build_dir,
                test_dir=SIM_DIR, seed=seed, results_xml=str(run_dir / "results.xml"), log_file=run_dir / "sim.log",
                extra_env={"HWMOE_CASE": str(run_dir),
                           "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)] + sys.path)})
    if not (run_dir / "result.json").exists():
        raise RuntimeError(f"the accelerator testbench wrote no result; see {run_dir / 'sim.log'}")
    return json.loads((run_dir / "result.json").read_text()), (run_dir / "after.bin").read_bytes()


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


@pytest.mark.parametrize("simulator,precision,stress", [("icarus", "w16a16", 0.0), ("icarus", "w8a8", 0.3),
                                                        ("verilator", "w16a32", 0.2)])
def test_accel_tiny(tiny, simulator, precision, stress, tmp_path):
    """The whole tiny model through the generated accelerator: every byte of the image after the run equals
    the Python model's (so the output equals the reference), every command completed, no error."""
    from hwmoe.accel import executor
    from hwmoe.accel.program import compile_program
    from hwmoe.numerics.calibration import calibrate
    from hwmoe.reference import FixedRunner
    graph, images = tiny
    program = compile_program(graph, calibrate(graph, precision, images[:2]))
    memory = executor.load_image(program, images[2])
    program.memory_with_input = memory
    want = bytearray(memory)
    executor.execute(program, want)
    assert np.array_equal(executor.read_output(program, want), FixedRunner(graph, program.plan).run_raw(images[2]))
    regs, after = simulate(program, simulator, tmp_path, stress)
    assert regs["error"] == 0 and regs["status"] & 0b110 == 0b010, regs
    assert regs["commands"] == len(program.commands)
    assert after == bytes(want), first_difference(program, after, bytes(want))
