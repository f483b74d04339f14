"""Optuna storage: by default an embedded journal file in the output directory (a killed search resumes by
running it again); any Optuna storage URL (``sqlite:///x.db``, ``postgresql://...``) or a ``*.journal`` path
can be given instead, so that several worker processes share one study."""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock, JournalStorage

from ..interrupt import allow_interrupt, defer_interrupt
from ..outputs import make_parents
from .errors import StorageError

DEFAULT_JOURNAL = "optuna.journal"
#: a database study marks each running trial alive this often (seconds) ...
HEARTBEAT_S = 2
#: ... and any worker fails a trial silent this long (its worker was killed) and queues it again
GRACE_S = 15


def check_storage(storage: str | None, workers: int) -> None:
    """Refuse, before anything is written, a storage that cannot do what was asked."""
    if storage is None:
        return
    if storage == ":memory:" and workers > 1:
        raise StorageError(f"--storage {storage}: worker processes cannot share an in-memory study; "
                           "give a journal file or a database URL")
    if storage.startswith("sqlite:///") and not storage[len("sqlite:///"):]:
        raise StorageError(f"--storage {storage}: no database file (e.g. sqlite:///out/search.db)")
    if "://" not in storage and (storage.endswith(os.sep) or Path(storage).is_dir()):
        raise StorageError(f"--storage {storage}: is a directory, expected a journal file name")


def journal(path: Path) -> JournalStorage:
    """A journal file storage.  The path is made absolute: Optuna's lock is a symlink to the journal, and a
    relative target resolves inside the journal's folder, where it dangles; Optuna then never releases a lock
    left by a killed run and spins forever.  Such a dangling lock (from a run of an older hwmoe) is removed."""
    path = path.absolute()
    make_parents(path.parent)
    lock = Path(f"{path}.lock")
    if lock.is_symlink() and not lock.exists():
        lock.unlink(missing_ok=True)
    return JournalStorage(JournalFileBackend(str(path), lock_obj=_Lock(str(path))))


class _Lock(JournalFileSymlinkLock):
    """Optuna's journal lock; Ctrl-C waits while it is held, so that it is never left behind."""

    def acquire(self) -> bool:
        defer_interrupt()               # before the symlink exists: a Ctrl-C in between would leave it
        try:
            return super().acquire()
        except BaseException:
            allow_interrupt()
            raise

    def release(self) -> None:
        try:
            super().release()
        finally:
            allow_interrupt()


def make_storage(storage: str | None, out_dir: str | Path | None):
    """An Optuna storage object for ``storage`` / the default in ``out_dir``."""
    if storage is None:
        if out_dir is None:
            return optuna.storages.InMemoryStorage()
        return journal(Path(out_dir) / DEFAULT_JOURNAL)
    if storage == ":memory:":
        return optuna.storages.InMemoryStorage()
    if "://" not in storage:
        return journal(Path(storage))
    if storage.startswith("sqlite:///"):
        make_parents(Path(storage[len("sqlite:///"):]).absolute().parent)
    return _database(storage)


def _database(url: str):
    """An RDB storage whose trials carry a heartbeat, so that a killed worker's trial does not stay RUNNING:
    it is failed and retried once it has been silent for GRACE_S.  Processes started together race to create
    the schema ("table studies already exists"), which is retried.  Any other failure names the storage."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=3)
    for attempt in range(10):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                                  heartbeat_stale_trial_callback=retry)
        except Exception as e:          # sqlalchemy's errors, without importing sqlalchemy here
            msg = str(e)
            if attempt < 9 and any(k in msg for k in ("already exists", "locked", "UNIQUE constraint")):
                time.sleep(0.2 * (attempt + 1))
                continue
            raise StorageError(f"--storage {url}: cannot open ({e.__class__.__name__}: "
                               f"{msg.splitlines()[0] if msg else ''})") from None


def describe(storage: str | None, out_dir) -> str:
    if storage is None:
        return str(Path(out_dir) / DEFAULT_JOURNAL) if out_dir is not None else "in memory"
    return storage
