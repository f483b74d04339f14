"""``hwmoe hls``: generate a Vitis HLS project of a kernel or of a whole encoder block, and run its
C simulation with g++ against hwmoe's bit-accurate reference.

The kernels are the C++ headers in ``hls/`` (the same kernels as the RTL, computing the same integers as
``hwmoe/kernels/*.py``); a project adds a generated ``config.h`` (dimensions, tiles, formats, tables), a
top function, a testbench that compares every output word with the reference's, and ``run_hls.tcl``.

    generate_project(out_dir, kernel="linear", params={"tokens": 129})       # one kernel, random words
    generate_project(out_dir, graph=g, plan=p, inputs=x, params={"block": 1})  # an encoder block
    csim(out_dir) -> CsimResult(bit_exact, words, mismatches, ...)
"""
from __future__ import annotations

import hashlib
import json
import re
import resource
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .emitter import (Design, config_header, project_readme, run_hls_tcl, tables_header, testbench,
                         top_header, top_source, write_words)
from ...overrides import apply_overrides
from ...paths import HLS_DIR
#: The hand-written kernel sources copied into every project (the generated headers come on top).
KERNEL_SOURCES = ("hwmoe_common.h", "exp2.h", "recip.h", "softmax.h", "gelu.h", "linear.h", "layernorm.h",
                  "attention.h", "router.h", "moe.h", "add.h", "block.h")
#: Which kernel header a design's top includes.
TOP_HEADER = {"linear": "linear.h", "gelu": "gelu.h", "layernorm": "layernorm.h", "attention": "attention.h",
              "router": "router.h", "moe": "moe.h", "add": "add.h", "block": "block.h"}
DEFAULT_BOARD = "zcu102"          # part xczu9eg-ffvb1156-2-e
DEFAULT_PART, DEFAULT_CLOCK_MHZ = "xczu9eg-ffvb1156-2-e", 300.0
CXXFLAGS = ("-std=c++14", "-Wall", "-Wextra")


def kernel_names() -> list[str]:
    from .kernels import KERNEL_DESIGNS
    return list(KERNEL_DESIGNS)


@dataclass
class Project:
    """A generated project: where it is, its top function, and how many output words the testbench checks."""
    path: Path
    name: str
    top: str
    part: str
    clock_mhz: float
    board: str
    expected_words: int
    description: str
    details: dict = field(default_factory=dict)


def _board(board) -> tuple[str, float, str]:
    from ...boards import load_board
    b = load_board(board or DEFAULT_BOARD)
    return b.part, float(b.clock_mhz), b.name


def _params(cls, params: dict | None, what: str):
    p = apply_overrides(cls(), {k: str(v) for k, v in (params or {}).items()}, what)
    p.check()
    return p


def _block_input(graph, inputs, seed: int) -> np.ndarray:
    want = tuple(graph.shapes[graph.input])
    if inputs is None:
        return np.random.default_rng(seed).standard_normal((4,) + want)
    x = np.asarray(inputs, dtype=np.float64)
    if x.shape == want:
        x = x[None]
    if x.shape[1:] != want:
        raise ValueError(f"inputs of shape {x.shape} do not match the graph input (batch, "
                         f"{', '.join(map(str, want))})")
    return x


def make_design(*, graph=None, plan=None, kernel: str | None = None, params: dict | None = None,
                inputs=None, seed: int = 0, precision: str = "w16a32") -> Design:
    """The design (config structs, top call, ports with their words) without writing anything."""
    if kernel is not None:
        from .kernels import kernel_design
        if kernel == "block":
            raise ValueError("kernel 'block' needs a model: pass graph= (and plan= or inputs=)")
        return kernel_design(kernel, params, seed)
    if graph is None:
        raise ValueError("generate_project needs kernel= or graph=")
    from .block import BlockHls, block_design
    hp = _params(BlockHls, params, "HLS block")
    x = _block_input(graph, inputs, seed)
    if plan is None:
        from ...numerics.calibration import calibrate
        plan = calibrate(graph, precision, x)
    return block_design(graph, plan, x[0], hp)


def generate_project(out_dir, *, graph=None, plan=None, kernel: str | None = None, params: dict | None = None,
                     board=None, inputs=None, seed: int = 0, precision: str = "w16a32") -> Project:
    """Write a self-contained Vitis HLS project to ``out_dir``.

    kernel: one of linear, attention, layernorm, gelu, router, moe: the kernel's test case at the formats
        and dimensions of ``params`` (overrides of that kernel's Params, ``hwmoe/kernels/<kernel>.py``, as
        for ``hwmoe sim``): the words of ``make_data(params, seed)``, the same as the RTL testbench's, and
        the expected words from the kernel's reference function.
    graph (kernel None): an encoder block of the graph (``params["block"]``, default 0; a single-block graph
        works too) under ``plan``; without a plan one is calibrated at ``precision`` on ``inputs``.  The
        first of ``inputs`` (a batch of graph inputs; random if None) gives the block's input and expected
        output words, observed in ``FixedRunner``.  ``params`` may also set t_in, t_out, n_pe and rows.
    board: a board name or .yaml path for the part and clock (default zcu102: xczu9eg-ffvb1156-2-e).
    """
    design = make_design(graph=graph, plan=plan, kernel=kernel, params=params, inputs=inputs, seed=seed,
                         precision=precision)
    part, clock, board_name = _board(board)
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for src in KERNEL_SOURCES:
        shutil.copyfile(HLS_DIR / src, out / src)
    headers = [TOP_HEADER[design.name]]
    files = {"hwmoe_tables.h": tables_header(), "config.h": config_header(design),
             "top.h": top_header(design, headers), "top.cpp": top_source(design), "tb.cpp": testbench(design),
             "run_hls.tcl": run_hls_tcl(design, list(KERNEL_SOURCES), part, clock, board_name),
             "README.md": project_readme(design, part, clock, board_name)}
    for name, text in files.items():
        (out / name).write_text(text)
    for p in design.ports:
        write_words(out / "data" / (f"{p.name}.expected.txt" if p.kind == "out" else f"{p.name}.txt"), p.data)
    if design.plan is not None:
        design.plan.save(out / "plan.json")
    words = sum(p.count for p in design.ports if p.kind == "out")
    meta = {"name": design.name, "top": design.top, "part": part, "clock_mhz": clock, "board": board_name,
            "expected_words": words, "description": design.description,
            "details": {k: str(v) for k, v in design.details.items()},
            "ports": [{"name": p.name, "kind": p.kind, "ctype": p.ctype, "words": p.count} for p in design.ports]}
    (out / "project.json").write_text(json.dumps(meta, indent=1))
    return Project(out, design.name, design.top, part, clock, board_name, words, design.description, design.details)


# ------------------------------------------------------------------------------------------- C-sim
@dataclass
class CsimResult:
    bit_exact: bool
    words: int
    mismatches: int
    expected_words: int
    compile_seconds: float
    run_seconds: float
    warnings: list[str]               # compiler warnings located in hwmoe's code (not the ap_types headers)
    output: str

    def summary(self) -> str:
        return (f"bit-exact {'yes' if self.bit_exact else 'no'}, {self.words} words compared, "
                f"{self.mismatches} mismatches")


class CsimError(RuntimeError):
    """The generated C++ did not compile or the simulation did not run to its verdict."""


def ap_types_dir() -> Path:
    try:
        from .aptypes import include_dir
        return include_dir()
    except ImportError:               # pragma: no cover - the aptypes module is part of hwmoe
        import importlib.util
        spec = importlib.util.find_spec("hls4ml")
        return Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"


_WARNING = re.compile(r"^(?P<file>[^:\s][^:]*):(?P<line>\d+):(?:\d+:)? warning: (?P<text>.*)$")


def hwmoe_warnings(compiler_output: str, ap_types: Path, base: Path) -> list[str]:
    """Warnings whose location is not inside the ap_types headers (those are Xilinx's, not hwmoe's);
    relative locations are relative to ``base``, where the compiler ran."""
    root = str(Path(ap_types).resolve())
    out = []
    for line in compiler_output.splitlines():
        m = _WARNING.match(line.strip())
        if m and not str((Path(base) / m["file"]).resolve()).startswith(root):
            out.append(line.strip())
    return out


def _raise_stack() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_STACK)
    want = 1 << 30 if hard == resource.RLIM_INFINITY else min(hard, 1 << 30)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_STACK, (want, hard))


def csim(project_dir, *, cxx: str = "g++", opt: str = "-O1", extra_flags=(), rebuild: bool = False,
         timeout: float = 1200.0) -> CsimResult:
    """Compile the project's top.cpp and tb.cpp with g++ (one translation unit, -std=c++14 -Wall -Wextra,
    the ap_types headers as -isystem) and run the testbench on data/.  A build is reused while the sources
    and flags are unchanged."""
    proj = Path(project_dir).resolve()
    if not (proj / "project.json").is_file():
        raise CsimError(f"{proj}: not a project generated by hwmoe hls (no project.json)")
    meta = json.loads((proj / "project.json").read_text())
    if shutil.which(cxx) is None:
        raise CsimError(f"C simulation needs a C++ compiler: {cxx} not found")
    inc = ap_types_dir()
    build = proj / "build"
    build.mkdir(exist_ok=True)
    unity = build / "csim_unity.cpp"
    unity.write_text('// one translation unit for the C simulation\n#include "../top.cpp"\n#include "../tb.cpp"\n')
    flags = [*CXXFLAGS, opt, *extra_flags, "-isystem", str(inc), "-I."]    # run in the project directory
    sources = sorted(p for p in proj.iterdir() if p.suffix in (".h", ".cpp"))
    key = hashlib.sha1(json.dumps([cxx, flags, [p.name for p in sources]]).encode()
                       + b"".join(p.read_bytes() for p in sources)).hexdigest()
    exe, stamp, log = build / "csim", build / "csim.key", build / "compile.log"
    t0 = time.monotonic()
    if rebuild or not exe.exists() or not stamp.exists() or stamp.read_text() != key:
        cmd = [cxx, *flags, "build/csim_unity.cpp", "-o", "build/csim"]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=proj)
        log.write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        if r.returncode != 0:
            errors = [ln for ln in r.stderr.splitlines() if " error" in ln][:5]
            raise CsimError(f"g++ failed on {proj} (see {log}): " + " | ".join(errors))
        stamp.write_text(key)
    compile_s = time.monotonic() - t0
    warnings = hwmoe_warnings(log.read_text(), inc, proj) if log.exists() else []
    t1 = time.monotonic()
    r = subprocess.run([str(exe), str(proj / "data")], capture_output=True, text=True, cwd=proj,
                       preexec_fn=_raise_stack, timeout=timeout)
    run_s = time.monotonic() - t1
    text = r.stdout + r.stderr
    words = re.search(r"words compared: (\d+)", text)
    mism = re.search(r"mismatches: (\d+)", text)
    if not words or not mism:
        raise CsimError(f"the C simulation of {proj} ended without a verdict (exit {r.returncode}): "
                        + " | ".join(text.strip().splitlines()[-3:]))
    w, m = int(words[1]), int(mism[1])
    exact = r.returncode == 0 and m == 0 and w == meta["expected_words"] and "BIT-EXACT" in text
    return CsimResult(exact, w, m, meta["expected_words"], compile_s, run_s, warnings, text)


# -------------------------------------------------------------------------------------------- CLI
def _model_graph(model: str | None, preset: str | None, model_overrides: dict, seed: int, calib: int):
    """(graph, calibration inputs) for a model path or a preset."""
    if model:
        from ...frontend.onnx_import import import_onnx
        if not Path(model).is_file():
            raise ValueError(f"{model}: no such file")
        graph = import_onnx(model)
        x = np.random.default_rng(seed).standard_normal((calib,) + tuple(graph.shapes[graph.input]))
        return graph, x
    from ...frontend.from_torch import graph_from_model
    from ...frontend.model import build_model, make_config, sample_input
    cfg = make_config(preset or "tiny", model_overrides)
    model_ = build_model(cfg, seed)
    return graph_from_model(model_), sample_input(cfg, seed, batch=calib).numpy().astype(np.float64)


HLS_COMMAND_KEYS = ("precision", "seed", "calib", "plan")


def hls_command(args=None, /, **fields) -> int:
    """``hwmoe hls MODEL.onnx | --preset NAME [--kernel K] [--set key=value ...] [--board B] -o DIR [--csim]``.

    Fields (attributes of an argparse namespace, or keywords): model, preset, kernel, overrides (dict, or
    ``set``: a list of key=value), board, out (or output / o), csim.  With a kernel, the overrides are the
    kernel's Params fields (as for ``hwmoe sim``) and seed; with a model, they may set precision (default
    w16a32), block, seed, calib (calibration batch), plan (a plan JSON), t_in, t_out, n_pe, rows, and for a
    preset any model field.
    Prints what was written and, with csim, ``bit-exact yes|no, N words compared, M mismatches``.
    Returns 0, or 1 when the C simulation is not bit-exact."""
    f = dict(vars(args)) if args is not None else {}
    f.update(fields)
    overrides = f.get("overrides")
    if overrides is None:
        from ...overrides import parse_assignments
        overrides = parse_assignments(f.get("set"))
    overrides = {k: str(v) for k, v in overrides.items()}
    out = f.get("out") or f.get("output") or f.get("o")
    if not out:
        raise ValueError("hwmoe hls needs an output directory (-o DIR)")
    kernel = f.get("kernel")
    board = f.get("board")
    if kernel and kernel != "block":
        seed = int(overrides.pop("seed", f.get("seed") or 0))
        proj = generate_project(out, kernel=kernel, params=overrides, board=board, seed=seed)
    else:
        from ...frontend.model import ModelConfig
        from dataclasses import fields as dc_fields
        model_keys = {x.name for x in dc_fields(ModelConfig)}
        model_over = {k: overrides.pop(k) for k in list(overrides) if k in model_keys and not f.get("model")}
        opts = {k: overrides.pop(k) for k in list(overrides) if k in HLS_COMMAND_KEYS}
        seed = int(opts.get("seed", f.get("seed") or 0))
        precision = opts.get("precision", "w16a32")
        graph, x = _model_graph(f.get("model"), f.get("preset"), model_over, seed, int(opts.get("calib", 4)))
        plan = None
        plan_path = opts.get("plan") or (str(Path(f["model"]).with_suffix(f".{precision}.plan.json"))
                                         if f.get("model") else None)
        if plan_path and Path(plan_path).is_file():
            from ...numerics.plan import Plan
            plan = Plan.load(plan_path)
            if plan.precision != precision and "precision" in opts:
                raise ValueError(f"{plan_path}: plan is for {plan.precision}, not {precision}")
        elif opts.get("plan"):
            raise ValueError(f"{opts['plan']}: no such file")
        proj = generate_project(out, graph=graph, plan=plan, params=overrides, board=board, inputs=x, seed=seed,
                                precision=precision)
    print(f"wrote {proj.path}: {proj.description}; top {proj.top}, part {proj.part} ({proj.board}), "
          f"{proj.clock_mhz:g} MHz; run it with: cd {proj.path} && vitis_hls -f run_hls.tcl")
    if not f.get("csim"):
        return 0
    r = csim(proj.path)
    print(f"C simulation (g++, {r.compile_seconds:.1f} s compile, {r.run_seconds:.1f} s run): {r.summary()}")
    for w in r.warnings:
        print(f"warning: {w}")
    return 0 if r.bit_exact else 1


def write_tables_header(path) -> None:
    """hwmoe_tables.h alone (for using the kernels in another project, e.g. with hls4ml)."""
    Path(path).write_text(tables_header())


__all__ = ["generate_project", "make_design", "csim", "CsimResult", "CsimError", "Project", "hls_command",
           "kernel_names", "write_tables_header"]
