"""Optuna storage: by default an embedded journal file in the output directory (a killed search resumes by
running it again); any Optuna storage URL (``sqlite:///x.db``, ``postgresql://...``) or a ``*.journal`` path
can be given instead, so that several worker processes share one study."""
from __future__ import annotations

import time
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalStorage

DEFAULT_JOURNAL = "optuna.journal"


def make_storage(storage: str | None, out_dir: str | Path | None):
    """An Optuna storage object (or URL string Optuna accepts) for ``storage`` / the default in ``out_dir``."""
    if storage is None:
        if out_dir is None:
            return optuna.storages.InMemoryStorage()
        path = Path(out_dir) / DEFAULT_JOURNAL
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    if storage == ":memory:":
        return optuna.storages.InMemoryStorage()
    if "://" not in storage:
        Path(storage).parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(storage))
    if storage.startswith("sqlite:///"):
        Path(storage[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if storage.startswith("redis"):
        return storage
    # Processes started together race to create the schema ("table studies already exists"): retry
    for attempt in range(10):
        try:
            return optuna.storages.RDBStorage(storage)
        except Exception as e:          # sqlalchemy.exc.OperationalError, without importing sqlalchemy here
            msg = str(e)
            if attempt == 9 or not any(k in msg for k in ("already exists", "locked", "UNIQUE constraint")):
                raise
            time.sleep(0.2 * (attempt + 1))


def describe(storage: str | None, out_dir) -> str:
    if storage is None:
        return str(Path(out_dir) / DEFAULT_JOURNAL) if out_dir is not None else "in memory"
    return storage
