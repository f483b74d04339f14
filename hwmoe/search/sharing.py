"""One study, several workers: every study ends at exactly its trial count, each trial evaluated once.

Optuna's MaxTrialsCallback, counting complete, running and waiting trials, stops a worker once the rest of
the count is under way elsewhere.  A trial two workers started at the same moment, or a grid point Optuna's
GridSampler hands out again (it does when no point is free), is caught when its objective starts
(:func:`claimed`) and pruned unevaluated.  A worker then waits for the trials still running elsewhere
(:func:`wait_running`).  A killed worker's trial: on a database, Optuna fails it once its heartbeat has been
silent for the grace period and queues it again (RetryHeartbeatStaleTrialCallback), and a waiting worker runs
it; a journal has no heartbeat, so its running trial is told dead by its process (:func:`alive`), left
RUNNING and not counted.
"""
from __future__ import annotations

import math
import os
import socket
import time
import warnings
from datetime import datetime, timedelta

import optuna
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from .storage import GRACE_S

HOST = socket.gethostname()
#: on a journal, a running trial that has not yet recorded its process is taken to be starting this long (s):
#: Optuna samples its parameters first, which takes milliseconds
START_S = 5


def completed(study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def optimize(study, objective, trials: int, progress=None) -> None:
    """Run ``objective`` until ``trials`` trials of ``study`` are complete, with whoever else runs it."""
    heartbeat = is_heartbeat_enabled(study._storage)
    cbs = [MaxTrialsCallback(trials, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING))]
    if progress is not None:
        cbs.append(lambda s, t: t.state == TrialState.COMPLETE and progress.update(1))
    objective = claimed(objective, trials, heartbeat, isinstance(study.sampler, optuna.samplers.GridSampler))
    while completed(study) < trials:
        study.optimize(objective, n_trials=trials - completed(study), callbacks=cbs, gc_after_trial=False)
        wait_running(study, heartbeat)


def reseed(study) -> None:
    """A worker process's TPE draws its own random numbers (Optuna's reseed_rng, as for threads), so that
    workers started with one seed do not propose the same points; a grid keeps the shared seed (it orders
    the grid, and every worker must read a grid point's number alike)."""
    if not isinstance(study.sampler, optuna.samplers.GridSampler):
        study.sampler.reseed_rng()


def hosts(study, heartbeat: bool) -> dict | None:
    """On a journal, the machine of each process that has run trials of ``study`` (study system attributes
    ``host <pid>``, written once per process); None with a heartbeat (not needed)."""
    return None if heartbeat else study._storage.get_study_system_attrs(study._study_id)


def alive(t, known: dict | None) -> bool:
    """Whether running trial ``t`` may still complete (``known``: :func:`hosts`).  With a heartbeat (None)
    Optuna fails a dead one, so every running trial may.  On a journal: a trial of a process on this machine
    while that process lives; one that has not yet recorded its process, for START_S after its start; one of
    another machine, for the grace period (an evaluation takes milliseconds)."""
    if known is None:
        return True
    pid = t.user_attrs.get("pid")
    if pid is not None and known.get(f"host {pid}") == HOST:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:         # someone else's live process
            pass
        return True
    return datetime.now() - t.datetime_start < timedelta(seconds=START_S if pid is None else GRACE_S)


def _running(study, heartbeat: bool) -> list:
    known = hosts(study, heartbeat)
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)) if alive(t, known)]


def wait_running(study, heartbeat: bool, poll_s: float = 0.5) -> None:
    """Wait until no trial of ``study`` is running that may still complete.  With a heartbeat, stale trials
    are failed (and so queued again) meanwhile.  Optuna never finds a trial stale that has no heartbeat (its
    worker was killed between creating it and the first beat): one seen running for twice the grace period
    is given a beat, so that it goes stale a grace period later (a live trial beats anyway; a stale one that
    had beaten was failed before then)."""
    seen: dict[int, float] = {}
    while running := _running(study, heartbeat):
        if heartbeat:
            now = time.monotonic()
            for t in running:
                if now - seen.setdefault(t._trial_id, now) > 2 * GRACE_S:
                    study._storage.record_heartbeat(t._trial_id)
                    seen[t._trial_id] = math.inf
        time.sleep(poll_s)
        if heartbeat:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                optuna.storages.fail_stale_trials(study)


def claimed(objective, trials: int, heartbeat: bool, grid: bool):
    """``objective``, evaluated only when the trial holds one of the study's ``trials`` places; otherwise the
    trial is pruned unevaluated (its user attribute ``skipped`` says why).  A trial holds a place when fewer
    than ``trials`` earlier trials (by number: Optuna numbers a study's trials atomically) are complete,
    waiting or running (and :func:`alive`); a grid trial, when its grid point is neither complete nor running
    in an earlier trial (a killed trial's point comes back as the queued retry).  Each trial records the
    process that runs it (``pid``; on a journal each process its machine once, for :func:`alive`)."""
    def run(trial):
        study, storage, me = trial.study, trial.study._storage, trial.number
        trial.set_user_attr("pid", os.getpid())
        known = hosts(study, heartbeat)
        if known is not None and known.get(f"host {os.getpid()}") != HOST:
            storage.set_study_system_attr(study._study_id, f"host {os.getpid()}", HOST)
        others = [t for t in storage.get_all_trials(study._study_id, deepcopy=False, states=(
            TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING))
            if t.number != me and (t.state != TrialState.RUNNING or alive(t, known))]
        if grid:
            point = storage.get_trial_system_attrs(trial._trial_id).get("grid_id")
            taken = [t for t in others if t.system_attrs.get("grid_id") == point
                     and (t.state == TrialState.COMPLETE or (t.state == TrialState.RUNNING and t.number < me))]
            why = f"grid point {point} is trial {taken[0].number}'s" if taken else None
        else:
            earlier = [t for t in others if t.number < me]
            why = f"{len(earlier)} earlier trials complete or under way" if len(earlier) >= trials else None
        if why:
            trial.set_user_attr("skipped", why)
            raise optuna.TrialPruned(why)
        return objective(trial)

    return run
