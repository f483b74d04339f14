"""Reciprocal unit testbench: every x > 0 of a narrow input (1..599, the powers of two and the words below
them, and random words of a wide one) through hwmoe_recip, every {p, r} compared with
hwmoe.numerics.softmax.reciprocal exactly, on Icarus and Verilator with idle input beats and output
back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_recip(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


CASES = {
    # 22-bit x (the attention's running sum at 16-bit q/k/v), 5-bit p: edges and random words
    "default": ({}, ("icarus", "verilator")),
    # x narrower than the 8 index bits (the index is zero-filled), every x
    "x6": ({"x_width": "6", "p_width": "3", "lanes": "1"}, ("icarus",)),
    # 13 bits: every x, 3 lanes
    "x13": ({"x_width": "13", "p_width": "4", "lanes": "3"}, ("icarus",)),
}
RUNS = [pytest.param(sim, ov, id=f"{name}-{sim}") for name, (ov, sims) in CASES.items() for sim in sims]


@pytest.mark.parametrize("simulator,overrides", RUNS)
def test_recip(simulator, overrides, sim_work):
    assert_kernel("recip", simulator, overrides, sim_work)
