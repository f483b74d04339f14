"""Reciprocal unit testbench: every x > 0 of a narrow input (1..599, the powers of two and the words below
them, and random words of a wide one) through hwmoe_recip, every {p, r} compared with
hwmoe.numerics.softmax.reciprocal exactly, on Icarus and Verilator with idle input beats and output
back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from hwmoe.kernels.recip import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_recip(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_recip(simulator, overrides, sim_work):
    assert_kernel("recip", simulator, overrides, sim_work)
