"""Plain-argument entry points for the CLI: ``search_command`` and ``sweep_command``.

Both raise :class:`hwmoe.search.errors.SearchError` subclasses (``ValueError``) with one-line messages for
user mistakes: unknown model, unknown board, bad precision, a board nothing fits on."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from ..boards import board_names
from ..interrupt import exit_on_interrupt, sigint_ignored
from ..outputs import check_folder, output_file, write_text
from .errors import InfeasibleError, SearchError
from .run import (DEFAULT_TRIALS, SearchResult, board_spec, check_positive, get_board, get_precision, load_workload,
                  search)
from .storage import check_storage


def format_result(r: SearchResult) -> str:
    e = r.estimate
    d = e.design
    used, avail = e.resources.rounded(), e.available
    lines = [
        f"{r.model} on {e.board} ({e.precision}, {e.clock_mhz:g} MHz)",
        f"  linear engine   : T={d.linear['t']} N_PE={d.linear['n_pe']} "
        f"({d.linear['n_pe'] * d.linear['t'] ** 2} MAC/cycle), LayerNorm row buffers {d.linear['ln_nbuf']}",
        *([f"  router unit     : LANES={d.router['lanes']} EXPERT_PAR={d.router['expert_par']} "
           f"({d.router['lanes'] * d.router['expert_par']} MAC/cycle)"] if d.router else []),
        f"  attention engine: rows={d.attention['rows']} lanes={d.attention['lanes']} block={d.attention['block']}",
        f"  latency (batch 1): {e.latency_ms:.3f} ms (the accelerator's timing model of the compiled program)",
    ]
    if "memory" in r.extra:
        m = r.extra["memory"]
        lines.append(f"  memory: {r.extra['bus_width']}-bit AXI, read data in {m['bandwidth']:.0%} of the cycles, "
                     f"read latency {m['read_latency']} cycles")
    if e.batch > 1:
        lines.append(f"  batch {e.batch} (groups of {d.group}): {e.batch_ms:.3f} ms, {e.ms_per_image:.3f} ms/image")
    lines += [f"  throughput: {e.images_per_s:.1f} images/s, {e.gops:.1f} GOPS "
              f"(work: {e.gop_per_image:.3f} GOP/image = 2 x the model's MACs)"]
    for key, b in r.extra.items():
        if key.startswith("at_batch_"):
            lines.append(f"  same engines at batch {key[9:]}: " + (
                "no grouping fits" if b is None else
                f"{b['ms_per_image']:.3f} ms/image (groups of {b['group']}), {b['images_per_s']:.1f} images/s, "
                f"{b['gops']:.1f} GOPS"))
    bound = {}
    for row in e.layers:
        bound[row["bound"]] = bound.get(row["bound"], 0) + row["cycles"]
    if bound:
        tot = sum(bound.values())
        lines.append("  time in layers: " + ", ".join(f"{k}-bound {v / tot:.0%}" for k, v in sorted(bound.items()))
                     + " (port: a stream's beats exceed the MAC array's cycles; overhead: fetch and hand-off)")
    lines.append("  resources used / available:")
    for k in ("lut", "ff", "dsp", "bram36", "uram"):
        pct = f"{used[k] / avail[k]:6.1%}" if avail[k] else "   n/a"
        lines.append(f"    {k.upper():<7}{used[k]:>10,} / {avail[k]:>10,}  {pct}")
    lines.append(f"  search: {sum(r.trials.values())} trials in {r.seconds:.1f} s, storage {r.storage}")
    return "\n".join(lines)


def search_command(model_or_preset: str, board: str, precision: str = "w16a32", batch: int = 1,
                   trials: int = DEFAULT_TRIALS, seed: int = 0, storage: str | None = None, workers: int = 1,
                   out_dir: str | Path = "out/search", clock_mhz: float | None = None, quiet: bool = False,
                   progress: bool = True, bus_width: int | None = None) -> dict:
    """Search, print the best design and write ``<out_dir>/search.json`` (latency under ``latency_ms``)."""
    out = Path(out_dir)
    r = search(model_or_preset, board, precision, batch, trials, seed, storage, workers, out, progress=progress and
               not quiet, clock_mhz=clock_mhz, bus_width=bus_width)
    d = r.to_dict()
    write_text(out / "search.json", json.dumps(d, indent=1) + "\n")
    if not quiet:
        print(format_result(r))
        print(f"  wrote {out / 'search.json'}")
    return d


CSV_FIELDS = ["board", "precision", "status", "clock_mhz", "latency_ms", "ms_per_image", "images_per_s", "gops",
              "lut", "lut_avail", "ff", "ff_avail", "dsp", "dsp_avail", "bram36", "bram36_avail", "uram",
              "uram_avail", "t", "n_pe", "ln_nbuf", "router_lanes", "router_expert_par", "rows", "lanes", "block", "group", "note"]


def _names(value, what: str) -> list[str]:
    """A comma-separated option (or a list) as a list of names, refused when it names nothing."""
    names = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else list(value)
    if not names:
        raise SearchError(f"--{what} {value!r}: nothing named (give a comma-separated list)")
    return names


def sweep_command(preset: str, boards="all", out_dir: str | Path = "out/sweep", precision="w16a32",
                  batch: int = 1, trials: int = DEFAULT_TRIALS, seed: int = 0, storage: str | None = None,
                  workers: int = 1, quiet: bool = False, progress: bool = True, bus_width: int | None = None) -> list[dict]:
    """Search every board (``"all"``, a comma-separated string or a list) at every precision (one or a
    comma-separated list), spread over ``workers`` processes; write ``sweep.csv``, ``sweep.json`` and the plots
    ``pareto.png``, ``resources.png``, ``latency.png`` to ``out_dir``.  ``storage``: one Optuna storage for
    every search (default a journal per search in its folder).  Boards nothing fits on get a row with status
    ``infeasible`` and the reason."""
    precisions = _names(precision, "precision")
    for p in precisions:
        get_precision(p)
    wl = load_workload(preset)
    names = board_names() if boards in ("all", None) else _names(boards, "boards")
    boards_ = [get_board(n) for n in names]            # unknown board: fail before any search
    check_positive("workers", workers)
    check_storage(storage, workers)
    out = Path(out_dir)
    check_folder(out)
    tasks = [(preset, board_spec(b), p, batch, trials, seed, storage,
              str(out / (b.name if len(precisions) == 1 else f"{b.name}-{p}")), bus_width)
             for b in boards_ for p in precisions]
    done = _run_tasks(tasks, workers, progress and not quiet, f"sweep {wl.name}")
    rows = [row for row, _ in done]
    results = {f"{row['board']} {row['precision']}" if len(precisions) > 1 else row["board"]: r
               for row, r in done if r is not None}
    with output_file(out / "sweep.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    write_text(out / "sweep.json", json.dumps(rows, indent=1) + "\n")
    from .plots import plot_sweep
    plot_sweep(rows, results, out, title=f"{wl.name}, {', '.join(precisions)}, batch {batch}")
    if not quiet:
        for row in rows:
            label = f"{row['board']:<9} {row['precision']:<7}"
            if row["status"] == "ok":
                print(f"{label} {row['latency_ms']:8.3f} ms  {row['gops']:8.1f} GOPS  "
                      f"DSP {row['dsp']:>5}/{row['dsp_avail']:<5} LUT {row['lut']:>8,}/{row['lut_avail']:<9,} "
                      f"BRAM36 {row['bram36']:>4}/{row['bram36_avail']}")
            else:
                print(f"{label} {row['note']}")
        print(f"wrote {out / 'sweep.csv'} and plots in {out}")
    return rows


def _run_tasks(tasks: list[tuple], workers: int, progress: bool, desc: str) -> list[tuple]:
    """:func:`_sweep_one` of every task, in order; on ``workers`` processes when more than one."""
    from tqdm import tqdm
    with tqdm(total=len(tasks), desc=desc, dynamic_ncols=True, disable=not progress) as bar:
        def tick(result):
            bar.update(1)
            return result

        if workers == 1:
            return [tick(_sweep_one(t)) for t in tasks]
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor
        _quiet_resource_tracker()
        with sigint_ignored():          # until each worker installs hwmoe's handler
            pool = ProcessPoolExecutor(min(workers, len(tasks)), mp_context=mp.get_context("spawn"),
                                       initializer=exit_on_interrupt, initargs=(True,))
        with pool:
            return [tick(r) for r in pool.map(_sweep_one, tasks)]


def _quiet_resource_tracker() -> None:
    """Start multiprocessing's resource tracker with its standard error on /dev/null.  After Ctrl-C, hwmoe
    exits at once; the tracker then removes the pool's semaphores, as it should, but also warns of each,
    after the one line hwmoe promises."""
    from multiprocessing import resource_tracker
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _sweep_one(task: tuple) -> tuple[dict, SearchResult | None]:
    """One board at one precision: its CSV row and result (None when nothing fits), its search.json."""
    preset, board, precision, batch, trials, seed, storage, out, bus_width = task
    b = get_board(board)
    try:
        r = search(preset, b, precision, batch, trials, seed, storage, 1, out, progress=False, bus_width=bus_width)
    except InfeasibleError as e:
        return {"board": b.name, "precision": precision, "status": "infeasible", "clock_mhz": b.clock_mhz,
                "note": str(e)}, None
    e = r.estimate
    used = e.resources.rounded()
    row = {"board": b.name, "precision": precision, "status": "ok", "clock_mhz": e.clock_mhz,
           "latency_ms": round(e.latency_ms, 4), "ms_per_image": round(e.ms_per_image, 4),
           "images_per_s": round(e.images_per_s, 2), "gops": round(e.gops, 2), **e.design.linear,
           **e.design.attention, "group": e.design.group, **{f"router_{k}": v for k, v in e.design.router.items()}}
    for k in ("lut", "ff", "dsp", "bram36", "uram"):
        row[k], row[f"{k}_avail"] = used[k], e.available[k]
    write_text(Path(out) / "search.json", json.dumps(r.to_dict(), indent=1) + "\n")
    return row, r


__all__ = ["SearchError", "format_result", "search_command", "sweep_command"]
