"""``hwmoe build``: a model (ONNX file or preset) and a design (a search result, or the default engines) ->
the accelerator a user takes to a board: ``DIR/rtl/`` (kernel sources, the generated top, tables, one file
list, the Verilator waiver), ``DIR/hls/`` (the same accelerator as a Vitis HLS top), ``DIR/image.bin``
(parameters and program; input and activations zero), ``DIR/layout.json`` (where everything sits in the image:
what a driver needs), ``DIR/build.json`` (the design, the engines' Verilog parameters, predicted cycles and
milliseconds, resources against the board) and the build report (``hwmoe.accel.report``: ``report.md``,
``report.json``, figures); with a board, the Vivado or Vitis scripts that take it there (``hwmoe.accel.vendor``).
With ``simulate``, the image runs one input through the generated RTL, the output is compared with the
bit-accurate reference and the report is written again with the measurements; with ``csim``, the input runs
through the C simulation of the HLS top."""
from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from ..cost import shell
from ..errors import UserError
from ..numerics.intmath import ceil_div, clog2
from ..backends.hls.accel import csim_report, write_hls
from ..outputs import output_dir
from . import executor, report, timing, vendor
from .engines import DEFAULT_CHOICE, KERNELS, UnsupportedGraph
from .program import Program, compile_program
from .top import TopConfig, write_project

#: the largest scratchpad ``hwmoe build`` accepts (an address space of 16 MiB; a board's BRAM limits it first)
MAX_SCRATCH_KIB = 16 * 1024
AUTO = "auto"


def auto_scratch_kib(graph, plan, choice: dict, board, bus_w: int, memory: timing.Memory) -> int:
    """``--scratch-kib auto``: of no scratchpad and the powers of two from 1 KiB to the first that holds every
    intermediate tensor at once, the size with the fewest predicted cycles (the smaller on a tie) among those
    whose build fits ``board`` (every size without one).  Predicted, not simply the largest: more on chip is
    not always faster (the scratchpad's one read port, docs/accelerator.md)."""
    everything = compile_program(graph, plan, choice, image=False, scratch_bytes=MAX_SCRATCH_KIB * 1024)
    need = ceil_div(everything.layout.scratch_size, 1024)
    best = None
    for kib in [0] + [1 << k for k in range(clog2(max(need, 1)) + 1)]:
        program = compile_program(graph, plan, choice, image=False, scratch_bytes=kib * 1024)
        if board is not None and kib and fit(program, board, bus_w)["over"]:
            continue
        cycles = timing.total_cycles(program, memory)
        if best is None or cycles < best[0]:
            best = (cycles, kib)
    return best[1]


def choice_from_design(design: dict) -> dict:
    """Engine parallelism from a search result's ``design`` (``hwmoe search``'s search.json): the linear
    core's tile serves the linear and MoE engines, and LayerNorm and add take its lanes."""
    try:
        lin, att, router = design["linear"], design["attention"], design.get("router")
        t, n_pe = int(lin["t"]), int(lin["n_pe"])
        choice = {"linear": {"t_in": t, "t_out": t, "n_pe": n_pe}, "moe": {"t": t, "n_pe": n_pe},
                  "attention": {"rows": int(att["rows"]), "lanes": int(att["lanes"])},
                  "layernorm": {"lanes": t, "nbuf": int(lin.get("ln_nbuf", 4))}, "add": {"lanes": t}}
        if router:          # a model without MoE layers has no router unit
            choice["router"] = {"lanes": int(router["lanes"]), "expert_par": int(router["expert_par"])}
        return choice
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(f"the design has no usable engine parameters ({e.__class__.__name__}: {e})") from None


def load_design(path: str) -> tuple[dict, dict]:
    """(choice, the search result) from a search.json."""
    try:
        result = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not a readable search result ({e.__class__.__name__})") from None
    if not isinstance(result, dict) or "design" not in result:
        raise UserError(f"{path}: not a search result (no 'design')")
    return choice_from_design(result["design"]), result


def layout_json(program: Program) -> dict:
    """Where everything sits in the image (a region on chip, ``"scratch": true``: at its offset in the
    scratchpad, not in the image)."""
    regions = {name: {"offset": r.offset, "rows": r.rows, "cols": r.cols, "container": r.container,
                      "stride": r.stride, **({"scratch": True} if r.scratch else {})}
               for name, r in program.layout.regions.items()}
    graph = program.graph
    fmt_in, fmt_out = program.plan.tensors[graph.input], program.plan.tensors[graph.output]
    return {"size": program.layout.size, "program": program.program_offset, "commands": len(program.commands),
            "input": {"region": graph.input, "format": str(fmt_in), "fmt": fmt_in.to_dict(),
                      "shape": list(graph.shapes[graph.input]), "patch": graph.nodes[0].patch},
            "output": {"region": graph.output, "format": str(fmt_out), "fmt": fmt_out.to_dict(),
                       "shape": list(graph.shapes[graph.output])},
            "regions": regions}


def engine_resources(program: Program, dsp_kind: str) -> dict:
    """The cost model's resources of each engine as built."""
    return {e: {k: round(v, 1) for k, v in KERNELS[e].resources(p, dsp_kind).as_dict().items()}
            for e, p in program.engines.params.items()}


def shell_resources(program: Program, bus_w: int) -> dict:
    """The shell model's resources of each of its modules (DMA, sequencer, registers) at this build's AXI data
    width and LANES_MAX (``hwmoe.cost.shell``)."""
    return {m: {k: round(v, 1) for k, v in u.as_dict().items()}
            for m, u in shell.shell_resources(bus_w, program.lanes_max, program.scratch_bytes).items()}


def fit(program: Program, board, bus_w: int = TopConfig.bus_w) -> dict:
    """Engines' and shell's resources against the board: used (both), available, and which kinds exceed it."""
    engines = engine_resources(program, board.dsp_kind if board else "DSP48E2")
    shell_parts = shell_resources(program, bus_w)
    units = [*engines.values(), *shell_parts.values()]
    used = {k: round(sum(u[k] for u in units), 1) for k in ("lut", "ff", "dsp", "bram36", "uram")}
    out = {"engines": engines, "shell": shell_parts, "bus_w": bus_w, "lanes_max": program.lanes_max, "used": used}
    if board is not None:
        available = board.resources.as_dict()
        out.update(available=available, over=[k for k in used if used[k] > available[k]])
    return out


def build_memory(board, bus_w: int, clock_mhz: float) -> timing.Memory:
    """The memory the timing model prices the build with: the board's (``timing.Memory.from_board``), or
    without a board an ideal one (every cycle, the testbench's latency)."""
    return timing.Memory.from_board(board, bus_w // 8, clock_mhz) if board else timing.Memory(bus_bytes=bus_w // 8)


def build_json(program: Program, config: TopConfig, clock_mhz: float, board, search: dict | None,
               memory: timing.Memory) -> dict:
    cycles = timing.total_cycles(program, memory)
    return {"board": board.name if board else None, "clock_mhz": clock_mhz, "precision": program.plan.precision,
            "memory": asdict(memory),
            "design": {e: {k: v for k, v in asdict(p).items()} for e, p in program.engines.params.items()},
            "verilog_parameters": {e: program.engines.verilog_parameters(e) for e in program.engines.params},
            "top": asdict(config), "commands": len(program.commands),
            "scratch": {"bytes": program.scratch_bytes, "used_bytes": program.layout.scratch_size,
                        "on_chip": sorted(n for n, r in program.layout.regions.items() if r.scratch)},
            "predicted_cycles": cycles, "predicted_ms": cycles / (clock_mhz * 1e3),
            "resources": fit(program, board, config.bus_w),
            "search": {k: search[k] for k in ("latency_ms", "resources", "fits") if k in search} if search else None}


def build_command(*, model: str | None, preset: str | None, board: str | None, precision: str, design: str | None,
                  out: str, simulate: bool = False, input_path: str | None = None, simulator: str = "verilator",
                  bus_w: int | None = None, seed: int = 0, csim: bool = False, calibration: str | None = None,
                  scratch_kib: int | str | None = None) -> int:
    """Write the build; with ``simulate`` run it and print ``bit-exact yes|no`` and the cycles, with ``csim``
    the same through the C simulation of its HLS top.  Returns 0, or 1 when a simulation does not reproduce
    the reference.  ``bus_w``: AXI data bits (default: the search's, or 128); ``scratch_kib``: the on-chip
    scratchpad in KiB, or ``"auto"`` (``auto_scratch_kib``) (default: the search's ``scratch_kib``, or none).
    The predicted cycles use the memory of ``board``, or of the search's board, else an ideal one."""
    from ..boards import load_board
    from ..inputs import load_npy
    board_spec = load_board(board) if board else None
    choice, search = load_design(design) if design else (DEFAULT_CHOICE, None)
    bus_w = bus_w or (search or {}).get("bus_width", 128)
    scratch_kib = (search or {}).get("scratch_kib", 0) if scratch_kib is None else scratch_kib
    if scratch_kib != AUTO and (not isinstance(scratch_kib, int) or not 0 <= scratch_kib <= MAX_SCRATCH_KIB):
        raise UserError(f"--scratch-kib {scratch_kib}: must be 0..{MAX_SCRATCH_KIB} KiB or {AUTO}")
    # an Alveo kernel's AXI4 master has 64-bit addresses (its banks may lie above 4 GiB); 32 bits elsewhere
    alveo = board_spec is not None and board_spec.vendor is not None and board_spec.vendor.flow == "alveo"
    config = TopConfig(bus_w=bus_w, addr_w=vendor.KERNEL_ADDR_W if alveo else 32)
    try:
        config.check()
    except ValueError as e:
        raise UserError(f"--bus-width: {e}") from None
    clock = board_spec.clock_mhz if board_spec else (search or {}).get("clock_mhz", 200.0)
    memory_board = board_spec or (_search_board(search["board"]) if search and search.get("board") else None)
    memory = build_memory(memory_board, bus_w, clock)
    graph, calib = model_graph(model, preset, seed)
    from ..inputs import plan_for
    plan, _, _ = plan_for(graph, model, precision, None, calib, seed, calibration)
    try:
        if scratch_kib == AUTO:
            scratch_kib = auto_scratch_kib(graph, plan, choice, board_spec, bus_w, memory)
        program = compile_program(graph, plan, choice, scratch_bytes=1024 * scratch_kib)
    except UnsupportedGraph as e:
        raise UserError(f"{model or preset}: the accelerator cannot run this model: {e}") from None
    if board_spec is not None:
        resources = fit(program, board_spec, bus_w)
        if resources["over"]:
            k = resources["over"][0]
            part = {n: round(sum(u[k] for u in resources[n].values())) for n in ("engines", "shell")}
            raise UserError(f"{model or preset} on {board_spec.name}: the engines and the shell need "
                            f"{resources['used'][k]:,.0f} {k.upper()} of {resources['available'][k]:,} (engines "
                            f"{part['engines']:,}, shell {part['shell']:,} at {bus_w}-bit AXI and LANES_MAX "
                            f"{program.lanes_max}" + (f", scratchpad {scratch_kib} KiB" if scratch_kib else "")
                            + "; choose a smaller --design, --bus-width or --scratch-kib)")
    acc = report.accuracy(graph, plan, calib)

    def write_report(where: Path, memory: timing.Memory = memory, **measured) -> None:   # again after a simulation
        report.write_report(where, report.report_json(
            program, model=model or preset, memory=memory, clock_mhz=clock,
            board=board_spec, fit=fit(program, board_spec, bus_w), acc=acc, **measured))
    with output_dir(out) as tmp:
        write_project(program, tmp / "rtl", config)
        write_hls(program, tmp / "hls", bus_w, board_spec)
        (tmp / "image.bin").write_bytes(bytes(program.memory))
        (tmp / "layout.json").write_text(json.dumps(layout_json(program), indent=1))
        info = build_json(program, config, clock, board_spec, search, memory)
        (tmp / "build.json").write_text(json.dumps(info, indent=1))
        write_report(tmp)
        scripts = vendor.write(tmp, board_spec) if board_spec else []
    print(f"wrote {out}: rtl/ ({len(program.engines.params)} engines), hls/, image.bin ({program.layout.size} "
          f"bytes, {len(program.commands)} commands), layout.json, build.json, report.md"
          + "".join(f", {s}" for s in scripts))
    if scratch_kib:
        print(f"scratchpad: {scratch_kib} KiB, {len(info['scratch']['on_chip'])} intermediate tensors on chip "
              f"({program.layout.scratch_size} bytes at most at once), the others in the image")
    print(f"predicted: {info['predicted_cycles']} cycles = {info['predicted_ms']:.4f} ms at {clock:g} MHz "
          f"({bus_w}-bit AXI, " + (f"{memory_board.name}'s memory: read data in {memory.bandwidth:.0%} of the "
                                   f"cycles, read latency {memory.read_latency}" if memory_board else "ideal memory")
          + ")")
    if not (simulate or csim):
        return 0
    x = load_npy(input_path, "--input") if input_path else calib[0]
    if tuple(np.shape(x)) != tuple(graph.shapes[graph.input]):
        raise UserError(f"--input: shape {tuple(np.shape(x))}, the model takes {tuple(graph.shapes[graph.input])}")
    status = _simulate(program, Path(out), x, simulator, memory, write_report) if simulate else 0
    return status | (csim_report(program, Path(out) / "hls", x) if csim else 0)


def _search_board(name: str):
    """The board a search result was made for (its memory prices the build)."""
    from ..boards import BoardError, load_board
    try:
        return load_board(name)
    except BoardError as e:
        raise UserError(f"the design's board {name!r} (its memory prices the build): {e}; give --board") from None


def model_graph(model: str | None, preset: str | None, seed: int):
    """The kernel graph and a calibration batch (random normal for a file, the preset's sample images)."""
    from ..inputs import load_graph, random_samples
    if (model is None) == (preset is None):
        raise UserError("give either MODEL.onnx or --preset NAME")
    if model:
        graph = load_graph(model)
        return graph, random_samples(tuple(graph.shapes[graph.input]), seed)
    from ..frontend.config import make_config
    from ..frontend.from_torch import graph_from_model
    from ..frontend.model import build_model, sample_input
    cfg = make_config(preset)
    return graph_from_model(build_model(cfg, seed)), sample_input(cfg, seed, batch=4).numpy()


def _simulate(program: Program, out: Path, x: np.ndarray, simulator: str, memory: timing.Memory,
              write_report) -> int:
    """The testbench's AxiRam is capped at the memory's bandwidth share but answers in its own read latency
    (``timing.Memory()``'s), so the prediction printed beside the measurement uses that latency."""
    from ..reference import FixedRunner
    from . import simulate
    memory = replace(memory, read_latency=timing.Memory().read_latency, write_latency=timing.Memory().write_latency)
    image = executor.load_image(program, x)
    run = simulate.run(out / "rtl", image, program.program_offset, simulator, out / "sim",
                       bandwidth=memory.bandwidth, layout=layout_json(program))[0]
    got = executor.read_output(program, run.image)
    want = FixedRunner(program.graph, program.plan).run_raw(x)
    exact = run.error == 0 and np.array_equal(got, want)
    routing = timing.routing_of(program, run.image)
    predicted = timing.total_cycles(program, memory, routing)
    write_report(out, memory, measurement=report.Measurement(run, bool(exact), simulator), routing=routing)
    print(f"simulated on {simulator}: bit-exact {'yes' if exact else 'no'} ({got.size} output words), "
          f"{run.commands} commands, {run.cycles} cycles measured, {predicted} predicted "
          f"({(predicted - run.cycles) / run.cycles * 100:+.2f}%)" + (f", error {run.error}" if run.error else ""))
    return 0 if exact else 1
