"""The two stages of the search.

Stage 1 (per engine): Optuna (multi-objective TPE, seeded) over the engine's own parameters -- lists of legal
values derived from the model's dims, so no sampled point is ever illegal.  Objectives: the engine's busy
cycles per image, its compute-resource use (max of DSP, LUT, FF as a fraction of what the board allows) and
its memory use (max of BRAM36, URAM); constraint: the engine plus the shared buffers and the shell its own
streams need (``Evaluator.shell``) fits on its own.  What is
kept is the Pareto front of all evaluated points over cycles and *every* resource kind.

Stage 2: Optuna (TPE, seeded, constrained) over one point from each front (indices into the fronts sorted by
cycles; the linear engine, the router unit of MoE models, the attention engine) and the batch grouping, minimising whole-model time per image under the two-engine schedule, subject
to every resource limit with margins (LUT, FF <= 80 %, DSP, BRAM, URAM <= 90 %).  The best trial is then
polished by coordinate descent over the fronts, single engines and pairs of engines (~10^4 cheap
evaluations).
"""
from __future__ import annotations

import hashlib
import json
import math

import optuna
from optuna.trial import TrialState

from ..cost.engines import divisors
from ..cost.model import Design, Evaluator
from ..cost.usage import DEFAULT_MARGINS, KINDS, Usage
from .pareto import front
from .sharing import optimize, reseed

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


# ---------------------------------------------------------------------------------------------- names
def engine_key(ev: Evaluator, engine: str) -> str:
    """A short fingerprint of what a stage-1 study of ``engine`` means: its search space (the parameter names
    and legal values Optuna's distributions are built from) and the cost model's answer at the space's first
    and last points.  A study is only resumed when both are unchanged: a changed space would otherwise make
    Optuna refuse the new values ("CategoricalDistribution does not support dynamic value space"), and a
    changed cost model would silently mix objective values of two models in one front."""
    space = ev.space(engine)
    probe = []
    for pick in (0, -1):
        choice = {k: v[pick] for k, v in space.items()}
        use = _sum(ev.engine_resources(engine, choice).values())
        probe.append([round(ev.engine_cycles(engine, choice, 1), 3)]
                     + [round(x, 3) for x in (use + ev.shell({engine: choice})).as_dict().values()])
    blob = json.dumps({"space": space, "probe": probe}, sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:10]


def study_names(ev: Evaluator, prefix: str) -> dict[str, str]:
    """Study names of one search: ``<prefix>|stage1|<engine>|<key>`` and ``<prefix>|stage2|<keys>`` (stage 2
    picks points of the stage-1 fronts by index, so it belongs to exactly those stage-1 studies)."""
    keys = {e: engine_key(ev, e) for e in ev.engines}
    names = {e: f"{prefix}|stage1|{e}|{keys[e]}" for e in ev.engines}
    names["stage2"] = f"{prefix}|stage2|{'-'.join(keys[e] for e in ev.engines)}"
    return names


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
        r = _ratios(ev, use + shared + ev.shell({engine: choice}))   # the shell this engine's streams need
        mine = _ratios(ev, use)
        trial.set_user_attr("usage", use.as_dict())
        trial.set_user_attr("constraint", max(r.values()) - 1.0)
        trial.set_constraint("fits", max(r.values()) - 1.0)
        return cyc, max(mine[k] for k in COMPUTE), max(mine[k] for k in MEMORY)

    return objective


def run_stage1(ev: Evaluator, engine: str, storage, name: str, trials: int, seed: int, progress=None,
               worker: bool = False):
    study = stage1_study(storage, name, seed, ev, engine, trials)
    if worker:
        reseed(study)
    optimize(study, stage1_objective(ev, engine), min(trials, space_size(ev.space(engine))), progress)
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


def make_design(fronts: dict, idx: dict[str, int], group: int) -> Design:
    """The design made of point ``idx[e]`` of each engine's front."""
    return Design.of({e: fronts[e][k]["choice"] for e, k in idx.items()}, group)


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
    """Starting points: for each engine in turn, its fastest point that still fits beside the other engines'
    cheapest points, then each other engine's fastest point that fits beside those."""
    engines = list(fronts)
    cheap = {e: min(range(len(f)), key=lambda k, f=f: (f[k]["usage"]["dsp"], f[k]["cycles"]))
             for e, f in fronts.items()}
    out = []
    for first in engines:
        idx = dict(cheap)
        for e in [first] + [x for x in engines if x != first]:
            for k in range(len(fronts[e])):          # fronts are sorted by cycles: fastest first
                if score(ev, make_design(fronts, {**idx, e: k}, 1), batch)[1] <= 1.0:
                    idx[e] = k
                    break
        out.append({**{f"i_{e}": k for e, k in idx.items()}, "group": 1})
    return out


def stage2_objective(ev: Evaluator, fronts: dict, batch: int):
    groups = group_sizes(batch)

    def objective(trial):
        idx = {e: trial.suggest_int(f"i_{e}", 0, len(f) - 1) for e, f in fronts.items()}
        g = trial.suggest_categorical("group", groups)
        ms, worst = score(ev, make_design(fronts, idx, g), batch)
        trial.set_user_attr("constraint", worst - 1.0)
        trial.set_constraint("fits", worst - 1.0)
        return ms

    return objective


def run_stage2(ev: Evaluator, fronts: dict, batch: int, storage, name: str, trials: int, seed: int,
               progress=None, worker: bool = False):
    # No enqueued trials: two processes sharing a storage would both pop the same waiting trial (SQLite);
    # the seeds are starting points of the polish in stage2_best instead.
    study = stage2_study(storage, name, seed)
    if worker:
        reseed(study)
    optimize(study, stage2_objective(ev, fronts, batch), trials, progress)
    return study


def stage2_best(ev: Evaluator, fronts: dict, batch: int, study) -> tuple[Design, float] | None:
    """The best of the feasible trials and the seeds (:func:`_seeds`), then coordinate descent over the
    fronts and the grouping."""
    def try_(ix, gg):
        ms, worst = score(ev, make_design(fronts, ix, gg), batch)
        return ms if worst <= 1.0 else math.inf

    starts = [(t.value, {e: t.params[f"i_{e}"] for e in fronts}, t.params["group"])
              for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("constraint", 1.0) <= 0.0]
    for p in _seeds(ev, fronts, batch):
        ix = {e: p[f"i_{e}"] for e in fronts}
        starts.append((try_(ix, p["group"]), ix, p["group"]))
    starts = [s_ for s_ in starts if s_[0] < math.inf]
    if not starts:
        return None
    cur, idx, g = min(starts, key=lambda s_: s_[0])

    # Coordinate descent, one engine at a time and then two at a time (the engines share the device: making
    # room for a faster attention engine can take a cheaper router *and* linear engine at once).
    engines = list(fronts)
    pairs = [(a, b) for n, a in enumerate(engines) for b in engines[n + 1:]]
    improved = True
    while improved:
        improved = False
        for e in engines:
            for k in range(len(fronts[e])):
                v = try_({**idx, e: k}, g)
                if v < cur - 1e-12:
                    cur, idx, improved = v, {**idx, e: k}, True
        for a, b in pairs:
            for ka in range(len(fronts[a])):
                for kb in range(len(fronts[b])):
                    v = try_({**idx, a: ka, b: kb}, g)
                    if v < cur - 1e-12:
                        cur, idx, improved = v, {**idx, a: ka, b: kb}, True
        for gg in group_sizes(batch):
            v = try_(idx, gg)
            if v < cur - 1e-12:
                cur, g, improved = v, gg, True
    return make_design(fronts, idx, g), cur
