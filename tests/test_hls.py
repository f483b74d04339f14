"""HLS C++: every kernel and whole encoder blocks, compiled with g++ (-std=c++14 -Wall -Wextra) against the
ap_types headers and simulated; every output word must equal the NumPy reference's.  One build per
parameter set (kept in a session directory and reused by the tests that only read it)."""
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("hls4ml")
if shutil.which("g++") is None:
    pytest.skip("g++ is not installed", allow_module_level=True)

from hwmoe.backends.hls.project import csim, generate_project, hls_command  # noqa: E402
from hwmoe.numerics import tables  # noqa: E402

M3VIT_T_LINEAR = dict(tokens=129, d_in=192, d_out=768, x_width=32, x_frac=22, out_width=32, out_frac=18,
                      t_in=16, t_out=16, n_pe=4)
KERNEL_CASES = {
    "linear-small": ("linear", {}),
    "linear-gelu-w8": ("linear", dict(bias=False, gelu=True, x_width=8, x_frac=4, w_width=8, w_frac=6,
                                      h_width=16, h_frac=11, out_width=8, out_frac=4, t_in=5, t_out=3,
                                      n_pe=3, tokens=7)),
    "linear-m3vit-t": ("linear", M3VIT_T_LINEAR),
    "attention-small": ("attention", {}),
    "attention-odd": ("attention", dict(tokens=10, heads=1, head_dim=5, lanes=5, q_width=18, q_frac=13,
                                        k_width=14, k_frac=9, v_width=18, v_frac=13, t_width=24, t_frac=16,
                                        out_width=18, out_frac=13, block=4, rows=3)),
    "attention-m3vit-t": ("attention", dict(tokens=129, heads=3, head_dim=64, block=16, rows=4)),
    "layernorm-small": ("layernorm", {}),
    "layernorm-w32": ("layernorm", dict(tokens=9, dim=192, dim_max=192, x_width=32, x_frac=20, out_width=32,
                                        out_frac=24, eps=1e-5)),
    "gelu-default": ("gelu", {}),
    "gelu-w8-coarse": ("gelu", dict(in_width=8, in_frac=3, out_width=8, out_frac=4, words=64)),
    "gelu-w32-short-table": ("gelu", dict(in_width=32, in_frac=22, out_width=32, out_frac=22, entries=96)),
    "add-default": ("add", {}),
    "add-w8-fewer-frac": ("add", dict(lanes=1, a_width=8, b_width=8, out_width=8, align_max=4, a_frac=7, b_frac=3,
                                      run_out_width=8, out_frac=1, words=64)),
    "add-w32-more-frac": ("add", dict(lanes=3, a_width=32, b_width=16, out_width=32, a_frac=-2, b_frac=12,
                                      run_out_width=20, out_frac=20, words=100)),
    "router-small": ("router", {}),
    "router-renorm-top3": ("router", dict(renormalize=True, ties=True, top_k=3, experts=8, logit_width=32,
                                          logit_frac=24, x_width=32, x_frac=24)),
    "moe-small": ("moe", {}),
    "moe-top1-uniform": ("moe", dict(experts=8, top_k=1, routing="uniform", tokens=9, x_width=32, x_frac=24,
                                     w1_frac=13, b2_frac=10, h_width=32, h_frac=24, a_width=32, a_frac=24,
                                     e_width=32, e_frac=24, out_width=32, out_frac=24)),
}
BLOCK_CASES = {"block0-dense-w16a16": (0, "w16a16"), "block1-moe-w16a32": (1, "w16a32")}


@pytest.fixture(scope="session")
def hls_work(tmp_path_factory):
    return tmp_path_factory.mktemp("hls")


@pytest.fixture(scope="session")
def tiny():
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, make_config, sample_input
    cfg = make_config("tiny")
    graph = graph_from_model(build_model(cfg, 0))
    return graph, sample_input(cfg, 0, batch=4).numpy().astype(np.float64)


_results: dict = {}


def _project(hls_work, case: str, tiny=None):
    """Generate and simulate a case once per session."""
    if case not in _results:
        out = hls_work / case
        if case in KERNEL_CASES:
            kernel, params = KERNEL_CASES[case]
            project = generate_project(out, kernel=kernel, params=params, seed=1)
        else:
            from hwmoe.numerics.calibration import calibrate
            block, precision = BLOCK_CASES[case]
            graph, x = tiny
            plan = calibrate(graph, precision, x)
            project = generate_project(out, graph=graph, plan=plan, inputs=x, params={"block": block})
        _results[case] = (project, csim(out))
    return _results[case]


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel_csim_bit_exact(case, hls_work):
    project, r = _project(hls_work, case)
    assert r.bit_exact, r.summary() + "\n" + r.output[-2000:]
    assert r.words == project.expected_words > 0 and r.mismatches == 0
    assert r.warnings == [], "\n".join(r.warnings)          # -Wall -Wextra clean in hwmoe's code


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_block_csim_bit_exact(case, hls_work, tiny):
    project, r = _project(hls_work, case, tiny)
    assert r.bit_exact, r.summary() + "\n" + r.output[-2000:]
    assert r.words == 17 * 32 and r.mismatches == 0           # tiny: 17 tokens x 32
    assert r.warnings == [], "\n".join(r.warnings)
    text = (project.path / "top.cpp").read_text()
    assert ("encoder_block_moe" if "moe" in case else "encoder_block_dense") in text


@pytest.mark.parametrize("case", ["linear-small", "attention-small", "layernorm-small", "gelu-default",
                                  "router-small", "moe-small"])
def test_kernel_other_seeds(case, hls_work, tmp_path):
    """More random words through the same build (the data are read at run time; only config.h is compiled)."""
    project, _ = _project(hls_work, case)
    copy = tmp_path / case
    shutil.copytree(project.path, copy)
    key = (copy / "build" / "csim.key").read_text()
    kernel, params = KERNEL_CASES[case]
    for seed in (2, 3, 4):
        generate_project(copy, kernel=kernel, params=params, seed=seed)
        r = csim(copy)
        assert r.bit_exact, f"seed {seed}: " + r.summary() + "\n" + r.output[-2000:]
        assert r.words == project.expected_words
    assert (copy / "build" / "csim.key").read_text() == key          # the build was reused


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_block_other_inputs(case, hls_work, tiny, tmp_path):
    """The other calibration images through the same build (same plan, so the same config.h)."""
    from hwmoe.numerics.plan import Plan
    project, _ = _project(hls_work, case, tiny)
    copy = tmp_path / case
    shutil.copytree(project.path, copy)
    key = (copy / "build" / "csim.key").read_text()
    graph, x = tiny
    plan = Plan.load(project.path / "plan.json")
    for i in range(1, len(x)):
        generate_project(copy, graph=graph, plan=plan, inputs=x[i:], params={"block": BLOCK_CASES[case][0]})
        r = csim(copy)
        assert r.bit_exact and r.words == 17 * 32, f"image {i}: " + r.summary()
    assert (copy / "build" / "csim.key").read_text() == key


def test_m3vit_t_dims(hls_work):
    cfg = (hls_work / "linear-m3vit-t" / "config.h")
    _project(hls_work, "linear-m3vit-t")
    text = cfg.read_text()
    for member in ("n_tokens = 129", "n_in = 192", "n_out = 768"):
        assert member in text
    _project(hls_work, "attention-m3vit-t")
    text = (hls_work / "attention-m3vit-t" / "config.h").read_text()
    for member in ("n_tokens = 129", "heads = 3", "head_dim = 64"):
        assert member in text


def test_mismatch_is_reported(hls_work, tmp_path):
    """The testbench really compares: one wrong expected word gives bit-exact no and one mismatch."""
    project, _ = _project(hls_work, "gelu-default")
    copy = tmp_path / "gelu"
    shutil.copytree(project.path, copy)                       # the build comes along and is reused
    path = copy / "data" / "y.expected.txt"
    lines = path.read_text().splitlines()
    words = lines[1].split()
    words[3] = str(int(words[3]) + 1)
    lines[1] = " ".join(words)
    path.write_text("\n".join(lines) + "\n")
    r = csim(copy)
    assert not r.bit_exact and r.mismatches == 1 and r.words == project.expected_words
    assert "mismatch y[3]" in r.output


def _tcl_steps(text: str) -> list[str]:
    return [ln.split()[0] for ln in text.splitlines() if ln and not ln.startswith("#")]


def test_tcl_complete_default_board(hls_work):
    project, _ = _project(hls_work, "layernorm-small")
    tcl = (project.path / "run_hls.tcl").read_text()
    steps = _tcl_steps(tcl)
    order = ["open_project", "set_top", "add_files", "open_solution", "set_part", "create_clock", "csim_design",
             "csynth_design", "cosim_design", "export_design"]
    assert [s for s in steps if s in order] == sorted([s for s in steps if s in order], key=order.index)
    assert set(order) <= set(steps)
    assert "set_top hwmoe_layernorm" in tcl
    assert "set_part {xczu9eg-ffvb1156-2-e}" in tcl                    # zcu102, the default
    assert "create_clock -period 3.3333 -name default" in tcl          # 300 MHz
    assert re.search(r"^add_files -tb tb\.cpp", tcl, re.M) and re.search(r"^add_files -tb data", tcl, re.M)
    for header in ("top.cpp", "config.h", "hwmoe_tables.h", "layernorm.h", "hwmoe_common.h"):
        assert re.search(rf"^add_files {re.escape(header)}\b", tcl, re.M), header
        assert (project.path / header).is_file()
    assert (project.path / "README.md").read_text().count("vitis_hls -f run_hls.tcl") >= 1


def test_tcl_other_board(tmp_path):
    from hwmoe.boards import load_board
    board = load_board("u250")
    project = generate_project(tmp_path / "p", kernel="gelu", params={"words": 8}, board="u250")
    tcl = (project.path / "run_hls.tcl").read_text()
    assert f"set_part {{{board.part}}}" in tcl
    period = f"{1000.0 / board.clock_mhz:.4f}".rstrip("0").rstrip(".")
    assert f"create_clock -period {period} -name default" in tcl


def test_tables_generated_from_python(hls_work):
    project, _ = _project(hls_work, "gelu-default")
    text = (project.path / "hwmoe_tables.h").read_text()

    def table(name):
        body = re.search(rf"{name}\[\d+\] = \{{([^}}]*)\}}", text)[1]
        return np.array([int(v) for v in body.replace("\n", " ").split(",")])

    assert np.array_equal(table("EXP2_LUT"), tables.exp2_table())
    assert np.array_equal(table("RECIP_LUT"), tables.recip_table())
    assert np.array_equal(table("RSQRT_LUT"), tables.rsqrt_table())
    config = (project.path / "config.h").read_text()
    lut = re.search(r"table\[(\d+)\] = \{([^}]*)\}", config)
    assert np.array_equal(np.array([int(v) for v in lut[2].replace("\n", " ").split(",")]),
                          tables.GeluTable(149).values())


def test_hls_command_prints_verdict(hls_work, capsys):
    """The CLI entry: regenerating the same project reuses its build."""
    project, _ = _project(hls_work, "gelu-default")
    code = hls_command(kernel="gelu", overrides={"seed": "1"}, out=str(project.path), csim=True)
    out = capsys.readouterr().out
    assert code == 0
    assert f"bit-exact yes, {project.expected_words} words compared, 0 mismatches" in out


def test_bad_parameters():
    with pytest.raises(ValueError, match="unknown linear kernel field"):
        generate_project("/nonexistent", kernel="linear", params={"tokenz": 3})
    with pytest.raises(ValueError, match="unknown kernel"):
        generate_project("/nonexistent", kernel="conv")
