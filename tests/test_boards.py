"""Board files: the built-in figures, schema validation messages, and DSP arithmetic."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from hwmoe.boards import (
    BOARDS_DIR, Board, BoardError, board_names, dsps_per_multiplier, list_boards, load_board,
    macs_per_dsp,
)

# name: (part, lut, ff, dsp, bram36, uram, dsp_kind, mem kind, (peak GB/s, usable GB/s, read latency cycles),
#        channels, GB, MHz, range)
EXPECTED = {
    "zcu102": ("xczu9eg-ffvb1156-2-e", 274_080, 548_160, 2_520, 912, 0, "DSP48E2",
               "DDR4", (19.2, 14.4, 40), 1, 4, 300, (100, 350)),
    "zcu104": ("xczu7ev-ffvc1156-2-e", 230_400, 460_800, 1_728, 312, 96, "DSP48E2",
               "DDR4", (19.2, 14.4, 40), 1, 2, 300, (100, 350)),
    "kv260": ("xck26-sfvc784-2LV-c", 117_120, 234_240, 1_248, 144, 64, "DSP48E2",
              "DDR4", (19.2, 14.4, 40), 1, 4, 300, (100, 350)),
    "u50": ("xcu50-fsvh2104-2-e", 871_680, 1_743_360, 5_952, 1_344, 640, "DSP48E2",
            "HBM2", (316, 292, 60), 32, 8, 200, (100, 300)),
    "u250": ("xcu250-figd2104-2L-e", 1_728_000, 3_456_000, 12_288, 2_688, 1_280, "DSP48E2",
             "DDR4", (76.8, 57.6, 60), 4, 64, 200, (100, 300)),
    "u280": ("xcu280-fsvh2892-2L-e", 1_303_680, 2_607_360, 9_024, 2_016, 960, "DSP48E2",
             "HBM2", (460, 425, 60), 32, 8, 200, (100, 300)),
    "pynq-z2": ("xc7z020clg400-1", 53_200, 106_400, 220, 140, 0, "DSP48E1",
                "DDR3", (2.13, 1.6, 15), 1, 0.5, 100, (50, 150)),
}


# ---------------------------------------------------------------- built-in boards

def test_all_boards_listed_and_loaded():
    assert set(board_names()) == set(EXPECTED)
    boards = list_boards()
    assert [b.name for b in boards] == board_names()
    assert all(isinstance(b, Board) for b in boards)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_board_figures(name):
    b = load_board(name)
    (part, lut, ff, dsp, bram, uram, kind, mem, bw, ch, cap, mhz, rng) = EXPECTED[name]
    assert b.name == name and b.part == part and b.dsp_kind == kind
    assert b.resources.as_dict() == {"lut": lut, "ff": ff, "dsp": dsp, "bram36": bram,
                                     "uram": uram}
    m = b.memory
    assert (m.kind, (m.peak_gbps, m.bandwidth_gbps, m.read_latency_cycles), m.channels, m.capacity_gb) \
        == (mem, bw, ch, cap)
    assert m.bandwidth_source and m.read_latency_source
    assert b.clock_mhz == mhz and b.clock_range_mhz == rng
    assert b.source == BOARDS_DIR / f"{name}.yaml"
    assert b.description and b.family


def test_families():
    fam = {b.name: b.family for b in list_boards()}
    assert fam == {"zcu102": "zynquplus", "zcu104": "zynquplus", "kv260": "zynquplus",
                   "u50": "alveo-usp", "u250": "alveo-usp", "u280": "alveo-usp",
                   "pynq-z2": "zynq7"}


def test_lookup_variants(tmp_path):
    assert load_board("ZCU102") == load_board("zcu102")
    assert load_board("pynq_z2").name == "pynq-z2"
    assert load_board(BOARDS_DIR / "u50.yaml") == load_board("u50")
    assert load_board(str(BOARDS_DIR / "u50.yaml")) == load_board("u50")
    # A user board anywhere on disk, under any file name.
    p = tmp_path / "my-board.yml"
    p.write_text(yaml.safe_dump({**load_board("kv260").to_dict(), "name": "custom"}))
    b = load_board(p)
    assert b.name == "custom" and b.resources == load_board("kv260").resources


def test_resources_mapping_and_helpers():
    b = load_board("zcu102")
    assert b.resources["dsp"] == 2520 and dict(b.resources) == b.resources.as_dict()
    assert list(b.resources) == ["lut", "ff", "dsp", "bram36", "uram"]
    with pytest.raises(KeyError):
        b.resources["carry8"]
    assert b.resources.onchip_bits == 912 * 36 * 1024
    # 14.4 GB/s usable at 300 MHz = 48 B/cycle; at 200 MHz = 72 B/cycle.
    assert b.bandwidth_bytes_per_cycle() == pytest.approx(48.0)
    assert b.bandwidth_bytes_per_cycle(200) == pytest.approx(72.0)
    assert load_board("u280").bandwidth_bytes_per_cycle() == pytest.approx(2125.0)
    with pytest.raises(ValueError):
        b.bandwidth_bytes_per_cycle(0)
    assert b.peak_macs_per_cycle(8, 8) == 2 * 2520
    assert yaml.safe_load(yaml.safe_dump(b.to_dict())) == b.to_dict()
    assert len(b.summary().splitlines()) == 1
    with pytest.raises(AttributeError):
        b.clock_mhz = 1  # frozen


# ---------------------------------------------------------------- DSP arithmetic

@pytest.mark.parametrize("kind,a,b,dsps,macs", [
    ("DSP48E2", 8, 8, 1, 2.0),      # int8 packing: two products share one operand
    ("DSP48E2", 4, 8, 1, 2.0),
    ("DSP48E2", 9, 8, 1, 1.0),      # too wide to pack, fits 27x18
    ("DSP48E2", 16, 16, 1, 1.0),
    ("DSP48E2", 27, 18, 1, 1.0),
    ("DSP48E2", 18, 27, 1, 1.0),    # either orientation
    ("DSP48E2", 27, 19, 2, 0.5),
    ("DSP48E2", 32, 16, 2, 0.5),
    ("DSP48E2", 16, 32, 2, 0.5),
    ("DSP48E2", 32, 32, 4, 0.25),
    ("DSP48E1", 8, 8, 1, 2.0),      # packed 16 bits apart: 25 bits, the 7-series port
    ("DSP48E1", 25, 18, 1, 1.0),
    ("DSP48E1", 26, 18, 2, 0.5),    # 25-bit port, not 27
    ("DSP48E1", 27, 18, 2, 0.5),
])
def test_macs_per_dsp(kind, a, b, dsps, macs):
    assert dsps_per_multiplier(kind, a, b) == dsps
    assert macs_per_dsp(kind, a, b) == macs


def test_board_macs_per_dsp_uses_its_dsp_kind():
    assert load_board("zcu104").macs_per_dsp(8, 8) == 2.0
    assert load_board("pynq-z2").macs_per_dsp(26, 18) == 0.5 and load_board("zcu104").macs_per_dsp(26, 18) == 1.0
    assert load_board("pynq-z2").dsps_per_multiplier(27, 18) == 2


@pytest.mark.parametrize("a,b", [(0, 8), (8, -1), (8.0, 8), (True, 8)])
def test_macs_per_dsp_rejects_bad_widths(a, b):
    with pytest.raises(ValueError):
        macs_per_dsp("DSP48E2", a, b)


def test_macs_per_dsp_rejects_unknown_kind():
    with pytest.raises(ValueError, match="DSP48E1, DSP48E2"):
        macs_per_dsp("DSP58", 8, 8)


# ---------------------------------------------------------------- schema errors

def _good() -> dict:
    return copy.deepcopy(load_board("zcu102").to_dict())


def _write(tmp_path: Path, data, name="bad.yaml") -> Path:
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def _error(p: Path) -> BoardError:
    with pytest.raises(BoardError) as ei:
        load_board(p)
    msg = str(ei.value)
    assert "\n" not in msg, msg
    assert msg.startswith(f"{p}: "), msg
    return ei.value


def _set(d: dict, dotted: str, value):
    *parents, last = dotted.split(".")
    for k in parents:
        d = d[k]
    d[last] = value


def _drop(d: dict, dotted: str):
    *parents, last = dotted.split(".")
    for k in parents:
        d = d[k]
    del d[last]


@pytest.mark.parametrize("field", ["name", "part", "dsp_kind", "clock_range_mhz",
                                   "resources", "resources.dsp", "memory.bandwidth_gbps",
                                   "memory.peak_gbps", "memory.bandwidth_source", "memory.read_latency_cycles",
                                   "memory.read_latency_source", "memory.port_bits"])
def test_missing_field(tmp_path, field):
    d = _good()
    _drop(d, field)
    e = _error(_write(tmp_path, d))
    assert str(e) == f"{tmp_path / 'bad.yaml'}: {field}: missing required field"
    assert e.field == field


@pytest.mark.parametrize("field,value,expect", [
    ("resources.dsp", "many", "resources.dsp: expected a positive integer, got 'many'"),
    ("resources.lut", 1.5, "resources.lut: expected a positive integer, got 1.5"),
    ("resources.ff", True, "resources.ff: expected a positive integer, got True"),
    ("memory.channels", "4", "memory.channels: expected a positive integer, got '4'"),
    ("memory.bandwidth_gbps", "fast",
     "memory.bandwidth_gbps: expected a positive number, got 'fast'"),
    ("clock_mhz", [300], "clock_mhz: expected a positive number, got [300]"),
    ("memory.read_latency_cycles", 12.5, "memory.read_latency_cycles: expected a positive integer, got 12.5"),
    ("memory.bandwidth_source", "", "memory.bandwidth_source: expected a non-empty one-line string"),
    ("memory.read_latency_source", "a\nb", "memory.read_latency_source: expected a non-empty one-line string"),
    ("memory.port_bits", 100, "memory.port_bits: expected one of 32, 64, 128, 256, 512, 1024, got 100"),
    ("memory.peak_gbps", "19.2 GB/s", "memory.peak_gbps: expected a positive number, got '19.2 GB/s'"),
    ("part", 42, "part: expected a non-empty string without spaces, got 42"),
    ("resources", 5, "resources: expected a mapping of fields, got 5"),
    ("clock_range_mhz", [100], "clock_range_mhz: expected [min, max]"),
    ("name", "My Board", "name: expected a lower-case name"),
])
def test_wrong_type(tmp_path, field, value, expect):
    d = _good()
    _set(d, field, value)
    e = _error(_write(tmp_path, d))
    assert str(e).startswith(f"{tmp_path / 'bad.yaml'}: {expect}"), str(e)
    assert e.field == field


@pytest.mark.parametrize("field,value,expect", [
    ("resources.dsp", -5, "expected a positive integer, got -5"),
    ("resources.bram36", 0, "expected a positive integer, got 0"),
    ("resources.uram", -1, "expected a non-negative integer, got -1"),
    ("memory.bandwidth_gbps", -19.2, "expected a positive number, got -19.2"),
    ("memory.capacity_gb", 0, "expected a positive number, got 0"),
    ("clock_mhz", -300, "expected a positive number, got -300"),
    ("clock_range_mhz", [350, 100], "expected [min, max] with 0 < min <= max, got [350, 100]"),
])
def test_non_positive(tmp_path, field, value, expect):
    d = _good()
    _set(d, field, value)
    e = _error(_write(tmp_path, d))
    assert str(e) == f"{tmp_path / 'bad.yaml'}: {field}: {expect}"


def test_zero_uram_is_allowed():
    assert load_board("zcu102").resources.uram == 0


def test_unknown_field(tmp_path):
    d = _good()
    d["resources"]["dspp"] = 10
    e = _error(_write(tmp_path, d))
    assert str(e) == f"{tmp_path / 'bad.yaml'}: resources.dspp: unknown field (did you mean 'dsp'?)"
    d = _good()
    d["maker"] = "xilinx"
    e = _error(_write(tmp_path, d))
    assert str(e).startswith(f"{tmp_path / 'bad.yaml'}: maker: unknown field (allowed: name,")


@pytest.mark.parametrize("vendor,expect", [
    ("xilinx", "vendor: expected a mapping of fields, got 'xilinx'"),
    ({"board_part": "x"}, "vendor.flow: expected one of zynqmp, zynq7, alveo (missing required field)"),
    ({"flow": "versal"}, "vendor.flow: expected one of zynqmp, zynq7, alveo (got 'versal')"),
    ({"flow": "alveo"}, "vendor.platform: missing required field (the alveo flow needs it)"),
    ({"flow": "alveo", "platform": "p", "board_part": "b"},
     "vendor.board_part: not a field of the alveo flow (allowed: flow, platform)"),
    ({"flow": "zynqmp", "board_part": "a b"}, "vendor.board_part: expected a non-empty string without spaces"),
])
def test_vendor_field(tmp_path, vendor, expect):
    d = _good()
    d["vendor"] = vendor
    e = _error(_write(tmp_path, d))
    assert str(e).startswith(f"{tmp_path / 'bad.yaml'}: {expect}"), str(e)


def test_vendor_is_optional_and_banks_follow_memory(tmp_path):
    d = _good()
    del d["vendor"]
    assert load_board(_write(tmp_path, d)).vendor is None
    assert load_board("zcu102").vendor.board_part.startswith("xilinx.com:zcu102:")
    assert load_board("u280").memory.banks == [f"HBM[{i}]" for i in range(32)]
    assert load_board("u250").memory.banks == ["DDR[0]", "DDR[1]", "DDR[2]", "DDR[3]"]
    flows = {b.name: b.vendor.flow for b in list_boards()}
    assert flows == {"zcu102": "zynqmp", "zcu104": "zynqmp", "kv260": "zynqmp", "pynq-z2": "zynq7",
                     "u50": "alveo", "u250": "alveo", "u280": "alveo"}


def test_typo_reported_as_unknown_not_missing(tmp_path):
    d = _good()
    d["memory"]["bandwith_gbps"] = d["memory"].pop("bandwidth_gbps")
    e = _error(_write(tmp_path, d))
    assert e.field == "memory.bandwith_gbps" and "did you mean 'bandwidth_gbps'" in str(e)


def test_bad_dsp_kind(tmp_path):
    d = _good()
    d["dsp_kind"] = "DSP58"
    e = _error(_write(tmp_path, d))
    assert str(e) == (f"{tmp_path / 'bad.yaml'}: dsp_kind: expected one of DSP48E1, DSP48E2, "
                      "got 'DSP58'")


def test_bad_memory_kind(tmp_path):
    d = _good()
    d["memory"]["kind"] = "SRAM"
    assert _error(_write(tmp_path, d)).field == "memory.kind"


def test_clock_outside_range(tmp_path):
    d = _good()
    d["clock_mhz"] = 400
    e = _error(_write(tmp_path, d))
    assert str(e) == (f"{tmp_path / 'bad.yaml'}: clock_mhz: 400 MHz is outside clock_range_mhz "
                      "[100, 350]")


@pytest.mark.parametrize("text,line", [
    ("name: zcu102\nresources:\n  lut: 1\n   ff: 2\n", 4),       # bad indentation
    ("name: zcu102\npart: [unclosed\n", 3),                      # unterminated flow sequence
    ("name: a\nname: b\n", 2),                                    # duplicate key
])
def test_malformed_yaml(tmp_path, text, line):
    e = _error(_write(tmp_path, text))
    assert str(e).startswith(f"{tmp_path / 'bad.yaml'}: line {line}, column "), str(e)
    assert "malformed YAML" in str(e)


@pytest.mark.parametrize("text", ["", "- 1\n- 2\n", "just a string\n"])
def test_top_level_not_a_mapping(tmp_path, text):
    e = _error(_write(tmp_path, text))
    assert "expected a mapping of fields" in str(e) and e.field is None


def test_missing_file(tmp_path):
    e = _error(tmp_path / "nope.yaml")
    assert str(e) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_unknown_board_name_lists_known_ones():
    with pytest.raises(BoardError) as ei:
        load_board("zcu999")
    msg = str(ei.value)
    assert "\n" not in msg and "unknown board 'zcu999'" in msg
    assert "known boards: kv260, pynq-z2, u50, u250, u280, zcu102, zcu104" in msg


def test_builtin_error_names_repo_relative_file(tmp_path, monkeypatch):
    """Errors in built-in boards name the file as boards/<name>.yaml, whatever the cwd."""
    import hwmoe.boards as hb
    fake = tmp_path / "boards"
    fake.mkdir()
    d = _good()
    d["resources"]["dsp"] = "many"
    _write(fake, d, "zcu102.yaml")
    monkeypatch.setattr(hb, "BOARDS_DIR", fake)
    monkeypatch.setattr(hb, "_REPO_ROOT", tmp_path)
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(BoardError) as ei:
        load_board("zcu102")
    assert str(ei.value) == ("boards/zcu102.yaml: resources.dsp: "
                             "expected a positive integer, got 'many'")
    with pytest.raises(BoardError, match="boards/zcu102.yaml: resources.dsp"):
        list_boards()


def test_builtin_name_must_match_file(tmp_path, monkeypatch):
    import hwmoe.boards as hb
    fake = tmp_path / "boards"
    fake.mkdir()
    _write(fake, {**_good(), "name": "other"}, "zcu102.yaml")
    monkeypatch.setattr(hb, "BOARDS_DIR", fake)
    monkeypatch.setattr(hb, "_REPO_ROOT", tmp_path)
    with pytest.raises(BoardError, match=r"^boards/zcu102.yaml: name: 'other' does not match"):
        load_board("zcu102")


def test_usable_bandwidth_above_peak(tmp_path):
    d = _good()
    d["memory"]["bandwidth_gbps"] = 25.0
    e = _error(_write(tmp_path, d))
    assert e.field == "memory.bandwidth_gbps"
    assert str(e).endswith("25 GB/s usable is more than the 19.2 GB/s peak (memory.peak_gbps)")


def test_accelerator_memory_from_board():
    """What the accelerator's timing model (the search, hwmoe build) sees of a board's memory."""
    from hwmoe.accel.timing import Memory
    z = load_board("zcu102")
    assert z.memory.port_bits == 128
    # 14.4 GB/s usable at 300 MHz = 48 B/cycle, but the HP port moves 16 B/cycle
    assert Memory.from_board(z, 16) == Memory(bus_bytes=16, read_latency=40, bandwidth=1.0)
    assert Memory.from_board(z, 64).bandwidth == pytest.approx(0.25)
    assert Memory.from_board(z, 8, clock_mhz=100).bandwidth == 1.0
    # U280: one of 32 HBM channels, 425 / 32 GB/s at 200 MHz = 66.4 B/cycle: a 512-bit master every cycle
    u = Memory.from_board(load_board("u280"), 64)
    assert (u.bandwidth, u.read_latency) == (1.0, 60)
    # one DDR4 channel of four on the U250: 14.4 GB/s at 200 MHz = 72 B/cycle, more than a 64-byte bus
    assert Memory.from_board(load_board("u250"), 64).bandwidth == 1.0
    # PYNQ-Z2: 1.6 GB/s at 100 MHz = 16 B/cycle, its 64-bit HP port 8: half the cycles of a 128-bit master
    assert Memory.from_board(load_board("pynq-z2"), 16).bandwidth == pytest.approx(0.5)


def test_readme_example_is_a_valid_board(tmp_path):
    import re
    text = (BOARDS_DIR / "README.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    assert load_board(_write(tmp_path, example, "example.yaml")) == load_board("zcu102")
