"""The accelerator's top, ``hwmoe_accel``, generated with pyverilog (its AST and code generator) from a compiled
program's engines: the control registers (hwmoe_ctrl), the sequencer (hwmoe_seq), the DMA (hwmoe_dma: READERS
readers and a writer on one AXI4 master), every engine with its build parameters, and the wiring between
them.  Every instance is checked against the module's declaration as pyverilog parses it (parameters and ports),
and every stream is sized from the widths the RTL itself declares at those parameters.

Wiring (docs/accelerator.md, "Top"): the running command's engine (``sel_<e>``: exec and its opcode) is out of
reset and owns the DMA: reader slot j feeds the engine's j-th stream (``program.STREAMS``), lane l of a beat
(32 bits) giving the engine lane's low bits; the engine's result lanes, sign-extended to 32 bits (the router's
unsigned routes zero-extended), go to the writer.  The MoE engine's routes slot is split into its idx and gate
streams, and its expert requests (wreq) are the index streams of its weight and bias readers.  While the
sequencer fetches, reader 0 streams to it.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pyverilog.ast_code_generator.codegen import ASTCodeGenerator
from pyverilog.vparser import ast

from ..backends.rtl.filelist import sources
from ..backends.rtl.modules import ModuleInfo, check_instance, module_info
from ..numerics.intmath import clog2
from ..numerics.tables import write_memh
from .engines import ENGINES, KERNELS
from .program import CMD_WORDS, CONTROL_WORDS, DESC_WORDS, READERS, STREAMS, Program, stream_lanes
from .registers import COUNTERS, TOP


@dataclass(frozen=True)
class TopConfig:
    """Build parameters of the memory side."""
    bus_w: int = 128                    # AXI data bits (64..512)
    addr_w: int = 32                    # AXI address bits
    max_burst: int = 16
    fifo_depth: int = 64
    queue_depth: int = 8

    def check(self) -> None:
        if self.bus_w not in (64, 128, 256, 512):
            raise ValueError(f"bus width {self.bus_w}: must be 64, 128, 256 or 512 bits")
        if not 16 <= self.addr_w <= 64:
            raise ValueError(f"address width {self.addr_w}: must be 16..64 bits")


# ---- pyverilog expression helpers ---------------------------------------------------------------------------
def I(name: str) -> ast.Identifier:
    return ast.Identifier(name)


def C(value: int, width: int | None = None) -> ast.IntConst:
    return ast.IntConst(f"{width}'d{value}" if width else str(value))


def bits(name: str, lsb: int, width: int) -> ast.Node:
    """name[lsb + width - 1 : lsb]."""
    return ast.Partselect(I(name), C(lsb + width - 1), C(lsb))


def bit(name: str, index: int) -> ast.Pointer:
    return ast.Pointer(I(name), C(index))


def cat(*parts: ast.Node) -> ast.Node:
    return parts[0] if len(parts) == 1 else ast.Concat(list(parts))


def any_of(parts: list[ast.Node]) -> ast.Node:
    if not parts:
        return C(0, 1)
    out = parts[0]
    for p in parts[1:]:
        out = ast.Or(out, p)
    return out


def both(a: ast.Node, b: ast.Node) -> ast.Node:
    return ast.And(a, b)


def zeros(width: int) -> ast.Node:
    return C(0, width)


class _Top:
    """The module under construction: its ports, wires, assigns and instances."""

    def __init__(self):
        self.ports: list[ast.Ioport] = []
        self.params: list[ast.Decl] = []
        self.items: list[ast.Node] = []
        self.names: set[str] = set()
        self.unused: list[str] = []     # signals deliberately left unread (the lint waiver file names them)

    def wire(self, name: str, width: int = 1) -> str:
        if name in self.names:
            raise ValueError(f"wire {name} declared twice")
        self.names.add(name)
        w = ast.Width(C(width - 1), C(0)) if width > 1 else None
        self.items.append(ast.Decl([ast.Wire(name, width=w)]))
        return name

    def assign(self, name: str, value: ast.Node) -> None:
        self.items.append(ast.Assign(ast.Lvalue(I(name)), ast.Rvalue(value)))

    def net(self, name: str, width: int, value: ast.Node) -> str:
        self.wire(name, width)
        self.assign(name, value)
        return name

    def port(self, direction: str, name: str, width: int) -> None:
        w = ast.Width(C(width - 1), C(0)) if width > 1 else None
        cls = ast.Input if direction == "input" else ast.Output
        self.ports.append(ast.Ioport(cls(name, width=w), ast.Wire(name, width=w)))
        self.names.add(name)

    def parameter(self, name: str, value: str) -> None:
        self.params.append(ast.Decl([ast.Parameter(name, ast.Rvalue(ast.StringConst(value)))]))

    def instance(self, info: ModuleInfo, name: str, parameters: dict, connections: dict[str, ast.Node]) -> None:
        check_instance(info, parameters, set(connections), name)
        values = [ast.ParamArg(k, ast.Rvalue(v if isinstance(v, ast.Node) else C(v))) for k, v in parameters.items()]
        ports = [ast.PortArg(k, v) for k, v in connections.items()]
        self.items.append(ast.InstanceList(info.name, values, [ast.Instance(info.name, name, ports, values)]))

    def verilog(self) -> str:
        module = ast.ModuleDef(TOP, ast.Paramlist(self.params), ast.Portlist(self.ports), self.items,
                               default_nettype="none")
        return ASTCodeGenerator().visit(ast.Source(TOP, ast.Description([module])))


# ---- the pieces ----------------------------------------------------------------------------------------------------
UNSIGNED_RESULTS = {"router"}            # the routes: expert numbers and U1.15 gates


def _control_connections(top: _Top, engine: str, info: ModuleInfo, env: dict, names: list[str]) -> dict:
    return {name: bits("ctl", 32 * i, info.width(name, env)) for i, name in enumerate(names)}


def _lanes_from_reader(slot: int, lanes: int, lanes_max: int, width: int) -> ast.Node:
    """An engine stream's tdata from reader ``slot``'s beat: lane l's low ``width`` bits."""
    base = 32 * lanes_max * slot
    return cat(*(bits("rd_y_tdata", base + 32 * l, width) for l in reversed(range(lanes))))


def _lanes_to_writer(name: str, lanes: int, width: int, lanes_max: int, signed: bool) -> ast.Node:
    """An engine's result lanes, each extended to 32 bits, zero lanes up to LANES_MAX."""
    parts = []
    for l in reversed(range(lanes_max)):
        if l >= lanes:
            parts.append(zeros(32))
        elif width == 32:
            parts.append(bits(name, width * l, 32))
        else:
            top_bit = bit(name, width * l + width - 1) if signed else C(0, 1)
            parts.append(cat(ast.Repeat(ast.Concat([top_bit]), C(32 - width)), bits(name, width * l, width)))
    return cat(*parts)


def generate(program: Program, config: TopConfig = TopConfig()) -> tuple[str, dict[str, str], list[str]]:
    """(Verilog of hwmoe_accel, its memory files {parameter: file name}, signals left unread)."""
    config.check()
    if program.scratch_bytes and program.scratch_bytes < 2 * config.bus_w // 8:
        raise ValueError(f"scratchpad of {program.scratch_bytes} bytes: hwmoe_scratch needs two {config.bus_w}-bit "
                         "words at least")
    engines = {e: program.engines.params[e] for e in ENGINES if e in program.engines.params}
    lanes_max = program.lanes_max
    slots = [s for c in program.commands for s in (*c.reads, c.write) if s is not None]
    max_n = max(max(s.d.n1, s.d.n2) for s in slots)
    max_words = max(max(s.d.words for s in slots), CMD_WORDS)
    moe = engines.get("moe")
    idx_w = max(1, clog2(moe.experts)) if moe else 1
    top = _Top()

    dma_info = module_info("hwmoe_dma")
    dma_params = {"N_READERS": READERS, "BUS_W": config.bus_w, "ADDR_W": config.addr_w, "LANES_MAX": lanes_max,
                  "MAX_N": max_n, "MAX_WORDS": max_words, "MAX_BURST": config.max_burst, "IDX_W": idx_w,
                  "FIFO_DEPTH": config.fifo_depth, "QUEUE_DEPTH": config.queue_depth,
                  "SCRATCH_BYTES": program.scratch_bytes}
    dma_env = dma_info.environment(dma_params)
    n_w, words_w, lane_w, id_w = (dma_env[k] for k in ("N_W", "WORDS_W", "LANE_W", "ID_W"))

    # ports: clock, reset, AXI4-Lite slave (as hwmoe_ctrl's), AXI4 master (as hwmoe_dma's), interrupt
    ctrl_info = module_info("hwmoe_ctrl")
    ctrl_params = {"ENGINES": len(COUNTERS), "ADDR_W": config.addr_w}
    ctrl_env = ctrl_info.environment(ctrl_params)
    top.port("input", "clk", 1)
    top.port("input", "rst", 1)
    axil = [p for p in ctrl_info.ports if p.name.startswith("s_axil_")]
    axi = [p for p in dma_info.ports if p.name.startswith("m_axi_")]
    for p in axil:
        top.port(p.direction, p.name, ctrl_info.width(p.name, ctrl_env))
    for p in axi:
        top.port(p.direction, p.name, dma_info.width(p.name, dma_env))
    top.port("output", "irq", 1)

    # the control registers and the sequencer
    for name, width in (("start", 1), ("base", config.addr_w), ("prog", 32), ("seq_busy", 1), ("done_pulse", 1),
                        ("error_valid", 1), ("error_code", 8), ("command_done", 1), ("exec", 1), ("op", 8),
                        ("ctl", 32 * CONTROL_WORDS), ("fetching", 1), ("f_tready", 1),
                        ("engine_busy", len(COUNTERS)), ("engine_moved", len(COUNTERS))):
        top.wire(name, width)
    top.instance(ctrl_info, "u_ctrl", ctrl_params, {
        "clk": I("clk"), "rst": I("rst"), **{p.name: I(p.name) for p in axil}, "start": I("start"),
        "base": I("base"), "prog": I("prog"), "irq": I("irq"), "busy": I("seq_busy"), "done_pulse": I("done_pulse"),
        "error_valid": I("error_valid"), "error_code": I("error_code"), "command_done": I("command_done"),
        "engine_busy": I("engine_busy"), "engine_moved": I("engine_moved")})

    rd = {"start": 1, "base": config.addr_w, "n1": n_w, "stride1": config.addr_w, "n2": n_w,
          "stride2": config.addr_w, "words": words_w, "lanes": lane_w, "csize": 2, "indexed": 1, "scratch": 1}
    for f, w in rd.items():
        top.wire(f"rd_{f}", READERS * w)
        if f != "indexed":
            top.wire(f"wr_{f}", w)
    for f, w in (("busy", READERS), ("done", READERS), ("error", READERS), ("idx_tdata", READERS * idx_w),
                 ("idx_tvalid", READERS), ("idx_tready", READERS), ("idx_tlast", READERS),
                 ("y_tdata", READERS * 32 * lanes_max), ("y_tvalid", READERS), ("y_tready", READERS),
                 ("y_tlast", READERS)):
        top.wire(f"rd_{f}", w)
    for f, w in (("busy", 1), ("done", 1), ("error", 1), ("x_tdata", 32 * lanes_max), ("x_tvalid", 1),
                 ("x_tready", 1)):
        top.wire(f"wr_{f}", w)
    mask = sum(1 << i for i, e in enumerate(ENGINES) if e in engines)
    seq_info = module_info("hwmoe_seq")
    top.instance(seq_info, "u_seq", {
        "ADDR_W": config.addr_w, "N_W": n_w, "WORDS_W": words_w, "LANE_W": lane_w, "LANES_MAX": lanes_max,
        "READERS": READERS, "CMD_WORDS": CMD_WORDS, "CONTROL_WORDS": CONTROL_WORDS, "DESC_WORDS": DESC_WORDS,
        "ENGINES": len(ENGINES), "ENGINE_MASK": mask}, {
        "clk": I("clk"), "rst": I("rst"), "start": I("start"), "base": I("base"), "prog": I("prog"),
        "busy": I("seq_busy"), "done_pulse": I("done_pulse"), "error_valid": I("error_valid"),
        "error_code": I("error_code"), "command_done": I("command_done"), "exec": I("exec"), "op": I("op"),
        "ctl": I("ctl"), "fetching": I("fetching"), "f_tdata": bits("rd_y_tdata", 0, 32 * lanes_max),
        "f_tvalid": both(bit("rd_y_tvalid", 0), I("fetching")), "f_tready": I("f_tready"),
        **{f"rd_{f}": I(f"rd_{f}") for f in rd}, "rd_done": I("rd_done"), "rd_error": I("rd_error"),
        **{f"wr_{f}": I(f"wr_{f}") for f in rd if f != "indexed"}, "wr_done": I("wr_done"),
        "wr_error": I("wr_error")})
    top.instance(dma_info, "u_dma", dma_params, {
        "clk": I("clk"), "rst": I("rst"), **{p.name: I(p.name) for p in axi},
        **{p.name: I(p.name) for p in dma_info.ports if p.name.startswith(("rd_", "wr_"))}})

    # the engines
    ready: dict[int, list[ast.Node]] = {j: [] for j in range(READERS)}
    ready[0].append(I("f_tready"))
    results: list[tuple[str, str, str]] = []             # (select, 32-bit lanes wire, tvalid wire)
    moved: dict[str, ast.Node] = {}
    memories: dict[str, str] = {}
    idx_streams: list[tuple[int, str]] = []
    for number, (engine, params) in enumerate(engines.items()):
        kernel = KERNELS[engine]
        info = module_info(kernel.rtl_top)
        vparams = kernel.verilog_parameters(params)
        env = info.environment(vparams)
        op = ENGINES.index(engine) + 1
        sel = top.net(f"sel_{engine}", 1, both(I("exec"), ast.Eq(I("op"), C(op, 8))))
        lanes = stream_lanes(engine, params)
        u = f"u_{engine}"
        conn: dict[str, ast.Node] = {"clk": I("clk"), "rst": ast.Or(I("rst"), ast.Unot(I(sel)))}
        conn.update(_control_connections(top, engine, info, env, list(kernel.controls(params))))
        fires = []
        for j, stream in enumerate(STREAMS[engine]):
            if engine == "moe" and stream == "routes":
                continue
            width = info.width(f"{stream}_tdata", env) // lanes[stream]
            valid = top.net(f"{u}_{stream}_tvalid", 1, both(bit("rd_y_tvalid", j), I(sel)))
            top.wire(f"{u}_{stream}_tready")
            conn.update({f"{stream}_tdata": _lanes_from_reader(j, lanes[stream], lanes_max, width),
                         f"{stream}_tvalid": I(valid), f"{stream}_tready": I(f"{u}_{stream}_tready")})
            ready[j].append(both(I(sel), I(f"{u}_{stream}_tready")))
            fires.append(both(I(valid), I(f"{u}_{stream}_tready")))
        y_width = info.width("y_tdata", env)
        top.wire(f"{u}_y_tdata", y_width)
        top.wire(f"{u}_y_tvalid")
        conn.update({"y_tdata": I(f"{u}_y_tdata"), "y_tvalid": I(f"{u}_y_tvalid"),
                     "y_tready": both(I(sel), I("wr_x_tready"))})
        fires.append(both(I(f"{u}_y_tvalid"), I("wr_x_tready")))
        y32 = top.net(f"{u}_y32", 32 * lanes_max, _lanes_to_writer(f"{u}_y_tdata", lanes["y"], y_width // lanes["y"],
                                                                    lanes_max, engine not in UNSIGNED_RESULTS))
        results.append((sel, y32, f"{u}_y_tvalid"))
        if engine == "router":                           # its queue stream is for a kernel-level consumer
            for f, w in (("q_tdata", info.width("q_tdata", env)), ("q_tvalid", 1)):
                top.wire(f"{u}_{f}", w)
                conn[f] = I(f"{u}_{f}")
                top.unused.append(f"{u}_{f}")
            conn["q_tready"] = C(1, 1)
        if engine == "add":
            top.wire(f"{u}_y_tlast")
            conn["y_tlast"] = I(f"{u}_y_tlast")
            top.unused.append(f"{u}_y_tlast")
        if engine == "moe":
            fires += _moe_routes(top, params, info, env, conn, sel, lanes_max, idx_w, ready, idx_streams)
        for name, _ in _memory_parameters(kernel, params):
            pname = f"{engine.upper()}_{name}"
            memories[pname] = f"{engine}_{name.lower()}.mem"
            top.parameter(pname, memories[pname])
            vparams = {**vparams, name: I(pname)}
        top.instance(info, u, vparams, conn)
        moved[engine] = any_of(fires)

    # reader ready, the writer's mux, the MoE request streams, the counters
    top.assign("rd_y_tready", cat(*(any_of(ready[j]) for j in reversed(range(READERS)))))
    tdata, tvalid = zeros(32 * lanes_max), C(0, 1)
    for sel, y32, valid in reversed(results):
        tdata = ast.Cond(I(sel), I(y32), tdata)
        tvalid = ast.Cond(I(sel), I(valid), tvalid)
    top.assign("wr_x_tdata", tdata)
    top.assign("wr_x_tvalid", tvalid)
    idx = dict(idx_streams)
    top.assign("rd_idx_tdata", cat(*(bits(idx[j], 0, idx_w) if j in idx else zeros(idx_w)
                                     for j in reversed(range(READERS)))))
    for f in ("tvalid", "tlast"):
        top.assign(f"rd_idx_{f}", cat(*(I(f"{idx[j]}_{f}") if j in idx else C(0, 1)
                                        for j in reversed(range(READERS)))))
    # read in part: a command's controls and a reader's lanes are each as wide as the widest use; only the
    # indexed slots' index streams are read; each routes fork output gives one half of the beat
    top.unused += ["ctl", "rd_y_tdata", "rd_y_tlast", "rd_idx_tready"] + (["routes_m_tdata"] if moe else [])
    dma_moved = ast.Or(ast.Uor(ast.And(I("rd_y_tvalid"), I("rd_y_tready"))), both(I("wr_x_tvalid"), I("wr_x_tready")))
    top.assign("engine_busy", cat(*([ast.Or(ast.Uor(I("rd_busy")), I("wr_busy"))]
                                    + [I(f"sel_{e}") if e in engines else C(0, 1) for e in reversed(ENGINES)])))
    top.assign("engine_moved", cat(*([dma_moved] + [moved.get(e, C(0, 1)) for e in reversed(ENGINES)])))
    return top.verilog(), memories, top.unused


def _moe_routes(top: _Top, p, info: ModuleInfo, env: dict, conn: dict, sel: str, lanes_max: int, idx_w: int,
                ready: dict, idx_streams: list) -> list[ast.Node]:
    """The MoE engine's routes slot split into idx and gate (a fork: each takes the beat in its own cycle),
    and its requests forked to the weight and bias readers' index streams.  Returns the fire terms."""
    k, slot = p.top_k, STREAMS["moe"].index("routes")
    fork = module_info("hwmoe_stream_fork")
    e_idx = info.width("idx_tdata", env) // k
    width = k * e_idx + 16 * k
    base = 32 * lanes_max * slot
    routes = cat(*([bits("rd_y_tdata", base + 32 * (k + l), 16) for l in reversed(range(k))]
                   + [bits("rd_y_tdata", base + 32 * l, e_idx) for l in reversed(range(k))]))
    for name, w in (("routes_m_tdata", 2 * width), ("routes_m_tvalid", 2), ("routes_m_tlast", 2),
                    ("routes_s_tready", 1), ("u_moe_idx_tready", 1), ("u_moe_gate_tready", 1)):
        top.wire(name, w)
    top.unused.append("routes_m_tlast")
    valid = top.net("routes_s_tvalid", 1, both(bit("rd_y_tvalid", slot), I(sel)))
    top.instance(fork, "u_routes_fork", {"N": 2, "W": width}, {
        "clk": I("clk"), "rst": I("rst"), "s_tdata": routes, "s_tvalid": I(valid), "s_tready": I("routes_s_tready"),
        "s_tlast": C(0, 1), "m_tdata": I("routes_m_tdata"), "m_tvalid": I("routes_m_tvalid"),
        "m_tready": cat(I("u_moe_gate_tready"), I("u_moe_idx_tready")), "m_tlast": I("routes_m_tlast")})
    ready[slot].append(both(I(sel), I("routes_s_tready")))
    conn.update({"idx_tdata": bits("routes_m_tdata", 0, k * e_idx), "idx_tvalid": bit("routes_m_tvalid", 0),
                 "idx_tready": I("u_moe_idx_tready"), "gate_tdata": bits("routes_m_tdata", width + k * e_idx, 16 * k),
                 "gate_tvalid": bit("routes_m_tvalid", 1), "gate_tready": I("u_moe_gate_tready")})
    # requests -> the w and b readers' index streams
    w_slot, b_slot = STREAMS["moe"].index("w"), STREAMS["moe"].index("b")
    for name, w in (("wreq_tdata", e_idx), ("wreq_tvalid", 1), ("wreq_tready", 1), ("wreq_tlast", 1),
                    ("wreq_m_tdata", 2 * e_idx), ("wreq_m_tvalid", 2), ("wreq_m_tlast", 2)):
        top.wire(name, w)
    top.instance(fork, "u_wreq_fork", {"N": 2, "W": e_idx}, {
        "clk": I("clk"), "rst": I("rst"), "s_tdata": I("wreq_tdata"), "s_tvalid": I("wreq_tvalid"),
        "s_tready": I("wreq_tready"), "s_tlast": I("wreq_tlast"), "m_tdata": I("wreq_m_tdata"),
        "m_tvalid": I("wreq_m_tvalid"), "m_tready": cat(bit("rd_idx_tready", b_slot), bit("rd_idx_tready", w_slot)),
        "m_tlast": I("wreq_m_tlast")})
    conn.update({"wreq_tdata": I("wreq_tdata"), "wreq_tvalid": I("wreq_tvalid"), "wreq_tready": I("wreq_tready"),
                 "wreq_tlast": I("wreq_tlast")})
    for i, j in enumerate((w_slot, b_slot)):
        name = f"wreq_{j}"
        top.net(f"{name}_data", idx_w, cat(*([zeros(idx_w - e_idx)] if idx_w > e_idx else []),
                                          bits("wreq_m_tdata", i * e_idx, e_idx)))
        top.net(f"{name}_data_tvalid", 1, bit("wreq_m_tvalid", i))
        top.net(f"{name}_data_tlast", 1, bit("wreq_m_tlast", i))
        idx_streams.append((j, f"{name}_data"))
    return [both(I(valid), I("routes_s_tready")), both(I("wreq_tvalid"), I("wreq_tready"))]


def _memory_parameters(kernel, params) -> list[tuple[str, tuple]]:
    """The engine's table parameters ($readmemh files) and their contents (values, bits)."""
    return sorted(kernel.make_case(params).memories.items())


def write_project(program: Program, out: Path, config: TopConfig = TopConfig()) -> dict:
    """The accelerator's RTL project in ``out``, self-contained: the kernel sources it needs (copied from
    ``rtl/``), hwmoe_accel.v, the file list hwmoe_accel.f (names relative to ``out``, leaves first), the table
    files, and hwmoe_accel.vlt, the Verilator waiver naming the signals the top reads only in part; returns
    {file kind: path}."""
    verilog, memories, unused = generate(program, config)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for module in ["hwmoe_ctrl", "hwmoe_seq", "hwmoe_dma", "hwmoe_stream_fork",
                   *(KERNELS[e].rtl_top for e in program.engines.params)]:
        for source in sources(module):
            if source.name not in files:
                files.append(source.name)
                shutil.copyfile(source, out / source.name)
    (out / f"{TOP}.v").write_text(verilog)
    tables = {}
    for engine, params in program.engines.params.items():
        for name, (values, width) in _memory_parameters(KERNELS[engine], params):
            path = out / memories[f"{engine.upper()}_{name}"]
            write_memh(path, values, width)
            tables[f"{engine.upper()}_{name}"] = path
    filelist = out / f"{TOP}.f"
    filelist.write_text("".join(f"{name}\n" for name in [*files, f"{TOP}.v"]))
    waiver = out / f"{TOP}.vlt"
    waiver.write_text("`verilator_config\n" + "".join(
        f'lint_off -rule UNUSEDSIGNAL -file "*{TOP}.v" -match "*{name}*"\n' for name in unused))
    return {"top": out / f"{TOP}.v", "filelist": filelist, "waiver": waiver, "tables": tables}
