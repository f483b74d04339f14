"""LayerNorm unit testbench: rows of random words (a few at the extremes), a constant row (variance 0: the
eps path) and a row saturated at the most negative word through hwmoe_layernorm, gamma/beta streamed per
layer; every output word compared with hwmoe.kernels.layernorm.layernorm exactly, on Icarus and Verilator
with idle input beats and output back-pressure, and the cycle formula checked on a clean run."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_layernorm(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


CASES = {
    # dim 22 over 4 lanes: a padded last beat; 6 rows, 4 buffers
    "default": {},
    # 32-bit residual words (w16a32): x cut to 16 statistics bits, two layers with their own gamma/beta
    "w32-two-layers": {"x_width": "32", "x_frac": "22", "out_width": "32", "out_frac": "22", "tokens": "5",
                       "layers": "2", "dim": "24", "lanes": "8", "dim_max": "32"},
    # 8-bit words (narrower than the statistics), one lane, eps 0, output saturating, two row buffers
    "w8-lane1": {"x_width": "8", "x_frac": "4", "out_width": "8", "out_frac": "6", "lanes": "1",
                 "dim": "13", "dim_max": "16", "tokens": "5", "eps": "0", "nbuf": "2"},
    # tiny rows (one beat): throughput bound by the buffers; dim smaller than the buffers' MAX_DIM
    "one-beat-rows": {"lanes": "4", "dim": "3", "dim_max": "8", "tokens": "12", "p_frac": "14"},
    # m3vit-t: 129 tokens of dim 192
    "m3vit-t": {"lanes": "4", "dim": "192", "dim_max": "192", "tokens": "129"},
}
SIMS = {"default": ("icarus", "verilator"), "w32-two-layers": ("icarus", "verilator"),
        "w8-lane1": ("icarus",), "one-beat-rows": ("icarus",), "m3vit-t": ("icarus",)}


@pytest.mark.parametrize("simulator,case", [(s, c) for c in CASES for s in SIMS[c]],
                         ids=[f"{c}-{s}" for c in CASES for s in SIMS[c]])
def test_layernorm(simulator, case, sim_work):
    assert_kernel("layernorm", simulator, CASES[case], sim_work)
