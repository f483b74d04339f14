"""PostgreSQL as the shared Optuna storage: several workers (one of them killed), several processes, a killed
and resumed search and a sweep spread over workers, against a server the tests start themselves (tests/pg.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from pg import pg_bin, postgres_server
from test_search import assert_recorded_once, trials_by_study

from hwmoe.search import search
from hwmoe.search.storage import make_storage

pytestmark = pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL server binaries (initdb, pg_ctl) not found: "
                                                          "apt-get install postgresql")
ROOT = Path(__file__).resolve().parent.parent
TINY = ["--preset", "tiny", "--board", "zcu102"]


@pytest.fixture(scope="module")
def server():
    with postgres_server() as url:
        yield url


@pytest.fixture
def db(server, request):
    """A fresh database on the module's server for each test."""
    import psycopg
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name.lower())[:50]
    with psycopg.connect(server, autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + "/" + name


def hwmoe(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "hwmoe.cli", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, **kw)


def finished(p) -> None:
    assert p.wait(timeout=120) == 0, p.stderr.read()


def stopped_mid_trial(pid: int, url: str, study: str) -> int:
    """Stop process ``pid`` (SIGSTOP) at a moment it is inside a trial of the study whose name contains
    ``study`` (the trial is running, has a heartbeat and carries the pid); that trial's id.  Otherwise the
    process goes on (SIGCONT) and is stopped again a moment later."""
    import psycopg
    query = ("SELECT t.trial_id FROM trials t JOIN studies s ON s.study_id = t.study_id "
             "JOIN trial_heartbeats h ON h.trial_id = t.trial_id "
             "JOIN trial_user_attributes a ON a.trial_id = t.trial_id AND a.key = 'pid' "
             "WHERE t.state = 'RUNNING' AND s.study_name LIKE %s AND a.value_json = %s")
    deadline = time.time() + 90
    with psycopg.connect(url, autocommit=True) as con:
        while time.time() < deadline:
            time.sleep(0.05)
            os.kill(pid, signal.SIGSTOP)
            try:
                row = con.execute(query, (f"%{study}%", str(pid))).fetchone()
            except psycopg.errors.UndefinedTable:     # the search has not made its tables yet
                row = None
            if row:
                return row[0]
            os.kill(pid, signal.SIGCONT)
    raise AssertionError(f"process {pid} was never caught inside a trial of {study}")


def assert_failed_and_retried(url: str, trial_id: int) -> None:
    """The killed trial was failed (its heartbeat went silent) and its grid point completed by a retry."""
    st = make_storage(url, None)
    dead = st.get_trial(trial_id)
    assert dead.state == TrialState.FAIL
    study = next(ts for ts in trials_by_study(url).values() if any(t._trial_id == trial_id for t in ts))
    retries = [t for t in study if t.system_attrs.get("failed_trial") == dead.number]
    assert [t.state for t in retries] == [TrialState.COMPLETE]
    assert retries[0].system_attrs["grid_id"] == dead.system_attrs["grid_id"]


def test_search_with_two_workers(db, tmp_path):
    """``--workers 2``, the extra worker SIGKILLed inside a trial of the router's grid: the search goes on
    without it, says so in one line, and every study still ends at its count.  (Whether the extra worker
    completes trials before that depends on how fast the first one prices designs, so it is not asserted; 80
    linear trials keep the first process out of the router's grid until the extra worker has joined.)"""
    p = hwmoe("search", *TINY, "--trials", "80", "--storage", db, "--workers", "2", "-o", str(tmp_path))
    try:
        deadline, child = time.time() + 90, None
        while child is None and time.time() < deadline:
            time.sleep(0.2)
            pids = {t.user_attrs.get("pid") for ts in _safe_counts(db).values() for t in ts} - {None, p.pid}
            child = next(iter(pids), None)
        assert child, "the extra worker did not get going"
        killed = stopped_mid_trial(child, db, "|stage1|router|")
        os.kill(child, signal.SIGKILL)
        assert p.wait(timeout=120) == 0, p.stderr.read()
    finally:
        p.kill()
    assert f"search worker {child} was killed (SIGKILL)" in p.stderr.read()
    assert_recorded_once(db, 80)
    assert_failed_and_retried(db, killed)        # the extra worker's own trial (found by its pid), run again
    assert (tmp_path / "search.json").is_file()


def test_two_processes_share_one_study(db, tmp_path):
    procs = [hwmoe("search", *TINY, "--trials", "30", "--storage", db, "-o", str(tmp_path / f"p{i}"))
             for i in range(2)]
    for p in procs:
        finished(p)
    assert len(assert_recorded_once(db, 30)) == 2


def test_killed_worker_loses_no_trial(db, tmp_path):
    """A search SIGKILLed inside a trial of the router's grid (stage 1) and run again: the trial it left
    running is failed by its heartbeat and retried, every study ends at its count, and the result equals an
    undisturbed run's with the same seed (a grid is the same points in any order; the linear study had
    finished, and the later studies run undisturbed from the seed)."""
    args = ("search", *TINY, "--trials", "20", "--storage", db, "-o", str(tmp_path))
    p = hwmoe(*args, start_new_session=True)
    try:
        killed = stopped_mid_trial(p.pid, db, "|stage1|router|")
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    finished(hwmoe(*args))
    assert_recorded_once(db, 20)
    assert_failed_and_retried(db, killed)
    undisturbed = search("tiny", "zcu102", trials=20).to_dict()
    resumed = json.loads((tmp_path / "search.json").read_text())
    assert resumed["design"] == undisturbed["design"] and resumed["latency_ms"] == undisturbed["latency_ms"]


def _safe_counts(url):
    try:
        return trials_by_study(url)
    except Exception:                      # the schema is still being made by the search
        return {}


def test_sweep_spreads_boards_and_precisions_over_workers(db, tmp_path):
    finished(hwmoe("sweep", "--preset", "tiny", "--boards", "zcu102,zcu104", "--precision", "w16a32,w8a8",
                   "--trials", "20", "--storage", db, "--workers", "2", "-o", str(tmp_path)))
    studies = trials_by_study(db)
    pairs = {tuple(n.split("|")[1:3]) for n in studies}
    assert pairs == {(b, p) for b in ("zcu102", "zcu104") for p in ("w16a32", "w8a8")}
    pids = {n.split("|")[1:3][0] + n.split("|")[2]: {t.user_attrs["pid"] for t in ts} for n, ts in studies.items()}
    assert len(set().union(*pids.values())) == 2, "the searches should be spread over two workers"
    assert_recorded_once(db, 20)
    lines = (tmp_path / "sweep.csv").read_text().splitlines()
    assert len(lines) == 5 and all((tmp_path / f"{b}-{p}" / "search.json").is_file()
                                   for b in ("zcu102", "zcu104") for p in ("w16a32", "w8a8"))
