"""The trained digits example (examples/digits/, hwmoe/digits.py) against the issue's goals, on the first
SUBSET held-out images with the committed plans (the whole 360-image table comes from
benchmarks/accuracy.py and is quoted in docs/benchmarks.md).  Only the goals the numerics meet today are
asserted: the worst-image logit cosine (0.991 at w16, goal 0.9999; 0.971 at w8a8, goal 0.99) and w8a8
routing agreement (96.2%, goal 97%) are reported in docs/numerics.md §10 with the changes that would close
them.  Then the calibration methods, the routing and bias format rules, and ``hwmoe run --report``."""
import numpy as np
import pytest

from hwmoe.cli import main
from hwmoe.digits import CHECKPOINT, PLAN, calibration_images, digits_graph, digits_split
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, make_config
from hwmoe.numerics.calibration import BIASED, Observed, calibrate
from hwmoe.numerics.compare import compare
from hwmoe.numerics.plan import Plan

SUBSET = 90

#: precision -> (largest top-1 drop vs float in points, smallest top-k agreement per MoE layer, smallest
#: worst-image logit cosine); None where the goal is not met (not asserted)
GOALS = {"w16a32": (0.2, 0.995, None), "w16a16": (0.2, 0.995, None), "w8a8": (0.5, None, None)}


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


# ------------------------------------------------------------------------------------------- calibration
def test_methods_choose_integer_bits():
    """10^5 standard-normal values and one 10.0, in 8-bit words: max holds 10 (5 integer bits, sign
    included); percentile ignores the 1 in 10^4 beyond 4 (3 bits); mse weighs 10^5 rounding errors against
    the one clipped value: squared error about 44 at 3 bits (clipped at 4), 37 at 4 bits (clipped at 8), 130 at
    5 bits."""
    x = np.random.default_rng(0).standard_normal(100_000)
    x[0] = 10.0
    o = Observed()
    o("t", x)
    assert (o.max_bits("t"), o.percentile_bits("t")) == (5, 3)
    m = Observed({"t": (8, [5, 4, 3, 2])})
    m("t", x)
    assert m.best_bits("t") == 4


@pytest.fixture(scope="module")
def tiny():
    g = graph_from_model(build_model(make_config("tiny"), 0))
    return g, np.random.default_rng(0).standard_normal((3,) + tuple(g.shapes[g.input]))


@pytest.mark.parametrize("precision", ["w16a32", "w16a16", "w8a8"])
def test_plan_format_rules(tiny, precision):
    """Router logits of at least 16 bits; every bias on its linear's accumulator grid (added exactly, one
    rounding per linear); mse keeps the residual stream at its largest magnitude and never uses more
    integer bits than max without headroom."""
    g, x = tiny
    plan, by_max = calibrate(g, precision, x, method="mse"), calibrate(g, precision, x, method="max")
    assert all(f.width >= 16 for k, f in plan.internal.items() if k.endswith(".logits"))
    for n in g.nodes:
        for bias, internal, weight in BIASED.get(n.kind, ()):
            if f"{n.name}.{bias}" in plan.params:
                xf = plan.internal[f"{n.name}.{internal}"] if internal else plan.tensors[n.inputs[0]]
                assert plan.params[f"{n.name}.{bias}"].frac <= xf.frac + plan.params[f"{n.name}.{weight}"].frac
    headroom = plan.spec.headroom
    for n in g.nodes:
        for t in n.outputs:
            if t in plan.tensors and plan.tensors[t].width > 1:
                assert plan.tensors[t].int_bits <= by_max.tensors[t].int_bits - headroom * (n.kind != "router")
                if n.kind in ("add", "patch_embed"):
                    assert plan.tensors[t].int_bits == by_max.tensors[t].int_bits - headroom


def test_unknown_method_is_a_user_error(tiny):
    from hwmoe.errors import UserError
    with pytest.raises(UserError, match="calibration"):
        calibrate(*tiny, "w8a8", method="minmax")


# --------------------------------------------------------------------------------------------- the CLI
def test_run_report_and_calibration(tmp_path, capsys):
    model, x = str(tmp_path / "tiny.onnx"), str(tmp_path / "x.npy")
    assert main(["export", "--preset", "tiny", "-o", model]) == 0
    np.save(x, np.random.default_rng(1).standard_normal((2, 3, 32, 32)))
    capsys.readouterr()
    assert main(["run", model, "--input", x, "-o", str(tmp_path / "y.npy"), "--precision", "w8a8",
                 "--calibration", "max", "--report"]) == 0
    out = capsys.readouterr().out
    assert "SQNR dB" in out and "saturated words" in out and "output cosine with float: worst" in out
    assert out.count("top-k expert set equal to float at") == 1        # tiny: one MoE layer
    # the plan now exists: asking for a method again would not be honoured, so it is refused
    assert main(["run", model, "--input", x, "-o", str(tmp_path / "y.npy"), "--precision", "w8a8",
                 "--calibration", "mse"]) == 2
    assert "--calibration mse" in capsys.readouterr().err
    assert main(["run", model, "--input", x, "-o", str(tmp_path / "y.npy"), "--report"]) == 2
