"""Streaming attention testbench: random q, k, v (a few words at the format extremes, or all of them) through
hwmoe_attention, every output word compared with hwmoe.kernels.attention.attention exactly, on Icarus and
Verilator with idle input beats and output back-pressure, then a clean run for the cycle count.

The exp2 and reciprocal units (rtl/hwmoe_exp2.v, rtl/hwmoe_recip.v, shared with the router) are also tested
alone against hwmoe.numerics.softmax.exp2_neg / reciprocal, with a randomly toggled enable."""
import json
import os
import random
import sys
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hwmoe.kernels.attention import POINTS
from kernel_check import assert_kernel
from points import point_runs

UNIT = os.environ.get("HWMOE_UNIT", "")


@cocotb.test(skip=bool(UNIT))
async def run_attention(dut):
    from tb import TB
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


async def _check_pipeline(dut, port: str, inputs, expect, outputs):
    """Drive ``port`` with ``inputs`` (en high 80% of cycles); after every edge the outputs must hold
    ``expect(x)`` of the input taken two enabled edges earlier (latency 2, held while en is low)."""
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    rng = random.Random(1)
    taken, bad = [], []
    dut.en.value = 0
    for x in inputs:
        await FallingEdge(dut.clk)
        en = rng.random() < 0.8
        dut.en.value = int(en)
        getattr(dut, port).value = int(x)
        await RisingEdge(dut.clk)
        if en:
            taken.append(int(x))
        await ReadOnly()
        if len(taken) >= 2:
            got = tuple(int(getattr(dut, o).value) for o in outputs)
            want = expect(taken[-2])
            if got != want:
                bad.append((taken[-2], got, want))
    assert not bad, f"{len(bad)} mismatches, first (input, got, expected): {bad[0]}"


@cocotb.test(skip=UNIT != "exp2")
async def run_exp2(dut):
    from hwmoe.numerics.softmax import exp2_neg
    cfg = json.loads(os.environ["HWMOE_UNIT_PARAMS"])
    d_w, frac = cfg["D_W"], cfg["FRAC"]
    inputs = list(range(1 << d_w)) if d_w <= 13 else [random.Random(2).randrange(1 << d_w) for _ in range(6000)]
    await _check_pipeline(dut, "d", inputs, lambda d: (int(exp2_neg(d, frac)),), ["e"])


@cocotb.test(skip=UNIT != "recip")
async def run_recip(dut):
    from hwmoe.numerics.softmax import reciprocal
    x_w = json.loads(os.environ["HWMOE_UNIT_PARAMS"])["X_W"]
    rng = random.Random(3)
    inputs = [x for x in range(1, 600) if x < 1 << x_w] + [1 << i for i in range(x_w)] \
        + [(1 << i) - 1 for i in range(2, x_w + 1)] + [rng.randrange(1, 1 << x_w) for _ in range(3000)]

    def expect(x):
        r, p = reciprocal(x)
        return int(r), int(p)
    await _check_pipeline(dut, "x", inputs, expect, ["r", "p"])


# ------------------------------------------------------------------------------------------------ pytest

@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_attention(simulator, overrides, sim_work):
    assert_kernel("attention", simulator, overrides, sim_work)


def _run_unit(unit: str, top: str, params: dict, table, sim_work: Path) -> None:
    from cocotb_tools.runner import get_results, get_runner
    from hwmoe.numerics.tables import write_memh
    from hwmoe.backends.rtl.simulate import REPO, RTL_DIR, SIM_DIR, simulator_path_setup
    simulator_path_setup()
    build_dir = Path(sim_work) / (f"attention-{unit}-icarus-" + "-".join(f"{k}{v}" for k, v in params.items()))
    build_dir.mkdir(parents=True, exist_ok=True)
    write_memh(build_dir / "table.mem", table, 16)
    runner = get_runner("icarus")
    runner.build(sources=[RTL_DIR / f"{top}.v"], hdl_toplevel=top,
                 parameters=dict(params, TABLE=f'"{build_dir / "table.mem"}"'), build_dir=build_dir,
                 always=True, timescale=("1ns", "1ps"), log_file=build_dir / "build.log")
    xml = runner.test(test_module="test_attention", hdl_toplevel=top, hdl_toplevel_lang="verilog",
                      build_dir=build_dir, test_dir=SIM_DIR, results_xml=str(build_dir / "results.xml"),
                      extra_env={"HWMOE_UNIT": unit, "HWMOE_UNIT_PARAMS": json.dumps(params),
                                 "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)] + sys.path)},
                      log_file=build_dir / "sim.log")
    tests, failed = get_results(xml)
    assert tests >= 1 and failed == 0, f"{unit} unit test failed; see {build_dir / 'sim.log'}"


@pytest.mark.parametrize("d_w,frac", [(12, 5), (16, 10), (24, 18), (8, 12)])
def test_exp2_unit(d_w, frac, sim_work):
    from hwmoe.numerics.tables import exp2_table
    _run_unit("exp2", "hwmoe_exp2", {"D_W": d_w, "FRAC": frac}, exp2_table(), sim_work)


@pytest.mark.parametrize("x_w,p_w", [(6, 3), (22, 5)])
def test_recip_unit(x_w, p_w, sim_work):
    from hwmoe.numerics.tables import recip_table
    _run_unit("recip", "hwmoe_recip", {"X_W": x_w, "P_W": p_w}, recip_table(), sim_work)
