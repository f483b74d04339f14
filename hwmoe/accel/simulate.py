"""Runner glue of the accelerator's end-to-end simulation: build a generated project (once per design and
simulator) with cocotb's runner and run ``sim/test_accel.py`` on a memory image; the testbench controls the
accelerator with the host driver (hwmoe.driver, simulation backend) and returns the registers the driver
read, the image after each run and the driver's trace."""
from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ..backends.rtl.simulate import SIMULATORS, build_rtl
from ..paths import REPO, SIM_DIR
from .registers import TOP

TIMEOUT_CYCLES = 50_000_000


@dataclass
class AccelRun:
    """What a simulated run left: the registers read after it and the image."""
    status: int
    error: int
    commands: int
    cycles: int
    engines: list[dict]
    command_ends: list[int]
    image: bytes
    output: bytes | None = None     # the output region as the driver read it (with ``layout``)
    trace: Path | None = None       # the driver's accesses over the whole session (hwmoe.driver.trace)


def project_sources(project: Path) -> list[Path]:
    """The project's sources in the order of its file list (paths in the list are relative to it)."""
    return [project / line for line in (project / f"{TOP}.f").read_text().split()]


def build(project: Path, simulator: str, work: Path):
    """The cocotb runner with ``project`` built in ``work`` (reused while its sources and tables are the same,
    and the tables in the same place: a simulator reads them from the paths the build was given)."""
    if simulator not in SIMULATORS:
        raise ValueError(f"unknown simulator {simulator!r}: expected one of {', '.join(SIMULATORS)}")
    sources = project_sources(project)
    tables = sorted(project.glob("*.mem"))
    key = hashlib.sha1(json.dumps([simulator] + [hashlib.sha1(p.read_bytes()).hexdigest() for p in sources + tables]
                                  + [str(p.resolve()) for p in tables]).encode()).hexdigest()[:12]
    build_dir = work / f"accel-{simulator}-{key}"
    parameters = {p.stem.upper(): f'"{p.resolve()}"' for p in tables}
    runner = build_rtl(TOP, parameters, simulator, build_dir, files=sources,
                       verilator_files=[project / f"{TOP}.vlt"])
    return runner, build_dir


def run(project: Path, image: bytes, program_offset: int, simulator: str, work: Path, stress: float = 0.0,
        seed: int = 1, bandwidth: float = 1.0, reruns: list[tuple[int, bytes]] = (),
        layout: dict | None = None) -> list[AccelRun]:
    """Run the program at ``program_offset`` of ``image`` on the project's top, then once more for each of
    ``reruns`` (bytes written at an image offset first, e.g. the next input; no reset in between); one
    AccelRun per run.  ``stress``: probability that each AXI channel of the memory pauses in a cycle;
    ``bandwidth``: without stress, the fraction of cycles in which the memory may return read data.
    ``layout`` (the build's layout.json): run as on a board: the driver loads the image with its input region
    zero (as ``hwmoe build`` writes it), writes the input (``image``'s) before the first run and reads the
    output region after every run."""
    runner, build_dir = build(project, simulator, work)
    run_dir = build_dir / f"run-{os.getpid()}-{seed}-{stress}"
    run_dir.mkdir(parents=True, exist_ok=True)
    memory = bytearray(image)
    writes, reads = [[]] + [[(offset, bytes(data))] for offset, data in reruns], []
    if layout is not None:
        from ..driver.build import Build
        spec = Build.from_json("simulation", bytes(memory), layout)
        i = spec.input
        writes[0] = [(i.offset, bytes(memory[i.offset:i.offset + i.size]))]
        memory[i.offset:i.offset + i.size] = bytes(i.size)
        reads = [(spec.output.offset, spec.output.size)]
    (run_dir / "image.bin").write_bytes(bytes(memory))
    runs = []
    for n, run_writes in enumerate(writes):
        runs.append([])
        for k, (offset, data) in enumerate(run_writes):
            (run_dir / f"write-{n}-{k}.bin").write_bytes(data)
            runs[-1].append([offset, f"write-{n}-{k}.bin"])
    (run_dir / "case.json").write_text(json.dumps({
        "prog": program_offset, "seed": seed, "stress": stress, "bandwidth": bandwidth, "timeout": TIMEOUT_CYCLES,
        "runs": runs, "reads": reads}))
    result = run_dir / "result.json"
    result.unlink(missing_ok=True)
    runner.test(test_module="test_accel", hdl_toplevel=TOP, hdl_toplevel_lang="verilog", build_dir=build_dir,
                test_dir=SIM_DIR, seed=seed, results_xml=str(run_dir / "results.xml"), log_file=run_dir / "sim.log",
                extra_env={"HWMOE_CASE": str(run_dir),
                           "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)] + sys.path)})
    if not result.exists():
        raise RuntimeError(f"the accelerator testbench wrote no result; see {run_dir / 'sim.log'}")
    return [AccelRun(r["status"], r["error"], r["commands"], r["cycles"], r["engines"], r["command_ends"],
                     (run_dir / f"after-{n}.bin").read_bytes(), bytes.fromhex(r["output"]) if reads else None,
                     run_dir / "trace.json")
            for n, r in enumerate(json.loads(result.read_text()))]
