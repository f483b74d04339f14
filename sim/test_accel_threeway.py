"""Three ways on the tiny model: the bit-accurate reference, the generated RTL top end to end (Icarus, the cocotb
testbench of sim/test_accel.py through hwmoe.accel.simulate.run) and the C simulation of the HLS top
(hwmoe.backends.hls.accel.csim), on the same input in the same memory image.  Both outputs equal the
reference's and the two images after the runs are equal byte for byte.  The HLS build and run go on beside the
RTL simulation."""
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytestmark = pytest.mark.hls

pytest.importorskip("hls4ml")


def test_reference_rtl_hls_agree(tmp_path):
    from hwmoe.accel import executor, simulate
    from hwmoe.accel.program import compile_program
    from hwmoe.accel.top import TopConfig, write_project
    from hwmoe.backends.hls.accel import csim, write_hls
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, make_config, sample_input
    from hwmoe.numerics.calibration import calibrate
    from hwmoe.reference import FixedRunner
    cfg = make_config("tiny")                   # the model, plan and input of `hwmoe build --preset tiny`
    graph, calib = graph_from_model(build_model(cfg, 0)), sample_input(cfg, 0, batch=4).numpy()
    program = compile_program(graph, calibrate(graph, "w16a16", calib))
    x = calib[0]
    image = executor.load_image(program, x)
    write_project(program, tmp_path / "rtl", TopConfig(bus_w=128))
    write_hls(program, tmp_path / "hls", 128)
    with ThreadPoolExecutor(1) as pool:
        hls = pool.submit(csim, tmp_path / "hls", image, program.program_offset)
        # built in tmp_path: a kept build would read the tables of the project it was first built from
        rtl, = simulate.run(tmp_path / "rtl", image, program.program_offset, "icarus", tmp_path)
        hls = hls.result()
    want = FixedRunner(graph, program.plan).run_raw(x)
    assert (rtl.error, hls.error) == (0, 0)
    assert rtl.commands == hls.commands == len(program.commands)
    assert np.array_equal(executor.read_output(program, rtl.image), want)
    assert np.array_equal(executor.read_output(program, hls.image), want)
    assert rtl.image == hls.image
