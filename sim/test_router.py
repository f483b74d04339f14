"""Router unit testbench: tokens through hwmoe_router (gate MAC array, top-k, softmax, gates, queues) with
every routing beat and every queue beat compared with hwmoe.kernels.router.router and
hwmoe.kernels.moe.expert_queues exactly, plus hwmoe_router_queues on its own; Icarus and Verilator with idle
input beats and output back-pressure, cycle formulas checked on clean runs."""
import cocotb
import pytest

from hwmoe.kernels.router import POINTS
from kernel_check import assert_kernel
from points import point_runs
from tb import TB


@cocotb.test()
async def run_router(dut):
    result = await TB(dut).run()
    assert result["bit_exact"], result["first_mismatch"]


@pytest.mark.parametrize("simulator,overrides", point_runs(POINTS))
def test_router(simulator, overrides, sim_work):
    assert_kernel("router", simulator, overrides, sim_work)


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


# formats only (the widths and maxima of the default point): the accelerator runs every gate layer of a model
# on one build; saturating narrower logits with renormalisation, then a negative logit fraction
FORMAT_SETS = [
    {},
    {"x_frac": "12", "w_frac": "11", "logit_frac": "13", "logit_width": "12", "logit_word": "16",
     "renormalize": "1"},
    {"x_frac": "6", "w_frac": "15", "logit_frac": "-1", "logit_width": "9", "logit_word": "16"},
]


@pytest.mark.parametrize("simulator", ["icarus"])
def test_router_formats_share_one_build(simulator, tmp_path):
    """Three format sets, each bit-exact and within the cycle formula, through one simulator build."""
    for formats in FORMAT_SETS:
        assert_kernel("router", simulator, formats, tmp_path)
    assert len(list(tmp_path.glob(f"router-{simulator}-*"))) == 1
