"""The search driver: checks, the two stages (optionally on several worker processes sharing one Optuna
storage), the final estimate."""
from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..boards import BoardError, load_board
from ..cost.model import Design, Estimate, Evaluator
from ..cost.usage import DEFAULT_MARGINS
from ..interrupt import exit_on_interrupt, sigint_ignored
from ..numerics.precision import PRECISIONS
from . import DEFAULT_TRIALS
from .errors import InfeasibleError, ModelError, PrecisionError, UnknownBoardError
from .sharing import completed
from .stages import run_stage1, run_stage2, stage1_front, stage2_best, study_names
from .storage import check_storage, describe, make_storage


@dataclass
class SearchResult:
    estimate: Estimate
    fronts: dict
    trials: dict                       # study name -> completed trials
    storage: str
    seconds: float
    model: str
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = self.estimate.to_dict()
        d.update({"model": self.model, "search": {"trials": self.trials, "storage": self.storage,
                                                   "seconds": round(self.seconds, 2),
                                                   "front_sizes": {k: len(v) for k, v in self.fronts.items()}}})
        d.update(self.extra)
        return d


REPORT_BATCH = 8


def at_batch(ev: Evaluator, design: Design, batch: int = REPORT_BATCH) -> dict | None:
    """The found engines at another batch size: the best grouping (a divisor of the batch) that still fits,
    as ms per image, images/s, GOPS and the resources (bigger groups need bigger on-chip buffers)."""
    best = None
    for g in [d for d in range(1, batch + 1) if batch % d == 0]:
        est = ev.evaluate(replace(design, group=g), batch, layers=False)
        if est.fits and (best is None or est.ms_per_image < best.ms_per_image):
            best = est
    if best is None:
        return None
    return {"batch": batch, "group": best.design.group, "ms_per_image": best.ms_per_image,
            "batch_ms": best.batch_ms, "images_per_s": best.images_per_s, "gops": best.gops,
            "resources": best.resources.rounded()}


# ---------------------------------------------------------------------------------------------- inputs
def get_precision(name: str):
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r}: expected one of {', '.join(PRECISIONS)}")
    return PRECISIONS[name]


def get_board(name):
    try:
        return load_board(name)
    except BoardError as e:
        raise UnknownBoardError(str(e)) from None


def load_workload(model_or_preset: str):
    """A preset name (``m3vit-t``) or a path to an ONNX file."""
    from ..cost.workload import workload_from_config, workload_from_graph
    from ..frontend.config import PRESETS, make_config
    if model_or_preset in PRESETS:
        return workload_from_config(make_config(model_or_preset), model_or_preset)
    path = Path(model_or_preset)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"{model_or_preset}: no such file")
        from ..graph_cache import import_cached
        try:
            graph = import_cached(path)
        except ValueError as e:
            raise ModelError(f"{model_or_preset}: {e}") from None
        return workload_from_graph(graph, path.stem)
    raise ModelError(f"unknown model {model_or_preset!r}: expected a preset ({', '.join(PRESETS)}) "
                     "or a path to an .onnx file")


def engine_formats(model_or_preset: str, precision: str) -> dict | None:
    """The formats the engines are built for when ``model_or_preset`` is an ONNX model calibrated at
    ``precision`` (its plan beside it, MODEL.<precision>.plan.json, as ``hwmoe run`` writes it): each role's
    widest format in the plan.  None otherwise: the precision's defaults."""
    from ..inputs import default_plan_path
    path = Path(model_or_preset)
    plan_path = default_plan_path(model_or_preset, precision)
    if path.suffix != ".onnx" or not path.is_file() or not plan_path.is_file():
        return None
    from ..graph_cache import import_cached
    from ..numerics.calibration import plan_formats
    from ..numerics.plan import Plan
    try:
        return plan_formats(import_cached(path), Plan.load(plan_path))
    except (KeyError, ValueError) as e:
        raise ModelError(f"{plan_path}: not a plan of {model_or_preset} ({e.__class__.__name__}: {e})") from None


def board_spec(board) -> str:
    """The board as another process can load it: its .yaml file, or its name."""
    return str(board.source) if board.source else board.name


def check_positive(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise ModelError(f"{name} must be a positive integer, got {v!r}")
    return v


def minimal_design(ev: Evaluator) -> Design:
    return Design.of({e: {k: v[0] for k, v in ev.space(e).items()} for e in ev.engines}, 1)


def check_feasible(ev: Evaluator, model: str) -> None:
    """Raise InfeasibleError when even the smallest design does not fit at batch 1."""
    est = ev.evaluate(minimal_design(ev), 1, layers=False)
    if not est.fits:
        kind, ratio = est.limiting
        need = getattr(est.resources, kind)
        avail = ev.board.resources[kind]
        margin = (ev.margins or DEFAULT_MARGINS)[kind]
        raise InfeasibleError(f"{model} does not fit on {ev.board.name}: even the smallest design needs "
                              f"{need:,.0f} {kind.upper()} of {avail:,} ({margin:.0%} allowed = "
                              f"{margin * avail:,.0f})")


def study_prefix(model: str, board: str, precision: str, batch: int, seed: int, bus_width: int) -> str:
    return f"{model}|{board}|{precision}|b{batch}|s{seed}|bus{bus_width}"


def with_pricer(ev: Evaluator, model: str, bus_width: int | None = None) -> Evaluator:
    """``ev`` pricing latency with the accelerator's timing model: ``model``'s program as ``hwmoe build``
    compiles it, on the board's memory seen through a ``bus_width``-bit AXI master (default: as wide as the
    board's memory port, ``memory.port_bits``: a wider master moves no more)."""
    bus_width = bus_width or ev.board.memory.port_bits
    from ..accel import timing
    from ..accel.top import TopConfig
    from ..cost.accel import AccelPricer, model_program_inputs
    try:
        TopConfig(bus_w=bus_width).check()
    except ValueError as e:
        raise ModelError(f"bus width: {e}") from None
    graph, plan = model_program_inputs(model, ev.prec.name)
    memory = timing.Memory.from_board(ev.board, bus_width // 8, ev.clock)
    ev.pricer = AccelPricer(graph, plan, memory, minimal_design(ev).to_dict())
    return ev


# ---------------------------------------------------------------------------------------------- workers
def _worker(args: tuple) -> None:
    exit_on_interrupt(quiet=True)
    (model, board, precision, batch, trials, seed, storage, stage, clock_mhz, bus_width) = args
    wl, b, p = load_workload(model), get_board(board), get_precision(precision)
    ev = with_pricer(Evaluator(wl, b, p, clock_mhz, formats=engine_formats(model, precision)), model, bus_width)
    bus_width = ev.pricer.memory.bus_bytes * 8
    st = make_storage(storage, None)
    names = study_names(ev, study_prefix(wl.name, b.name, p.name, batch, seed, bus_width))
    if stage == 1:
        for eng in ev.engines:
            run_stage1(ev, eng, st, names[eng], trials, seed, worker=True)
    else:
        fronts = {e: stage1_front(_load(st, names[e])) for e in ev.engines}
        run_stage2(ev, fronts, batch, st, names["stage2"], trials, seed, worker=True)


def _load(storage, name):
    import optuna
    return optuna.load_study(study_name=name, storage=storage)


def _storage_spec(storage: str | None, out_dir) -> str | None:
    """The storage as a string other processes can open."""
    if storage is not None:
        return storage
    from .storage import DEFAULT_JOURNAL
    return str(Path(out_dir) / DEFAULT_JOURNAL) if out_dir is not None else None


# ---------------------------------------------------------------------------------------------- search
def search(model: str, board, precision: str = "w16a32", batch: int = 1, trials: int = DEFAULT_TRIALS,
           seed: int = 0, storage: str | None = None, workers: int = 1, out_dir=None, progress: bool = False,
           clock_mhz: float | None = None, workload=None, spaces: dict | None = None,
           bus_width: int | None = None) -> SearchResult:
    """Two-stage search of ``model`` (preset or .onnx) on ``board``, at the formats of the model's calibrated
    plan when it has one (:func:`engine_formats`).  ``trials``: per study (stage 1 per engine, stage 2).
    ``storage``: any Optuna storage URL or a journal-file path; default a journal file in
    ``out_dir`` (in memory without out_dir).  ``spaces`` overrides engines' legal values (tests).  Latency is
    the accelerator's timing model of ``model``'s program (:func:`with_pricer`) with a ``bus_width``-bit AXI
    master on the board's memory."""
    t0 = time.perf_counter()
    check_positive("batch", batch)
    check_positive("trials", trials)
    check_positive("workers", workers)
    check_storage(storage, workers)
    prec = get_precision(precision)
    b = board if hasattr(board, "resources") else get_board(board)
    wl = workload if workload is not None else load_workload(model)
    name = wl.name
    ev = Evaluator(wl, b, prec, clock_mhz, spaces=spaces,
                   formats=engine_formats(model, precision) if workload is None else None)
    with_pricer(ev, model, bus_width)
    bus_width = ev.pricer.memory.bus_bytes * 8
    check_feasible(ev, name)
    if workers > 1 and spaces:
        raise ModelError("space overrides are not passed to worker processes")
    if workers > 1 and storage is None and out_dir is None:
        raise ModelError("several workers need a shared storage: give out_dir or storage")
    st = make_storage(storage, out_dir)
    names = study_names(ev, study_prefix(name, b.name, prec.name, batch, seed, bus_width))
    spec = _storage_spec(storage, out_dir)

    def bar(desc):
        if not progress:
            return None
        from tqdm import tqdm
        return tqdm(total=trials, desc=desc, leave=False, dynamic_ncols=True)

    def extra_workers(stage):
        if workers <= 1:
            return []
        ctx = mp.get_context("spawn")
        procs = [ctx.Process(target=_worker, args=((model, board_spec(b), prec.name, batch,
                                                   trials, seed, spec, stage, clock_mhz, bus_width),),
                                 daemon=True)
                 for _ in range(workers - 1)]
        with sigint_ignored():          # until _worker installs hwmoe's handler
            for p in procs:
                p.start()
        return procs

    def join(procs):
        """Wait for the workers.  One killed by a signal is reported and done without: this process has
        already run its stage to the trial count (a database fails the killed worker's trial and this
        process retries it)."""
        for p in procs:
            p.join()
            if p.exitcode and p.exitcode < 0:
                print(f"hwmoe: search worker {p.pid} was killed ({signal.Signals(-p.exitcode).name}); "
                      "the search went on without it", file=sys.stderr)
            elif p.exitcode:
                raise RuntimeError(f"search worker exited with code {p.exitcode}")

    procs = extra_workers(1)
    studies = {}
    for eng in ev.engines:
        pb = bar(f"{b.name} stage 1 {eng}")
        studies[eng] = run_stage1(ev, eng, st, names[eng], trials, seed, pb)
        if pb is not None:
            pb.close()
    join(procs)
    fronts = {e: stage1_front(studies[e]) for e in studies}
    for e, f in fronts.items():
        if not f:
            raise InfeasibleError(f"{name} does not fit on {b.name}: no {e} engine found that fits")
    procs = extra_workers(2)
    pb = bar(f"{b.name} stage 2")
    s2 = run_stage2(ev, fronts, batch, st, names["stage2"], trials, seed, pb)
    if pb is not None:
        pb.close()
    join(procs)
    best = stage2_best(ev, fronts, batch, s2)
    if best is None:
        raise InfeasibleError(f"{name} does not fit on {b.name}: no combination of engines fits "
                              "within the resource margins")
    design, _ = best
    est = ev.evaluate(design, batch)
    extra = {"bus_width": bus_width, "memory": asdict(ev.pricer.memory)}
    if batch != REPORT_BATCH:
        extra[f"at_batch_{REPORT_BATCH}"] = at_batch(ev, design)
    trials_done = {f"stage1 {e}": completed(studies[e]) for e in studies}
    trials_done["stage2"] = completed(s2)
    return SearchResult(est, fronts, trials_done, describe(storage, out_dir), time.perf_counter() - t0, name,
                        extra)
