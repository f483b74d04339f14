"""MoE kernel testbench: random activations, routes (an expert chosen by every token, an expert chosen by
none), gates and expert weights through hwmoe_moe, every output word and every weight request compared with
hwmoe.kernels.moe.moe exactly; Icarus and Verilator with idle input beats and output back-pressure, then a
clean run for the cycle count."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_moe(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


ICARUS_SETS = {
    # expert 0 chosen by every token, expert 3 by none (not requested, no weights streamed), dims not
    # divisible by the tile, some outputs saturate
    "default": {},
    # N_PE = 1, top-1 (gate exactly 1.0 on one token): one expert gets every token, two get none
    "npe1-top1": {"n_pe": "1", "top_k": "1", "experts": "3", "tokens": "6", "dim": "7", "hidden": "9"},
    # 8-bit words, b1 with more fractional bits than its accumulator (rounded), saturating tokens
    "w8-bias-round": {"t": "3", "tokens": "8", "dim": "8", "hidden": "12", "x_width": "8", "x_frac": "4",
                      "w_width": "8", "w1_frac": "6", "w2_frac": "7", "b1_frac": "14", "b2_frac": "3",
                      "h_width": "12", "h_frac": "7", "a_width": "10", "a_frac": "6", "e_width": "12",
                      "e_frac": "6", "out_width": "8", "out_frac": "3", "saturating": "0.3"},
    # top-3 of 6, N_PE = 3, uniform routing, runtime dims below the compile-time maxima
    "top3-max": {"n_pe": "3", "experts": "6", "top_k": "3", "routing": "uniform", "tokens": "11", "dim": "6",
                 "hidden": "8", "max_tokens": "16", "max_dim": "12", "max_hid": "16"},
}
VERILATOR_SETS = {
    "default": {},
}


@pytest.mark.parametrize("name", list(ICARUS_SETS))
def test_moe_icarus(name, sim_work):
    assert_kernel("moe", "icarus", ICARUS_SETS[name], sim_work)


@pytest.mark.parametrize("name", list(VERILATOR_SETS))
def test_moe_verilator(name, sim_work):
    assert_kernel("moe", "verilator", VERILATOR_SETS[name], sim_work)


def test_moe_cycles_m3vit():
    """The formula at M3ViT-T dims (what the search asks): 129 tokens, 192 -> 384 -> 192, 16 experts, top-2,
    default tiles; weight-bound, so close to the weight beats of the 16 experts."""
    from hwmoe.kernels.moe import MoeParams, cycles
    p = MoeParams(t=16, n_pe=3)
    c = cycles(p, tokens=129, dim=192, hidden=384, experts=16, top_k=2)
    beats = 16 * (384 * 12 + 192 * 24)
    assert beats < c < 1.1 * beats
