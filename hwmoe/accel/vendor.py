"""Vendor project scripts written by ``hwmoe build --board B -o DIR``: Vivado and Vitis Tcl (and a v++ link
configuration) that take the generated top in ``DIR/rtl/`` to the board, from the board file (part, clock, memory,
its ``vendor`` field: hwmoe/boards.py) and the top's ports as written.  Nothing here can run them (no Vivado, no
Vitis): they are untested on hardware; tests/test_vendor.py runs every Tcl file in tclsh against recording stubs
of the Vivado commands.

- every board but an Alveo card: ``vivado/package_ip.tcl`` packages ``hwmoe_accel`` as an IP (``vivado/ip/``),
  its interfaces declared port by port: AXI4-Lite slave ``s_axil``, AXI4 master ``m_axi``, clock, active-high reset, interrupt;
- ``zynqmp`` / ``zynq7``: ``vivado/block_design.tcl``: the processing system with the board's preset, the IP,
  a SmartConnect from the PS master to ``s_axil`` and one from ``m_axi`` to a PS high-performance slave port, the
  PL clock at the board clock, a reset block, the interrupt, addresses, wrapper, bitstream;
- ``alveo``: ``vitis/``: ``hwmoe_kernel.v`` (the top under a Vitis RTL kernel's names: ``ap_clk``, active-low
  ``ap_rst_n``, ``s_axi_control``, ``m_axi_gmem``, ``interrupt``), ``package_kernel.tcl`` (IP, then
  ``package_xo``), ``kernel.xml`` (user-managed control: the host driver, not XRT, starts the runs),
  ``link.cfg`` (v++ ``--link``: one compute unit, its AXI master on the board's memory banks, the board clock),
  ``build.sh``.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from ..errors import UserError
from . import registers
from .registers import KERNEL, TOP

VENDOR, LIBRARY, VERSION = "hwmoe.org", "hwmoe", "1.0"     # the packaged IPs' VLNV: VENDOR:LIBRARY:<top>:VERSION
KERNEL_ADDR_W = 64          # a Vitis kernel's AXI4 master has 64-bit addresses (hwmoe build generates such a top)
UNTESTED = "Untested on hardware: hwmoe cannot run Vivado or Vitis where it is tested."


@dataclass(frozen=True)
class Port:
    name: str
    direction: str          # "input" or "output"
    width: int


@dataclass(frozen=True)
class Shell:
    """The names of a packaged module's clock, reset, interrupt and bus interfaces (a bus interface's name is the
    prefix of its ports: ``s_axil_awaddr`` is AWADDR of ``s_axil``)."""
    module: str
    clock: str
    reset: str
    reset_polarity: str     # ACTIVE_HIGH or ACTIVE_LOW
    interrupt: str
    slave: str              # AXI4-Lite
    master: str             # AXI4

    def bus(self, port: str) -> str:
        """The bus interface ``port`` belongs to."""
        for single in (self.clock, self.reset, self.interrupt):
            if port == single:
                return single
        for bus in (self.slave, self.master):
            if port.startswith(bus + "_"):
                return bus
        raise ValueError(f"{self.module}: port {port} belongs to no interface")


ACCEL = Shell(TOP, "clk", "rst", "ACTIVE_HIGH", "irq", "s_axil", "m_axi")
VITIS = Shell(KERNEL, "ap_clk", "ap_rst_n", "ACTIVE_LOW", "interrupt", "s_axi_control", "m_axi_gmem")


def top_ports(rtl: Path) -> list[Port]:
    """The ports of the generated top ``rtl/hwmoe_accel.v`` (its declarations as hwmoe.accel.top writes them)."""
    text = (rtl / f"{TOP}.v").read_text()
    ports = [Port(name, direction, int(msb) + 1 if msb else 1) for direction, msb, name in
             re.findall(r"^\s*(input|output) wire (?:\[(\d+):0\] )?(\w+)", text, re.M)]
    for p in ports:
        ACCEL.bus(p.name)
    return ports


def write(out: Path, board) -> list[str]:
    """The scripts for ``board`` beside the build in ``out`` (``out/rtl``, ``out/image.bin``); returns their
    names in ``out``."""
    ports = top_ports(out / "rtl")
    flow = board.vendor.flow if board.vendor else None
    if flow == "alveo":
        kernel_ports = [Port(_rename(p.name, ACCEL, VITIS), p.direction,
                             KERNEL_ADDR_W if _is_address(p.name) else p.width) for p in ports]
        files = {"vitis/hwmoe_kernel.v": wrapper(ports),
                 "vitis/package_kernel.tcl": package_tcl(board, VITIS, kernel_ports, kernel=True),
                 "vitis/kernel.xml": kernel_xml(kernel_ports),
                 "vitis/link.cfg": link_cfg(board, (out / "image.bin").stat().st_size),
                 "vitis/build.sh": build_sh(board)}
    else:
        files = {"vivado/package_ip.tcl": package_tcl(board, ACCEL, ports, kernel=False)}
        if flow is not None:
            files["vivado/block_design.tcl"] = block_design_tcl(board)
    for name, text in files.items():
        path = out / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        if path.suffix == ".sh":
            path.chmod(0o755)
    return list(files)


def _rename(port: str, src: Shell, dst: Shell) -> str:
    bus = src.bus(port)
    new = {src.clock: dst.clock, src.reset: dst.reset, src.interrupt: dst.interrupt,
           src.slave: dst.slave, src.master: dst.master}[bus]
    return new + port[len(bus):]


def _is_address(port: str) -> bool:
    """An address of the top's AXI4 master (64 bits on a Vitis kernel; a narrower top's zero-extended)."""
    return port in (f"{ACCEL.master}_araddr", f"{ACCEL.master}_awaddr")


def _width_of(ports: list[Port], name: str) -> int:
    return next(p.width for p in ports if p.name == name)


def _header(board, what: str, run: str) -> str:
    return (f"# {what}\n# Written by `hwmoe build --board {board.name}` for the {board.description}.\n"
            f"# {UNTESTED}\n# Run: {run}\n")


def _size(n: int) -> str:
    """A power-of-two byte count as Vivado writes address ranges (4K, 4G, 16E)."""
    exp = n.bit_length() - 1
    unit = min(exp // 10, 6)
    return f"{1 << (exp - 10 * unit)}{' KMGTPE'[unit].strip()}"


def _tcl_dict(pairs: list[tuple[str, object]]) -> str:
    return " ".join(f"{k} {{{v}}}" for k, v in pairs)


def package_tcl(board, shell: Shell, ports: list[Port], kernel: bool) -> str:
    """Vivado Tcl packaging ``shell.module`` (the files of ``rtl/hwmoe_accel.f``, the tables, the Vitis wrapper
    when ``kernel``) as an IP in ``ip/`` beside the script, every port mapped to its interface by name; a kernel
    is then packaged for Vitis with ``package_xo``."""
    def maps(bus: str) -> str:
        return " ".join(f"{p.name[len(bus) + 1:].upper()} {p.name}" for p in ports if shell.bus(p.name) == bus)
    regs = 1 << _width_of(ports, f"{shell.slave}_awaddr")
    addr_w = _width_of(ports, f"{shell.master}_araddr")
    name = "package_kernel.tcl" if kernel else "package_ip.tcl"
    out = [_header(board, f"Packages {shell.module} as a Vivado IP ({VENDOR}:{LIBRARY}:{shell.module}:{VERSION}) "
                          "in ip/ beside this script.", f"vivado -mode batch -source {name}"),
           "set here [file dirname [file normalize [info script]]]",
           "set rtl [file normalize [file join $here .. rtl]]",
           f"create_project -force {shell.module}_ip [file join $here ip_project] -part {board.part}",
           f"set list [open [file join $rtl {TOP}.f]]",
           "foreach name [split [string trim [read $list]] \"\\n\"] {",
           "    add_files -norecurse [file join $rtl $name]",
           "}",
           "close $list",
           "foreach table [glob -directory $rtl *.mem] {",
           "    add_files -norecurse $table",
           "}"]
    if kernel:
        out.append(f"add_files -norecurse [file join $here {KERNEL}.v]")
    out += [f"set_property top {shell.module} [current_fileset]",
            "update_compile_order -fileset sources_1",
            f"ipx::package_project -root_dir [file join $here ip] -vendor {VENDOR} -library {LIBRARY} "
            "-taxonomy /UserIP -import_files -set_current true",
            "set core [ipx::current_core]",
            f"set_property version {VERSION} $core",
            "# the interfaces are declared below, port by port, not inferred",
            "ipx::remove_all_bus_interface $core",
            "ipx::remove_all_address_space $core",
            "foreach map [ipx::get_memory_maps -of_objects $core] {",
            "    ipx::remove_memory_map [get_property NAME $map] $core",
            "}",
            "proc add_bus {core name mode type maps params} {",
            "    set bus [ipx::add_bus_interface $name $core]",
            "    set_property bus_type_vlnv $type:1.0 $bus",
            "    set_property abstraction_type_vlnv ${type}_rtl:1.0 $bus",
            "    set_property interface_mode $mode $bus",
            "    foreach {logical physical} $maps {",
            "        set_property physical_name $physical [ipx::add_port_map $logical $bus]",
            "    }",
            "    foreach {param value} $params {",
            "        set_property value $value [ipx::add_bus_parameter $param $bus]",
            "    }",
            "}",
            f"add_bus $core {shell.slave} slave xilinx.com:interface:aximm {{{maps(shell.slave)}}} {{}}",
            f"add_bus $core {shell.master} master xilinx.com:interface:aximm {{{maps(shell.master)}}} {{}}",
            f"add_bus $core {shell.clock} slave xilinx.com:signal:clock {{CLK {shell.clock}}} "
            f"{{ASSOCIATED_BUSIF {shell.slave}:{shell.master} ASSOCIATED_RESET {shell.reset}}}",
            f"add_bus $core {shell.reset} slave xilinx.com:signal:reset {{RST {shell.reset}}} "
            f"{{POLARITY {shell.reset_polarity}}}",
            f"add_bus $core {shell.interrupt} master xilinx.com:signal:interrupt {{INTERRUPT {shell.interrupt}}} "
            "{SENSITIVITY LEVEL_HIGH}",
            f"# the registers (docs/accelerator.md): {regs} bytes of the AXI4-Lite address space",
            f"ipx::add_memory_map {shell.slave} $core",
            f"set_property slave_memory_map_ref {shell.slave} "
            f"[ipx::get_bus_interfaces {shell.slave} -of_objects $core]",
            f"set block [ipx::add_address_block registers [ipx::get_memory_maps {shell.slave} -of_objects $core]]",
            f"set_property range {_size(regs)} $block",
            "set_property width 32 $block",
            f"# the memory the AXI4 master reaches: {addr_w}-bit addresses",
            f"set space [ipx::add_address_space {shell.master} $core]",
            f"set_property master_address_space_ref {shell.master} "
            f"[ipx::get_bus_interfaces {shell.master} -of_objects $core]",
            f"set_property range {_size(1 << addr_w)} $space",
            f"set_property width {addr_w} $space"]
    if kernel:
        out += ["# a Vitis RTL kernel started by the host driver, not by XRT (kernel.xml: user-managed)",
                "set_property sdx_kernel true $core",
                "set_property sdx_kernel_type rtl $core",
                "set_property vitis_drc {ctrl_protocol user_managed} $core",
                "set_property ipi_drc {ignore_freq_hz true} $core"]
    out += ["ipx::create_xgui_files $core",
            "ipx::update_checksums $core",
            f"ipx::check_integrity {'-kernel ' if kernel else ''}$core",
            "ipx::save_core $core",
            "close_project"]
    if kernel:
        out.append(f"package_xo -force -xo_path [file join $here {KERNEL}.xo] -kernel_name {KERNEL} "
                   "-ip_directory [file join $here ip] -kernel_xml [file join $here kernel.xml]")
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class PS:
    """A Zynq processing system in a block design: its IP, automation rule, the pins hwmoe_accel meets and the
    settings that enable them and set the PL clock."""
    ip: str
    rule: str
    automation: str         # the rule's -config, {preset} = 1 with a board part, else 0
    master: str             # AXI master port (to s_axil) and its clock pin
    master_clock: str
    slave: str              # high-performance AXI slave port (from m_axi) and its clock pin
    slave_clock: str
    clock: str              # PL clock 0, its active-low reset, the PL-to-PS interrupt
    resetn: str
    irq: str
    clock_setting: str      # the PS setting of PL clock 0 in MHz
    settings: tuple[tuple[str, int], ...]


PS_KINDS = {
    "zynqmp": PS("zynq_ultra_ps_e", "xilinx.com:bd_rule:zynq_ultra_ps_e", 'apply_board_preset "{preset}"',
                 "M_AXI_HPM0_FPD", "maxihpm0_fpd_aclk", "S_AXI_HP0_FPD", "saxihp0_fpd_aclk",
                 "pl_clk0", "pl_resetn0", "pl_ps_irq0", "CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ",
                 # HPM0 FPD on, HPM1 FPD and HPM0 LPD off, HP0 FPD on, PL-to-PS interrupts 0-7, PL clock 0
                 (("CONFIG.PSU__USE__M_AXI_GP0", 1), ("CONFIG.PSU__USE__M_AXI_GP1", 0),
                  ("CONFIG.PSU__USE__M_AXI_GP2", 0), ("CONFIG.PSU__USE__S_AXI_GP2", 1),
                  ("CONFIG.PSU__USE__IRQ0", 1), ("CONFIG.PSU__FPGA_PL0_ENABLE", 1))),
    "zynq7": PS("processing_system7", "xilinx.com:bd_rule:processing_system7",
                'make_external "FIXED_IO, DDR" apply_board_preset "{preset}" Master "Disable" Slave "Disable"',
                "M_AXI_GP0", "M_AXI_GP0_ACLK", "S_AXI_HP0", "S_AXI_HP0_ACLK",
                "FCLK_CLK0", "FCLK_RESET0_N", "IRQ_F2P", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ",
                (("CONFIG.PCW_USE_M_AXI_GP0", 1), ("CONFIG.PCW_USE_S_AXI_HP0", 1),
                 ("CONFIG.PCW_USE_FABRIC_INTERRUPT", 1), ("CONFIG.PCW_IRQ_F2P_INTR", 1),
                 ("CONFIG.PCW_EN_CLK0_PORT", 1))),
}


def block_design_tcl(board) -> str:
    """Vivado Tcl: the project for ``board`` (part, board part), its block design around the processing system
    and the packaged hwmoe_accel, and the runs to a bitstream."""
    ps, v, a = PS_KINDS[board.vendor.flow], board.vendor, ACCEL
    settings = [*ps.settings, (ps.clock_setting, f"{board.clock_mhz:g}")]
    pins = lambda *names: " ".join(f"[get_bd_pins {n}]" for n in names)
    intf = lambda *names: " ".join(f"[get_bd_intf_pins {n}]" for n in names)
    out = [_header(board, f"A Vivado project for the {board.name}: the {ps.ip} processing system, the hwmoe_accel IP "
                          "(packaged first by package_ip.tcl), the bitstream.",
                   "vivado -mode batch -source block_design.tcl"),
           "set here [file dirname [file normalize [info script]]]",
           "source [file join $here package_ip.tcl]",
           f"create_project -force hwmoe_{board.name} [file join $here project] -part {board.part}"]
    if v.board_part:
        out.append(f"set_property board_part {v.board_part} [current_project]")
    else:
        out.append("# no board part in the board file: configure the processing system's DDR and MIO yourself")
    out += ["set_property ip_repo_paths [file join $here ip] [current_project]",
            "update_ip_catalog",
            "create_bd_design hwmoe",
            f"set ps [create_bd_cell -type ip -vlnv xilinx.com:ip:{ps.ip} ps]",
            f"apply_bd_automation -rule {ps.rule} -config {{{ps.automation.format(preset=int(bool(v.board_part)))}}} "
            "$ps",
            f"set_property -dict [list {_tcl_dict(settings)}] $ps",
            f"create_bd_cell -type ip -vlnv {VENDOR}:{LIBRARY}:{TOP}:{VERSION} accel",
            "create_bd_cell -type ip -vlnv xilinx.com:ip:proc_sys_reset reset",
            "foreach sc {control memory} {",
            "    set_property -dict [list CONFIG.NUM_SI {1} CONFIG.NUM_MI {1}] "
            "[create_bd_cell -type ip -vlnv xilinx.com:ip:smartconnect $sc]",
            "}",
            f"connect_bd_intf_net {intf(f'ps/{ps.master}', 'control/S00_AXI')}",
            f"connect_bd_intf_net {intf('control/M00_AXI', f'accel/{a.slave}')}",
            f"connect_bd_intf_net {intf(f'accel/{a.master}', 'memory/S00_AXI')}",
            f"connect_bd_intf_net {intf('memory/M00_AXI', f'ps/{ps.slave}')}",
            f"connect_bd_net {pins(f'ps/{ps.clock}', f'accel/{a.clock}', 'control/aclk', 'memory/aclk')} "
            f"{pins('reset/slowest_sync_clk', f'ps/{ps.master_clock}', f'ps/{ps.slave_clock}')}",
            f"connect_bd_net {pins(f'ps/{ps.resetn}', 'reset/ext_reset_in')}",
            f"connect_bd_net {pins('reset/peripheral_reset', f'accel/{a.reset}')}",
            f"connect_bd_net {pins('reset/interconnect_aresetn', 'control/aresetn', 'memory/aresetn')}",
            f"connect_bd_net {pins(f'accel/{a.interrupt}', f'ps/{ps.irq}')}",
            "assign_bd_address",
            "validate_bd_design",
            "save_bd_design",
            "make_wrapper -files [get_files hwmoe.bd] -top -import",
            "set_property top hwmoe_wrapper [current_fileset]",
            "update_compile_order -fileset sources_1",
            "launch_runs impl_1 -to_step write_bitstream -jobs 4",
            "wait_on_run impl_1"]
    return "\n".join(out) + "\n"


def wrapper(ports: list[Port]) -> str:
    """Verilog of hwmoe_kernel: hwmoe_accel under a Vitis RTL kernel's names, its reset taken from the active-low
    ``ap_rst_n`` through a register, its AXI4 master's addresses 64 bits (a narrower top's zero-extended)."""
    decl, body, conns = [], [], []
    for p in ports:
        name = _rename(p.name, ACCEL, VITIS)
        width = KERNEL_ADDR_W if _is_address(p.name) else p.width
        decl.append(f"{p.direction:<6} wire {f'[{width - 1}:0] ' if width > 1 else ''}{name}")
        if _is_address(p.name) and width > p.width:
            body.append(f"    wire [{p.width - 1}:0] {p.name};\n"
                        f"    assign {name} = {{{width - p.width}'d0, {p.name}}};\n")
            name = p.name
        elif p.name == ACCEL.reset:
            name = "rst"
        conns.append(f".{p.name}({name})")
    return (f"// {KERNEL}: {TOP} under the interface names of a Vitis RTL kernel (written by hwmoe build).\n"
            f"// {UNTESTED}\n"
            "`default_nettype none\n"
            f"module {KERNEL} (\n" + ",\n".join(f"    {d}" for d in decl) + "\n);\n"
            "    reg rst = 1'b1;\n"
            f"    always @(posedge {VITIS.clock}) rst <= !{VITIS.reset};\n" + "".join(body) + "\n"
            f"    {TOP} u_accel (\n" + ",\n".join(f"        {c}" for c in conns) + "\n    );\n"
            "endmodule\n`default_nettype wire\n")


def kernel_xml(ports: list[Port]) -> str:
    """The kernel description package_xo takes: user-managed control, the image pointer at BASE and the program
    offset at PROG, so XRT places the image's buffer on the compute unit's memory.  The registers follow
    ap_ctrl_hs (registers.py), so XRT could schedule the kernel itself; user-managed because the host driver
    reads ERROR, COMMANDS, ID and the run counters, which are no kernel arguments, through ``xrt::ip``, XRT's
    register access to a kernel it does not control (an XRT-managed kernel's registers need an exclusive context
    and XRT then owns AP_CTRL and the interrupt)."""
    root = ElementTree.Element("root", versionMajor="1", versionMinor="6")
    kernel = ElementTree.SubElement(root, "kernel", name=KERNEL, language="ip_c",
                                    vlnv=f"{VENDOR}:{LIBRARY}:{KERNEL}:{VERSION}", attributes="",
                                    preferredWorkGroupSizeMultiple="0", workGroupSize="1", interrupt="true",
                                    hwControlProtocol="user_managed")
    xml_ports = ElementTree.SubElement(kernel, "ports")
    regs = 1 << _width_of(ports, f"{VITIS.slave}_awaddr")
    ElementTree.SubElement(xml_ports, "port", name=VITIS.slave, mode="slave", range=hex(regs),
                           dataWidth=str(_width_of(ports, f"{VITIS.slave}_wdata")), portType="addressable",
                           base="0x0")
    ElementTree.SubElement(xml_ports, "port", name=VITIS.master, mode="master",
                           range=hex((1 << _width_of(ports, f"{VITIS.master}_araddr")) - 1),
                           dataWidth=str(_width_of(ports, f"{VITIS.master}_wdata")), portType="addressable",
                           base="0x0")
    args = ElementTree.SubElement(kernel, "args")
    for i, (name, port, offset, size, ctype) in enumerate((
            ("image", VITIS.master, registers.BASE_LO, 8, "void*"),
            ("prog", VITIS.slave, registers.PROG, 4, "uint"))):
        ElementTree.SubElement(args, "arg", name=name, addressQualifier="1" if ctype.endswith("*") else "0",
                               id=str(i), port=port, size=hex(size), offset=hex(offset), type=ctype,
                               hostOffset="0x0", hostSize=hex(size))
    ElementTree.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(root, encoding="unicode") + "\n"


def memory_banks(board, image_bytes: int) -> str:
    """The ``sp=`` target of the kernel's AXI master: the first bank, or the first HBM banks, that hold the
    image."""
    banks = board.memory.banks
    per_bank = board.memory.capacity_gb * 1e9 / len(banks)
    need = max(1, math.ceil(image_bytes / per_bank))
    if need == 1:
        return banks[0]
    if need > len(banks) or not banks[0].startswith("HBM"):
        raise UserError(f"the memory image ({image_bytes:,} bytes) does not fit one {board.name} memory bank "
                        f"({per_bank:,.0f} bytes)" + ("" if need > len(banks) else
                                                      "; the kernel's one AXI master reaches one DDR bank"))
    return f"HBM[0:{need - 1}]"


def link_cfg(board, image_bytes: int) -> str:
    """The v++ --link configuration: one compute unit, its AXI master on the board's banks, its clock."""
    cu = f"{KERNEL}_1"
    return (f"# v++ --link configuration for the {board.name} (written by hwmoe build; see build.sh). {UNTESTED}\n"
            "[connectivity]\n"
            f"nk={KERNEL}:1:{cu}\n"
            f"sp={cu}.{VITIS.master}:{memory_banks(board, image_bytes)}\n"
            "[clock]\n"
            f"freqHz={round(board.clock_mhz * 1e6)}:{cu}.{VITIS.clock}\n")


def build_sh(board) -> str:
    """The two commands of the Alveo flow: package the kernel, link it onto the board's platform."""
    return ("#!/bin/sh\n"
            f"# The Vitis flow for the {board.description}: package {KERNEL}.xo, link hwmoe.xclbin.\n"
            f"# Written by `hwmoe build --board {board.name}`. {UNTESTED}\n"
            "set -e\n"
            'cd "$(dirname "$0")"\n'
            "vivado -mode batch -source package_kernel.tcl\n"
            f"v++ --link --target hw --platform {board.vendor.platform} --config link.cfg "
            f"-o hwmoe.xclbin {KERNEL}.xo\n")
