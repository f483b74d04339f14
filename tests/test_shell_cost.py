"""The shell's resource model (hwmoe/cost/shell.py): against its recorded yosys points, in the build's fit (and
so in ``hwmoe build --board``'s refusal) and in the search's resource check."""
from __future__ import annotations

import numpy as np
import optuna
import pytest

from hwmoe.accel.build import choice_from_design, fit
from hwmoe.accel.program import compile_program
from hwmoe.accel.top import TopConfig
from hwmoe.boards import load_board
from hwmoe.cli import main
from hwmoe.cost import shell
from hwmoe.cost.calibrate import load_rows
from hwmoe.cost.model import Design, Evaluator
from hwmoe.cost.usage import KINDS, Usage
from hwmoe.cost.workload import workload_from_config
from hwmoe.errors import UserError
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.numerics.precision import get_precision
from hwmoe.paths import BOARDS_DIR
from hwmoe.search.stages import stage1_objective

#: the shell model's worst relative LUT/FF error on its recorded points (docs/cost_model.md)
SHELL_TOL = 0.15


@pytest.fixture(scope="module")
def tiny():
    model = build_model(make_config("tiny"), 0)
    graph = graph_from_model(model)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(2)])
    return graph, calibrate(graph, "w16a16", images)


@pytest.mark.parametrize("name", list(shell.PARTS))
def test_shell_model_matches_recorded_points(name):
    part, rows = shell.PARTS[name], load_rows(name)
    assert len(rows) == len(part.calibration_points())
    for r in rows:
        got = part.resources(part.params(**r["params"])).as_dict()
        for k in ("lut", "ff"):
            assert got[k] == pytest.approx(r["counts"][k], rel=SHELL_TOL), (r["params"], k)
        for k in ("dsp", "bram36"):
            assert abs(got[k] - r["counts"][k]) <= 0.5, (r["params"], k)


def test_shell_grows_with_bus_and_lanes():
    base = shell.shell_total(128, 8)
    assert shell.shell_total(256, 8).lut > base.lut and shell.shell_total(128, 32).lut > base.lut
    assert base.lut > 10_000             # the DMA's byte shifters: far above the old 6k LUT allowance


def test_search_prices_the_bus_width_hwmoe_build_generates():
    assert shell.BUS_W == TopConfig().bus_w


@pytest.mark.parametrize("design", [
    {"linear": {"t": 8, "n_pe": 1}, "attention": {"rows": 2, "lanes": 4}, "router": {"lanes": 4, "expert_par": 1}},
    {"linear": {"t": 2, "n_pe": 1}, "attention": {"rows": 2, "lanes": 8}, "router": {"lanes": 32, "expert_par": 2}},
])
def test_design_lanes_max_is_the_builds(tiny, design):
    graph, plan = tiny
    program = compile_program(graph, plan, choice_from_design(design))
    assert shell.design_lanes_max(design, make_config("tiny").top_k) == program.lanes_max


def test_fit_counts_the_shell(tiny):
    graph, plan = tiny
    program = compile_program(graph, plan)
    r = fit(program, None, 256)
    want = shell.shell_resources(256, program.lanes_max)
    assert r["shell"].keys() == want.keys() and r["lanes_max"] == program.lanes_max == 8
    for k in KINDS:
        engines = sum(u[k] for u in r["engines"].values())
        assert r["used"][k] == pytest.approx(engines + sum(getattr(u, k) for u in want.values()), abs=0.5)
    assert fit(program, None, 64)["used"]["lut"] < r["used"]["lut"]


def test_build_refuses_a_board_the_shell_does_not_fit(tiny, tmp_path, capsys):
    graph, plan = tiny
    r = fit(compile_program(graph, plan), None)
    engines = sum(u["lut"] for u in r["engines"].values())
    lut = int(engines + (r["used"]["lut"] - engines) / 2)            # room for the engines, not the shell
    board = tmp_path / "small.yaml"
    board.write_text((BOARDS_DIR / "zcu102.yaml").read_text().replace("lut: 274080", f"lut: {lut}"))
    assert main(["build", "--preset", "tiny", "--precision", "w16a16", "--board", str(board),
                 "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "the engines and the shell need" in err and f"LUT of {lut:,}" in err


def test_search_resource_check_includes_the_shell():
    ev = Evaluator(workload_from_config(make_config("m3vit-t"), "m3vit-t"), load_board("zcu102"),
                   get_precision("w16a32"))
    d = Design({"t": 16, "n_pe": 3, "ln_nbuf": 4}, {"rows": 19, "lanes": 16}, 1, router={"lanes": 32, "expert_par": 1})
    total, parts = ev.resources(d, 1)
    assert "control" not in parts
    assert parts["shell"] == shell.shell_total(shell.BUS_W, 32)                     # max(2 T, router lanes)
    assert total.lut == pytest.approx(sum(u.lut for u in parts.values()))
    # stage 1: an engine's constraint counts the shell its own streams need
    choice = {"t": 48, "n_pe": 1, "ln_nbuf": 4}
    trial = optuna.trial.FixedTrial(choice)
    stage1_objective(ev, "linear")(trial)
    use = sum(ev.engine_resources("linear", choice).values(), Usage())
    with_shell = use + sum(ev.shared_resources(1, 1).values(), Usage()) + shell.shell_total(128, 96)
    assert trial.user_attrs["constraint"] == pytest.approx(
        max(with_shell.lut / (0.8 * 274080), with_shell.ff / (0.8 * 548160), with_shell.dsp / (0.9 * 2520),
            with_shell.bram36 / (0.9 * 912)) - 1.0)


@pytest.mark.parametrize("bus_w,lanes", [(96, 8), (128, 0)])
def test_shell_refuses_parameters_the_top_cannot_have(bus_w, lanes):
    with pytest.raises(UserError):
        shell.shell_total(bus_w, lanes)
