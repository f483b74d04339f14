"""The two stages of the search.

Stage 1 (per engine): Optuna (multi-objective TPE, seeded) over the engine's own parameters -- lists of legal
values derived from the model's dims, so no sampled point is ever illegal.  Objectives: the engine's busy
cycles per image, its compute-resource use (max of DSP, LUT, FF as a fraction of what the board allows) and
its memory use (max of BRAM36, URAM); constraint: the engine plus the shared logic fits on its own.  What is
kept is the Pareto front of all evaluated points over cycles and *every* resource kind.

Stage 2: Optuna (TPE, seeded, constrained) over one point from each front (indices into the fronts sorted by
cycles) and the batch grouping, minimising whole-model time per image under the two-engine schedule, subject
to every resource limit with margins (LUT, FF <= 80 %, DSP, BRAM, URAM <= 90 %).  The best trial is then
polished by coordinate descent over the fronts (a few hundred cheap evaluations).
"""
from __future__ import annotations

import math
import os

import optuna
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState

from ..cost.engines import divisors
from ..cost.model import Design, Evaluator
from ..cost.usage import DEFAULT_MARGINS, KINDS, Usage
from .pareto import front

optuna.logging.set_verbosity(optuna.logging.WARNING)
COMPUTE = ("dsp", "lut", "ff")
MEMORY = ("bram36", "uram")


def _ratios(ev: Evaluator, u: Usage) -> dict[str, float]:
    res = ev.board.resources
    m = ev.margins or DEFAULT_MARGINS
    return {k: (getattr(u, k) / (m[k] * res[k]) if res[k] else (math.inf if getattr(u, k) > 0 else 0.0))
            for k in KINDS}


def _sum(parts) -> Usage:
    total = Usage()
    for u in parts:
        total = total + u
    return total


def completed(study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def _optimize(study, objective, trials: int, progress=None) -> None:
    remaining = trials - completed(study)
    if remaining <= 0:
        return
    cbs = [MaxTrialsCallback(trials, states=(TrialState.COMPLETE,))]
    if progress is not None:
        cbs.append(lambda s, t: progress.update(1))
    study.optimize(objective, n_trials=remaining, callbacks=cbs, gc_after_trial=False)


# ---------------------------------------------------------------------------------------------- stage 1
def space_size(space: dict) -> int:
    return math.prod(len(v) for v in space.values())


def stage1_study(storage, name: str, seed: int, ev: Evaluator, engine: str = "linear", trials: int = 0):
    """TPE; when the engine's space has no more points than the trial budget, Optuna's grid sampler (every
    point once, in a seeded order) -- exhaustive, so the front is exact."""
    space = ev.space(engine)
    if trials and space_size(space) <= trials:
        sampler = optuna.samplers.GridSampler(space, seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, load_if_exists=True,
                               directions=["minimize"] * 3)


def stage1_objective(ev: Evaluator, engine: str):
    space = ev.space(engine)
    shared = _sum(ev.shared_resources(1, 1).values())

    def objective(trial):
        choice = {k: trial.suggest_categorical(k, v) for k, v in space.items()}
        cyc = ev.engine_cycles(engine, choice, 1)
        use = _sum(ev.engine_resources(engine, choice).values())
        r = _ratios(ev, use + shared)
        mine = _ratios(ev, use)
        trial.set_user_attr("usage", use.as_dict())
        trial.set_user_attr("pid", os.getpid())
        trial.set_user_attr("constraint", max(r.values()) - 1.0)
        trial.set_constraint("fits", max(r.values()) - 1.0)
        return cyc, max(mine[k] for k in COMPUTE), max(mine[k] for k in MEMORY)

    return objective


def run_stage1(ev: Evaluator, engine: str, storage, name: str, trials: int, seed: int, progress=None):
    study = stage1_study(storage, name, seed, ev, engine, trials)
    _optimize(study, stage1_objective(ev, engine), min(trials, space_size(ev.space(engine))), progress)
    return study


def stage1_front(study) -> list[dict]:
    """Feasible, completed trials -> Pareto front over (cycles, every resource), sorted by cycles."""
    pts = [{"choice": dict(t.params), "cycles": t.values[0], "usage": t.user_attrs["usage"]}
           for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
           if t.user_attrs.get("constraint", 1.0) <= 0.0]
    return front(pts)


# ---------------------------------------------------------------------------------------------- stage 2
def group_sizes(batch: int) -> list[int]:
    """Legal group sizes: divisors of the batch (equal groups)."""
    return divisors(batch)


def make_design(fronts: dict, i: int, j: int, group: int) -> Design:
    return Design(fronts["linear"][i]["choice"], fronts["attention"][j]["choice"], group)


def score(ev: Evaluator, design: Design, batch: int) -> tuple[float, float]:
    """(ms per image at ``batch``, worst resource ratio to its allowed amount)."""
    total, _ = ev.resources(design, batch)
    worst = max(_ratios(ev, total).values())
    cyc = ev.makespan(design, batch)
    return cyc / (ev.clock * 1e3) / batch, worst


def stage2_study(storage, name: str, seed: int):
    sampler = optuna.samplers.TPESampler(seed=seed, multivariate=True, n_startup_trials=20)
    return optuna.create_study(study_name=name, storage=storage, sampler=sampler, load_if_exists=True,
                               direction="minimize")


def _seeds(ev: Evaluator, fronts: dict, batch: int) -> list[dict]:
    """Starting points: for each engine in turn, its fastest point that still fits beside the other engine's
    cheapest point (then the other engine's fastest point that fits beside it)."""
    lin, att = fronts["linear"], fronts["attention"]
    cheap = lambda pts: min(range(len(pts)), key=lambda k: max(pts[k]["usage"][x] for x in ("dsp",)) +
                            pts[k]["cycles"] * 1e-12)
    out = []
    for first in ("linear", "attention"):
        i, j = (0, cheap(att)) if first == "linear" else (cheap(lin), 0)
        for k in range(len(fronts[first])):
            ii, jj = (k, j) if first == "linear" else (i, k)
            if score(ev, make_design(fronts, ii, jj, 1), batch)[1] <= 1.0:
                i, j = ii, jj
                break
        other = "attention" if first == "linear" else "linear"
        for k in range(len(fronts[other])):
            ii, jj = (i, k) if other == "attention" else (k, j)
            if score(ev, make_design(fronts, ii, jj, 1), batch)[1] <= 1.0:
                i, j = ii, jj
                break
        out.append({"i_linear": i, "i_attention": j, "group": 1})
    return out


def stage2_objective(ev: Evaluator, fronts: dict, batch: int):
    groups = group_sizes(batch)
    nl, na = len(fronts["linear"]), len(fronts["attention"])

    def objective(trial):
        i = trial.suggest_int("i_linear", 0, nl - 1)
        j = trial.suggest_int("i_attention", 0, na - 1)
        g = trial.suggest_categorical("group", groups)
        ms, worst = score(ev, make_design(fronts, i, j, g), batch)
        trial.set_user_attr("constraint", worst - 1.0)
        trial.set_user_attr("pid", os.getpid())
        trial.set_constraint("fits", worst - 1.0)
        return ms

    return objective


def run_stage2(ev: Evaluator, fronts: dict, batch: int, storage, name: str, trials: int, seed: int,
               progress=None):
    study = stage2_study(storage, name, seed)
    if not study.get_trials(deepcopy=False):
        for p in _seeds(ev, fronts, batch):
            study.enqueue_trial(p, skip_if_exists=True)
    _optimize(study, stage2_objective(ev, fronts, batch), trials, progress)
    return study


def stage2_best(ev: Evaluator, fronts: dict, batch: int, study) -> tuple[Design, float] | None:
    """Best feasible trial, then coordinate descent over the fronts and the grouping."""
    feas = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.user_attrs.get("constraint", 1.0) <= 0.0]
    if not feas:
        return None
    best = min(feas, key=lambda t: (t.value, t.number))
    i, j, g = best.params["i_linear"], best.params["i_attention"], best.params["group"]
    cur = best.value

    def try_(ii, jj, gg):
        ms, worst = score(ev, make_design(fronts, ii, jj, gg), batch)
        return ms if worst <= 1.0 else math.inf

    improved = True
    while improved:
        improved = False
        for ii in range(len(fronts["linear"])):
            v = try_(ii, j, g)
            if v < cur - 1e-12:
                cur, i, improved = v, ii, True
        for jj in range(len(fronts["attention"])):
            v = try_(i, jj, g)
            if v < cur - 1e-12:
                cur, j, improved = v, jj, True
        for gg in group_sizes(batch):
            v = try_(i, j, gg)
            if v < cur - 1e-12:
                cur, g, improved = v, gg, True
    return make_design(fronts, i, j, g), cur
