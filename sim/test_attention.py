"""Streaming attention testbench: random q, k, v (a few words at the format extremes, or all of them) through
hwmoe_attention, every output word compared with hwmoe.kernels.attention.attention exactly, on Icarus and
Verilator with idle input beats and output back-pressure, then a clean run for the cycle count.
The exp2 and reciprocal units inside it have their own testbenches (sim/test_exp2.py, sim/test_recip.py)."""
import cocotb
import pytest

from hwmoe.kernels.attention import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_attention(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


# ------------------------------------------------------------------------------------------------ pytest

@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_attention(simulator, overrides, sim_work):
    assert_kernel("attention", simulator, overrides, sim_work)



#: four runs of one build (MAX_HEADS 3, T_W and OUT_W 16, K/V buffers for 21 tokens): the default formats;
#: other fractions, a narrower score and output (saturating at 12 and 10 bits), another score constant, 3 heads
#: and 13 tokens; negative fractions on a wide spread (the score shift q_frac + k_frac + c_frac - t_frac = -2 is a
#: left shift), 1 head, scale 1; an output with far more fractional bits than v (the output shift
#: v_frac + 15 + p - out_frac is -1, a left shift, for a running sum l below 2^16; mostly saturated)
ONE_BUILD = {"max_heads": "3", "max_tokens": "21", "max_t_width": "16", "max_out_width": "16"}
FORMAT_SETS = [
    {},
    {"heads": "3", "tokens": "13", "q_frac": "10", "k_frac": "13", "v_frac": "9", "t_width": "12", "t_frac": "7",
     "out_width": "10", "out_frac": "6", "scale": "0.3"},
    {"heads": "1", "q_frac": "-2", "k_frac": "-3", "v_frac": "-1", "t_frac": "12", "out_frac": "-2", "scale": "1.0",
     "sigma": "8.0"},
    {"heads": "2", "tokens": "9", "v_frac": "-12", "out_frac": "19", "sigma": "8.0", "saturating": "0.2"},
]


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_formats_share_one_build(simulator, tmp_path):
    """Formats are control inputs: runs that differ only in formats (and run-time dims) reuse one build."""
    for formats in FORMAT_SETS:
        assert_kernel("attention", simulator, {**ONE_BUILD, **formats}, tmp_path)
    assert len(list(tmp_path.glob(f"attention-{simulator}-*"))) == 1
