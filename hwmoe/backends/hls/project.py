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
import os
import re
import resource
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from .emitter import (Design, config_header, project_readme, run_hls_tcl, tables_header, testbench,
                      top_header, top_source, write_words)
from ...errors import UserError
from ...inputs import check_samples
from ...outputs import output_dir, write_text
from ...kernels.registry import KERNELS
from ...overrides import parse_assignments
from ...paths import HLS_DIR, REPO

#: Headers under hls/ that every project carries besides the registered kernels' own (``Kernel.hls_header``):
#: the shared helpers and the encoder-block composition (``block.h``, the top of block designs).
BLOCK_HEADER = "block.h"
SHARED_SOURCES = ("hwmoe_common.h", "softmax.h", BLOCK_HEADER)
#: The fixed part of the C-simulation testbench (a testbench file for Vitis: ``add_files -tb``).
TESTBENCH_HEADER = "testbench.h"
DEFAULT_BOARD = "zcu102"          # part xczu9eg-ffvb1156-2-e
CXXFLAGS = ("-std=c++14", "-Wall", "-Wextra")


def kernel_sources() -> list[str]:
    """The hand-written design headers copied into every project (the generated headers come on top)."""
    return [*SHARED_SOURCES, *(k.hls_header for k in KERNELS.values())]


def top_header_of(design: Design) -> str:
    """The header that declares the kernel template a design's top calls."""
    return BLOCK_HEADER if design.name == "block" else KERNELS[design.name].hls_header


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


def _block_input(graph, inputs, seed: int, what: str = "inputs") -> np.ndarray:
    from ...inputs import random_samples
    want = tuple(graph.shapes[graph.input])
    if inputs is None:
        return random_samples(want, seed)
    return check_samples(inputs, want, what)


def make_design(*, graph=None, plan=None, kernel: str | None = None, params: dict | None = None,
                inputs=None, seed: int = 0, precision: str = "w16a32") -> Design:
    """The design (config structs, top call, ports with their words) without writing anything."""
    from ...overrides import checked
    from .kernels import kernel_design
    if kernel not in (None, "block"):
        return kernel_design(kernel, params, seed)
    if graph is None:
        raise UserError("an encoder block needs a model: pass graph= (and plan= or inputs=)")
    from .block import BlockHls, block_design
    hp = checked(BlockHls(), params, "HLS block")
    x = _block_input(graph, inputs, seed)
    if plan is None:
        from ...numerics.calibration import calibrate
        plan = calibrate(graph, precision, x)
    return block_design(graph, plan, x[0], hp)


def generate_project(out_dir, *, graph=None, plan=None, kernel: str | None = None, params: dict | None = None,
                     board=None, inputs=None, seed: int = 0, precision: str = "w16a32") -> Project:
    """Write a self-contained Vitis HLS project to ``out_dir``.

    kernel: a registered kernel (``hwmoe.kernels.registry``): the kernel's test case at the formats
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
    sources = kernel_sources()
    files = {"hwmoe_tables.h": tables_header(), "config.h": config_header(design),
             "top.h": top_header(design, [top_header_of(design)]), "top.cpp": top_source(design),
             "tb.cpp": testbench(design),
             "run_hls.tcl": run_hls_tcl(design, sources, [TESTBENCH_HEADER], part, clock, board_name),
             "README.md": project_readme(design, sources, part, clock, board_name)}
    words = sum(p.count for p in design.ports if p.kind == "out")
    meta = {"name": design.name, "top": design.top, "part": part, "clock_mhz": clock, "board": board_name,
            "expected_words": words, "description": design.description,
            "details": {k: str(v) for k, v in design.details.items()},
            "ports": [{"name": p.name, "kind": p.kind, "ctype": p.ctype, "words": p.count} for p in design.ports]}
    with output_dir(out_dir) as out:        # a failure (full disk, Ctrl-C) leaves no partial project
        (out / "data").mkdir()
        for src in (*sources, TESTBENCH_HEADER):
            shutil.copyfile(HLS_DIR / src, out / src)
        for name, text in files.items():
            (out / name).write_text(text)
        for p in design.ports:
            write_words(out / "data" / (f"{p.name}.expected.txt" if p.kind == "out" else f"{p.name}.txt"), p.data)
        if design.plan is not None:
            design.plan.save(out / "plan.json")
        (out / "project.json").write_text(json.dumps(meta, indent=1))
    return Project(Path(out_dir), design.name, design.top, part, clock, board_name, words, design.description, design.details)


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
    from .aptypes import include_dir
    return include_dir()


#: What every project includes before its own code (hwmoe_common.h, testbench.h): parsed once per compiler
#: and flags into a precompiled header, which halves a project's compile time.
PRECOMPILED_INCLUDES = ("ap_fixed.h", "ap_int.h", "hls_stream.h", "cstdio", "cstdlib", "fstream", "string",
                        "vector")
PCH_DIR = REPO / "build" / "hls-pch"


def precompiled_header(cxx: str, flags: list[str]) -> Path:
    """A header of PRECOMPILED_INCLUDES with its .gch beside it, built once for ``cxx`` and ``flags``; g++
    uses the .gch when a compile passes ``-include`` of the header with the same flags (and would parse the
    header's text otherwise: the result is the same)."""
    text = "".join(f"#include <{h}>\n" for h in PRECOMPILED_INCLUDES)
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    key = hashlib.sha1(json.dumps([cxx, version, flags, text]).encode()).hexdigest()[:16]
    header = PCH_DIR / key / "hwmoe_pch.h"
    if not (header.parent / "hwmoe_pch.h.gch").exists():
        header.parent.mkdir(parents=True, exist_ok=True)
        header.write_text(text)
        partial = header.parent / f"hwmoe_pch.h.gch.{os.getpid()}.{threading.get_ident()}"
        r = subprocess.run([cxx, *flags, "-x", "c++-header", str(header), "-o", str(partial)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise CsimError(f"{cxx} could not precompile the ap_types headers: " + r.stderr.strip()[-500:])
        os.replace(partial, header.parent / "hwmoe_pch.h.gch")     # atomic: parallel builds may race here
    return header


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
    the ap_types headers as -isystem and precompiled) and run the testbench on data/.  A build is reused
    while the sources and flags are unchanged; builds of several projects may run in parallel threads."""
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
    flags = [*CXXFLAGS, opt, *extra_flags, "-isystem", str(inc)]
    flags += ["-include", str(precompiled_header(cxx, flags)), "-Winvalid-pch", "-I."]   # run in the project
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
#: ``--set`` keys of a model's block project that are not BlockHls fields or model fields.
BLOCK_COMMAND_KEYS = ("precision", "seed", "calib", "plan")


def _integer(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UserError(f"{key}={text!r} is not an integer") from None


def _block_project(out, model: str | None, preset: str | None, assignments: dict[str, str], board) -> Project:
    """The project of an encoder block of ``model`` (an ONNX path) or of a preset's model; ``assignments``
    holds BLOCK_COMMAND_KEYS, BlockHls fields and, for a preset, model fields."""
    from ...inputs import load_graph, load_npy, plan_for, random_samples
    opts = {k: assignments.pop(k) for k in BLOCK_COMMAND_KEYS if k in assignments}
    seed = _integer("seed", opts.get("seed", "0"))
    calib = f"--set calib={opts.get('calib')}"
    if model:
        graph = load_graph(model)
        x = load_npy(opts["calib"], calib) if "calib" in opts else random_samples(tuple(graph.shapes[graph.input]), seed)
    else:
        from ...frontend.from_torch import graph_from_model
        from ...frontend.model import ModelConfig, build_model, make_config, sample_input
        model_keys = {f.name for f in fields(ModelConfig)} & set(assignments)
        cfg = make_config(preset or "tiny", {k: assignments.pop(k) for k in model_keys})
        graph = graph_from_model(build_model(cfg, seed))
        x = load_npy(opts["calib"], calib) if "calib" in opts else sample_input(cfg, seed, batch=4).numpy()
    x = _block_input(graph, x, seed, calib)
    plan, _, _ = plan_for(graph, model, opts.get("precision", "w16a32"), opts.get("plan"), x, seed)
    return generate_project(out, graph=graph, plan=plan, params=assignments, board=board, inputs=x, seed=seed)


def hls_command(*, model: str | None = None, preset: str | None = None, kernel: str | None = None,
                set: list[str] | None = None, board: str | None = None, out: str, csim: bool = False) -> int:
    """``hwmoe hls MODEL.onnx | --preset NAME [--kernel K] [--set key=value ...] [--board B] -o DIR [--csim]``.

    With a kernel, ``set`` gives the kernel's Params fields (as for ``hwmoe sim``) and seed.  Without (or with
    kernel ``block``), an encoder block of the model: ``set`` may give block (which one), precision (default
    w16a32), seed, calib (a .npy batch of model inputs: calibration and, the first of them, the block's
    input; default random normal, or the preset's sample images), plan (a plan JSON; default beside the
    model, calibrated and saved there if missing), t_in, t_out, n_pe, rows, and for a preset any model field.
    Prints what was written and, with csim, ``bit-exact yes|no, N words compared, M mismatches``.
    Returns 0, or 1 when the C simulation is not bit-exact."""
    assignments = parse_assignments(set)
    if csim:
        ap_types_dir()          # no headers to compile with: refused before the project is written
    if kernel not in (None, "block"):
        seed = _integer("seed", assignments.pop("seed", "0"))
        proj = generate_project(out, kernel=kernel, params=assignments, board=board, seed=seed)
    else:
        proj = _block_project(out, model, preset, assignments, board)
    print(f"wrote {proj.path}: {proj.description}; top {proj.top}, part {proj.part} ({proj.board}), "
          f"{proj.clock_mhz:g} MHz; run it with: cd {proj.path} && vitis_hls -f run_hls.tcl")
    return 0 if not csim or _report_csim(proj.path) else 1


def _report_csim(path) -> bool:
    """Run and print the C simulation of a project; True when bit-exact."""
    r = csim(path)
    print(f"C simulation (g++, {r.compile_seconds:.1f} s compile, {r.run_seconds:.1f} s run): {r.summary()}")
    for w in r.warnings:
        print(f"warning: {w}")
    return r.bit_exact


def write_tables_header(path) -> None:
    """hwmoe_tables.h alone (for using the kernels in another project, e.g. with hls4ml)."""
    write_text(path, tables_header())


__all__ = ["generate_project", "make_design", "csim", "CsimResult", "CsimError", "Project", "hls_command",
           "kernel_sources", "write_tables_header"]
