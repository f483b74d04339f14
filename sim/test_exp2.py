"""exp2 unit testbench: every d of a narrow input (random words and the edges of a wide one) through
hwmoe_exp2, every output compared with hwmoe.numerics.softmax.exp2_neg exactly, on Icarus and Verilator with
idle input beats and output back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_exp2(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


CASES = {
    # 12-bit d, 5 fractional bits (fewer than the 8 index bits: the index is zero-filled), every d
    "default": ({}, ("icarus", "verilator")),
    # the attention's score format: 16 bits, 10 fractional; random words and the edges
    "d16-frac10": ({"d_width": "16", "frac": "10", "lanes": "1"}, ("icarus",)),
    # the router's: 24 bits with 18 fractional (the whole part shifts e to 0 from 16 up)
    "d24-frac18": ({"d_width": "24", "frac": "18", "lanes": "3"}, ("icarus",)),
    # more fractional bits than bits (d < 1, no whole part), every d
    "d8-frac12": ({"d_width": "8", "frac": "12"}, ("icarus",)),
}
RUNS = [pytest.param(sim, ov, id=f"{name}-{sim}") for name, (ov, sims) in CASES.items() for sim in sims]


@pytest.mark.parametrize("simulator,overrides", RUNS)
def test_exp2(simulator, overrides, sim_work):
    assert_kernel("exp2", simulator, overrides, sim_work)
