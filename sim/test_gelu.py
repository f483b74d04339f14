"""GELU unit testbench: random words (5% at the extremes) through hwmoe_gelu, every output compared with
the reference exactly; run on Icarus and Verilator with idle input beats and output back-pressure."""
import cocotb
import pytest

from hwmoe.kernels.gelu import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_gelu(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_gelu(simulator, overrides, sim_work):
    assert_kernel("gelu", simulator, overrides, sim_work)
