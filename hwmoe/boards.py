"""FPGA board descriptions: the resource and bandwidth budget the cost model plans against.

A board is one YAML file in the repository's ``boards/`` directory (or any YAML file passed by
path).  Files are validated on load against :data:`SCHEMA`, written in plain Python so that the
only dependency is PyYAML.  Every problem is reported as a single line naming the file and the
field (``boards/foo.yaml: resources.dsp: expected a positive integer, got 'many'``), because a
board file is hand-written and the user needs to know exactly which line to fix.

``boards/README.md`` documents the schema for people writing their own board files.
"""
from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import UserError
from .paths import BOARDS_DIR

__all__ = [
    "BOARDS_DIR", "BRAM36_BITS", "URAM_BITS", "DSP_KINDS", "MEMORY_KINDS", "SCHEMA",
    "VENDOR_FLOWS", "Board", "BoardError", "Memory", "Resources", "Vendor",
    "board_names", "dsps_for_products", "dsps_per_multiplier", "list_boards", "load_board", "macs_per_dsp",
    "packs",
]

_REPO_ROOT = BOARDS_DIR.parent

#: On-chip memory block sizes (bits), for turning block counts into capacity.
BRAM36_BITS = 36 * 1024
URAM_BITS = 288 * 1024


class BoardError(UserError):
    """A board could not be found or its file is invalid.  ``str(err)`` is always one line.

    ``file`` and ``field`` (dotted, e.g. ``"resources.dsp"``) are kept as attributes so that
    callers and tests need not parse the message.
    """

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None):
        parts = [p for p in (file, field) if p]
        super().__init__(": ".join([*parts, message]))
        self.file = file
        self.field = field


# --------------------------------------------------------------------------------------------
# DSP arithmetic
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _DspSpec:
    a_bits: int          # width of the wide (A / pre-adder) multiplier port, signed
    b_bits: int          # width of the narrow (B) multiplier port, signed
    pack_bits: int       # operands this narrow or narrower get 2 MACs per DSP; 0 = no packing


_DSP_SPECS: dict[str, _DspSpec] = {
    # Two products of words <= 8 bits that share one operand come from one multiplication: the other two
    # words packed 16 bits apart into a 25-bit operand, the products split every cycle (rtl/hwmoe_mul_outer.v,
    # docs/numerics.md section 3), so the packed operand fits the 25-bit port of either slice.
    # UltraScale/UltraScale+: 27x18 signed multiplier.
    "DSP48E2": _DspSpec(27, 18, pack_bits=8),
    # 7-series: 25x18 signed multiplier.
    "DSP48E1": _DspSpec(25, 18, pack_bits=8),
}
DSP_KINDS: tuple[str, ...] = tuple(sorted(_DSP_SPECS))
MEMORY_KINDS: tuple[str, ...] = ("DDR3", "DDR4", "DDR5", "LPDDR4", "HBM2", "HBM2E")
PORT_BITS: tuple[int, ...] = (32, 64, 128, 256, 512, 1024)      # AXI data widths


def _check_bits(bits_a: Any, bits_b: Any) -> None:
    for label, b in (("bits_a", bits_a), ("bits_b", bits_b)):
        if isinstance(b, bool) or not isinstance(b, int) or b < 1:
            raise ValueError(f"{label}: expected a positive integer bit width, got {b!r}")


def _spec(dsp_kind: str) -> _DspSpec:
    try:
        return _DSP_SPECS[dsp_kind]
    except KeyError:
        raise ValueError(f"unknown dsp_kind {dsp_kind!r}; expected one of "
                         f"{', '.join(DSP_KINDS)}") from None


def dsps_per_multiplier(dsp_kind: str, bits_a: int, bits_b: int) -> int:
    """DSP slices needed for one ``bits_a x bits_b`` signed multiplier (no packing).

    A product too wide for one DSP is tiled: ``ceil(a/A) * ceil(b/B)`` DSPs for a native
    ``A x B`` multiplier, taking whichever operand orientation is cheaper.  This is the cost
    model's estimate; it slightly flatters the true tiling, whose lower slices are unsigned.
    Widths count the sign bit: pass ``w + 1`` for an unsigned ``w``-bit operand.
    """
    _check_bits(bits_a, bits_b)
    s = _spec(dsp_kind)

    def tiles(x: int, y: int) -> int:
        return math.ceil(x / s.a_bits) * math.ceil(y / s.b_bits)

    return min(tiles(bits_a, bits_b), tiles(bits_b, bits_a))


def packs(dsp_kind: str, bits_a: int, bits_b: int) -> bool:
    """Whether two ``bits_a x bits_b`` products that share an operand take one slice (both words narrow)."""
    _check_bits(bits_a, bits_b)
    s = _spec(dsp_kind)
    return bool(s.pack_bits) and bits_a <= s.pack_bits and bits_b <= s.pack_bits


def macs_per_dsp(dsp_kind: str, bits_a: int, bits_b: int) -> float:
    """Multiply-accumulates one DSP slice retires per cycle at these operand widths.

    * both operands <= 8 bits: 2.0 (two products sharing one operand are packed, :func:`packs`);
    * otherwise ``1 / dsps_per_multiplier(...)``: 1.0 when the product fits the native
      multiplier (27x18 on DSP48E2, 25x18 on DSP48E1), 0.5 when it needs two DSPs, and so on.
    """
    if packs(dsp_kind, bits_a, bits_b):
        return 2.0
    return 1.0 / dsps_per_multiplier(dsp_kind, bits_a, bits_b)


def dsps_for_products(dsp_kind: str, shared: int, others: int, bits_a: int, bits_b: int) -> int:
    """DSP slices of the outer product of ``shared`` words a by ``others`` words b (every a[i] * b[j], as
    rtl/hwmoe_mul_outer.v builds it: the MAC arrays' multipliers).  When the words pack, each pair of b
    words takes one slice per a word and an odd b word one more; otherwise every product takes
    :func:`dsps_per_multiplier` slices."""
    if packs(dsp_kind, bits_a, bits_b):
        return shared * math.ceil(others / 2)
    return shared * others * dsps_per_multiplier(dsp_kind, bits_a, bits_b)


# --------------------------------------------------------------------------------------------
# Data model
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Resources(Mapping[str, int]):
    """Device totals of the programmable logic.  Also a read-only mapping, so the cost model
    can iterate resource kinds generically (``for kind, total in board.resources.items()``)."""
    lut: int
    ff: int
    dsp: int
    bram36: int
    uram: int

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __getitem__(self, key: str) -> int:
        if key not in _RESOURCE_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_RESOURCE_KEYS)

    def __len__(self) -> int:
        return len(_RESOURCE_KEYS)

    @property
    def onchip_bits(self) -> int:
        """Total BRAM36 + URAM capacity in bits (what weights/activations can stay on chip)."""
        return self.bram36 * BRAM36_BITS + self.uram * URAM_BITS


_RESOURCE_KEYS = ("lut", "ff", "dsp", "bram36", "uram")


@dataclass(frozen=True)
class Memory:
    """Off-chip memory.  ``bandwidth_gbps`` is the *usable* total in GB/s (10^9 B/s) summed over ``channels``
    (what the cost model plans with), ``peak_gbps`` the interface's peak, ``bandwidth_source`` where the usable
    figure comes from; ``read_latency_cycles``: fabric cycles at the board clock from an AXI read address to its
    first data beat, ``read_latency_source`` where that comes from (or that it is an assumption); ``port_bits``:
    the data width of the memory port the accelerator's AXI master lands on (a Zynq PS's HP port is narrower
    than its DDR: 128 bits on Zynq UltraScale+), at the fabric clock."""
    kind: str
    bandwidth_gbps: float
    channels: int
    capacity_gb: float
    peak_gbps: float
    bandwidth_source: str
    read_latency_cycles: int
    read_latency_source: str
    port_bits: int

    @property
    def bandwidth_per_channel_gbps(self) -> float:
        return self.bandwidth_gbps / self.channels

    @property
    def banks(self) -> list[str]:
        """The channels by the names Vitis platforms give memory banks: ``HBM[i]`` or ``DDR[i]``."""
        prefix = "HBM" if self.kind.startswith("HBM") else "DDR"
        return [f"{prefix}[{i}]" for i in range(self.channels)]

    def bytes_per_cycle(self, clock_mhz: float) -> float:
        """Bytes the memory can deliver per fabric clock cycle at ``clock_mhz``."""
        if isinstance(clock_mhz, bool) or not isinstance(clock_mhz, (int, float)) \
                or not clock_mhz > 0:
            raise ValueError(f"clock_mhz: expected a positive number, got {clock_mhz!r}")
        return self.bandwidth_gbps * 1e3 / clock_mhz     # (GB/s * 1e9) / (MHz * 1e6)


#: ``vendor.flow`` -> (its required fields, its optional fields) besides ``flow``.  ``zynqmp`` / ``zynq7``: a
#: Vivado block design around the Zynq UltraScale+ / Zynq-7000 processing system; ``alveo``: a Vitis RTL kernel
#: linked onto a platform (hwmoe/accel/vendor.py).
VENDOR_FLOWS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "zynqmp": ((), ("board_part",)), "zynq7": ((), ("board_part",)), "alveo": (("platform",), ())}


@dataclass(frozen=True)
class Vendor:
    """How ``hwmoe build --board`` takes the accelerator to the board."""
    flow: str
    board_part: str | None = None       # Vivado board part (Zynq flows): the processing system's preset
    platform: str | None = None         # Vitis platform (Alveo)

    def as_dict(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


@dataclass(frozen=True)
class Board:
    """One FPGA board: device resources, DSP flavour, off-chip memory and clock budget."""
    name: str
    description: str
    part: str
    family: str
    resources: Resources
    dsp_kind: str
    memory: Memory
    clock_mhz: float
    clock_range_mhz: tuple[float, float]
    #: None: no vendor scripts beyond the IP package (the optional ``vendor`` field)
    vendor: Vendor | None = None
    #: The file this board was loaded from (not part of its identity).
    source: Path | None = field(default=None, compare=False, repr=False)

    def bandwidth_bytes_per_cycle(self, clock_mhz: float | None = None) -> float:
        """Off-chip bytes per cycle at ``clock_mhz`` (default: the board's clock).  This is the
        figure a dataflow stage's weight/activation traffic is compared against."""
        return self.memory.bytes_per_cycle(self.clock_mhz if clock_mhz is None else clock_mhz)

    def dsps_per_multiplier(self, bits_a: int, bits_b: int) -> int:
        """See :func:`dsps_per_multiplier`."""
        return dsps_per_multiplier(self.dsp_kind, bits_a, bits_b)

    def macs_per_dsp(self, bits_a: int, bits_b: int) -> float:
        """See :func:`macs_per_dsp`."""
        return macs_per_dsp(self.dsp_kind, bits_a, bits_b)

    def peak_macs_per_cycle(self, bits_a: int, bits_b: int) -> float:
        """Upper bound on MACs/cycle if every DSP on the device were busy."""
        return self.resources.dsp * self.macs_per_dsp(bits_a, bits_b)

    def to_dict(self) -> dict[str, Any]:
        """The board in file form (plain types; dumps back to a valid board YAML)."""
        return {
            "name": self.name, "description": self.description, "part": self.part,
            "family": self.family, "resources": self.resources.as_dict(),
            "dsp_kind": self.dsp_kind,
            "memory": {f.name: getattr(self.memory, f.name) for f in fields(self.memory)},
            "clock_mhz": self.clock_mhz, "clock_range_mhz": list(self.clock_range_mhz),
            **({"vendor": self.vendor.as_dict()} if self.vendor else {}),
        }

    def summary(self) -> str:
        """One line for listings, e.g. ``hwmoe boards``."""
        r, m = self.resources, self.memory
        return (f"{self.name:<8} {self.part:<22} {r.lut:>9,} LUT {r.dsp:>6,} DSP "
                f"{r.bram36:>5,} BRAM36 {r.uram:>5,} URAM  {m.kind} {m.bandwidth_gbps:g} GB/s  "
                f"{self.clock_mhz:g} MHz")


# --------------------------------------------------------------------------------------------
# Schema and validation
# --------------------------------------------------------------------------------------------

class _Invalid(Exception):
    """Raised by a field validator; carries the message without file/field (``field``: a sub-field of the
    validated one, if the problem is there)."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def _show(v: Any) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _pos_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
        raise _Invalid(f"expected a positive integer, got {_show(v)}")
    return v


def _nonneg_int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise _Invalid(f"expected a non-negative integer, got {_show(v)}")
    return v


def _pos_num(v: Any) -> float:
    if not _is_num(v) or v <= 0:
        raise _Invalid(f"expected a positive number, got {_show(v)}")
    return float(v)


def _text(v: Any) -> str:
    if not isinstance(v, str) or not v.strip() or "\n" in v:
        raise _Invalid(f"expected a non-empty one-line string, got {_show(v)}")
    return v.strip()


def _token(v: Any) -> str:
    if not isinstance(v, str) or not v or any(c.isspace() for c in v):
        raise _Invalid(f"expected a non-empty string without spaces, got {_show(v)}")
    return v


def _board_name(v: Any) -> str:
    ok = (isinstance(v, str) and v[:1].isalnum() and v == v.lower()
          and all(c.isalnum() or c in "-_." for c in v))
    if not ok:
        raise _Invalid("expected a lower-case name of letters, digits, '-', '_' or '.', "
                       f"got {_show(v)}")
    return v


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(v: Any) -> str:
        if v not in choices or not isinstance(v, str):
            raise _Invalid(f"expected one of {', '.join(choices)}, got {_show(v)}")
        return v
    return check


def _one_of_int(choices: tuple[int, ...]) -> Callable[[Any], int]:
    def check(v: Any) -> int:
        if isinstance(v, bool) or v not in choices:
            raise _Invalid(f"expected one of {', '.join(map(str, choices))}, got {_show(v)}")
        return int(v)
    return check


def _clock_range(v: Any) -> tuple[float, float]:
    if not (isinstance(v, list) and len(v) == 2 and all(_is_num(x) and x > 0 for x in v)
            and v[0] <= v[1]):
        raise _Invalid(f"expected [min, max] with 0 < min <= max, got {_show(v)}")
    return (float(v[0]), float(v[1]))


def _vendor(v: Any) -> Vendor:
    if not isinstance(v, dict):
        raise _Invalid(f"expected a mapping of fields, got {_show(v)}")
    flow = v.get("flow")
    if flow not in VENDOR_FLOWS or not isinstance(flow, str):
        what = "missing required field" if "flow" not in v else f"got {_show(flow)}"
        raise _Invalid(f"expected one of {', '.join(VENDOR_FLOWS)} ({what})", field="flow")
    required, optional = VENDOR_FLOWS[flow]
    for key in v:
        if key not in ("flow", *required, *optional):
            allowed = ", ".join(("flow", *required, *optional))
            raise _Invalid(f"not a field of the {flow} flow (allowed: {allowed})",
                           field=key if isinstance(key, str) else repr(key))
    for key in required:
        if key not in v:
            raise _Invalid(f"missing required field (the {flow} flow needs it)", field=key)
    out = {}
    for key in (*required, *optional):
        if key in v:
            try:
                out[key] = _token(v[key])
            except _Invalid as e:
                raise _Invalid(str(e), field=key) from None
    return Vendor(flow=flow, **out)


#: The board-file schema: field -> validator, or a nested schema for a sub-mapping.
#: Every field is required, except those in OPTIONAL, and no other field is allowed.
SCHEMA: dict[str, Any] = {
    "name": _board_name,
    "description": _text,
    "part": _token,
    "family": _token,
    "resources": {
        "lut": _pos_int, "ff": _pos_int, "dsp": _pos_int, "bram36": _pos_int,
        "uram": _nonneg_int,
    },
    "dsp_kind": _one_of(DSP_KINDS),
    "memory": {
        "kind": _one_of(MEMORY_KINDS),
        "peak_gbps": _pos_num,
        "bandwidth_gbps": _pos_num,
        "bandwidth_source": _text,
        "read_latency_cycles": _pos_int,
        "read_latency_source": _text,
        "port_bits": _one_of_int(PORT_BITS),
        "channels": _pos_int,
        "capacity_gb": _pos_num,
    },
    "clock_mhz": _pos_num,
    "clock_range_mhz": _clock_range,
    "vendor": _vendor,
}
OPTIONAL = frozenset({"vendor"})


def _check(schema: dict[str, Any], data: Any, path: str, file: str) -> dict[str, Any]:
    """Validate ``data`` against ``schema``; return the converted values.  Raises on the first
    problem: unknown fields first (they usually explain a 'missing' one), then missing, then
    values in schema order."""
    if not isinstance(data, dict):
        what = _show(data) if data is not None else "an empty file" if not path else "nothing"
        raise BoardError(f"expected a mapping of fields, got {what}", file=file,
                         field=path.rstrip(".") or None)
    for key in data:
        if key not in schema:
            hint = difflib.get_close_matches(str(key), list(schema), n=1)
            extra = f"did you mean '{hint[0]}'?" if hint else f"allowed: {', '.join(schema)}"
            raise BoardError(f"unknown field ({extra})", file=file,
                             field=f"{path}{key}" if isinstance(key, str) else f"{path}{key!r}")
    for key in schema:
        if key not in data and key not in OPTIONAL:
            raise BoardError("missing required field", file=file, field=f"{path}{key}")
    out: dict[str, Any] = {}
    for key, rule in schema.items():
        if key not in data:
            continue
        if isinstance(rule, dict):
            out[key] = _check(rule, data[key], f"{path}{key}.", file)
        else:
            try:
                out[key] = rule(data[key])
            except _Invalid as e:
                sub = f".{e.field}" if e.field else ""
                raise BoardError(str(e), file=file, field=f"{path}{key}{sub}") from None
    return out


#: A board file is a few hundred bytes; these bound what a hostile one can make the loader build.
MAX_FILE_BYTES = 64 * 1024
MAX_DEPTH = 8


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys (plain PyYAML silently keeps the last one), aliases (a few
    nested ones expand to gigabytes) and nesting deeper than MAX_DEPTH (Python's recursion limit)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a board file",
                                              self.peek_event().start_mark)
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                                  self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        try:
            dup = key in seen
            seen.add(key)
        except TypeError:          # unhashable key: let PyYAML produce its own error
            break
        if dup:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _display(path: Path) -> str:
    """How a file is named in messages: relative to the repo for built-in boards."""
    try:
        return str(path.resolve().relative_to(_REPO_ROOT.resolve()))
    except ValueError:
        return str(path)


def _load_file(path: Path) -> Board:
    disp = _display(path)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BoardError(f"{path.stat().st_size:,} bytes is too large for a board file "
                             f"(at most {MAX_FILE_BYTES:,})", file=disp)
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BoardError("no such file", file=disp) from None
    except IsADirectoryError:
        raise BoardError("is a directory, expected a board .yaml file", file=disp) from None
    except (OSError, UnicodeDecodeError) as e:
        raise BoardError(f"cannot read: {e}", file=disp) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = " ".join(str(e.problem or e.context or "invalid YAML").split())
        raise BoardError(f"malformed YAML: {problem}", file=disp, field=where) from None
    except yaml.YAMLError as e:
        raise BoardError(f"malformed YAML: {' '.join(str(e).split())}", file=disp) from None

    v = _check(SCHEMA, data, "", disp)
    mem = v["memory"]
    if mem["bandwidth_gbps"] > mem["peak_gbps"]:
        raise BoardError(f"{mem['bandwidth_gbps']:g} GB/s usable is more than the {mem['peak_gbps']:g} GB/s "
                         "peak (memory.peak_gbps)", file=disp, field="memory.bandwidth_gbps")
    lo, hi = v["clock_range_mhz"]
    if not lo <= v["clock_mhz"] <= hi:
        raise BoardError(f"{v['clock_mhz']:g} MHz is outside clock_range_mhz "
                         f"[{lo:g}, {hi:g}]", file=disp, field="clock_mhz")
    # A built-in board is looked up by file name, so its name must agree with it.
    if path.resolve().parent == BOARDS_DIR.resolve() and v["name"] != path.stem:
        raise BoardError(f"{v['name']!r} does not match the file name {path.name!r}",
                         file=disp, field="name")
    return Board(
        name=v["name"], description=v["description"], part=v["part"], family=v["family"],
        resources=Resources(**v["resources"]), dsp_kind=v["dsp_kind"],
        memory=Memory(**v["memory"]), clock_mhz=v["clock_mhz"],
        clock_range_mhz=v["clock_range_mhz"], vendor=v.get("vendor"), source=path,
    )


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------

def board_names() -> list[str]:
    """Names of the built-in boards (file stems in ``boards/``), without loading them."""
    return sorted((p.stem for p in BOARDS_DIR.glob("*.yaml")), key=_natural)


def _natural(s: str) -> list:
    """Sort key that orders u50 before u250."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", s) if t]


def _looks_like_path(s: str) -> bool:
    return s.endswith((".yaml", ".yml")) or "/" in s or os.sep in s


def load_board(name_or_path: str | os.PathLike[str]) -> Board:
    """Load and validate a board.

    A bare name (``"zcu102"``, case-insensitive, ``_`` accepted for ``-``) is looked up in
    ``boards/``; anything that looks like a path (ends in ``.yaml``/``.yml`` or contains a
    directory separator, or is a ``PathLike``) is loaded from that file.  Raises
    :class:`BoardError` with a one-line message on any problem.
    """
    if isinstance(name_or_path, os.PathLike):
        return _load_file(Path(name_or_path))
    if not isinstance(name_or_path, str) or not name_or_path:
        raise BoardError(f"expected a board name or a path to a .yaml file, got "
                         f"{_show(name_or_path)}")
    if _looks_like_path(name_or_path):
        return _load_file(Path(name_or_path))
    key = name_or_path.lower()
    for cand in dict.fromkeys((key, key.replace("_", "-"))):
        p = BOARDS_DIR / f"{cand}.yaml"
        if p.is_file():
            return _load_file(p)
    known = ", ".join(board_names()) or "(none)"
    raise BoardError(f"unknown board {name_or_path!r}; known boards: {known} "
                     "(or pass a path to a board .yaml file)")


def list_boards() -> list[Board]:
    """All built-in boards, validated, sorted by name.  An invalid file raises BoardError."""
    return [_load_file(BOARDS_DIR / f"{n}.yaml") for n in board_names()]
