"""Linear kernel testbench: random activations, weights and biases (a few extreme words, random words in the
padding lanes) through hwmoe_linear, every output word compared with hwmoe.kernels.linear.linear (and
gelu(linear) when fused) exactly; Icarus and Verilator with idle input beats and output back-pressure, then
a clean run for the cycle count."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_linear(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


SMALL = {"t_in": "4", "t_out": "4", "n_pe": "2"}
ICARUS_SETS = {
    # the default tiles (16 x 16 x 3), bias, no GELU, dims not divisible by the tiles
    "default": {},
    # small tiles, dims not divisible by the tiles, bias
    "ragged": {**SMALL, "tokens": "11", "d_in": "18", "d_out": "14"},
    # N_PE = 1, no bias, many saturating tokens
    "npe1-nobias-sat": {**SMALL, "n_pe": "1", "tokens": "5", "d_in": "9", "d_out": "10", "bias": "0",
                        "saturating": "0.3"},
    # 8-bit words, T_IN = 3, bias with more fractional bits than the accumulator (rounded when aligned)
    "w8-bias-round": {**SMALL, "t_in": "3", "x_width": "8", "x_frac": "4", "w_width": "8", "w_frac": "6",
                      "b_width": "16", "b_frac": "14", "out_width": "8", "out_frac": "4", "tokens": "9",
                      "d_in": "20", "d_out": "7"},
    # fused GELU, runtime dims below the compile-time maxima, one chunk per row (It < N_PE)
    "gelu-max": {**SMALL, "n_pe": "3", "gelu": "1", "tokens": "10", "d_in": "4", "d_out": "9",
                 "max_tokens": "16", "max_in": "12", "max_out": "16"},
}
VERILATOR_SETS = {
    # fused GELU on 32-bit activations (W16A32-like), no bias
    "gelu-w32": {**SMALL, "gelu": "1", "bias": "0", "x_width": "32", "x_frac": "20", "h_width": "32",
                 "h_frac": "22", "out_width": "32", "out_frac": "22", "tokens": "13", "d_in": "30", "d_out": "22"},
}


@pytest.mark.parametrize("name", list(ICARUS_SETS))
def test_linear_icarus(name, sim_work):
    assert_kernel("linear", "icarus", ICARUS_SETS[name], sim_work)


@pytest.mark.parametrize("name", list(VERILATOR_SETS))
def test_linear_verilator(name, sim_work):
    assert_kernel("linear", "verilator", VERILATOR_SETS[name], sim_work)


def test_linear_m3vit_layer(sim_work):
    """An M3ViT-T layer on Verilator: 129 tokens, 192 -> 768, the default UbiMoE-like tiles (16 x 16 x 3):
    `hwmoe sim --kernel linear --set tokens=129 --set d_in=192 --set d_out=768`."""
    assert_kernel("linear", "verilator", {"tokens": "129", "d_in": "192", "d_out": "768"}, sim_work)
