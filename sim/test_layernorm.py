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


# formats only (the widths and maxima of the default point): the accelerator runs every LayerNorm of a model
# on one build; the last set shifts the output left (out_frac > norm fraction + p_frac) and saturates
FORMAT_SETS = [
    {},
    {"x_frac": "13", "p_frac": "9", "out_width": "12", "out_frac": "7", "out_word": "16", "eps": "1e-3"},
    {"x_frac": "2", "p_frac": "-1", "out_width": "15", "out_frac": "14", "out_word": "16", "eps": "0"},
]


@pytest.mark.parametrize("simulator", ["icarus"])
def test_layernorm_formats_share_one_build(simulator, tmp_path):
    """Three format sets, each bit-exact and within the cycle formula, through one simulator build."""
    for formats in FORMAT_SETS:
        assert_kernel("layernorm", simulator, formats, tmp_path)
    assert len(list(tmp_path.glob(f"layernorm-{simulator}-*"))) == 1
