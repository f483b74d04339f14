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


# One engine, several layers: the build of the first set (a bias unit, a GELU unit computing at 14 fractional
# bits, reaches for every set) runs each set's formats and switches.  Set 2 rounds the bias (more fractional
# bits than the accumulator) and narrows the output to 12 bits; set 3 runs without bias or GELU.
_ENGINE = {"t_in": "4", "t_out": "3", "n_pe": "2", "x_width": "16", "w_width": "12", "b_width": "16",
           "h_width": "16", "out_width": "16", "bias_unit": "1", "gelu_unit": "1", "bias_shift_max": "14",
           "gelu_lsh_max": "6", "tokens": "9", "d_in": "10", "d_out": "8"}
FORMAT_SETS = [
    {"x_frac": "10", "w_frac": "8", "b_frac": "6", "gelu": "1", "h_frac": "11", "gelu_lsh": "3",
     "out_frac": "12"},
    {"x_frac": "4", "w_frac": "5", "b_frac": "13", "gelu": "1", "h_frac": "8", "run_h_width": "14",
     "gelu_lsh": "6", "out_frac": "9", "run_out_width": "12"},
    {"x_frac": "12", "w_frac": "11", "b_frac": "9", "bias": "0", "h_frac": "14", "gelu_lsh": "0",
     "out_frac": "-1"},
]


def test_linear_formats_share_one_build(tmp_path):
    """Three layers' formats, each bit-exact and within the cycle formula, through one Icarus build."""
    for formats in FORMAT_SETS:
        assert_kernel("linear", "icarus", {**_ENGINE, **formats}, tmp_path)
    assert len(list(tmp_path.glob("linear-icarus-*"))) == 1
