"""The one register map (hwmoe/accel/registers.py) as both tops implement it: the HLS top's generated INTERFACE
pragmas put every argument at the offset registers.py gives, the RTL's hwmoe_ctrl decodes the same word
addresses, and the map follows Vitis's offset rule (one extra word per argument, nothing overlapping, the RTL
counters above it).  Text only: no compiler, no simulator."""
import re

from hwmoe.accel import registers as reg
from hwmoe.backends.hls.accel import top_header, top_source
from hwmoe.backends.rtl.modules import _int
from hwmoe.paths import RTL_DIR


def test_hls_pragmas_pin_every_register():
    """Each s_axilite argument of the generated top at registers.py's offset, ap_ctrl_hs on the same bundle,
    the arguments in the map's order and widths, and the ID written as registers.py has it."""
    src = top_source(4096, 128)
    pinned = {port: int(offset, 16) for port, offset in
              re.findall(r"INTERFACE mode=s_axilite port=(\w+) offset=(0x[0-9a-f]+) bundle=control", src)}
    assert pinned == {name: offset for name, (offset, _, _) in reg.ARGUMENTS.items()}
    assert "INTERFACE mode=s_axilite port=return bundle=control" in src
    assert "INTERFACE mode=ap_ctrl_hs port=return bundle=control" in src
    args = re.search(r"void hwmoe_accel\(hwmoe::accel::bus_t \*mem,\s*([^)]*)\)", top_header()).group(1)
    assert [tuple(a.split()) for a in args.split(", ")] == [
        (f"ap_uint<{width}>", ("&" if way == "out" else "") + name) for name, (_, width, way) in reg.ARGUMENTS.items()]
    assert re.search(r"\bid = 0x([0-9A-F]{8});", src).group(1) == f"{reg.ID_VALUE:08X}"


def test_rtl_decodes_the_same_offsets():
    """hwmoe_ctrl's word addresses (its A_* localparams) are registers.py's byte offsets / 4, and its ID."""
    text = (RTL_DIR / "hwmoe_ctrl.v").read_text()
    words = {name: _int(value) for name, value in re.findall(r"\b(A_\w+)\s*=\s*(10'h[0-9A-Fa-f]+)", text)}
    want = {"A_AP_CTRL": reg.AP_CTRL, "A_GIE": reg.GIE, "A_IER": reg.IER, "A_ISR": reg.ISR,
            "A_BASE_LO": reg.BASE_LO, "A_BASE_HI": reg.BASE_HI, "A_PROG": reg.PROG,
            "A_ERROR": reg.ERROR, "A_ERROR_VLD": reg.ERROR + reg.VLD, "A_COMMANDS": reg.COMMANDS,
            "A_COMMANDS_VLD": reg.COMMANDS + reg.VLD, "A_ID": reg.ID, "A_ID_VLD": reg.ID + reg.VLD,
            "A_CYCLES_LO": reg.CYCLES_LO, "A_CYCLES_HI": reg.CYCLES_HI, "A_ENGINE0": reg.ENGINE0}
    assert words == {name: offset // 4 for name, offset in want.items()}
    assert re.search(r"localparam \[31:0\] ID = 32'h([0-9A-F]{8});", text).group(1) == f"{reg.ID_VALUE:08X}"


def test_the_map_follows_vitis_offset_rules():
    """Arguments from 0x10 (Vitis keeps 0x00-0x0C for AP_CTRL, GIE, IER, ISR), each spanning its data words and
    one more (an input's reserved word, an output's ap_vld), none overlapping; the counters above them."""
    spans = sorted((offset, offset + 4 * (width // 32 + 1)) for offset, width, _ in reg.ARGUMENTS.values())
    assert spans[0][0] == 0x10 and all(end <= nxt for (_, end), (nxt, _) in zip(spans, spans[1:]))
    assert spans[-1][1] <= reg.CYCLES_LO < reg.ENGINE0
    assert (reg.BASE_HI, reg.CYCLES_HI) == (reg.BASE_LO + 4, reg.CYCLES_LO + 4)
