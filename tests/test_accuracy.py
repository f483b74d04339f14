"""The trained digits example (examples/digits/, hwmoe/digits.py) against the issue's goals, on the first
SUBSET held-out images with the committed plans (the whole 360-image table comes from
benchmarks/accuracy.py and is quoted in docs/benchmarks.md).  Only the goals the numerics meet today are
asserted: w16 worst-image logit cosine (0.991 measured, goal 0.9999) and w8a8 routing agreement (96.3%,
goal 97%) are reported in docs/numerics.md §10 with the hardware changes that would close them."""
import numpy as np
import pytest

from hwmoe.digits import CHECKPOINT, PLAN, calibration_images, digits_graph, digits_split
from hwmoe.numerics.calibration import calibrate
from hwmoe.numerics.compare import compare
from hwmoe.numerics.plan import Plan

SUBSET = 90

#: precision -> (largest top-1 drop vs float in points, smallest top-k agreement per MoE layer, smallest
#: worst-image logit cosine); None where the goal is not met (not asserted)
GOALS = {"w16a32": (0.2, 0.995, None), "w16a16": (0.2, 0.995, None), "w8a8": (0.5, None, 0.99)}


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    _, _, x, y = digits_split()
    return digits_graph(), x[:SUBSET], y[:SUBSET]


@pytest.mark.parametrize("precision", GOALS)
def test_digits_meets_the_goals(digits, precision):
    graph, x, y = digits
    c = compare(graph, Plan.load(PLAN.format(precision=precision)), x)
    drop, agree, cos = GOALS[precision]
    assert c.accuracy(y, fixed=False) >= 0.96                # the checkpoint is trained (97.8% on all 360)
    assert 100 * (c.accuracy(y, fixed=False) - c.accuracy(y)) <= drop
    if agree is not None:
        assert all(c.agreement(r) >= agree for r in c.routing), c.routing
    if cos is not None:
        assert min(c.cosines) >= cos


def test_committed_plan_is_the_default_calibration(digits):
    """The plans the goals are measured with are what calibration makes of the checkpoint (w8a8 checked)."""
    graph, _, _ = digits
    assert calibrate(graph, "w8a8", calibration_images()).to_json() == Plan.load(PLAN.format(precision="w8a8")).to_json()


def test_checkpoint_is_small():
    assert CHECKPOINT.stat().st_size <= 2 * 2 ** 20
