"""Two-stage search: against brute force, determinism, resume after a kill, two worker processes on one study,
the commands' outputs and their one-line errors."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.storages import RetryHeartbeatStaleTrialCallback
from optuna.trial import TrialState

from hwmoe.boards import load_board
from hwmoe.cost.model import Evaluator
from hwmoe.cost.workload import workload_from_config
from hwmoe.frontend.model import make_config
from hwmoe.numerics.precision import get_precision
from hwmoe.search import (InfeasibleError, PrecisionError, SearchError, UnknownBoardError, load_workload, search,
                          search_command, sweep_command)
from hwmoe.search.brute import exhaustive
from hwmoe.search.run import with_pricer
from hwmoe.search.storage import make_storage

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

# A reduced space of the real engines (64 x 4 x 16 points) that exhaustive enumeration covers in seconds
SMALL = {"linear": {"t": [2, 4, 8, 16], "n_pe": [1, 2, 3, 4, 5, 6, 7, 8], "ln_nbuf": [2, 4]},
         "router": {"lanes": [4, 16], "expert_par": [1, 4]},
         "attention": {"rows": [1, 2, 4, 8], "lanes": [2, 4, 8, 16], "block": [16]}}


@pytest.fixture(scope="module")
def m3vit_t():
    return workload_from_config(make_config("m3vit-t"), "m3vit-t")


@pytest.mark.parametrize("board,batch", [("zcu104", 1), ("zcu102", 2)])
def test_search_reaches_exhaustive_optimum(m3vit_t, board, batch):
    b, prec = load_board(board), get_precision("w16a32")
    best, best_ms, n = exhaustive(with_pricer(Evaluator(m3vit_t, b, prec, spaces=SMALL), "m3vit-t"), batch)
    assert best is not None and n == 64 * 4 * 16 * len([g for g in range(1, batch + 1) if batch % g == 0])
    # 150 trials >= every engine's points: stage 1 enumerates (grid); stage 2 (TPE + polish) is what is tested
    r = search("m3vit-t", b, "w16a32", batch=batch, trials=150, seed=0, workload=m3vit_t, spaces=SMALL)
    assert r.estimate.fits
    assert r.estimate.ms_per_image <= best_ms * 1.01, (r.estimate.design, best)


# ------------------------------------------------------------------ the search's latency is the build's
@pytest.mark.parametrize("design", [
    {"linear": {"t": 4, "n_pe": 2, "ln_nbuf": 4}, "attention": {"rows": 2, "lanes": 4}, "router": {"lanes": 4, "expert_par": 1}},
    {"linear": {"t": 4, "n_pe": 3, "ln_nbuf": 2}, "attention": {"rows": 5, "lanes": 4}, "router": {"lanes": 4, "expert_par": 2}},
    {"linear": {"t": 8, "n_pe": 1, "ln_nbuf": 2}, "attention": {"rows": 1, "lanes": 2}, "router": {"lanes": 8, "expert_par": 4}},
])
def test_pricer_equals_a_fresh_compile(design):
    """The search's pricer re-binds the cycle-only fields (n_pe, nbuf, rows, expert_par) of a program compiled
    for other values: its cycles must equal those of the program compiled for the design itself."""
    from hwmoe.accel import timing
    from hwmoe.accel.build import choice_from_design
    from hwmoe.accel.program import compile_program
    from hwmoe.cost.accel import AccelPricer, model_program_inputs
    graph, plan = model_program_inputs("tiny", "w16a16")
    memory = timing.Memory.from_board(load_board("zcu102"), 32)
    other = {"linear": {**design["linear"], "n_pe": 4, "ln_nbuf": 4}, "attention": {**design["attention"], "rows": 3},
             "router": {**design["router"], "expert_par": 1}}
    pricer = AccelPricer(graph, plan, memory, other)
    pricer.design_cycles(other)                      # compiles the program the design is then re-bound from
    fresh = timing.total_cycles(compile_program(graph, plan, choice_from_design(design)), memory)
    assert pricer.design_cycles(design) == fresh


def test_tiny_search_latency_is_what_build_predicts(tmp_path, capsys):
    """``hwmoe build --design search.json`` predicts exactly the search's latency (same program, same memory)."""
    from hwmoe.accel.build import build_command
    search_command("tiny", "zcu102", precision="w16a16", trials=30, out_dir=tmp_path / "s", progress=False,
                   quiet=True, bus_width=64)
    saved = json.loads((tmp_path / "s" / "search.json").read_text())
    assert saved["bus_width"] == 64 and saved["memory"]["read_latency"] == 40
    assert build_command(model=None, preset="tiny", board=None, precision="w16a16",
                         design=str(tmp_path / "s" / "search.json"), out=str(tmp_path / "b")) == 0
    built = json.loads((tmp_path / "b" / "build.json").read_text())
    assert built["top"]["bus_w"] == 64 and built["memory"] == saved["memory"]
    assert built["predicted_ms"] == saved["latency_ms"]


def test_m3vit_t_search_latency_is_what_build_predicts(tmp_path):
    """The same on m3vit-t at ZCU102 (the build's program and memory made as ``build_command`` makes them)."""
    from hwmoe.accel import timing
    from hwmoe.accel.build import build_json, build_memory, load_design
    from hwmoe.accel.program import compile_program
    from hwmoe.accel.top import TopConfig
    from hwmoe.cost.accel import model_program_inputs
    search_command("m3vit-t", "zcu102", precision="w16a32", trials=40, out_dir=tmp_path, progress=False,
                   quiet=True)
    choice, saved = load_design(str(tmp_path / "search.json"))
    board = load_board(saved["board"])
    graph, plan = model_program_inputs("m3vit-t", "w16a32")
    program = compile_program(graph, plan, choice)
    memory = build_memory(board, saved["bus_width"], saved["clock_mhz"])
    built = build_json(program, TopConfig(bus_w=saved["bus_width"]), saved["clock_mhz"], board, saved, memory)
    assert built["predicted_ms"] == saved["latency_ms"]
    assert built["predicted_cycles"] == timing.total_cycles(program, memory)


def test_search_is_deterministic(m3vit_t):
    a = search("m3vit-t", "zcu102", trials=40, seed=3, workload=m3vit_t)
    b = search("m3vit-t", "zcu102", trials=40, seed=3, workload=m3vit_t)
    assert a.estimate.design == b.estimate.design and a.estimate.latency_ms == b.estimate.latency_ms


def test_m3vit_t_zcu102_fits_quickly(tmp_path, capsys):
    t0 = time.perf_counter()
    d = search_command("m3vit-t", "zcu102", out_dir=tmp_path, progress=False)
    assert time.perf_counter() - t0 < 120
    out = capsys.readouterr().out
    assert "latency (batch 1)" in out and "GOPS" in out and "DSP" in out
    saved = json.loads((tmp_path / "search.json").read_text())
    assert saved["latency_ms"] == d["latency_ms"] > 0 and saved["fits"]
    used, avail = saved["resources"]["used"], saved["resources"]["available"]
    assert used["lut"] <= 0.8 * avail["lut"] and used["dsp"] <= 0.9 * avail["dsp"]
    assert used["bram36"] <= 0.9 * avail["bram36"]
    assert (tmp_path / "optuna.journal").is_file()


def test_cli_search_end_to_end(tmp_path, capsys):
    """``hwmoe search`` through the CLI's own argument parsing, then again into the same output directory
    after the attention engine's space changed under it: the old studies must not be resumed (Optuna refuses
    a changed categorical space: "CategoricalDistribution does not support dynamic value space")."""
    from hwmoe.cli import main
    from hwmoe.cost.engines import AttentionEngine
    out = tmp_path / "s1"
    old = AttentionEngine.MAX_ROWS
    try:
        AttentionEngine.MAX_ROWS = 7            # a journal left by a search over another attention space
        search("m3vit-t", "zcu102", trials=40, out_dir=out)
    finally:
        AttentionEngine.MAX_ROWS = old
    capsys.readouterr()
    rc = main(["search", "--preset", "m3vit-t", "--board", "zcu102", "--trials", "40", "-o", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "latency (batch 1)" in text and "linear engine   : T=" in text
    saved = json.loads((out / "search.json").read_text())
    assert saved["fits"] and saved["latency_ms"] > 0
    assert set(saved["design"]["linear"]) == {"t", "n_pe", "ln_nbuf"}
    assert set(saved["design"]["router"]) == {"lanes", "expert_par"}
    names = [s.study_name for s in optuna.get_all_study_summaries(make_storage(str(out / "optuna.journal"), None))]
    # linear and router studies are shared (their spaces and costs did not change: resumed), the attention
    # study and stage 2 are new
    assert len(names) == 6 and len([n for n in names if "|attention|" in n]) == 2


# ------------------------------------------------------------------------------------------------ storage
def _counts(storage_spec: str) -> dict[str, int]:
    st = make_storage(storage_spec, None)
    return {s.study_name: len([t for t in optuna.load_study(study_name=s.study_name, storage=st)
                               .get_trials(deepcopy=False) if t.state == TrialState.COMPLETE])
            for s in optuna.get_all_study_summaries(st)}


def trials_by_study(storage: str) -> dict[str, list]:
    """Every study in ``storage`` (a URL or journal path) and its trials."""
    st = make_storage(storage, None)
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=st).get_trials(deepcopy=False)
            for s in optuna.get_all_study_summaries(st)}


def assert_recorded_once(storage: str, trials: int) -> set:
    """Every study ends at exactly its trial count -- a grid (a stage-1 space of at most ``trials`` points)
    at every point once -- and no trial is left running; any other trial was pruned unevaluated, saying why,
    or failed and was retried.  Returns the worker pids that completed trials."""
    pids = set()
    studies = trials_by_study(storage)
    assert studies
    for name, ts in studies.items():
        done = [t for t in ts if t.state == TrialState.COMPLETE]
        space = next((t.system_attrs["search_space"] for t in ts if "search_space" in t.system_attrs), None)
        if space is None:
            assert len(done) == trials, (name, len(done))
        else:
            grid = [t.system_attrs["grid_id"] for t in done]
            assert sorted(grid) == list(range(math.prod(len(v) for v in space.values()))), name
        retried = {n for t in ts for n in t.system_attrs.get("retry_history", [])}
        for t in ts:
            assert t.state == TrialState.COMPLETE or (t.state == TrialState.PRUNED and t.user_attrs["skipped"]) or (
                t.state == TrialState.FAIL and t.number in retried), (name, t.number, t.state)
        pids |= {t.user_attrs["pid"] for t in done}
    return pids


def test_two_workers_on_a_journal_record_each_trial_once(tmp_path):
    """``--workers 2`` on the default journal (no heartbeat): each study still ends at exactly its count and the
    spawned worker ends cleanly.  (Since the search compiles the model's program to price latency, a spawned
    worker takes longer to start than tiny's studies take: the shared-study race itself is exercised by the
    PostgreSQL tests, whose processes start together.)"""
    search("tiny", "zcu102", trials=30, workers=2, out_dir=tmp_path)
    assert assert_recorded_once(str(tmp_path / "optuna.journal"), 30)


def _cmd(*args):
    return [PY, "-m", "hwmoe.search", "m3vit-t", "zcu102", "--quiet", *args]


def test_killed_search_resumes(tmp_path):
    out = tmp_path / "run"
    journal = out / "optuna.journal"
    p = subprocess.Popen(_cmd("--trials", "150", "-o", str(out)), cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 90
        done = 0
        while time.time() < deadline:
            time.sleep(0.5)
            if journal.is_file():
                done = sum(_counts(str(journal)).values())
                if done >= 25:
                    break
        assert done >= 25, "the search did not get going"
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    before = _counts(str(journal))
    assert 0 < sum(before.values()) < 3 * 150
    r = subprocess.run(_cmd("--trials", "150", "-o", str(out)), cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    after = _counts(str(journal))
    assert all(after[k] >= before[k] for k in before)          # nothing lost
    assert len(after) == 4
    ev = Evaluator(load_workload("m3vit-t"), load_board("zcu102"), get_precision("w16a32"))
    for name, v in after.items():
        if "|stage2|" in name:
            target = 150
        else:       # a space of at most 150 points is enumerated (grid): router 60, attention 154, linear 192
            target = min(150, math.prod(len(x) for x in ev.space(name.split("|")[-2]).values()))
        assert v == target, (name, v)              # continued, not restarted, and not beyond the count
    assert json.loads((out / "search.json").read_text())["latency_ms"] > 0


def test_two_workers_share_one_study(tmp_path):
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    procs = [subprocess.Popen(_cmd("--trials", "30", "--storage", db, "-o", str(tmp_path / f"w{i}")), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()
    assert len(trials_by_study(db)) == 4
    pids = assert_recorded_once(db, 30)
    assert len(pids) == 2, "both processes should have contributed trials"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning", "ignore:Heartbeat of storage")
def test_trial_killed_before_its_first_heartbeat_is_retried(tmp_path, monkeypatch):
    """Optuna never finds a running trial stale that has no heartbeat (its worker was killed between creating
    it and the first beat); waiting for a study's running trials gives it one, so that it is failed and
    queued again instead of waited for for ever."""
    import threading

    from hwmoe.search import sharing
    monkeypatch.setattr(sharing, "GRACE_S", 1)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}", heartbeat_interval=1, grace_period=1,
                                         heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(3))
    study = optuna.create_study(storage=storage)
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    waiter = threading.Thread(target=sharing.wait_running, args=(study, True, 0.1), daemon=True)
    waiter.start()
    waiter.join(timeout=30)
    assert not waiter.is_alive(), "still waiting for a trial that will never end"
    assert storage.get_trial(dead._trial_id).state == TrialState.FAIL
    [retry] = study.get_trials(states=(TrialState.WAITING,))
    assert retry.params == dead.params and retry.system_attrs["failed_trial"] == dead.number


# ------------------------------------------------------------------------------------------------ errors
def _one_line(e: Exception) -> str:
    msg = str(e)
    assert "\n" not in msg and msg
    return msg


def test_infeasible_board(tmp_path):
    with pytest.raises(InfeasibleError) as e:
        search_command("m3vit-t", "pynq-z2", out_dir=tmp_path, quiet=True)
    assert "pynq-z2" in _one_line(e.value) and "fit" in str(e.value)


def test_bad_precision_and_board(tmp_path):
    with pytest.raises(PrecisionError) as e:
        search_command("m3vit-t", "zcu102", precision="w4a4", out_dir=tmp_path, quiet=True)
    assert "w16a32" in _one_line(e.value)
    with pytest.raises(UnknownBoardError) as e:
        search_command("m3vit-t", "zcu999", out_dir=tmp_path, quiet=True)
    assert "zcu102" in _one_line(e.value)
    with pytest.raises(SearchError):
        search_command("no-such-model", "zcu102", out_dir=tmp_path, quiet=True)
    assert isinstance(e.value, ValueError)


def test_sweep_writes_table_and_plots(tmp_path):
    rows = sweep_command("m3vit-t", boards="zcu102,pynq-z2", out_dir=tmp_path, trials=30, quiet=True)
    assert [r["board"] for r in rows] == ["zcu102", "pynq-z2"]
    assert rows[0]["status"] == "ok" and rows[1]["status"] == "infeasible"
    text = (tmp_path / "sweep.csv").read_text().splitlines()
    assert text[0].startswith("board,precision,status,") and len(text) == 3
    for png in ("pareto.png", "resources.png", "latency.png"):
        assert (tmp_path / png).stat().st_size > 1000
    with pytest.raises(UnknownBoardError):
        sweep_command("m3vit-t", boards="zcu102,nope", out_dir=tmp_path, quiet=True)
