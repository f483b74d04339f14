"""The generated accelerator top: the pyverilog reading of the RTL's declarations (parameters, ports, widths
evaluated as the RTL defines them), the instance checks that refuse a wrong port or parameter, the generated
top lint-clean under ``verilator --lint-only -Wall`` at every precision, and ``hwmoe build``."""
import json

import numpy as np
import pytest

from hwmoe.accel.build import load_design
from hwmoe.accel.program import compile_program
from hwmoe.accel.top import TOP, TopConfig, generate, write_project
from hwmoe.backends.rtl.modules import check_instance, evaluate, module_info
from hwmoe.cli import main
from hwmoe.frontend.config import make_config
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import build_model, sample_input
from hwmoe.numerics.calibration import calibrate
from hwmoe.numerics.intmath import clog2
from hwmoe.paths import REPO
from test_rtl_lint import lint


@pytest.fixture(scope="module")
def tiny():
    model = build_model(make_config("tiny"), 0)
    images = np.stack([sample_input(model.cfg, s)[0].numpy() for s in range(2)])
    return graph_from_model(model), images


def test_module_widths_follow_the_rtl_expressions():
    """The linear engine's port widths at given parameters, as its declaration computes them."""
    info = module_info("hwmoe_linear")
    env = info.environment({"T_IN": 5, "T_OUT": 3, "X_W": 18, "OUT_W": 20, "MAX_TOKENS": 129, "MAX_D_IN": 768})
    assert env["TOKENS_B"] == clog2(130) and env["D_IN_B"] == clog2(769)
    assert info.width("x_tdata", env) == 5 * 18 and info.width("y_tdata", env) == 3 * 20
    assert info.width("tokens", env) == clog2(130) and info.width("clk", env) == 1
    assert info.port("y_tvalid").direction == "output" and info.port("x_frac").signed


def test_module_info_refuses_unknown_names():
    info = module_info("hwmoe_add")
    with pytest.raises(KeyError, match="LANE"):
        info.environment({"LANE": 2})
    with pytest.raises(ValueError, match="no parameter WIDTH"):
        check_instance(info, {"WIDTH": 3}, {p.name for p in info.ports}, "u_add")
    ports = {p.name for p in info.ports}
    with pytest.raises(ValueError, match=r"unconnected ports \['y_tlast'\]"):
        check_instance(info, {}, ports - {"y_tlast"}, "u_add")
    with pytest.raises(ValueError, match=r"unknown ports \['z'\]"):
        check_instance(info, {}, ports | {"z"}, "u_add")


def test_reading_a_module_writes_nothing_where_it_runs(tmp_path, monkeypatch):
    """pyverilog's preprocessor and parser tables go to a scratch folder: two builds in one folder would race
    on a shared preprocess.output otherwise."""
    monkeypatch.chdir(tmp_path)
    module_info.cache_clear()
    assert module_info("hwmoe_add").name == "hwmoe_add"
    assert list(tmp_path.iterdir()) == []


def test_evaluate_constant_expressions():
    from pyverilog.vparser import ast
    expr = ast.Cond(ast.GreaterThan(ast.Identifier("A"), ast.IntConst("4'd3")),
                    ast.SystemCall("clog2", [ast.Plus(ast.Identifier("A"), ast.IntConst("1"))]), ast.IntConst("7"))
    assert evaluate(expr, {"A": 8}) == 4 and evaluate(expr, {"A": 2}) == 7


@pytest.mark.rtl
@pytest.mark.parametrize("precision", ["w16a32", "w16a16", "w8a8"])
def test_generated_top_is_lint_clean(tiny, precision, tmp_path):
    graph, images = tiny
    program = compile_program(graph, calibrate(graph, precision, images))
    files = write_project(program, tmp_path, TopConfig(bus_w=64 if precision == "w8a8" else 128))
    sources = [tmp_path / name for name in files["filelist"].read_text().split()]
    assert lint(TOP, [files["waiver"], *sources]) == ""


@pytest.mark.rtl
def test_searched_zcu102_top_is_lint_clean(tmp_path):
    """The top at the committed ZCU102 design (m3vit-t, w16a32: 32-bit words and a GELU left shift that tiny's
    builds do not reach), lint-clean as the board build writes it."""
    model = build_model(make_config("m3vit-t"), 0)
    graph = graph_from_model(model)
    choice = load_design(str(REPO / "search/examples/search-m3vit-t-zcu102/search.json"))[0]
    program = compile_program(graph, calibrate(graph, "w16a32", sample_input(model.cfg, 0).numpy()), choice,
                              image=False)
    files = write_project(program, tmp_path, TopConfig(bus_w=512))
    sources = [tmp_path / name for name in files["filelist"].read_text().split()]
    assert lint(TOP, [files["waiver"], *sources]) == ""


def test_generated_top_names_its_engines_and_tables(tiny):
    graph, images = tiny
    program = compile_program(graph, calibrate(graph, "w16a16", images))
    verilog, memories, unused = generate(program)
    for engine in ("attention", "layernorm", "router", "add", "moe"):
        assert f"hwmoe_{engine} #" in verilog or f"hwmoe_{engine}\n" in verilog
        assert f"u_{engine}" in verilog
    assert "hwmoe_linear" not in verilog and "u_linear" not in verilog     # one MAC array: the MoE engine's
    assert set(memories) == {"MOE_TABLE", "ATTENTION_EXP_TABLE", "ATTENTION_RECIP_TABLE",
                             "LAYERNORM_RSQRT", "ROUTER_EXP2", "ROUTER_RECIP"}
    assert "ctl" in unused and "u_router_q_tdata" in unused


def test_bus_width_is_checked():
    with pytest.raises(ValueError, match="bus width 96"):
        TopConfig(bus_w=96).check()


def test_build_writes_the_project(tmp_path, capsys):
    out = tmp_path / "accel"
    assert main(["build", "--preset", "tiny", "--precision", "w8a8", "--bus-width", "64", "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "26 commands" in printed and "predicted:" in printed
    layout = json.loads((out / "layout.json").read_text())
    info = json.loads((out / "build.json").read_text())
    assert (out / "image.bin").stat().st_size == layout["size"]
    assert layout["commands"] == info["commands"] == 26 and info["top"]["bus_w"] == 64
    listed = (out / "rtl" / f"{TOP}.f").read_text().split()
    assert listed[-1] == f"{TOP}.v" and all((out / "rtl" / name).is_file() for name in listed)
    assert info["predicted_cycles"] > 0 and set(info["verilog_parameters"]) == set(info["design"])


def test_build_refusals_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"design": {"linear": {}}}')
    for argv, needle in ((["--preset", "tiny", "--bus-width", "96"], "--bus-width"),
                         (["--preset", "tiny", "--design", str(bad)], "engine parameters"),
                         (["--preset", "tiny", "--design", str(tmp_path / "none.json")], "none.json")):
        code = main(["build", *argv, "-o", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and needle in err[0], err
        assert not (tmp_path / "out").exists()
