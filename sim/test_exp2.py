"""exp2 unit testbench: every d of a narrow input (random words and the edges of a wide one) through
hwmoe_exp2, every output compared with hwmoe.numerics.softmax.exp2_neg exactly, on Icarus and Verilator with
idle input beats and output back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from hwmoe.kernels.exp2 import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_exp2(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_exp2(simulator, overrides, sim_work):
    assert_kernel("exp2", simulator, overrides, sim_work)
