"""PostgreSQL as the shared Optuna storage: several workers, several processes, a killed worker and a sweep
spread over workers, against a server the tests start themselves (tests/pg.py)."""
from __future__ import annotations

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


def trials_by_study(url: str) -> dict[str, list]:
    st = make_storage(url, None)
    return {s.study_name: optuna.load_study(study_name=s.study_name, storage=st).get_trials(deepcopy=False)
            for s in optuna.get_all_study_summaries(st)}


def assert_recorded_once(url: str, trials: int) -> set:
    """Every study has its trials complete and none left running; a grid point (stage 1 of a small space) is
    complete exactly once.  Returns the worker pids that completed trials."""
    pids = set()
    studies = trials_by_study(url)
    assert studies
    for name, ts in studies.items():
        assert not [t for t in ts if t.state == TrialState.RUNNING], name
        done = [t for t in ts if t.state == TrialState.COMPLETE]
        grid = [t.system_attrs["grid_id"] for t in done if "grid_id" in t.system_attrs]
        if grid:
            assert sorted(grid) == sorted(set(grid)), f"{name}: a grid point evaluated twice"
            assert len(grid) == len(done) and len(done) <= trials
        else:
            assert trials <= len(done) <= trials + 1, (name, len(done))
        pids |= {t.user_attrs["pid"] for t in done}
    return pids


def test_search_with_two_workers(db, tmp_path):
    finished(hwmoe("search", *TINY, "--trials", "40", "--storage", db, "--workers", "2", "-o", str(tmp_path)))
    assert len(assert_recorded_once(db, 40)) >= 2, "the extra worker should have contributed trials"
    assert (tmp_path / "search.json").is_file()


def test_two_processes_share_one_study(db, tmp_path):
    procs = [hwmoe("search", *TINY, "--trials", "40", "--storage", db, "-o", str(tmp_path / f"p{i}"))
             for i in range(2)]
    for p in procs:
        finished(p)
    assert len(assert_recorded_once(db, 40)) == 2


def test_killed_worker_loses_no_trial(db, tmp_path):
    """A SIGKILLed search is resumed by running it again; a trial left RUNNING by a killed worker (made here
    as a killed worker leaves it: started, a heartbeat, then silence) is failed and retried."""
    p = hwmoe("search", *TINY, "--trials", "150", "--storage", db, "-o", str(tmp_path), start_new_session=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and sum(len(v) for v in _safe_counts(db).values()) < 20:
            time.sleep(0.3)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    studies = trials_by_study(db)
    assert studies, "the search did not get going"
    st = make_storage(db, None)
    name = next(iter(studies))
    stale = optuna.load_study(study_name=name, storage=st).ask()
    st.record_heartbeat(stale._trial_id)
    finished(hwmoe("search", *TINY, "--trials", "150", "--storage", db, "-o", str(tmp_path)))
    assert_recorded_once(db, 150)
    assert st.get_trial(stale._trial_id).state == TrialState.FAIL


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
