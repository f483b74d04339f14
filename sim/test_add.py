"""Add engine testbench: random operands (5% at the extremes) through hwmoe_add at run-time formats, every
output word compared with the reference exactly and y_tlast checked on every beat; run on Icarus and Verilator
with idle input beats and output back-pressure."""
import cocotb
import pytest
from cocotb.triggers import FallingEdge, ReadOnly

from hwmoe.kernels.add import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


async def check_tlast(dut, beats: int, errors: list):
    """y_tlast must be high exactly on the beat holding the run's last word."""
    taken = 0
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if int(dut.y_tvalid.value) and int(dut.y_tready.value):
            if int(dut.y_tlast.value) != (taken == beats - 1):
                errors.append(f"beat {taken}: y_tlast {int(dut.y_tlast.value)}")
            taken += 1


@cocotb.test()
async def run_add(dut):
    tb = TB(dut)
    errors: list[str] = []
    cocotb.start_soon(check_tlast(dut, len(tb.expected["y"]), errors))
    result = await tb.run()
    assert result["bit_exact"], result["first_mismatch"]
    assert not errors, errors[:5]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_add(simulator, overrides, sim_work):
    assert_kernel("add", simulator, overrides, sim_work)
