"""GELU unit testbench: random words (5% at the extremes) through hwmoe_gelu, every output compared with
the reference exactly; run on Icarus and Verilator with idle input beats and output back-pressure."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_gelu(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("overrides", [{}, {"lanes": "1", "in_frac": "3", "in_width": "8", "out_width": "8",
                                            "out_frac": "4", "words": "64"},
                                       {"in_width": "32", "in_frac": "22", "out_width": "32", "out_frac": "22",
                                        "entries": "96"}],
                         ids=["default", "w8-coarse", "w32-short-table"])
def test_gelu(simulator, overrides, sim_work):
    assert_kernel("gelu", simulator, overrides, sim_work)
