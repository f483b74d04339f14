"""MoE kernel testbench: random activations, routes (an expert chosen by every token, an expert chosen by
none), gates and expert weights through hwmoe_moe, every output word and every weight request compared with
hwmoe.kernels.moe.moe exactly; Icarus and Verilator with idle input beats and output back-pressure, then a
clean run for the cycle count."""
import cocotb
import pytest

from hwmoe.kernels.moe import POINTS
from kernel_check import assert_kernel
from points import point_names
from tb import TB


@cocotb.test()
async def run_moe(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("name", point_names(POINTS, "icarus"))
def test_moe_icarus(name, sim_work):
    assert_kernel("moe", "icarus", POINTS[name].overrides, sim_work)


@pytest.mark.parametrize("name", point_names(POINTS, "verilator"))
def test_moe_verilator(name, sim_work):
    assert_kernel("moe", "verilator", POINTS[name].overrides, sim_work)


def test_moe_cycles_m3vit():
    """The formula at M3ViT-T dims (what the search asks): 129 tokens, 192 -> 384 -> 192, 16 experts, top-2,
    default tiles; weight-bound, so close to the weight beats of the 16 experts."""
    from hwmoe.kernels.moe import MoeParams, cycles
    p = MoeParams(t=16, n_pe=3)
    c = cycles(p, tokens=129, dim=192, hidden=384, experts=16, top_k=2)
    beats = 16 * (384 * 12 + 192 * 24)
    assert beats < c < 1.1 * beats
