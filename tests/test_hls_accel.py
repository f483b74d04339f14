"""The HLS whole-model accelerator (hls/accel.h, hwmoe/backends/hls/accel.py) in C simulation (g++): the tiny
model's program on its memory image at each precision (and a different bus width each), and a tiny model with
top-1 renormalised routing, every byte of the image after the run equal to the Python model of the accelerator
(hwmoe.accel.executor) and the output equal to the bit-accurate reference; an opcode of no built engine;
``hwmoe build --csim``.  The builds are made two at a time
and kept in build/hls-accel/ (reused while the generated sources are the same)."""
import re
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.hls

pytest.importorskip("hls4ml")

from hwmoe.backends.hls.accel import build, csim, write_hls  # noqa: E402

#: case -> (model overrides, precision, AXI data bits, scratchpad bytes): bus words of 8 to 64 bytes against
#: containers of 1, 2 and 4 bytes; one model with top-1 renormalised routing (the router's renormalisation, one
#: route per token); one with a 2 KiB scratchpad (some intermediate tensors on chip, the others spilled)
CASES = {"w16a16": ({}, "w16a16", 128, 0), "w8a8": ({}, "w8a8", 64, 0), "w16a32": ({}, "w16a32", 256, 0),
         "top1-renorm-w16a16": ({"top_k": "1", "renormalize": "true"}, "w16a16", 512, 0),
         "scratch-w16a16": ({}, "w16a16", 128, 2048)}
BUILD_JOBS = 2


def tiny_model(overrides: dict):
    """The tiny model and its calibration batch as ``hwmoe build --preset tiny`` makes them (so that the CLI
    test below reuses the w16a16 build)."""
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, make_config, sample_input
    cfg = make_config("tiny", overrides)
    return graph_from_model(build_model(cfg, 0)), sample_input(cfg, 0, batch=4).numpy()


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    """case -> (graph, calibration batch, program, project folder), every project built (BUILD_JOBS at a time)."""
    from hwmoe.accel.program import compile_program
    from hwmoe.numerics.calibration import calibrate
    out = {}
    for case, (overrides, precision, bus, scratch) in CASES.items():
        graph, calib = tiny_model(overrides)
        program = compile_program(graph, calibrate(graph, precision, calib), scratch_bytes=scratch)
        folder = tmp_path_factory.mktemp(f"hls-accel-{case}")
        write_hls(program, folder, bus)
        out[case] = (graph, calib, program, folder)
    with ThreadPoolExecutor(BUILD_JOBS) as pool:
        for exe, _, warnings in pool.map(lambda p: build(p[3]), out.values()):
            assert exe.exists() and warnings == []          # hwmoe's own code compiles without warnings
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_csim_equals_executor_and_reference(projects, case):
    from hwmoe.accel import executor
    from hwmoe.reference import FixedRunner
    graph, calib, program, folder = projects[case]
    x = calib[1]
    image = executor.load_image(program, x)
    want = bytearray(image)
    assert executor.execute(program, want) == len(program.commands)
    run = csim(folder, image, program.program_offset)
    assert (run.commands, run.error) == (len(program.commands), 0)
    assert not program.scratch_bytes or any(r.scratch for r in program.layout.regions.values())
    diff = [name for name, r in program.layout.regions.items()
            if not r.scratch and run.image[r.offset:r.offset + r.size] != bytes(want[r.offset:r.offset + r.size])]
    assert run.image == bytes(want), f"regions that differ: {diff}"
    assert np.array_equal(executor.read_output(program, run.image), FixedRunner(graph, program.plan).run_raw(x))


def test_opcode_of_no_engine_ends_the_run_with_error_1(projects):
    """The third command's opcode changed to 7 (no engine has it): two commands run, then ERROR 1; the third
    command's output region is left as it was."""
    from hwmoe.accel import executor
    from hwmoe.accel.program import CMD_BYTES, CMD_WORDS
    _, _, program, folder = projects["w16a16"]
    image = bytearray(program.memory)
    at = program.program_offset + 2 * CMD_BYTES
    image[at:at + 4] = (7).to_bytes(4, "little")
    run = csim(folder, bytes(image), program.program_offset)
    assert (run.commands, run.error) == (2, 1)
    write = program.commands[2].write.d
    assert run.image[write.base:write.base + 64] == bytes(image[write.base:write.base + 64])
    want = bytearray(image)
    for n in range(2):                              # the first two commands' effect, as the executor has it
        start = program.program_offset + n * CMD_BYTES
        words = struct.unpack(f"<{CMD_WORDS}I", bytes(want[start:start + CMD_BYTES]))
        executor.run_command(program, want, *executor.decode(words, program))
    assert run.image == bytes(want)


def test_build_command_csim_and_project(tmp_path, capsys):
    """``hwmoe build --board zcu102 --csim`` writes DIR/hls next to DIR/rtl and prints the verdict; run_hls.tcl
    targets the board's part and clock; every table in accel_config.h is the RTL's .mem file."""
    from hwmoe.cli import main
    out = tmp_path / "accel"
    assert main(["build", "--preset", "tiny", "--precision", "w16a16", "--board", "zcu102", "-o", str(out),
                 "--csim"]) in (0, None)
    text = capsys.readouterr().out
    assert re.search(r"C-simulated the HLS top .*: bit-exact yes \(10 output words\), 26 commands", text), text
    tcl = (out / "hls" / "run_hls.tcl").read_text()
    assert "set_part {xczu9eg-ffvb1156-2-e}" in tcl and "create_clock -period 3.3333" in tcl
    for step in ("csim_design", "csynth_design", "cosim_design", "export_design"):
        assert step in tcl
    config = (out / "hls" / "accel_config.h").read_text()
    tables = dict(re.findall(r"static const unsigned \w+ (\w+)\[\d+\] = \{([^}]*)\}", config))
    mems = sorted(Path(out / "rtl").glob("*.mem"))
    assert len(mems) == len(tables) > 0
    for mem in mems:
        values = [int(v, 16) for v in mem.read_text().split()]
        assert [int(v) for v in tables[mem.stem.upper()].replace("\n", " ").split(",")] == values, mem.name
