"""Add engine testbench: random operands (5% at the extremes) through hwmoe_add at run-time formats, every
output word compared with the reference exactly and y_tlast checked on every beat; run on Icarus and Verilator
with idle input beats and output back-pressure."""
import cocotb
import pytest

from hwmoe.kernels.add import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_add(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_add(simulator, overrides, sim_work):
    assert_kernel("add", simulator, overrides, sim_work)
