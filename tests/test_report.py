"""The build report: every command of the program with its terms summing to the timing model's total, real PNG
figures the Markdown links, measured columns from a (synthetic) simulated run, and the accuracy figures equal
to the reference's batch runners."""
import json
from dataclasses import replace
from itertools import accumulate

import numpy as np
import pytest

from hwmoe.accel import report, timing
from hwmoe.accel.build import fit
from hwmoe.accel.program import compile_program
from hwmoe.accel.simulate import AccelRun
from hwmoe.accel.top import COUNTERS
from hwmoe.boards import load_board
from hwmoe.cli import main
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.numerics.floating import cosine
from hwmoe.reference import run_fixed, run_float

PNG = b"\x89PNG\r\n\x1a\n"
MEMORY = timing.Memory(bus_bytes=16)


@pytest.fixture(scope="module")
def tiny():
    model = build_model(make_config("tiny"), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(2)])
    graph = graph_from_model(model)
    plan = calibrate(graph, "w16a16", images)
    return graph, plan, images, compile_program(graph, plan)


@pytest.fixture(scope="module")
def accuracy(tiny):
    graph, plan, images, _ = tiny
    return report.accuracy(graph, plan, images)


def _report(tiny, accuracy, **measured):
    program = tiny[3]
    board = load_board("zcu102")
    return report.report_json(program, model="tiny", memory=MEMORY, clock_mhz=300.0, board=board,
                              fit=fit(program, board), acc=accuracy, **measured)


def test_build_writes_the_report(tmp_path, monkeypatch):
    # the generated top is test_accel_top.py's subject (and most of a build's time): not written here
    monkeypatch.setattr("hwmoe.accel.build.write_project", lambda program, where, config: where.mkdir())
    monkeypatch.setattr("hwmoe.accel.build.vendor.write", lambda out, board: [])    # test_vendor.py's subject
    out = tmp_path / "accel"
    assert main(["build", "--preset", "tiny", "--precision", "w16a16", "--board", "zcu102", "-o", str(out)]) == 0
    info = json.loads((out / "build.json").read_text())
    r = json.loads((out / "report.json").read_text())
    assert len(r["layers"]) == r["commands"] == info["commands"] == 26
    assert [l["index"] for l in r["layers"]] == list(range(26))
    assert sum(l["cycles"] for l in r["layers"]) + r["end_cycles"] == r["predicted_cycles"] == info["predicted_cycles"]
    for l in r["layers"]:
        assert l["cycles"] == l["fetch"] + l["hand_off"] + l["first_data"] + max(
            l["engine_cycles"] + l["load_phase"], l["memory_cycles"])
    assert r["board"] == "zcu102" and r["roofline"]["peak_gmac_per_s"] == 2520 * 300 / 1e3   # 16x16: 1 MAC/DSP
    assert r["resources"]["used"] == info["resources"]["used"] and r["measured"] is None
    md = (out / "report.md").read_text()
    for name in report.FIGURES:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
        assert f"]({name})" in md
    assert "| # | node |" in md and "measured" not in md and "| shell |" in md and "Its check" in md


def test_the_terms_sum_to_the_timing_model(tiny, accuracy):
    program = tiny[3]
    r = _report(tiny, accuracy)
    assert [l["node"] for l in r["layers"]] == [c.node for c in program.commands]
    assert sum(l["cycles"] for l in r["layers"]) + r["end_cycles"] == timing.total_cycles(program, MEMORY)
    assert sum(e["cycles"] for e in r["engines"].values()) + r["end_cycles"] == r["predicted_cycles"]
    assert sum(l["macs"] for l in r["layers"]) == program.graph.macs()
    json.dumps(r, allow_nan=False)


def test_bounds():
    t = timing.CommandTiming(fetch=20, hand_off=10, first_data=2, engine=100, load_phase=0, memory=50,
                             port_beats=40, port_stream="w", macs=6400, mac_cycles=50)
    assert (t.total, t.bound) == (132, "compute")
    assert replace(t, memory=120).bound == "memory"
    assert replace(t, port_beats=60).bound == "port"
    assert replace(t, mac_cycles=None, port_beats=99).bound == "compute"
    assert replace(t, engine=20, memory=10).bound == "overhead"


def _run(predicted: list[int], ends: bool) -> AccelRun:
    """A synthetic simulated run: every command 3 cycles longer than predicted."""
    durations = [c + 3 for c in predicted]
    engines = [{"busy": 1000 + e, "stall": e} for e in range(len(COUNTERS))]
    return AccelRun(status=2, error=0, commands=len(predicted), cycles=sum(durations) + 30, engines=engines,
                    command_ends=list(accumulate(durations)) if ends else [], image=b"")


def test_measured_columns(tmp_path, tiny, accuracy):
    predicted = [l["cycles"] for l in _report(tiny, accuracy)["layers"]]
    r = _report(tiny, accuracy, measurement=report.Measurement(_run(predicted, True), True, "icarus"))
    m = r["measured"]
    assert m["per_command"] and [l["measured_cycles"] for l in r["layers"]] == [c + 3 for c in predicted]
    assert m["cycles"] == sum(predicted) + 3 * len(predicted) + 30
    assert m["engines"]["linear"]["busy"] == 1000 and m["engines"]["dma"]["predicted_busy"] is None
    assert m["engines"]["moe"]["predicted_busy"] == sum(l["cycles"] - l["fetch"] for l in r["layers"]
                                                        if l["engine"] == "moe")
    report.write_report(tmp_path, r)
    md = (tmp_path / "report.md").read_text()
    assert "| bit-exact | yes |" in md and "on icarus" in md
    assert "| measured | model - measured |" in md and "| -3 |" in md and "measured busy" in md


def test_measured_per_engine_without_command_ends(tiny, accuracy):
    predicted = [l["cycles"] for l in _report(tiny, accuracy)["layers"]]
    r = _report(tiny, accuracy, measurement=report.Measurement(_run(predicted, False), False, "verilator"))
    assert not r["measured"]["per_command"] and "measured_cycles" not in r["layers"][0]
    assert r["measured"]["engines"]["attention"]["busy"] == 1001


def test_accuracy_equals_the_batch_runners(tiny, accuracy):
    graph, plan, images, _ = tiny
    f, q = run_float(graph, images), run_fixed(graph, plan, images)
    assert [o["cosine"] for o in accuracy["per_input"]] == [round(cosine(a, b), 6) for a, b in zip(f, q)]
    assert accuracy["max_abs_error"] == float(np.max(np.abs(f - q)))
    assert accuracy["top1_agreement"] == np.mean(np.argmax(f, -1) == np.argmax(q, -1))
    out = accuracy["sqnr_db"][graph.output]
    assert out == pytest.approx(10 * np.log10(np.sum(f ** 2) / np.sum((f - q) ** 2)), abs=0.01)
    assert set(accuracy["routing_equal"]) == {n.name for n in graph.nodes if n.kind == "router"}
