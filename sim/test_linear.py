"""Linear kernel testbench: random activations, weights and biases (a few extreme words, random words in the
padding lanes) through hwmoe_linear, every output word compared with hwmoe.kernels.linear.linear (and
gelu(linear) when fused) exactly; Icarus and Verilator with idle input beats and output back-pressure, then
a clean run for the cycle count."""
import cocotb
import pytest

from hwmoe.kernels.linear import POINTS
from kernel_check import assert_kernel
from points import point_names
from tb import TB


@cocotb.test()
async def run_linear(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("name", point_names(POINTS, "icarus"))
def test_linear_icarus(name, sim_work):
    assert_kernel("linear", "icarus", POINTS[name].overrides, sim_work)


@pytest.mark.parametrize("name", point_names(POINTS, "verilator"))
def test_linear_verilator(name, sim_work):
    assert_kernel("linear", "verilator", POINTS[name].overrides, sim_work)
