"""Search wall time by storage and number of processes: ``python benchmarks/search_storage.py [--trials N]``.

Runs ``hwmoe search --preset m3vit-t --board zcu102`` on the default journal, on SQLite and on PostgreSQL (a
throw-away server, tests/pg.py), with one process, ``--workers 2`` and two separate processes on one study,
and prints each wall time and the completed trials per study (each must be its count)."""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def run(storage: str | None, workers: int, processes: int, trials: int, tmp: Path) -> float:
    base = [sys.executable, "-m", "hwmoe.cli", "search", "--preset", "m3vit-t", "--board", "zcu102",
            "--trials", str(trials), "--workers", str(workers)] + (["--storage", storage] if storage else [])
    t0 = time.perf_counter()
    procs = [subprocess.Popen(base + ["-o", str(tmp / f"out{i}")], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(processes)]
    for p in procs:
        if p.wait():
            raise SystemExit(p.stderr.read())
    return time.perf_counter() - t0


def counts(storage: str) -> list[int]:
    import optuna
    from optuna.trial import TrialState

    from hwmoe.search.storage import make_storage
    st = make_storage(storage, None)
    return [len(optuna.load_study(study_name=s.study_name, storage=st).get_trials(states=(TrialState.COMPLETE,)))
            for s in optuna.get_all_study_summaries(st)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=100)
    args = ap.parse_args()
    from pg import pg_bin, postgres_server
    import psycopg
    with tempfile.TemporaryDirectory() as d, postgres_server() if pg_bin() else nullcontext() as pg:
        for n, (kind, workers, processes) in enumerate([(k, w, p) for k in ("journal", "sqlite", "postgresql")
                                                        for w, p in ((1, 1), (2, 1), (1, 2))]):
            tmp = Path(d) / str(n)
            if kind == "journal":
                storage = str(tmp / "shared.journal")
            elif kind == "sqlite":
                storage = f"sqlite:///{tmp / 'shared.db'}"
            elif pg is None:
                continue
            else:
                with psycopg.connect(pg, autocommit=True) as con:
                    con.execute(f"CREATE DATABASE b{n}")
                storage = f"{pg.rsplit('/', 1)[0]}/b{n}"
            seconds = run(storage, workers, processes, args.trials, tmp)
            print(f"{kind:<10} --workers {workers}, {processes} process(es): {seconds:6.1f} s, "
                  f"complete trials per study {sorted(counts(storage))}", flush=True)


if __name__ == "__main__":
    main()
