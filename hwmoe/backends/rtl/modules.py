"""The Verilog modules of ``rtl/`` as pyverilog parses them: each module's parameters (with their default
expressions) and ports (direction, width expression), the widths evaluated at given parameter values.  The
generated accelerator top sizes its wiring from these widths and checks every instance against them, so a
port or parameter that the RTL does not have, or a missing connection, fails before anything is written.

Only the declarations are parsed (pyverilog's parser does not take every body construct of the kernels), so
pyverilog's dataflow analyser, which resolves parameters over a whole parsed module, cannot be used; the
small evaluator below covers the constant expressions declarations use."""
from __future__ import annotations

import math
import re
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyverilog.vparser import ast

from ...paths import RTL_DIR


@dataclass(frozen=True)
class Port:
    name: str
    direction: str                      # "input" or "output"
    msb: ast.Node | None                # None: one bit
    lsb: ast.Node | None
    signed: bool


@dataclass(frozen=True)
class ModuleInfo:
    name: str
    params: tuple[tuple[str, ast.Node], ...]        # in declaration order (derived ones after their inputs)
    ports: tuple[Port, ...]

    @property
    def param_names(self) -> list[str]:
        return [n for n, _ in self.params]

    def port(self, name: str) -> Port:
        for p in self.ports:
            if p.name == name:
                return p
        raise KeyError(f"{self.name} has no port {name!r}")

    def environment(self, values: dict) -> dict:
        """Every parameter's value: ``values`` where given, else its default evaluated in order."""
        unknown = set(values) - set(self.param_names)
        if unknown:
            raise KeyError(f"{self.name} has no parameter {sorted(unknown)[0]!r}")
        env: dict = {}
        for name, default in self.params:
            env[name] = values[name] if name in values else evaluate(default, env)
        return env

    def width(self, port: str, env: dict) -> int:
        p = self.port(port)
        if p.msb is None:
            return 1
        return evaluate(p.msb, env) - evaluate(p.lsb, env) + 1


def _int(text: str) -> int:
    """A Verilog integer literal: 12, 8'd15, 4'b1010, 'hFF, 32'sd7."""
    text = text.replace("_", "")
    m = re.fullmatch(r"(\d*)'s?([dDhHbBoO])([0-9a-fA-F]+)", text)
    if not m:
        return int(text)
    return int(m.group(3), {"d": 10, "h": 16, "b": 2, "o": 8}[m.group(2).lower()])


_BINARY = {ast.Plus: lambda a, b: a + b, ast.Minus: lambda a, b: a - b, ast.Times: lambda a, b: a * b,
           ast.Divide: lambda a, b: int(a / b), ast.Mod: lambda a, b: a % b, ast.Power: lambda a, b: a ** b,
           ast.GreaterThan: lambda a, b: int(a > b), ast.LessThan: lambda a, b: int(a < b),
           ast.GreaterEq: lambda a, b: int(a >= b), ast.LessEq: lambda a, b: int(a <= b),
           ast.Eq: lambda a, b: int(a == b), ast.NotEq: lambda a, b: int(a != b),
           ast.Land: lambda a, b: int(bool(a) and bool(b)), ast.Lor: lambda a, b: int(bool(a) or bool(b)),
           ast.Sll: lambda a, b: a << b, ast.Srl: lambda a, b: a >> b}


def evaluate(node: ast.Node, env: dict):
    """The value of a constant expression (parameters from ``env``)."""
    if isinstance(node, ast.Rvalue):
        return evaluate(node.var, env)
    if isinstance(node, ast.IntConst):
        return _int(node.value)
    if isinstance(node, ast.StringConst):
        return node.value
    if isinstance(node, ast.Identifier):
        return env[node.name]
    if type(node) in _BINARY:
        return _BINARY[type(node)](evaluate(node.left, env), evaluate(node.right, env))
    if isinstance(node, ast.Uminus):
        return -evaluate(node.right, env)
    if isinstance(node, ast.Ulnot):
        return int(not evaluate(node.right, env))
    if isinstance(node, ast.Cond):
        return evaluate(node.true_value if evaluate(node.cond, env) else node.false_value, env)
    if isinstance(node, ast.SystemCall) and node.syscall == "clog2":
        v = evaluate(node.args[0], env)
        return 0 if v <= 1 else math.ceil(math.log2(v))
    raise ValueError(f"cannot evaluate {type(node).__name__} in a parameter or port width")


def module_header(name: str) -> str:
    """The module's declaration (parameters and ports) from ``rtl/<name>.v``, closed with ``endmodule``: the
    part of the file an instance depends on (pyverilog's parser does not take every body construct the
    kernels use, e.g. several initialised wires in one declaration)."""
    text = (RTL_DIR / f"{name}.v").read_text()
    start = re.search(rf"^module\s+{name}\b", text, re.M)
    if start is None:
        raise ValueError(f"rtl/{name}.v declares no module {name}")
    end = re.search(r"\n\s*\)\s*;", text[start.start():])
    return text[start.start():start.start() + end.end()] + "\nendmodule\n"


@lru_cache(maxsize=None)
def module_info(name: str) -> ModuleInfo:
    """``rtl/<name>.v``'s declaration parsed by pyverilog (in a scratch directory: it writes parser tables and
    the preprocessed text)."""
    from pyverilog.vparser.parser import VerilogCodeParser
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / f"{name}.v"
        path.write_text(module_header(name))
        # every file it writes in the scratch folder: two processes in one folder would share them otherwise
        source = VerilogCodeParser([str(path)], preprocess_output=str(Path(scratch) / "preprocess.output"),
                                   outputdir=scratch, debug=False).parse()
    module = next(d for d in source.description.definitions if isinstance(d, ast.ModuleDef) and d.name == name)
    params = []
    for decl in module.paramlist.params:
        for p in decl.list:
            if isinstance(p, ast.Parameter):
                params.append((p.name, p.value))
    ports = []
    for io in module.portlist.ports:
        first = io.first
        width = first.width
        ports.append(Port(first.name, "input" if isinstance(first, ast.Input) else "output",
                          width.msb if width else None, width.lsb if width else None, bool(first.signed)))
    return ModuleInfo(name, tuple(params), tuple(ports))


def check_instance(info: ModuleInfo, parameters: dict, connections: set[str], instance: str) -> None:
    """An instance must set only parameters the module has and connect exactly its ports."""
    unknown = set(parameters) - set(info.param_names)
    if unknown:
        raise ValueError(f"instance {instance}: {info.name} has no parameter {sorted(unknown)[0]}")
    ports = {p.name for p in info.ports}
    if connections != ports:
        missing, extra = sorted(ports - connections), sorted(connections - ports)
        raise ValueError(f"instance {instance} of {info.name}: unconnected ports {missing}, unknown ports {extra}")
