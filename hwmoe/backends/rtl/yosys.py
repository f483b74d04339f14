"""Run yosys ``synth_xilinx`` on one kernel at one parameter point and count the cells by resource kind.

Used by the calibration (``python -m hwmoe.cost.calibrate``) and by the test that re-synthesises one point.
yosys 0.23 only packs adders and pipeline registers into DSP slices for ``-family xc7``; on ``xcup`` the
accumulators of a MAC array stay in LUTs and flip-flops, so LUT/FF counts are higher than Vivado's for
MAC-heavy designs.  DSP and block-RAM counts are structural and agree with what the RTL asks for.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from .filelist import sources

_LUT = re.compile(r"^(LUT[1-6](_2)?|RAM\d+[XM].*|RAM(32|64|128|256)X1[SD].*|SRL(16|C32)E?)$")
_FF = re.compile(r"^FD[RSCP]E$")


class YosysError(RuntimeError):
    """yosys is missing or failed; the message is one line."""


def yosys_path() -> str | None:
    return shutil.which("yosys")


def count_cells(cells: dict[str, int]) -> dict[str, float]:
    """Cell counts of ``stat -json`` -> LUT (logic + LUTRAM + SRL), FF, DSP, BRAM36 (RAMB18 = 1/2), URAM."""
    out = {"lut": 0.0, "ff": 0.0, "dsp": 0.0, "bram36": 0.0, "uram": 0.0}
    for cell, n in cells.items():
        if _LUT.match(cell):
            out["lut"] += n
        elif _FF.match(cell):
            out["ff"] += n
        elif cell.startswith("DSP48"):
            out["dsp"] += n
        elif cell.startswith("RAMB36"):
            out["bram36"] += n
        elif cell.startswith("RAMB18"):
            out["bram36"] += 0.5 * n
        elif cell.startswith("URAM"):
            out["uram"] += n
    return out


def _cells_from_stat(text: str) -> dict[str, int]:
    """``num_cells_by_type`` of the top design.  yosys 0.23 can print a hierarchy listing inside the JSON,
    so the block is cut out by position rather than parsing the whole file."""
    try:
        return json.loads(text)["design"]["num_cells_by_type"]
    except (ValueError, KeyError):
        pass
    at = text.rfind('"design"')
    m = re.search(r'"num_cells_by_type"\s*:\s*(\{[^}]*\})', text[at:]) if at >= 0 else None
    if not m:
        raise YosysError("yosys stat -json output has no num_cells_by_type")
    return json.loads(m.group(1))


def _value(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(int(v))


def synth(top: str, parameters: dict, memories: dict | None = None,
          family: str = "xcup", timeout: float = 300.0, files: list[Path] | None = None) -> dict:
    """Synthesise ``top`` from its file list (rtl/<top>.f, or ``files``) with ``parameters``; ``memories`` maps
    a string parameter to (words, width) to write as a $readmemh file.  Returns the resource counts, the raw
    cell counts and the run time."""
    exe = yosys_path()
    if exe is None:
        raise YosysError("yosys not found on PATH (apt-get install yosys)")
    with tempfile.TemporaryDirectory(prefix="hwmoe_yosys_") as tmp:
        tmp_path = Path(tmp)
        params = dict(parameters)
        for name, (words, width) in (memories or {}).items():
            mem = tmp_path / f"{name.lower()}.mem"
            mask = (1 << int(width)) - 1
            mem.write_text("".join(f"{int(w) & mask:x}\n" for w in words))
            params[name] = str(mem)
        files = " ".join(str(f) for f in (files or sources(top)))
        sets = " ".join(f"-set {k} {_value(v)}" for k, v in params.items())
        # -defer: elaborate once, with the parameters (not first with the defaults, which may name files
        # that do not exist).  No I/O buffers: a kernel is a block inside a design, not a chip.
        script = (f"read_verilog -defer -DSYNTHESIS {files}\n"
                  + (f"chparam {sets} {top}\n" if sets else "")
                  + f"synth_xilinx -family {family} -top {top} -flatten -noiopad -noclkbuf\n"
                  + f"tee -q -o {tmp_path / 'stat.json'} stat -json\n")
        (tmp_path / "run.ys").write_text(script)
        t0 = time.perf_counter()
        try:
            r = subprocess.run([exe, "-q", "-s", str(tmp_path / "run.ys")], cwd=tmp, capture_output=True,
                               text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise YosysError(f"yosys timed out after {timeout:g} s on {top} {parameters}") from None
        seconds = time.perf_counter() - t0
        if r.returncode != 0:
            err = [ln for ln in (r.stderr + r.stdout).splitlines() if "ERROR" in ln] or ["unknown error"]
            raise YosysError(f"yosys failed on {top} {parameters}: {err[0].strip()}")
        cells = _cells_from_stat((tmp_path / "stat.json").read_text())
    return {"counts": count_cells(cells), "cells": cells, "seconds": round(seconds, 2)}
