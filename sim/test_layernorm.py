"""LayerNorm unit testbench: rows of random words (a few at the extremes), a constant row (variance 0: the
eps path) and a row saturated at the most negative word through hwmoe_layernorm, gamma/beta streamed per
layer; every output word compared with hwmoe.kernels.layernorm.layernorm exactly, on Icarus and Verilator
with idle input beats and output back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from hwmoe.kernels.layernorm import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_layernorm(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_layernorm(simulator, overrides, sim_work):
    assert_kernel("layernorm", simulator, overrides, sim_work)
