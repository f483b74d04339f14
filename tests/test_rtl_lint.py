"""Every RTL module is lint-clean under ``verilator --lint-only -Wall`` with its default parameters; every top
with a file list (rtl/<top>.f) is lint-clean from that list alone, and every kernel top also with the
parameters of its default simulation case.  The file lists name exactly the modules their top instantiates."""
import re
import subprocess
from pathlib import Path

import pytest

from hwmoe.backends.rtl.filelist import list_path, sources, tops
from hwmoe.backends.rtl.simulate import simulator_path_setup
from hwmoe.kernels.registry import KERNELS
from hwmoe.paths import RTL_DIR

ALL_FILES = sorted(RTL_DIR.glob("*.v"))
MODULES = [p.stem for p in ALL_FILES]
INSTANCE = re.compile(r"^\s*(hwmoe_\w+)\s*(?:#\s*\(|\w+\s*\()", re.M)


def lint(top: str, files: list[Path], params: dict | None = None) -> str:
    simulator_path_setup()
    args = [f"-G{k}={v}" for k, v in (params or {}).items()]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *args, *map(str, files)],
                       capture_output=True, text=True, timeout=120)
    return "\n".join(line for line in (r.stdout + r.stderr).splitlines() if line.startswith("%"))


def instantiated(module: str) -> set[str]:
    """Modules instantiated directly in ``module``'s source, under any generate branch."""
    text = re.sub(r"//[^\n]*|/\*.*?\*/", "", (RTL_DIR / f"{module}.v").read_text(), flags=re.S)
    return set(INSTANCE.findall(text)) - {module}


def test_one_module_per_file_named_after_it():
    for path in ALL_FILES:
        names = re.findall(r"^\s*module\s+(\w+)", path.read_text(), re.M)
        assert names == [path.stem], f"{path.name} defines {names}"


def test_instance_pattern_finds_instances():
    assert instantiated("hwmoe_gelu") == {"hwmoe_gelu_lane", "hwmoe_pipe_valid"}
    assert instantiated("hwmoe_requant") == set()


@pytest.mark.parametrize("top", tops())
def test_file_list_is_the_hierarchy(top):
    """Existing files, each once, the top last, every module after the modules it instantiates, and
    nothing besides the modules the top reaches."""
    files = sources(top)
    names = [f.stem for f in files]
    assert all(f.is_file() and f.suffix == ".v" for f in files), f"{list_path(top)}: missing {files}"
    assert len(set(names)) == len(names), f"{list_path(top)} names a file twice"
    assert names[-1] == top, f"{list_path(top)}: the top must come last"
    for i, name in enumerate(names):
        late = instantiated(name) - set(names[:i])
        assert not late, f"{list_path(top)}: {name} comes before {sorted(late)}"
    reached, todo = {top}, [top]
    while todo:
        for child in instantiated(todo.pop()) - reached:
            reached.add(child)
            todo.append(child)
    assert set(names) == reached, f"{list_path(top)}: lists {sorted(set(names) - reached)} unused, " \
                                  f"misses {sorted(reached - set(names))}"


def test_every_kernel_top_has_a_file_list():
    cases = [k.make_case(k.params(), 0) for k in KERNELS.values()]
    assert {c.toplevel for c in cases} <= set(tops())


@pytest.mark.parametrize("top", MODULES)
def test_module_lint_clean(top):
    assert lint(top, ALL_FILES) == ""


@pytest.mark.parametrize("top", tops())
def test_file_list_lint_clean(top):
    assert lint(top, sources(top)) == ""


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_case_lint_clean(name):
    kernel = KERNELS[name]
    case = kernel.make_case(kernel.params(), 0)
    params = dict(case.parameters)
    params.update({k: '"table.mem"' for k in case.memories})
    assert lint(case.toplevel, sources(case.toplevel), params) == ""


@pytest.mark.parametrize("top,params,message", [
    ("hwmoe_attention", {"HEAD_DIM": 12, "LANES": 8}, "HEAD_DIM = 12 is not a multiple of LANES = 8"),
    ("hwmoe_attention", {"OUT_W": 1}, "Q_W, K_W, V_W, T_W, OUT_W, C_W = 16, 16, 16, 16, 1, 16: signed words need 2 bits"),
    ("hwmoe_layernorm", {"NBUF": 3}, "NBUF = 3, must be a power of two >= 2"),
    ("hwmoe_router", {"EXPERTS": 6, "EXPERT_PAR": 4}, "EXPERT_PAR = 4 does not divide EXPERTS = 6"),
    ("hwmoe_linear", {"GELU": 2}, "HAS_BIAS = 1, GELU = 2: each must be 0 or 1"),
    ("hwmoe_dma_reader", {"MAX_BURST": 64, "FIFO_DEPTH": 32},
     "MAX_BURST = 64 exceeds FIFO_DEPTH = 32: such a burst could never be issued"),
])
def test_parameter_guard_names_the_illegal_combination(top, params, message, tmp_path):
    """Icarus elaborates the top with an illegal point; the guard stops at time 0 with its message."""
    binary = tmp_path / "sim.vvp"
    subprocess.run(["iverilog", "-g2012", "-o", str(binary), "-s", top,
                    *[f"-P{top}.{k}={v}" for k, v in params.items()], *map(str, sources(top))],
                   check=True, capture_output=True, text=True, timeout=120)
    r = subprocess.run(["vvp", "-n", str(binary)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert f"{top}: {message}" in r.stdout + r.stderr
