"""Streaming attention testbench: random q, k, v (a few words at the format extremes, or all of them) through
hwmoe_attention, every output word compared with hwmoe.kernels.attention.attention exactly, on Icarus and
Verilator with idle input beats and output back-pressure, then a clean run for the cycle count.
The exp2 and reciprocal units inside it have their own testbenches (sim/test_exp2.py, sim/test_recip.py)."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_attention(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


# ------------------------------------------------------------------------------------------------ pytest

W16A32 = {"q_width": "18", "q_frac": "14", "k_width": "18", "k_frac": "14", "v_width": "18", "v_frac": "14",
          "t_width": "24", "t_frac": "18", "out_width": "32", "out_frac": "26"}
CASES = {
    # w16a16 formats (16-bit q/k/v, score, output); 21 tokens: neither P = 4 nor block = 16 divides it
    "default-w16a16": ({}, ("icarus",)),
    # w16a32 formats (18-bit q/k/v, 24-bit score, 32-bit output), P = 5, block = 8, 3 heads
    "w16a32": (dict(W16A32, tokens="19", block="8", rows="5", heads="3"), ("icarus", "verilator")),
    # one row in flight, block of one key, one head, one chunk per row (lanes = head_dim)
    "p1-block1": ({"rows": "1", "block": "1", "heads": "1", "tokens": "7", "lanes": "16"}, ("icarus",)),
    # P = 3, block = 5 (neither divides 13), 4 lanes, 2 chunks per row; K/V buffers larger than the run
    "p3-block5": ({"rows": "3", "block": "5", "lanes": "4", "head_dim": "8", "tokens": "13",
                   "max_tokens": "40"}, ("icarus",)),
    # every q, k, v word at its format's extremes: saturated scores, e = 0 shifts, saturated outputs
    "saturating": ({"rows": "2", "block": "4", "head_dim": "8", "tokens": "9", "saturating": "1.0",
                    "out_frac": "14"}, ("icarus",)),
    # fewer tokens than rows, 3 chunks of 2 lanes (head_dim 6), 3 heads; a block wider than the buffer
    "few-tokens": ({"tokens": "3", "rows": "4", "block": "64", "lanes": "2", "head_dim": "6", "heads": "3"},
                   ("icarus",)),
    # a short last group (1 of 6 rows) after a full one: it waits for the previous group's output
    "short-last-group": ({"rows": "6", "block": "1", "lanes": "2", "tokens": "7"}, ("icarus",)),
    # m3vit-t attention dims: 129 tokens, 3 heads, head dim 64 (default hardware parameters, w16a16 formats;
    # about 233k cycles per run)
    "m3vit-t": ({"tokens": "129", "heads": "3", "head_dim": "64"}, ("verilator",)),
}
RUNS = [pytest.param(sim, ov, id=f"{name}-{sim}") for name, (ov, sims) in CASES.items() for sim in sims]


@pytest.mark.parametrize("simulator,overrides", RUNS)
def test_attention(simulator, overrides, sim_work):
    assert_kernel("attention", simulator, overrides, sim_work)

