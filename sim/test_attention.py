"""Streaming attention testbench: random q, k, v (a few words at the format extremes, or all of them) through
hwmoe_attention, every output word compared with hwmoe.kernels.attention.attention exactly, on Icarus and
Verilator with idle input beats and output back-pressure, then a clean run for the cycle count.
The exp2 and reciprocal units inside it have their own testbenches (sim/test_exp2.py, sim/test_recip.py)."""
import cocotb
import pytest

from hwmoe.kernels.attention import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_attention(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


# ------------------------------------------------------------------------------------------------ pytest

@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_attention(simulator, overrides, sim_work):
    assert_kernel("attention", simulator, overrides, sim_work)

