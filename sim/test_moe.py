"""MoE kernel testbench: random activations, routes (an expert chosen by every token, an expert chosen by
none), gates and expert weights through hwmoe_moe, every output word and every weight request compared with
hwmoe.kernels.moe.moe exactly (and wreq_tlast on the last request); Icarus and Verilator with idle input
beats and output back-pressure, then a clean run for the cycle count."""
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


# One engine, several layers: the first set's build (reaches for every set) runs each set's formats.
# Set 2 rounds b1 (more fractional bits than its accumulator) and shifts the GELU input 5 bits left; set 3
# casts the output with fewer fractional bits than the expert output + gate.  Sets 4 and 5 are dense layers on
# the same build (one MAC array for every linear and every expert): 7 tokens, d_in 8 (above MAX_DIM: held in the
# hidden banks) -> d_out 8 with bias and fused GELU on a narrower GELU input, then d_in 7 -> 8 without either on
# a 12-bit output (the b stream not read).
_ENGINE = {"t": "3", "n_pe": "2", "tokens": "7", "dim": "7", "hidden": "8", "x_width": "16", "w_width": "12",
           "b_width": "16", "h_width": "16", "a_width": "16", "e_width": "16", "out_width": "16",
           "bias_shift_max": "16", "gelu_lsh_max": "6"}
FORMAT_SETS = [
    {"gelu_lsh": "2"},
    {"x_frac": "6", "w1_frac": "7", "b1_frac": "15", "h_frac": "8", "gelu_lsh": "5", "a_frac": "9",
     "w2_frac": "8", "b2_frac": "4", "e_frac": "7", "out_frac": "9"},
    {"x_frac": "12", "w1_frac": "9", "b1_frac": "6", "h_frac": "13", "gelu_lsh": "0", "a_frac": "12",
     "w2_frac": "10", "b2_frac": "12", "e_frac": "11", "out_frac": "2"},
    {"dense": "1", "gelu": "1", "dim": "8", "max_dim": "7", "x_frac": "9", "w1_frac": "11", "b1_frac": "10",
     "run_h_width": "14", "h_frac": "9", "gelu_lsh": "4", "out_frac": "11", "saturating": "0.3"},
    {"dense": "1", "bias": "0", "gelu": "0", "x_frac": "10", "w1_frac": "12", "run_out_width": "12",
     "out_frac": "6", "gelu_lsh": "2"},
]


def test_moe_formats_share_one_build(tmp_path):
    """Three MoE layers' and two dense layers' formats, each bit-exact and within the cycle formula, through one
    Icarus build."""
    for formats in FORMAT_SETS:
        assert_kernel("moe", "icarus", {**_ENGINE, **formats}, tmp_path)
    assert len(list(tmp_path.glob("moe-icarus-*"))) == 1


def test_moe_w8a8_dense_on_packed_array(tmp_path):
    """The w8a8 engine (8-bit activations, GELU outputs and weights: two output columns per multiplier, T = 3
    leaving one unpaired) in dense mode, the one MAC array every linear layer runs on, built as the accelerator
    builds it (16-bit GELU input and output words: the patch embedding writes the 16-bit residual stream, which
    must not widen the 8-bit MAC operand): a layer with bias and fused GELU to 8 bits, then one without either
    to 16 bits, 5 tokens 9 -> 11, bit-exact and within the cycle formula, one build."""
    engine = {**POINTS["w8a8-packed"].overrides, "dense": "1", "tokens": "5", "dim": "9", "hidden": "11",
              "h_width": "16", "out_width": "16"}
    for run in ({"gelu": "1", "h_frac": "5", "run_h_width": "8", "out_frac": "4", "run_out_width": "8",
                 "saturating": "0.3"},
                {"gelu": "0", "bias": "0", "x_frac": "3", "w1_frac": "7", "h_frac": "5", "out_frac": "9"}):
        assert_kernel("moe", "icarus", {**engine, **run}, tmp_path)
    assert len(list(tmp_path.glob("moe-icarus-*"))) == 1
