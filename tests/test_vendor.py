"""The vendor scripts of ``hwmoe build --board`` for every board: each Tcl file runs in tclsh against stubs that
record every Vivado command it calls (handles stand for the objects), and the record is checked against the
board file and the generated top: the files read exist, the part, board part and clock are the board's, every
port is mapped to an interface, the block design wires each interface of the IP; the Alveo wrapper elaborates in
Icarus with the top, kernel.xml and the v++ link configuration name real ports, registers and memory banks."""
from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from hwmoe.accel import registers
from hwmoe.boards import board_names, load_board
from hwmoe.cli import main
from hwmoe.errors import UserError

TCLSH = shutil.which("tclsh") or "/usr/bin/tclsh"          # Debian's tcl package (the Makefile installs it)

#: Replaces every command Tcl does not know (Vivado's) by one that records its words and returns a handle.
STUB = r"""
set calls [open [lindex $argv 0] w]
fconfigure $calls -buffering line
set handles 0
proc json {s} {
    return "\"[string map [list \\ \\\\ \" \\\" \n \\n \r \\r \t \\t] $s]\""
}
proc unknown {args} {
    global calls handles
    set handle "@[incr handles]"
    set words [list [json $handle]]
    foreach word $args {
        lappend words [json $word]
    }
    puts $calls "\[[join $words ,]\]"
    return $handle
}
cd [file dirname [lindex $argv 1]]
source [lindex $argv 1]
close $calls
"""

#: The Vivado commands the scripts may call (a misspelt one would be recorded like any other).
VIVADO = {
    "create_project", "add_files", "set_property", "get_property", "current_fileset", "current_project",
    "update_compile_order", "close_project", "update_ip_catalog", "get_files", "make_wrapper", "launch_runs",
    "wait_on_run", "create_bd_design", "create_bd_cell", "apply_bd_automation", "get_bd_pins", "get_bd_intf_pins",
    "connect_bd_net", "connect_bd_intf_net", "assign_bd_address", "validate_bd_design", "save_bd_design",
    "package_xo", "ipx::package_project", "ipx::current_core", "ipx::remove_all_bus_interface",
    "ipx::remove_all_address_space", "ipx::get_memory_maps", "ipx::remove_memory_map", "ipx::add_bus_interface",
    "ipx::add_port_map", "ipx::add_bus_parameter", "ipx::add_memory_map", "ipx::get_bus_interfaces",
    "ipx::add_address_block", "ipx::add_address_space", "ipx::create_xgui_files", "ipx::update_checksums",
    "ipx::check_integrity", "ipx::save_core",
}
AXI_LITE = {"AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY", "BRESP", "BVALID", "BREADY",
            "ARADDR", "ARVALID", "ARREADY", "RDATA", "RRESP", "RVALID", "RREADY"}
AXI4 = AXI_LITE | {"AWID", "AWLEN", "AWSIZE", "AWBURST", "WLAST", "BID", "ARID", "ARLEN", "ARSIZE", "ARBURST", "RID",
                   "RLAST"}
#: flow: (processing system IP, its PL clock setting, clock pin, reset pin, interrupt pin)
PS = {"zynqmp": ("xilinx.com:ip:zynq_ultra_ps_e", "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ", "ps/pl_clk0",
                 "ps/pl_resetn0", "ps/pl_ps_irq0"),
      "zynq7": ("xilinx.com:ip:processing_system7", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ", "ps/FCLK_CLK0",
                "ps/FCLK_RESET0_N", "ps/IRQ_F2P")}


@dataclass(frozen=True)
class Call:
    handle: str
    name: str
    args: tuple[str, ...]

    def option(self, flag: str) -> str:
        return self.args[self.args.index(flag) + 1]


def run_tcl(script: Path, tmp: Path) -> list[Call]:
    stub, log = tmp / "stub.tcl", tmp / f"{script.parent.name}_{script.stem}.calls"
    stub.write_text(STUB)
    subprocess.run([TCLSH, str(stub), str(log), str(script)], check=True, capture_output=True, timeout=60)
    return [Call(h, name, tuple(args)) for h, name, *args in map(json.loads, log.read_text().splitlines())]


def ports_of(verilog: Path) -> dict[str, tuple[str, int]]:
    """{port: (direction, width)} of the module's declaration."""
    return {name: (d, int(msb) + 1 if msb else 1) for d, msb, name in
            re.findall(r"^\s*(input|output)\s+wire\s+(?:\[(\d+):0\]\s+)?(\w+)", verilog.read_text(), re.M)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One tiny build, by the command line, for the u280 (its scripts come from the build itself)."""
    out = tmp_path_factory.mktemp("vendor") / "u280"
    assert main(["build", "--preset", "tiny", "--board", "u280", "-o", str(out)]) == 0
    return out


@pytest.fixture(params=board_names())
def board_dir(request, built, tmp_path):
    """(board, a build folder with its scripts): the u280's own build, a copy with the scripts written for any
    other board."""
    from hwmoe.accel import vendor
    board = load_board(request.param)
    if board.name == "u280":
        return board, built
    out = tmp_path / board.name
    shutil.copytree(built / "rtl", out / "rtl")
    shutil.copy(built / "image.bin", out / "image.bin")
    assert vendor.write(out, board)
    return board, out


def interfaces(calls: list[Call]) -> dict:
    """{interface: {"mode", "type", "maps": {logical: physical}, "params": {name: value}}} from ipx calls."""
    by = {c.handle: c for c in calls}
    buses = {c.handle: c.args[0] for c in calls if c.name == "ipx::add_bus_interface"}
    out = {name: {"maps": {}, "params": {}} for name in buses.values()}
    for c in calls:
        if c.name != "set_property" or c.args[-1] not in by:
            continue
        prop, value, target = c.args[0], c.args[1], by[c.args[-1]]
        if target.handle in buses:
            out[buses[target.handle]][prop] = value
        elif target.name == "ipx::add_port_map" and prop == "physical_name":
            out[buses[target.args[1]]]["maps"][target.args[0]] = value
        elif target.name == "ipx::add_bus_parameter" and prop == "value":
            out[buses[target.args[1]]]["params"][target.args[0]] = value
    return out


def check_package(calls: list[Call], board, module: Path, out: Path, reset_polarity: str) -> dict:
    """The IP package script of ``module``: the sources it adds, the part, every port in an interface."""
    rtl = out / "rtl"
    assert [c.option("-part") for c in calls if c.name == "create_project"] == [board.part]
    added = [a for c in calls if c.name == "add_files" for a in c.args if not a.startswith("-")]
    assert all(Path(a).is_file() for a in added), added
    listed = (rtl / "hwmoe_accel.f").read_text().split()
    want = {rtl / n for n in listed} | set(rtl.glob("*.mem")) | ({module} if module.parent != rtl else set())
    assert {Path(a) for a in added} == want and len(added) == len(want)
    top = next(c.args[1] for c in calls if c.name == "set_property" and c.args[0] == "top")
    assert top == module.stem
    buses = interfaces(calls)
    ports = ports_of(module)
    mapped = [p for b in buses.values() for p in b["maps"].values()]
    assert sorted(mapped) == sorted(ports), "every port in exactly one interface"
    axi = {n: b for n, b in buses.items() if b["bus_type_vlnv"] == "xilinx.com:interface:aximm:1.0"}
    assert len(axi) == 2
    for name, b in axi.items():
        assert b["abstraction_type_vlnv"] == "xilinx.com:interface:aximm_rtl:1.0"
        assert all(p == f"{name}_{logical.lower()}" for logical, p in b["maps"].items())
        master = ports[b["maps"]["AWADDR"]][0] == "output"
        assert b["interface_mode"] == ("master" if master else "slave")
        assert AXI_LITE <= set(b["maps"]) <= AXI4 and (set(b["maps"]) == AXI4) == master
    (clock,) = [n for n, b in buses.items() if b["bus_type_vlnv"] == "xilinx.com:signal:clock:1.0"]
    (reset,) = [n for n, b in buses.items() if b["bus_type_vlnv"] == "xilinx.com:signal:reset:1.0"]
    (irq,) = [n for n, b in buses.items() if b["bus_type_vlnv"] == "xilinx.com:signal:interrupt:1.0"]
    assert set(buses[clock]["params"]["ASSOCIATED_BUSIF"].split(":")) == set(axi)
    assert buses[clock]["params"]["ASSOCIATED_RESET"] == reset
    assert buses[reset]["params"]["POLARITY"] == reset_polarity
    assert ports[buses[irq]["maps"]["INTERRUPT"]][0] == "output"
    assert [c.name for c in calls if c.name.startswith("ipx::")][-1] == "ipx::save_core"
    pkg = next(c for c in calls if c.name == "ipx::package_project")
    version = next(c.args[1] for c in calls if c.name == "set_property" and c.args[0] == "version")
    return {"vlnv": f"{pkg.option('-vendor')}:{pkg.option('-library')}:{top}:{version}", "buses": buses,
            "clock": clock, "reset": reset, "irq": irq, "axi": axi}


def check_block_design(calls: list[Call], board, ip: dict) -> None:
    ps_ip, clock_setting, ps_clock, ps_resetn, ps_irq = PS[board.vendor.flow]
    assert {c.option("-part") for c in calls if c.name == "create_project"} == {board.part}
    parts = [c.args[1] for c in calls if c.name == "set_property" and c.args[0] == "board_part"]
    assert parts == [board.vendor.board_part]
    cells = {c.args[-1]: (c.handle, c.option("-vlnv")) for c in calls if c.name == "create_bd_cell"}
    assert cells["ps"][1] == ps_ip and cells["accel"][1] == ip["vlnv"]
    settings = [c.args[1].split() for c in calls if c.name == "set_property" and c.args[:1] == ("-dict",)
                and c.args[2] == cells["ps"][0]]
    ps_settings = dict(zip(settings[0][::2], settings[0][1::2]))
    assert float(ps_settings[clock_setting]) == board.clock_mhz
    # nets: lists of pin names; pins of one interconnect or reset cell are joined inside it
    pins = {c.handle: c.args[0] for c in calls if c.name in ("get_bd_pins", "get_bd_intf_pins")}
    nets = [[pins[h] for h in c.args] for c in calls if c.name == "connect_bd_net"]
    intf = [[pins[h] for h in c.args] for c in calls if c.name == "connect_bd_intf_net"]
    used = {p.split("/")[1] for net in nets + intf for p in net if p.startswith("accel/")}
    assert used == set(ip["buses"]), "every interface of the IP connected, nothing else"

    def reaches_ps(pin: str) -> bool:
        seen, todo = set(), [pin]
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            if p.startswith("ps/"):
                return True
            todo += [q for net in intf if p in net for q in net]
            cell = p.split("/")[0]
            if cell not in ("accel", "ps"):
                todo += [q for net in intf for q in net if q.startswith(cell + "/")]
        return False
    assert all(reaches_ps(f"accel/{bus}") for bus in ip["axi"])
    (clock_net,) = [n for n in nets if ps_clock in n]
    assert f"accel/{ip['clock']}" in clock_net and {"control/aclk", "memory/aclk"} <= set(clock_net)
    assert [f"accel/{ip['irq']}", ps_irq] in nets
    assert ["reset/peripheral_reset", f"accel/{ip['reset']}"] in nets      # active high, as rst is
    assert [ps_resetn, "reset/ext_reset_in"] in nets
    assert any(c.name == "launch_runs" and c.option("-to_step") == "write_bitstream" for c in calls)


def check_alveo(out: Path, board, calls: list[Call], ip: dict) -> None:
    vitis = out / "vitis"
    package = next(c for c in calls if c.name == "package_xo")
    xml = ElementTree.parse(package.option("-kernel_xml")).getroot()
    kernel = xml.find("kernel")
    assert kernel.get("name") == package.option("-kernel_name") and kernel.get("vlnv") == ip["vlnv"]
    assert kernel.get("hwControlProtocol") == "user_managed"
    ports = {p.get("name"): p for p in kernel.iter("port")}
    assert set(ports) == set(ip["axi"])
    verilog = ports_of(vitis / "hwmoe_kernel.v")
    for name, p in ports.items():
        data = ip["buses"][name]["maps"]["WDATA"]
        assert int(p.get("dataWidth")) == verilog[data][1]
        assert p.get("mode") == ip["buses"][name]["interface_mode"]
    (master,) = [n for n, p in ports.items() if p.get("mode") == "master"]
    assert verilog[ip["buses"][master]["maps"]["ARADDR"]][1] == 64
    args = {a.get("name"): a for a in kernel.iter("arg")}
    assert int(args["image"].get("offset"), 16) == registers.BASE_LO and args["image"].get("port") == master
    assert int(args["prog"].get("offset"), 16) == registers.PROG
    cfg = configparser.ConfigParser(strict=True)
    cfg.read(vitis / "link.cfg")
    kname, count, cu = cfg["connectivity"]["nk"].split(":")
    assert kname == kernel.get("name") and count == "1"
    target, bank = cfg["connectivity"]["sp"].split(":", 1)
    assert target == f"{cu}.{master}" and bank in board.memory.banks
    freq, clock = cfg["clock"]["freqHz"].split(":")
    assert int(freq) == board.clock_mhz * 1e6 and clock == f"{cu}.{ip['clock']}"
    script = (vitis / "build.sh").read_text()
    subprocess.run(["sh", "-n", str(vitis / "build.sh")], check=True)
    assert f"--platform {board.vendor.platform} --config link.cfg" in script and "--link" in script


def test_scripts(board_dir, tmp_path):
    board, out = board_dir
    flow = board.vendor.flow
    scripts = sorted(p for d in ("vivado", "vitis") for p in (out / d).glob("*.tcl"))
    calls = {s.relative_to(out).as_posix(): run_tcl(s, tmp_path) for s in scripts}
    if flow == "alveo":
        assert set(calls) == {"vitis/package_kernel.tcl"}
        ip = check_package(calls["vitis/package_kernel.tcl"], board, out / "vitis" / "hwmoe_kernel.v", out,
                           "ACTIVE_LOW")
        check_alveo(out, board, calls["vitis/package_kernel.tcl"], ip)
    else:
        assert set(calls) == {"vivado/package_ip.tcl", "vivado/block_design.tcl"}
        ip = check_package(calls["vivado/package_ip.tcl"], board, out / "rtl" / "hwmoe_accel.v", out, "ACTIVE_HIGH")
        design = calls["vivado/block_design.tcl"]
        # it packages the IP first (the same calls), then builds the project around it
        assert design[:len(calls["vivado/package_ip.tcl"])] == calls["vivado/package_ip.tcl"]
        check_block_design(design, board, ip)
    assert {c.name for cs in calls.values() for c in cs} <= VIVADO


def test_board_without_vendor_gets_the_ip_package(built, tmp_path):
    import yaml
    from hwmoe.accel import vendor
    spec = {k: v for k, v in load_board("zcu104").to_dict().items() if k != "vendor"}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump({**spec, "name": "mine", "part": "xczu7ev-ffvc1156-1-e"}))
    board = load_board(tmp_path / "mine.yaml")
    out = tmp_path / "out"
    shutil.copytree(built / "rtl", out / "rtl")
    assert vendor.write(out, board) == ["vivado/package_ip.tcl"]
    calls = run_tcl(out / "vivado" / "package_ip.tcl", tmp_path)
    check_package(calls, board, out / "rtl" / "hwmoe_accel.v", out, "ACTIVE_HIGH")


@pytest.mark.rtl
def test_alveo_wrapper_elaborates(built, tmp_path):
    """hwmoe_kernel elaborates with the top in Icarus, every port of hwmoe_accel connected (Icarus only warns of
    a missing one, so the connections are compared too), and its reset is the registered inverse of ap_rst_n."""
    vitis = built / "vitis"
    files = [str(built / "rtl" / n) for n in (built / "rtl" / "hwmoe_accel.f").read_text().split()]
    r = subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "kernel.vvp"), "-s", "hwmoe_kernel",
                        str(vitis / "hwmoe_kernel.v"), *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = (vitis / "hwmoe_kernel.v").read_text()
    body = text.split("hwmoe_accel u_accel")[1]
    assert set(re.findall(r"\.(\w+)\(", body)) == set(ports_of(built / "rtl" / "hwmoe_accel.v"))
    assert ".rst(rst)" in body and "always @(posedge ap_clk) rst <= !ap_rst_n;" in text
    top = ports_of(built / "rtl" / "hwmoe_accel.v")
    for a in ("araddr", "awaddr"):       # zero-extended to the 64 bits of a Vitis kernel's master
        assert f"assign m_axi_gmem_{a} = {{{64 - top[f'm_axi_{a}'][1]}'d0, m_axi_{a}}};" in text


def test_hls_tcl_runs_when_present(built, tmp_path):
    """Any Tcl the build writes under hls/ (the HLS project's) runs in the stubs too, from its folder, adding
    only files that exist, for the board's part."""
    scripts = sorted((built / "hls").rglob("*.tcl"))
    if not scripts:
        pytest.skip("this build writes no hls/ project")
    for script in scripts:
        calls = run_tcl(script, tmp_path)
        for c in calls:
            if c.name == "add_files":
                flags = {i + 1 for i, a in enumerate(c.args) if a in ("-cflags", "-csimflags")}
                files = [a for i, a in enumerate(c.args) if not a.startswith("-") and i not in flags]
                assert all((script.parent / a).exists() for a in files), c
            if c.name == "set_part":
                assert c.args[0] == load_board("u280").part, c


def test_memory_banks():
    from hwmoe.accel.vendor import memory_banks
    u280, u250 = load_board("u280"), load_board("u250")
    assert memory_banks(u280, 1000) == "HBM[0]"
    assert memory_banks(u280, 600_000_000) == "HBM[0:2]"        # 250 MB per pseudo-channel
    assert memory_banks(u250, 15_000_000_000) == "DDR[0]"
    with pytest.raises(UserError, match="one DDR bank"):
        memory_banks(u250, 17_000_000_000)
    with pytest.raises(UserError, match="does not fit"):
        memory_banks(u280, 9_000_000_000)
