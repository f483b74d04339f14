"""Every RTL module is lint-clean under ``verilator --lint-only -Wall`` with its default parameters, and
every kernel top also with the parameters of its default simulation case."""
import re
import subprocess

import pytest

from hwmoe.kernels.registry import KERNELS
from hwmoe.backends.rtl.simulate import RTL_DIR, simulator_path_setup

MODULES = sorted(p.stem for p in RTL_DIR.glob("*.v"))


def lint(top: str, params: dict | None = None) -> str:
    simulator_path_setup()
    args = [f"-G{k}={v}" for k, v in (params or {}).items()]
    r = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", top, *args,
                        *map(str, sorted(RTL_DIR.glob("*.v")))], capture_output=True, text=True, timeout=120)
    return "\n".join(line for line in (r.stdout + r.stderr).splitlines() if line.startswith("%"))


def test_one_module_per_file_named_after_it():
    for path in RTL_DIR.glob("*.v"):
        names = re.findall(r"^\s*module\s+(\w+)", path.read_text(), re.M)
        assert names == [path.stem], f"{path.name} defines {names}"


@pytest.mark.parametrize("top", MODULES)
def test_module_lint_clean(top):
    assert lint(top) == ""


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_case_lint_clean(name):
    kernel = KERNELS[name]
    case = kernel.make_case(kernel.params(), 0)
    params = {k: v for k, v in case.parameters.items()}
    params.update({k: '"table.mem"' for k in case.memories})
    assert lint(case.toplevel, params) == ""
