"""The Vitis HLS whole-model accelerator: ``DIR/hls/`` of ``hwmoe build``, a C++ top ``hwmoe_accel`` that runs
the same program on the same memory image as the generated RTL top (docs/accelerator.md), and its C simulation
with g++.

The hand-written part is ``hls/accel.h`` (sequencer, DMA) and ``hls/accel_engines.h`` (the engines at run-time
formats) on the shared arithmetic of the kernel headers; generated here: ``accel_config.h`` (the build's
constants: bus width, LANES_MAX, each engine's widths and maxima, the names of its control words, its tables
from the same source as the RTL's .mem files), ``accel_top.cpp`` (the top function and its interface pragmas),
``accel_tb.cpp`` (a C-simulation main: image file in, the run, image file out) and ``run_hls.tcl``.

    write_hls(program, out_dir, bus_w=128, board=None)
    csim(out_dir, image, program_offset) -> CsimRun(image after the run, commands, error, seconds)
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ...accel.engines import KERNELS
from ...accel.program import Program
from ...accel.registers import BASE_LO, PROG
from ...accel.top import _memory_parameters
from ...kernels.router import LOG2E_RAW
from ...paths import HLS_DIR, REPO
from .emitter import GENERATED, array_init, clock_period_ns, tables_header, word_ctype
from .project import CXXFLAGS, CsimError, DEFAULT_BOARD, _raise_stack, ap_types_dir, hwmoe_warnings, \
    precompiled_header

TOP = "hwmoe_accel"
#: the hand-written headers a project carries (accel_config.h and hwmoe_tables.h are generated)
HEADERS = ("hwmoe_common.h", "exp2.h", "recip.h", "softmax.h", "gelu.h", "add.h", "accel_engines.h", "accel.h")
#: where the C simulation puts the image in its memory (not 0, so that BASE is exercised; a multiple of 64)
CSIM_BASE = 0x3000
BUILD_DIR = REPO / "build" / "hls-accel"


# ------------------------------------------------------------------------------------------ accel_config.h
def _constants(engine: str, p) -> dict[str, int]:
    """The build constants an engine's template reads (hls/accel_engines.h), from its Params as built."""
    if engine == "linear":
        tokens, d_in, d_out = p.maxima()
        return {"T_IN": p.t_in, "T_OUT": p.t_out, "X_W": p.x_width, "W_W": p.w_width, "B_W": p.b_width,
                "OUT_W": p.out_width, "H_W": p.h_width, "BSH_MAX": p.bsh_max, "MAX_TOKENS": tokens,
                "MAX_IN": d_in, "MAX_OUT": d_out, "ENTRIES": p.entries, "HAS_GELU": int(p.has_gelu)}
    if engine == "attention":
        return {"HEAD_DIM": p.head_dim, "LANES": p.lanes, "BLOCK": p.block, "MAX_TOKENS": p.buffer_tokens,
                "MAX_HEADS": p.heads_limit, "Q_W": p.q_width, "K_W": p.k_width, "V_W": p.v_width,
                "T_W": p.t_word_width, "OUT_W": p.out_word_width}
    if engine == "layernorm":
        return {"LANES": p.lanes, "DIM_MAX": p.dim_max, "X_W": p.x_width, "P_W": p.p_width, "OUT_W": p.out_w,
                "STAT_W": p.stat_width, "NORM_W": p.norm_width}
    if engine == "router":
        return {"LANES": p.lanes, "DIM_MAX": p.dim_max, "EXPERTS": p.experts, "TOP_K": p.top_k, "X_W": p.x_width,
                "W_W": p.w_width, "L_W": p.logit_w, "LOG2E": LOG2E_RAW}
    if engine == "add":
        return {"LANES": p.lanes, "A_W": p.a_width, "B_W": p.b_width, "OUT_W": p.out_width,
                "ALIGN_MAX": p.align_max}
    if engine == "moe":
        tokens, dim, hidden = p.maxima()
        return {"T": p.t, "MAX_TOKENS": tokens, "MAX_DIM": dim, "MAX_HID": hidden, "EXPERTS": p.experts,
                "TOP_K": p.top_k, "X_W": p.x_width, "W_W": p.w_width, "B_W": p.b_width, "H_W": p.h_width,
                "A_W": p.a_width, "E_W": p.e_width, "OUT_W": p.out_width, "BSH_MAX": p.bsh_max,
                "ENTRIES": p.entries}
    raise ValueError(f"no HLS engine {engine!r}")


#: each engine's tables: the RTL's table parameter -> the accessor the engine template calls (the table
#: policies of exp2.h, recip.h, gelu.h)
TABLE_ACCESSORS = {"linear": {"TABLE": "gelu"}, "moe": {"TABLE": "gelu"},
                   "attention": {"EXP_TABLE": "exp2", "RECIP_TABLE": "recip"},
                   "router": {"EXP2": "exp2", "RECIP": "recip"}, "layernorm": {"RSQRT": "rsqrt"}, "add": {}}


def _engine_struct(engine: str, p) -> list[str]:
    """The engine's build struct (constants, table accessors) and the names of its control words, in the
    order of its kernel's controls() (the command's words 1..16)."""
    tables = dict(_memory_parameters(KERNELS[engine], p))
    lines = []
    accessors = []
    for name, accessor in TABLE_ACCESSORS[engine].items():
        array = f"{engine.upper()}_{name}"
        if name in tables:
            values, width = tables[name]
            lines += [f"// {array}: the contents of the RTL's {engine}_{name.lower()}.mem",
                      f"static const {word_ctype(width)} {array}[{len(values)}] = {{",
                      "    " + array_init(values, indent="    ") + "};"]
            accessors.append(f"    static ap_uint<16> {accessor}(int i) {{ return {array}[i]; }}")
        else:       # the linear engine built without a GELU unit: HAS_GELU is 0 and no command sets gelu_en
            accessors.append(f"    static ap_uint<16> {accessor}(int) {{ return 0; }}   // no GELU unit built")
    consts = [f"    static const int {k} = {int(v)};" for k, v in _constants(engine, p).items()]
    names = list(KERNELS[engine].controls(p))
    lines += [f"struct {engine}_build {{", *consts, *accessors, "};",
              f"struct {engine}_ctl {{",
              "    enum { " + ", ".join(f"{n} = {i}" for i, n in enumerate(names)) + " };", "};", ""]
    return lines


def config_header(program: Program, bus_w: int) -> str:
    engines = program.engines.params
    lines = [f"// accel_config.h: {GENERATED}.",
             f"// The build at {program.plan.precision}: engines {', '.join(engines)}; {bus_w}-bit memory bus.",
             "#ifndef HWMOE_ACCEL_CONFIG_H", "#define HWMOE_ACCEL_CONFIG_H", "",
             '#include "hwmoe_common.h"', '#include "hwmoe_tables.h"', ""]
    lines += [f"#define HWMOE_ACCEL_{e.upper()} 1" for e in engines]
    lines += ["", "namespace hwmoe {", "namespace accel {", "",
              f"static const int BUS_W = {bus_w};               // m_axi data bits",
              f"static const int LANES_MAX = {program.lanes_max};             // words in the widest stream beat",
              ""]
    for engine, p in engines.items():
        lines += _engine_struct(engine, p)
    lines += ["}  // namespace accel", "}  // namespace hwmoe", "", "#endif", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------ top, testbench, tcl
def top_header() -> str:
    return "\n".join([
        f"// accel_top.h: {GENERATED}.", "#ifndef HWMOE_ACCEL_TOP_H", "#define HWMOE_ACCEL_TOP_H", "",
        '#include "accel_config.h"', '#include "accel.h"', "",
        f"void {TOP}(hwmoe::accel::bus_t *mem, ap_uint<64> base, ap_uint<32> prog, ap_uint<32> &commands,",
        "                 ap_uint<32> &error);", "", "#endif", ""])


def top_source(image_bytes: int, bus_w: int) -> str:
    """The top: the image over one m_axi port addressed from 0 (offset=off: BASE is the image's byte address,
    as in hwmoe_ctrl), BASE and PROG at hwmoe_ctrl's offsets, COMMANDS and ERROR where Vitis puts them,
    ap_ctrl_hs on the same AXI4-Lite bundle (start, done, interrupt)."""
    depth = -(-(CSIM_BASE + image_bytes) // (bus_w // 8))
    pragma = lambda text: f"    HWMOE_HLS({text})"
    return "\n".join([
        f"// accel_top.cpp: {GENERATED}.",
        "// The whole-model accelerator: runs the program at BASE + PROG of the memory image (hls/accel.h).",
        '#include "accel_top.h"', "",
        f"void {TOP}(hwmoe::accel::bus_t *mem, ap_uint<64> base, ap_uint<32> prog, ap_uint<32> &commands,",
        "                 ap_uint<32> &error) {",
        pragma(f"INTERFACE mode=m_axi port=mem offset=off bundle=gmem depth={depth} "
               "max_read_burst_length=256 max_write_burst_length=256"),
        pragma(f"INTERFACE mode=s_axilite port=base offset=0x{BASE_LO:02x} bundle=control"),
        pragma(f"INTERFACE mode=s_axilite port=prog offset=0x{PROG:02x} bundle=control"),
        pragma("INTERFACE mode=s_axilite port=commands bundle=control"),
        pragma("INTERFACE mode=s_axilite port=error bundle=control"),
        pragma("INTERFACE mode=s_axilite port=return bundle=control"),
        "    hwmoe::accel::run(mem, base, prog, commands, error);",
        "}", ""])


TESTBENCH = f"""// accel_tb.cpp: {GENERATED}.
// C simulation of the accelerator: IMAGE_IN (the memory image, input written) is put at BASE in a memory of
// bus words, the top runs the program at PROG, and the image after the run is written to IMAGE_OUT.
//   accel_csim IMAGE_IN IMAGE_OUT PROG [BASE]     (BASE a multiple of 64, default 0x{CSIM_BASE:x})
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <vector>

#include "accel_top.h"

int main(int argc, char **argv) {{
    using hwmoe::accel::bus_t;
    const int BB = hwmoe::accel::BUS_BYTES;
    if (argc < 4) {{
        std::fprintf(stderr, "usage: %s IMAGE_IN IMAGE_OUT PROG [BASE]\\n", argv[0]);
        return 2;
    }}
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {{
        std::fprintf(stderr, "cannot read %s\\n", argv[1]);
        return 2;
    }}
    std::vector<unsigned char> image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const unsigned long long prog = std::strtoull(argv[3], 0, 0);
    const unsigned long long base = argc > 4 ? std::strtoull(argv[4], 0, 0) : 0x{CSIM_BASE:x}ULL;
    if (base % 64) {{
        std::fprintf(stderr, "BASE must be a multiple of 64\\n");
        return 2;
    }}
    std::vector<bus_t> mem((base + image.size() + BB - 1) / BB, bus_t(0));
    for (size_t i = 0; i < image.size(); i++) {{
        const size_t a = base + i;
        mem[a / BB].range(8 * (a % BB) + 7, 8 * (a % BB)) = image[i];
    }}
    ap_uint<32> commands = 0, error = 0;
    {TOP}(mem.data(), base, prog, commands, error);
    for (size_t i = 0; i < image.size(); i++) {{
        const size_t a = base + i;
        image[i] = mem[a / BB].range(8 * (a % BB) + 7, 8 * (a % BB)).to_uint();
    }}
    std::ofstream out(argv[2], std::ios::binary);
    out.write(reinterpret_cast<const char *>(image.data()), image.size());
    if (!out) {{
        std::fprintf(stderr, "cannot write %s\\n", argv[2]);
        return 2;
    }}
    std::printf("commands: %u\\nerror: %u\\n", commands.to_uint(), error.to_uint());
    return error == 0 ? 0 : 1;
}}
"""


def run_hls_tcl(program: Program, part: str, clock_mhz: float, board: str) -> str:
    """C simulation on the build's image (``../image.bin``, no input written: the run on zeros), synthesis for
    the board's part at its clock, co-simulation, IP export."""
    args = f"$here/../image.bin $here/image.after.bin {program.program_offset}"
    return "\n".join([
        f"# run_hls.tcl: {GENERATED}.",
        f"# The whole-model accelerator {TOP}. Board {board}: part {part}, clock {clock_mhz:g} MHz.",
        "# Usage (from any directory):  vitis_hls -f run_hls.tcl",
        "",
        "set here [file dirname [file normalize [info script]]]",
        "cd $here",
        "set cflags \"-std=c++14 -I$here\"",
        "",
        f"open_project -reset {TOP}_prj",
        f"set_top {TOP}",
        "add_files accel_top.cpp -cflags $cflags",
        *(f"add_files {h}" for h in ("accel_top.h", "accel_config.h", "hwmoe_tables.h", *HEADERS)),
        "add_files -tb accel_tb.cpp -cflags $cflags",
        "",
        "open_solution -reset solution1 -flow_target vivado",
        f"set_part {{{part}}}",
        f"create_clock -period {clock_period_ns(clock_mhz)} -name default",
        "",
        "# C simulation: the program on the build's image (IMAGE_IN IMAGE_OUT PROG)",
        f'csim_design -argv "{args}"',
        "csynth_design",
        f'cosim_design -argv "{args}"',
        "export_design -format ip_catalog",
        "exit", ""])


def _board(board) -> tuple[str, float, str]:
    from ...boards import load_board
    b = board if board is not None and not isinstance(board, str) else load_board(board or DEFAULT_BOARD)
    return b.part, float(b.clock_mhz), b.name


def write_hls(program: Program, out: Path, bus_w: int = 128, board=None) -> None:
    """The HLS project of ``program`` in ``out`` (a folder; the caller makes it atomic, as ``hwmoe build``
    does): the headers, accel_config.h, hwmoe_tables.h, accel_top.h/.cpp, accel_tb.cpp, run_hls.tcl.
    ``board``: a name, a loaded board or None (the default board's part and clock)."""
    part, clock, name = _board(board)
    out.mkdir(parents=True, exist_ok=True)
    for h in HEADERS:
        shutil.copyfile(HLS_DIR / h, out / h)
    files = {"hwmoe_tables.h": tables_header(), "accel_config.h": config_header(program, bus_w),
             "accel_top.h": top_header(), "accel_top.cpp": top_source(program.layout.size, bus_w),
             "accel_tb.cpp": TESTBENCH, "run_hls.tcl": run_hls_tcl(program, part, clock, name)}
    for file, text in files.items():
        (out / file).write_text(text)


# --------------------------------------------------------------------------------------------- C-sim
@dataclass
class CsimRun:
    image: bytes                    # the memory image after the run
    commands: int
    error: int
    compile_seconds: float          # 0 when an earlier build of the same sources was reused
    run_seconds: float
    warnings: list[str]             # compiler warnings located in hwmoe's code


def build(project: Path, cxx: str = "g++", opt: str = "-O1") -> tuple[Path, float, list[str]]:
    """The C-simulation executable of ``project`` (one translation unit, the ap_types headers precompiled),
    built once per sources and flags under build/hls-accel/ and reused by every project with the same
    sources; returns (executable, compile seconds, hwmoe warnings)."""
    if shutil.which(cxx) is None:
        raise CsimError(f"C simulation needs a C++ compiler: {cxx} not found")
    inc = ap_types_dir()
    flags = [*CXXFLAGS, opt, "-isystem", str(inc)]
    flags += ["-include", str(precompiled_header(cxx, flags)), "-Winvalid-pch", "-I", str(project.resolve())]
    sources = sorted(p for p in project.iterdir() if p.suffix in (".h", ".cpp"))
    key = hashlib.sha1(json.dumps([cxx, flags[:-1], [p.name for p in sources]]).encode()
                       + b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    work = BUILD_DIR / key
    exe, log = work / "accel_csim", work / "compile.log"
    t0 = time.monotonic()
    if not exe.exists():
        work.mkdir(parents=True, exist_ok=True)
        unity = work / "csim_unity.cpp"
        unity.write_text("// one translation unit for the C simulation\n"
                         + "".join(f'#include "{project.resolve() / f}"\n' for f in ("accel_top.cpp", "accel_tb.cpp")))
        partial = work / f"accel_csim.{time.time_ns()}"
        cmd = [cxx, *flags, str(unity), "-o", str(partial)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=work)
        log.write_text(" ".join(cmd) + "\n" + r.stdout + r.stderr)
        if r.returncode != 0:
            errors = [ln for ln in r.stderr.splitlines() if " error" in ln][:5]
            raise CsimError(f"g++ failed on {project} (see {log}): " + " | ".join(errors))
        partial.replace(exe)                   # atomic: parallel builds of the same sources may race here
    seconds = time.monotonic() - t0
    return exe, seconds, hwmoe_warnings(log.read_text(), inc, work) if log.exists() else []


def csim(project, image: bytes, program_offset: int, *, opt: str = "-O1", timeout: float = 3600.0) -> CsimRun:
    """Run ``image`` (with its input written) through the C simulation of ``project`` (built if needed)."""
    project = Path(project)
    exe, compile_s, warnings = build(project, opt=opt)
    work = exe.parent
    tag = f"{time.time_ns()}"
    before, after = work / f"image.{tag}.bin", work / f"after.{tag}.bin"
    before.write_bytes(bytes(image))
    t0 = time.monotonic()
    try:
        r = subprocess.run([str(exe), str(before), str(after), str(program_offset), str(CSIM_BASE)],
                           capture_output=True, text=True, preexec_fn=_raise_stack, timeout=timeout)
        run_s = time.monotonic() - t0
        text = r.stdout + r.stderr
        fields = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
        if "commands" not in fields or not after.exists():
            raise CsimError(f"the C simulation of {project} ended without a result (exit {r.returncode}): "
                            + " | ".join(text.strip().splitlines()[-3:]))
        return CsimRun(after.read_bytes(), int(fields["commands"]), int(fields["error"]), compile_s, run_s, warnings)
    finally:
        before.unlink(missing_ok=True)
        after.unlink(missing_ok=True)


def csim_report(program: Program, project, x) -> int:
    """``hwmoe build --csim``: one input through the C simulation of the build's HLS top; prints whether the
    output equals the bit-accurate reference (as ``--simulate`` does for the RTL).  Returns 0, or 1 if not."""
    import numpy as np
    from ...accel import executor
    from ...reference import FixedRunner
    ap_types_dir()              # no headers to compile with: one line, before anything runs
    r = csim(project, executor.load_image(program, x), program.program_offset)
    got = executor.read_output(program, r.image)
    exact = r.error == 0 and np.array_equal(got, FixedRunner(program.graph, program.plan).run_raw(x))
    print(f"C-simulated the HLS top (g++, {r.compile_seconds:.1f} s compile, {r.run_seconds:.2f} s run): "
          f"bit-exact {'yes' if exact else 'no'} ({got.size} output words), {r.commands} commands"
          + (f", error {r.error}" if r.error else ""))
    for w in r.warnings:
        print(f"warning: {w}")
    return 0 if exact else 1


__all__ = ["write_hls", "csim", "csim_report", "build", "CsimRun", "TOP"]
