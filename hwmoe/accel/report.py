"""The build report ``hwmoe build`` writes: ``report.json`` (every figure, for scripts), ``report.md`` (the same
as tables) and three figures (``latency.png``, ``roofline.png``, ``resources.png``).  Every number comes from
an existing model: cycles per command from ``timing.command_timings``, resources from ``build.fit``, peaks
from the board file, accuracy from the reference's float and fixed-point runners; a simulation's
measurements are an argument (``Measurement``)."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import ir
from ..numerics.compare import compare
from ..numerics.precision import get_precision
from ..outputs import write_text
from ..paths import REPO
from . import dma, timing
from .engines import KERNELS
from .program import Program
from .top import COUNTERS

#: yosys figures of the generated top for ``tiny`` (docs/benchmarks.md): whole top and the engines' model, the
#: measurement the shell model is checked against
SHELL_SYNTH = REPO / "benchmarks" / "accel_synth_tiny.json"
FIGURES = ("latency.png", "roofline.png", "resources.png")
KINDS = ("lut", "ff", "dsp", "bram36", "uram")


@dataclass(frozen=True)
class Measurement:
    """A simulated run of the build: ``run`` (``simulate.AccelRun``: cycles, commands, per-engine counters,
    each command's end), whether its output equalled the reference, and the simulator."""
    run: object
    bit_exact: bool
    simulator: str


# ---- accuracy -------------------------------------------------------------------------------------------
def accuracy(graph: ir.Graph, plan, inputs: np.ndarray) -> dict:
    """The plan against float on ``inputs`` (a batch, :func:`hwmoe.numerics.compare.compare`): per input the
    output's cosine, top-1 agreement and largest absolute error; per tensor the SQNR over the batch (None where
    the words equal float); per router the share of tokens whose experts equal float's."""
    c = compare(graph, plan, inputs)
    outputs = [{"cosine": round(cos, 6), "top1_equal": f == q, "max_abs_error": err}
               for cos, f, q, err in zip(c.cosines, c.float_top1, c.fixed_top1, c.max_abs_errors)]
    return {"inputs": len(outputs), "output": graph.output, "per_input": outputs,
            "min_cosine": min(o["cosine"] for o in outputs),
            "top1_agreement": sum(o["top1_equal"] for o in outputs) / len(outputs),
            "max_abs_error": max(o["max_abs_error"] for o in outputs),
            "sqnr_db": {name: None if e.sqnr_db == math.inf else round(e.sqnr_db, 2) for name, e in c.tensors.items()},
            "routing_equal": {name: c.agreement(name) for name in c.routing}}


# ---- the report's numbers -------------------------------------------------------------------------------
def _bytes_moved(command) -> int:
    """Bytes the command's descriptors read and write (indexed reads counted for every expert)."""
    slots = [s for s in (*command.reads, command.write) if s is not None]
    return sum(sum(words for _, words in dma.segments(s.d)) * s.d.c for s in slots)


def _layers(program: Program, memory: timing.Memory, clock_mhz: float, acc: dict, routing) -> list[dict]:
    """One row per command: its timing terms and bound, MACs, bytes moved, achieved rate, output accuracy."""
    out = []
    for i, (call, command, t) in enumerate(zip(program.calls, program.commands,
                                               timing.command_timings(program, memory, routing))):
        nbytes = _bytes_moved(command)
        tensor = call.outputs[-1] if call.engine == "router" else call.outputs[0]
        out.append({
            "index": i, "node": command.node, "engine": call.engine, "cycles": t.total,
            "us": t.total / clock_mhz, "bound": t.bound, "fetch": t.fetch, "hand_off": t.hand_off,
            "first_data": t.first_data, "engine_cycles": t.engine, "load_phase": t.load_phase,
            "memory_cycles": t.memory, "port_stream": t.port_stream, "port_beats": t.port_beats,
            "mac_cycles": t.mac_cycles, "macs": t.macs, "bytes": nbytes,
            "macs_per_byte": t.macs / nbytes, "gmac_per_s": t.macs * clock_mhz / t.total / 1e3,
            "tensor": tensor, "sqnr_db": acc["sqnr_db"].get(tensor),
            "routing_equal": acc["routing_equal"].get(call.node.name) if call.engine == "router" else None})
    return out


def _roofline(program: Program, board, memory: timing.Memory, clock_mhz: float) -> dict:
    """Peaks: the board's MACs per second (every DSP at the precision's MACs per DSP), its memory
    bandwidth, what this build's AXI master moves at most, and each engine's multipliers at the clock."""
    prec = get_precision(program.plan.precision)
    engines = {e: KERNELS[e].multipliers(p) * clock_mhz / 1e3 for e, p in program.engines.params.items()
               if hasattr(KERNELS[e], "multipliers")}
    out = {"axi_gb_per_s": memory.bus_bytes * clock_mhz / 1e3, "weight_bits": prec.weight, "act_bits": prec.act,
           "engine_peak_gmac_per_s": engines}
    if board is not None:
        per_dsp = board.macs_per_dsp(prec.weight, prec.act)
        out.update(dsp=board.resources.dsp, macs_per_dsp=per_dsp,
                   peak_gmac_per_s=board.resources.dsp * per_dsp * clock_mhz / 1e3,
                   memory=board.memory.kind, memory_gb_per_s=board.memory.bandwidth_gbps)
    return out


def _shell_check() -> dict:
    """The shell (DMA, sequencer, registers, stream glue) as yosys counted it for ``tiny``: the whole top
    less the cost model's engines."""
    synth = json.loads(SHELL_SYNTH.read_text())
    engines = synth["cost_model_engines"].values()
    return {"design": f"{synth['preset']}, {synth['precision']}, {synth['bus_width']}-bit AXI",
            **{k: round(synth["yosys"][k] - sum(e[k] for e in engines), 2) for k in KINDS}}


def _measured(program: Program, layers: list[dict], measurement: Measurement, predicted: int) -> dict:
    """The run against the prediction: in total, per command (from each command's end, when the run
    recorded every one: ``measured_cycles`` added to each layer) and per engine (busy cycles against the
    commands' cycles less their fetch)."""
    run = measurement.run
    per_command = len(run.command_ends) == len(layers)
    if per_command:
        for layer, start, end in zip(layers, [0, *run.command_ends], run.command_ends):
            layer["measured_cycles"] = end - start
    engines = {}
    for name, counter in zip(COUNTERS, run.engines):
        mine = [l for l in layers if l["engine"] == name]
        engines[name] = {"busy": counter["busy"], "stall": counter["stall"],
                         "predicted_busy": sum(l["cycles"] - l["fetch"] for l in mine) if name in
                         program.engines.params else None}
    return {"simulator": measurement.simulator, "bit_exact": measurement.bit_exact, "error": run.error,
            "commands": run.commands, "cycles": run.cycles, "predicted_cycles": predicted,
            "error_pct": (predicted - run.cycles) / run.cycles * 100, "per_command": per_command,
            "engines": engines}


def report_json(program: Program, *, model: str, memory: timing.Memory, clock_mhz: float, board, fit: dict,
                acc: dict, measurement: Measurement | None = None, routing=None) -> dict:
    """Every figure of the report.  ``routing``: the MoE layers' tokens per expert (a run's; default:
    balanced), ``fit``: ``build.fit`` of the program on the board."""
    layers = _layers(program, memory, clock_mhz, acc, routing)
    end = timing.end_cycles(program, memory)
    total = sum(l["cycles"] for l in layers) + end
    engines = {}
    for l in layers:
        e = engines.setdefault(l["engine"], {"commands": 0, "cycles": 0, "macs": 0})
        e["commands"], e["cycles"], e["macs"] = e["commands"] + 1, e["cycles"] + l["cycles"], e["macs"] + l["macs"]
    return {"model": model, "precision": program.plan.precision, "board": board.name if board else None,
            "clock_mhz": clock_mhz, "bus_width": memory.bus_bytes * 8, "commands": len(layers),
            "predicted_cycles": total, "predicted_ms": total / (clock_mhz * 1e3), "end_cycles": end,
            "macs": sum(l["macs"] for l in layers), "layers": layers, "engines": engines,
            "roofline": _roofline(program, board, memory, clock_mhz),
            "resources": {**fit, "shell_check": _shell_check()}, "accuracy": acc,
            "measured": _measured(program, layers, measurement, total) if measurement else None,
            "figures": list(FIGURES)}


# ---- writing it ---------------------------------------------------------------------------------------
def _n(v, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _table(head: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(map(str, r)) + " |"
                                                                      for r in rows]


def _header(r: dict) -> list[str]:
    m = r["measured"]
    rows = [["model", r["model"]], ["precision", r["precision"]], ["board", r["board"] or "none (no --board)"],
            ["clock", f"{r['clock_mhz']:g} MHz"], ["AXI data width", f"{r['bus_width']} bits"],
            ["commands", r["commands"]],
            ["predicted", f"{r['predicted_cycles']:,} cycles = {r['predicted_ms']:.4f} ms"]]
    if m:
        rows += [["measured", f"{m['cycles']:,} cycles on {m['simulator']} ({m['commands']} commands); the "
                              f"model {m['error_pct']:+.2f}% (run's routing: {m['predicted_cycles']:,})"],
                 ["bit-exact", ("yes" if m["bit_exact"] else "no") + (f", error {m['error']}" if m["error"] else "")]]
    return [f"# Build report: {r['model']}", ""] + _table(["", ""], rows)


def _latency(r: dict) -> list[str]:
    measured = bool(r["measured"] and r["measured"]["per_command"])
    head = ["#", "node", "engine", "cycles", "share", "bound", "overhead", "formula", "load", "memory", "port",
            "MACs", "MAC/B", "GMAC/s", "SQNR dB"] + (["measured", "model - measured"] if measured else [])
    rows = []
    for l in r["layers"]:
        acc = (f"experts {100 * l['routing_equal']:.1f}%" if l["routing_equal"] is not None
               else _n(l["sqnr_db"], 1) if l["sqnr_db"] is not None else "exact")
        row = [l["index"], l["node"], l["engine"], _n(l["cycles"]), _pct(l["cycles"], r["predicted_cycles"]),
               l["bound"], l["fetch"] + l["hand_off"] + l["first_data"], _n(l["engine_cycles"]), l["load_phase"],
               _n(l["memory_cycles"]), f"{l['port_stream']} {l['port_beats']:,}", _n(l["macs"]),
               _n(l["macs_per_byte"] or None, 2), _n(l["gmac_per_s"] or None, 2), acc]
        if measured:
            row += [_n(l["measured_cycles"]), f"{l['cycles'] - l['measured_cycles']:+,}"]
        rows.append(row)
    return ["", "## Latency per command", "",
            "Predicted by `hwmoe/accel/timing.py` (one command at a time): cycles = overhead (fetch and "
            "sequencer, readers' start and fill, writer's last response, second stream's first data) + "
            "max(formula + load, memory). formula: the engine's own cycle formula; load: what it misses while "
            "its streams together exceed the memory; memory: its bus words at the memory's rate; port: its "
            "longest stream in beats at one beat per cycle. bound: memory if memory > formula + load, overhead if "
            "that exceeds it, port if a stream's beats exceed the MAC array's issue cycles (MACs / multipliers; "
            "always for LayerNorm and add, which do no MACs; never for attention, whose kernel does not count its "
            "multipliers), compute otherwise. MAC/B: MACs per byte its descriptors move; SQNR of "
            "its output against float on the calibration inputs (the router: tokens whose experts equal "
            f"float's). Plus {r['end_cycles']} cycles to fetch the end command.", "", "![latency](latency.png)",
            ""] + _table(head, rows)


def _engines(r: dict) -> list[str]:
    m = r["measured"]
    head = ["engine", "commands", "predicted cycles", "share", "MACs"] + (
        ["measured busy", "predicted busy", "model vs measured", "stall"] if m else [])
    rows = []
    for name, e in r["engines"].items():
        row = [name, e["commands"], _n(e["cycles"]), _pct(e["cycles"], r["predicted_cycles"]), _n(e["macs"])]
        if m:
            c = m["engines"][name]
            row += [_n(c["busy"]), _n(c["predicted_busy"]),
                    f"{(c['predicted_busy'] - c['busy']) / c['busy'] * 100:+.2f}%" if c["busy"] else "-",
                    _n(c["stall"])]
        rows.append(row)
    note = ["", "Measured busy: the engine's counter (cycles with one of its commands running); predicted busy: "
                "its commands' cycles less their fetch."] if m else []
    return ["", "## Per engine", ""] + _table(head, rows) + note


def _roofline_md(r: dict) -> list[str]:
    f = r["roofline"]
    lines = ["", "## Roofline", "", "![roofline](roofline.png)", "",
             f"Each command with MACs at its arithmetic intensity (MACs per byte its descriptors read and write) "
             f"and achieved rate (MACs over its predicted time); LayerNorm and add commands do no MACs and are "
             f"not on it. The AXI master moves at most {f['axi_gb_per_s']:.1f} GB/s ({r['bus_width']} bits at "
             f"{r['clock_mhz']:g} MHz); dotted: each engine's multipliers at the clock ("
             + ", ".join(f"{e} {v:,.1f}" for e, v in f["engine_peak_gmac_per_s"].items()) + " GMAC/s)."]
    if "peak_gmac_per_s" in f:
        lines += ["", f"{r['board']}: peak {f['peak_gmac_per_s']:,.0f} GMAC/s ({f['dsp']:,} DSPs x "
                      f"{f['macs_per_dsp']:g} MAC per DSP at {f['weight_bits']}x{f['act_bits']} bits x "
                      f"{r['clock_mhz']:g} MHz); {f['memory']} {f['memory_gb_per_s']:g} GB/s (board file). "
                      f"Achieved over the whole model: {r['macs'] * r['clock_mhz'] / r['predicted_cycles'] / 1e3:.2f} "
                      f"GMAC/s."]
    return lines


def _resources(r: dict) -> list[str]:
    res, s = r["resources"], r["resources"]["shell_check"]
    rows = [[e] + [_n(u[k]) for k in KINDS] for e, u in res["engines"].items()]
    rows.append(["shell"] + [_n(_shell_sum(res)[k]) for k in KINDS])
    rows.append(["**total**"] + [_n(res["used"][k]) for k in KINDS])
    if "available" in res:
        rows.append(["board"] + [_n(res["available"][k]) for k in KINDS])
        rows.append(["share"] + [_pct(res["used"][k], res["available"][k]) for k in KINDS])
    return ["", "## Resources", "", "![resources](resources.png)", ""] + \
        _table(["", *(k.upper() for k in KINDS)], rows) + \
        ["", f"The cost model (`hwmoe/accel/build.py` `fit`): the engines, and the shell (DMA, sequencer, registers; "
             f"`hwmoe/cost/shell.py`, calibrated on yosys runs of those modules alone) at {res['bus_w']}-bit AXI "
             f"and LANES_MAX {res['lanes_max']}. Its check: yosys put the shell of the whole generated top "
             f"(stream glue included) at " + ", ".join(f"{_n(s[k], 1 if k == 'bram36' else 0)} "
             f"{k.upper()}" for k in KINDS if s[k]) + f" for {s['design']} (`docs/benchmarks.md`); the model is above that at "
             f"tiny's size and below the DMA alone at 64 lanes (`docs/cost_model.md`)."]


def _shell_sum(res: dict) -> dict:
    return {k: sum(u[k] for u in res["shell"].values()) for k in KINDS}


def _accuracy(r: dict) -> list[str]:
    a = r["accuracy"]
    rows = [[i, f"{o['cosine']:.6f}", "yes" if o["top1_equal"] else "no", f"{o['max_abs_error']:.4g}"]
            for i, o in enumerate(a["per_input"])]
    worst = sorted(((v, k) for k, v in a["sqnr_db"].items() if v is not None))[:5]
    return ["", "## Accuracy against float", "",
            f"The plan's bit-accurate reference against the float reference on the {a['inputs']} calibration "
            f"inputs: output `{a['output']}` cosine {a['min_cosine']:.6f} at worst, top-1 equal on "
            f"{100 * a['top1_agreement']:.0f}%, largest absolute error {a['max_abs_error']:.4g}.", ""] + \
        _table(["input", "cosine", "top-1 equal", "max abs error"], rows) + \
        ["", "Lowest SQNR: " + ", ".join(f"`{k}` {v:.1f} dB" for v, k in worst) +
         " (every tensor in `report.json`)."]


def write_report(out: Path, r: dict) -> list[Path]:
    """report.json, report.md and the figures into ``out``, each file written atomically."""
    out = Path(out)
    paths = [write_text(out / "report.json", json.dumps(r, indent=1))]
    md = _header(r) + _latency(r) + _engines(r) + _roofline_md(r) + _resources(r) + _accuracy(r)
    paths.append(write_text(out / "report.md", "\n".join(md) + "\n"))
    return paths + _figures(out, r)


BOUND_COLOURS = {"compute": "tab:blue", "port": "tab:orange", "memory": "tab:red", "overhead": "tab:gray"}


def _figures(out: Path, r: dict) -> list[Path]:
    """latency.png (cycles per command by bound), roofline.png, resources.png (engines and shell against the board)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from ..search.plots import save

    layers, paths = r["layers"], [out / name for name in FIGURES]
    fig, ax = plt.subplots(figsize=(max(7, 0.09 * len(layers) + 3), 4))
    x = [l["index"] for l in layers]
    fixed = {l["index"]: l["fetch"] + l["hand_off"] + l["first_data"] for l in layers}
    ax.bar(x, list(fixed.values()), color="lightgrey", label="fixed: fetch, hand-off")
    for bound, colour in BOUND_COLOURS.items():
        mine = [l for l in layers if l["bound"] == bound]
        if mine:
            ax.bar([l["index"] for l in mine], [l["cycles"] - fixed[l["index"]] for l in mine],
                   bottom=[fixed[l["index"]] for l in mine], color=colour, label=f"{bound}-bound")
    if r["measured"] and r["measured"]["per_command"]:
        ax.plot(x, [l["measured_cycles"] for l in layers], "k.", ms=4, label="measured")
    ax.set_xlabel("command"), ax.set_ylabel("cycles"), ax.legend(fontsize=8)
    ax.set_title(f"{r['model']}, {r['precision']}: {r['predicted_ms']:.3f} ms predicted at {r['clock_mhz']:g} MHz")
    fig.tight_layout()
    save(fig, paths[0])
    plt.close(fig)

    f = r["roofline"]
    placed = [l for l in layers if l["macs"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    xs = np.geomspace(min(l["macs_per_byte"] for l in placed) / 4, max(l["macs_per_byte"] for l in placed) * 4)
    for i, engine in enumerate(dict.fromkeys(l["engine"] for l in placed)):
        mine = [l for l in placed if l["engine"] == engine]
        ax.loglog([l["macs_per_byte"] for l in mine], [l["gmac_per_s"] for l in mine], "o", ms=4, color=f"C{i}",
                  label=engine)
        if engine in f["engine_peak_gmac_per_s"]:
            ax.axhline(f["engine_peak_gmac_per_s"][engine], color=f"C{i}", ls=":", lw=1)
    peak = f.get("peak_gmac_per_s", np.inf)
    ax.loglog(xs, np.minimum(peak, f["axi_gb_per_s"] * xs), "k--", lw=1, label=f"AXI {f['axi_gb_per_s']:.1f} GB/s")
    if "peak_gmac_per_s" in f:
        ax.loglog(xs, np.minimum(peak, f["memory_gb_per_s"] * xs), "k-", lw=1.5,
                  label=f"{r['board']}: {f['memory_gb_per_s']:g} GB/s, {peak:,.0f} GMAC/s")
    ax.set_xlabel("MACs per byte moved"), ax.set_ylabel("GMAC/s (predicted)"), ax.grid(alpha=0.3, which="both")
    ax.set_title(f"roofline: {r['model']}, {r['precision']}, {r['board'] or 'no board'}"), ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, paths[1])
    plt.close(fig)

    res = r["resources"]
    kinds = [k for k in KINDS if res["used"][k] or res.get("available", {}).get(k)]
    fig, axes = plt.subplots(1, len(kinds), figsize=(2.4 * len(kinds), 3.8))
    for ax, kind in zip(axes, kinds):
        bottom = 0.0
        for i, (unit, used) in enumerate([*res["engines"].items(), ("shell", _shell_sum(res))]):
            ax.bar([0], [used[kind]], bottom=bottom, color=f"C{i}", label=unit)
            bottom += used[kind]
        if "available" in res:
            ax.axhline(res["available"][kind], color="k", lw=1.5, label="board")
            ax.set_title(f"{kind.upper()} {_pct(res['used'][kind], res['available'][kind])}")
        else:
            ax.set_title(kind.upper())
        ax.set_xticks([])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"engines' and shell's resources ({r['board'] or 'no board'})")
    fig.tight_layout()
    save(fig, paths[2])
    plt.close(fig)
    return paths
