"""HLS C++: every kernel at every shared parameter point (``POINTS`` in hwmoe/kernels/<k>.py, the same points
the RTL testbenches simulate) and whole encoder blocks, compiled with g++ (-std=c++14 -Wall -Wextra) against
the ap_types headers and simulated; every output word must equal the NumPy reference's.  One build per
parameter set, two at a time (kept in a session directory and reused by the tests that only read it)."""
import re
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("hls4ml")
if shutil.which("g++") is None:
    pytest.skip("g++ is not installed", allow_module_level=True)

from hwmoe.backends.hls.project import csim, generate_project, hls_command  # noqa: E402
from hwmoe.errors import UserError  # noqa: E402
from hwmoe.kernels.registry import KERNELS  # noqa: E402
from hwmoe.numerics import tables  # noqa: E402


#: "<kernel>-<point>" -> (kernel, overrides), for every registered kernel (each must have an HLS design)
KERNEL_CASES = {f"{k.name}-{name}": (k.name, point.overrides)
                for k in KERNELS.values() for name, point in k.points.items()}
#: each kernel's first point, its default one
DEFAULT_CASES = [f"{k.name}-{next(iter(k.points))}" for k in KERNELS.values()]
BLOCK_CASES = {"block0-dense-w16a16": (0, "w16a16"), "block1-moe-w16a32": (1, "w16a32")}
BUILD_JOBS = 2


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


def _build(hls_work, case: str, tiny=None):
    """Generate and simulate a kernel point or (with the tiny model) an encoder block."""
    if case in KERNEL_CASES:
        kernel, params = KERNEL_CASES[case]
        project = generate_project(hls_work / case, kernel=kernel, params=params, seed=1)
    else:
        from hwmoe.numerics.calibration import calibrate
        block, precision = BLOCK_CASES[case]
        graph, x = tiny
        plan = calibrate(graph, precision, x)
        project = generate_project(hls_work / case, graph=graph, plan=plan, inputs=x, params={"block": block})
    return project, csim(project.path)


def _project(hls_work, case: str, tiny=None):
    """A case's project and C-simulation result, made once per session."""
    if case not in _results:
        _results[case] = _build(hls_work, case, tiny)
    return _results[case]


@pytest.fixture(scope="session")
def builds(request, hls_work):
    """Builds the cases that this session's tests run, BUILD_JOBS at a time (blocks, the longest, first); a
    case whose generation or build failed is left to its test, which repeats it and reports the error."""
    selected = {item.callspec.params.get("case") for item in request.session.items if hasattr(item, "callspec")}
    wanted = [c for c in [*BLOCK_CASES, *KERNEL_CASES] if c in selected and c not in _results]
    tiny = request.getfixturevalue("tiny") if set(wanted) & set(BLOCK_CASES) else None
    with ThreadPoolExecutor(BUILD_JOBS) as pool:
        futures = {case: pool.submit(_build, hls_work, case, tiny) for case in wanted}
    for case, future in futures.items():
        if future.exception() is None:
            _results[case] = future.result()


@pytest.mark.parametrize("case", list(KERNEL_CASES))
def test_kernel_csim_bit_exact(case, hls_work, builds):
    project, r = _project(hls_work, case)
    assert r.bit_exact, r.summary() + "\n" + r.output[-2000:]
    assert r.words == project.expected_words > 0 and r.mismatches == 0
    assert r.warnings == [], "\n".join(r.warnings)          # -Wall -Wextra clean in hwmoe's code


@pytest.mark.parametrize("case", list(BLOCK_CASES))
def test_block_csim_bit_exact(case, hls_work, tiny, builds):
    project, r = _project(hls_work, case, tiny)
    assert r.bit_exact, r.summary() + "\n" + r.output[-2000:]
    assert r.words == 17 * 32 and r.mismatches == 0           # tiny: 17 tokens x 32
    assert r.warnings == [], "\n".join(r.warnings)
    text = (project.path / "top.cpp").read_text()
    assert ("encoder_block_moe" if "moe" in case else "encoder_block_dense") in text


@pytest.mark.parametrize("case", DEFAULT_CASES)
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
    project, _ = _project(hls_work, "layernorm-default")
    tcl = (project.path / "run_hls.tcl").read_text()
    steps = _tcl_steps(tcl)
    order = ["open_project", "set_top", "add_files", "open_solution", "set_part", "create_clock", "csim_design",
             "csynth_design", "cosim_design", "export_design"]
    assert [s for s in steps if s in order] == sorted([s for s in steps if s in order], key=order.index)
    assert set(order) <= set(steps)
    assert "set_top hwmoe_layernorm" in tcl
    assert "set_part {xczu9eg-ffvb1156-2-e}" in tcl                    # zcu102, the default
    assert "create_clock -period 3.3333 -name default" in tcl          # 300 MHz
    for tb_file in ("tb.cpp", "testbench.h", "data"):
        assert re.search(rf"^add_files -tb {re.escape(tb_file)}\b", tcl, re.M), tb_file
        assert (project.path / tb_file).exists()
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
    code = hls_command(kernel="gelu", set=["seed=1"], out=str(project.path), csim=True)
    out = capsys.readouterr().out
    assert code == 0
    assert f"bit-exact yes, {project.expected_words} words compared, 0 mismatches" in out


def test_bad_parameters():
    with pytest.raises(UserError, match="unknown linear kernel field"):
        generate_project("/nonexistent", kernel="linear", params={"tokenz": 3})
    with pytest.raises(UserError, match="unknown kernel"):
        generate_project("/nonexistent", kernel="conv")
    with pytest.raises(UserError, match="gelu kernel: "):
        generate_project("/nonexistent", kernel="gelu", params={"words": 0})


def test_kernel_without_design_fails_loudly(monkeypatch):
    """Every registered kernel needs an HLS design; a missing one is named, not skipped."""
    from hwmoe.backends.hls import kernels as hls_kernels
    monkeypatch.delitem(hls_kernels.DESIGNS, "gelu")
    with pytest.raises(LookupError, match="'gelu' is registered but has no HLS design"):
        generate_project("/nonexistent", kernel="gelu")


def test_hls_command_user_errors(tmp_path):
    """Mistakes in what the user hands to ``hwmoe hls`` are one-line UserErrors, nothing written."""
    with pytest.raises(UserError, match="no such file"):
        hls_command(model=str(tmp_path / "missing.onnx"), out=str(tmp_path / "p"))
    with pytest.raises(UserError, match="seed='x' is not an integer"):
        hls_command(kernel="gelu", set=["seed=x"], out=str(tmp_path / "p"))
    with pytest.raises(UserError, match="expected key=value"):
        hls_command(kernel="gelu", set=["words"], out=str(tmp_path / "p"))
    assert not (tmp_path / "p").exists()


def test_hls_command_block_of_model_and_preset(tmp_path, capsys):
    """A block of an ONNX model (plan calibrated and saved beside it) and of a preset (model fields set)."""
    import json
    from hwmoe.frontend.export import export_model
    from hwmoe.frontend.model import make_config
    model = tmp_path / "tiny.onnx"
    export_model(make_config("tiny"), str(model), seed=2)
    assert hls_command(model=str(model), set=["block=1", "precision=w16a16", "t_in=4"], out=str(tmp_path / "m")) == 0
    assert (tmp_path / "tiny.w16a16.plan.json").is_file()
    meta = json.loads((tmp_path / "m" / "project.json").read_text())
    assert meta["name"] == "block" and "moe" in (tmp_path / "m" / "top.cpp").read_text()
    assert hls_command(preset="tiny", set=["block=0", "mlp_hidden=48"], out=str(tmp_path / "p")) == 0
    assert "n_out = 48" in (tmp_path / "p" / "config.h").read_text()
    assert capsys.readouterr().out.count("wrote ") == 2
