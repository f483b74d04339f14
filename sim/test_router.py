"""Router unit testbench: tokens through hwmoe_router (gate MAC array, top-k, softmax, gates, queues) with
every routing beat and every queue beat compared with hwmoe.kernels.router.router and
hwmoe.kernels.moe.expert_queues exactly, plus hwmoe_router_queues on its own; Icarus and Verilator with idle
input beats and output back-pressure, cycle formulas checked on clean runs."""
import cocotb
import pytest

from kernel_check import assert_kernel
from tb import TB


@cocotb.test()
async def run_router(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


CASES = {
    # 4 experts, top-2, all logits at once; dim 22 over 4 lanes (padded last beat)
    "default": {},
    # identical gate rows (exact logit ties), renormalised gates, 8 experts in 4 passes of 2, top-3, 2 layers
    "ties-renorm": {"experts": "8", "top_k": "3", "expert_par": "2", "ties": "1", "renormalize": "1",
                    "layers": "2", "tokens": "5", "dim": "16", "lanes": "2", "dim_max": "16"},
    # 8-bit logits that saturate (ties at the limit), 8-bit words, top-1, one lane
    "sat-logits-top1": {"logit_width": "8", "logit_frac": "5", "x_width": "8", "x_frac": "4", "w_width": "8",
                        "w_frac": "6", "top_k": "1", "lanes": "1", "dim": "9", "dim_max": "12", "tokens": "7"},
    # m3vit-t: 129 tokens of dim 192, 16 experts, top-2
    "m3vit-t": {"lanes": "4", "dim": "192", "dim_max": "192", "experts": "16", "expert_par": "16",
                "tokens": "129", "tmax": "129"},
}
# Verilator for the m3vit-t case (64 multipliers: much faster there than on Icarus)
SIMS = {"default": ("icarus",), "ties-renorm": ("icarus", "verilator"),
        "sat-logits-top1": ("icarus",), "m3vit-t": ("verilator",)}


@pytest.mark.parametrize("simulator,case", [(s, c) for c in CASES for s in SIMS[c]],
                         ids=[f"{c}-{s}" for c in CASES for s in SIMS[c]])
def test_router(simulator, case, sim_work):
    assert_kernel("router", simulator, CASES[case], sim_work)


@pytest.mark.parametrize("simulator", ["icarus"])
def test_router_queues(simulator, sim_work):
    """The queue unit alone: expert 0 chosen by every token, the last expert by none, two layers (it runs
    inside hwmoe_router on both simulators above)."""
    from hwmoe.kernels.router import make_queue_case
    from hwmoe.backends.rtl.simulate import combine, cycles_agree, run_case
    case = make_queue_case(experts=5, top_k=2, tokens=9, tmax=12, layers=2, seed=1)
    stressed = run_case(case, "router", simulator, sim_work, seed=1, stress=0.25)
    clean = run_case(case, "router", simulator, sim_work, seed=1, stress=0.0)
    r = combine(stressed, clean)
    assert r.bit_exact, r.summary()
    assert cycles_agree(r.measured_cycles, r.predicted_cycles), r.summary()
