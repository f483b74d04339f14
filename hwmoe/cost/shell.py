"""Resources of the accelerator's shell: everything in ``hwmoe_accel`` around the engines that has a module of
its own, i.e. the DMA (``hwmoe_dma``: the readers, the writer and the AXI arbiter), the sequencer
(``hwmoe_seq``) and the control registers (``hwmoe_ctrl``).

Each module is a *part* with the faces of a kernel's calibration (``calibration_points``, ``synth_case``,
``features``, ``params``, ``resources``): ``python -m hwmoe.cost.calibrate`` synthesises its points with yosys
``synth_xilinx``, records them in ``search/calibration/shell_<part>.json`` and fits LUT, FF, DSP and BRAM36 as
non-negative linear functions of its features (``hwmoe/cost/fitted.py``).  The shell's size is driven by the
AXI data width (``bus_w``) and ``LANES_MAX``, the widest stream of the program (32-bit words per beat): the
readers' and the writer's byte windows and shifters grow with both.  Every other parameter is the top's
(``hwmoe.accel.top.TopConfig``, ``hwmoe.accel.program.READERS``), with 32-bit addresses.

Synthesised alone, a module keeps logic that the generated top trims (reader lanes no engine reads, result
lanes that are sign copies): at tiny's 8 lanes the model is above the shell inside the top; beyond the
calibrated 32 lanes it extrapolates low (docs/cost_model.md).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..numerics.intmath import ceil_div, clog2
from .fit import predict
from .usage import Usage

#: The AXI data width ``hwmoe build`` generates by default (``TopConfig.bus_w``); the search prices its
#: candidates' shell at it.
BUS_W = 128
BUS_WIDTHS = (64, 128, 256, 512)

# Calibration-only parameters of the DMA: counters for segments of up to 4096 words, groups of up to 4096
# segments, 16 experts (index width 4).  They set a few counter widths, not the size.
MAX_N = 4096
MAX_WORDS = 4096
IDX_W = 4


@dataclass(frozen=True)
class ShellParams:
    """The parameters the shell's size follows."""
    bus_w: int = BUS_W
    lanes_max: int = 8

    def __post_init__(self):
        if self.bus_w not in BUS_WIDTHS:
            raise UserError(f"bus width {self.bus_w}: must be 64, 128, 256 or 512 bits")
        if not 1 <= self.lanes_max <= 256:
            raise UserError(f"LANES_MAX {self.lanes_max}: must be 1..256")


def window_bytes(p: ShellParams) -> int:
    """The byte window of a reader's unpacker and of the writer's packer (CAP in rtl/hwmoe_dma_reader.v)."""
    bb, ob = p.bus_w // 8, 4 * p.lanes_max
    return max(bb, ob) + bb


class Part:
    """One shell module: its calibration points; each subclass gives the features its LUT/FF/DSP/BRAM fit is
    linear in (``features``) and the module's Verilog parameters (``verilog_parameters``)."""
    name: str
    top: str
    points: tuple[tuple[int, int], ...]
    synth_timeout = 3600.0          # seconds for one yosys run (the wide DMA points take minutes)

    def params(self, **values) -> ShellParams:
        return ShellParams(**values)

    def calibration_points(self) -> list[ShellParams]:
        return [ShellParams(b, l) for b, l in self.points]

    def synth_case(self, p: ShellParams) -> tuple[str, dict, dict]:
        """(top module, its Verilog parameters as the generated top sets them, no memory files)."""
        return self.top, self.verilog_parameters(p), {}

    def resources(self, p: ShellParams) -> Usage:
        return Usage(**predict(self.name, self.features(p)))


class Dma(Part):
    """hwmoe_dma with the top's readers: per reader and for the writer a byte window shifted by any byte
    count (``shift_bits``), the LANES_MAX lanes of a beat (``lane_bits``) and a FIFO and buffers of bus words
    (``bus_bits``)."""
    name, top = "shell_dma", "hwmoe_dma"
    points = ((64, 4), (128, 8), (256, 16), (128, 32), (512, 16))

    def features(self, p: ShellParams) -> dict[str, float]:
        cap = window_bytes(p)
        return {"shift_bits": 8 * cap * clog2(cap + 1), "lane_bits": 32 * p.lanes_max, "bus_bits": p.bus_w}

    def verilog_parameters(self, p: ShellParams) -> dict[str, int]:
        from ..accel.program import READERS
        from ..accel.top import TopConfig
        c = TopConfig(bus_w=p.bus_w)
        return {"N_READERS": READERS, "BUS_W": p.bus_w, "ADDR_W": c.addr_w, "LANES_MAX": p.lanes_max,
                "MAX_N": MAX_N, "MAX_WORDS": MAX_WORDS, "MAX_BURST": c.max_burst, "IDX_W": IDX_W,
                "FIFO_DEPTH": c.fifo_depth, "QUEUE_DEPTH": c.queue_depth}


class Sequencer(Part):
    """hwmoe_seq: the command fetch takes LANES_MAX words a beat (``lane_bits``)."""
    name, top = "shell_seq", "hwmoe_seq"
    points = ((128, 4), (128, 16), (128, 64))

    def features(self, p: ShellParams) -> dict[str, float]:
        return {"lane_bits": 32 * p.lanes_max}

    def verilog_parameters(self, p: ShellParams) -> dict[str, int]:
        from ..accel.engines import ENGINES
        from ..accel.program import CMD_WORDS, CONTROL_WORDS, DESC_WORDS, READERS
        from ..accel.top import TopConfig
        return {"ADDR_W": TopConfig().addr_w, "N_W": clog2(MAX_N + 1), "WORDS_W": clog2(MAX_WORDS + 1),
                "LANE_W": clog2(p.lanes_max + 1), "LANES_MAX": p.lanes_max, "READERS": READERS,
                "CMD_WORDS": CMD_WORDS, "CONTROL_WORDS": CONTROL_WORDS, "DESC_WORDS": DESC_WORDS,
                "ENGINES": len(ENGINES), "ENGINE_MASK": (1 << len(ENGINES)) - 1}


class Registers(Part):
    """hwmoe_ctrl: the same at every point (its counters do not depend on the bus)."""
    name, top = "shell_ctrl", "hwmoe_ctrl"
    points = ((128, 8),)

    def features(self, p: ShellParams) -> dict[str, float]:
        return {}

    def verilog_parameters(self, p: ShellParams) -> dict[str, int]:
        from ..accel.registers import COUNTERS
        from ..accel.top import TopConfig
        return {"ENGINES": len(COUNTERS), "ADDR_W": TopConfig().addr_w}


PARTS: dict[str, Part] = {part.name: part for part in (Dma(), Sequencer(), Registers())}

#: LUT and FF of the scratchpad's logic in hwmoe_dma (its second arbiter, the per-reader R and the writer's
#: muxes, hwmoe_scratch's counters): yosys ``synth_xilinx`` of hwmoe_dma at 128 bits, 8 lanes with a 32 KiB
#: scratchpad (31,698 LUT, 4,399 FF) less without one (30,721, 4,324); the LUTs are scaled with the bus width
#: (the R muxes are a bus word wide per reader), not measured at other widths
SCRATCH_LUT_128, SCRATCH_FF = 977.0, 75.0


def scratch_resources(bus_w: int, scratch_bytes: int) -> Usage:
    """The on-chip scratchpad (rtl/hwmoe_scratch.v): a simple-dual-port RAM of bus words with byte enables,
    as RAMB36 of 512 x 64 data bits (yosys infers 8 at 32 KiB and 2 at 2 KiB on a 128-bit bus), and its
    logic."""
    if not scratch_bytes:
        return Usage()
    depth = scratch_bytes // (bus_w // 8)
    return Usage(lut=SCRATCH_LUT_128 * bus_w / 128, ff=SCRATCH_FF, bram36=ceil_div(bus_w, 64) * ceil_div(depth, 512))


def shell_resources(bus_w: int = BUS_W, lanes_max: int = 8, scratch_bytes: int = 0) -> dict[str, Usage]:
    """The model's resources of each shell module (``shell_dma``, ``shell_seq``, ``shell_ctrl``, and
    ``shell_scratch`` with a scratchpad)."""
    p = ShellParams(bus_w, lanes_max)
    out = {name: part.resources(p) for name, part in PARTS.items()}
    if scratch_bytes:
        out["shell_scratch"] = scratch_resources(bus_w, scratch_bytes)
    return out


def shell_total(bus_w: int = BUS_W, lanes_max: int = 8, scratch_bytes: int = 0) -> Usage:
    """The whole shell: the sum of its modules."""
    return sum(shell_resources(bus_w, lanes_max, scratch_bytes).values(), Usage())


def design_lanes_max(design: dict, top_k: int = 0) -> int:
    """LANES_MAX of the top ``hwmoe build`` generates for a search design (``Design.to_dict()``; engines it
    lacks count as none): its widest stream.  ``hwmoe.accel.build.choice_from_design`` gives LayerNorm and the
    adder the linear tile T, so the LayerNorm parameter stream (gamma and beta side by side) has 2 T lanes;
    the router's input has its lanes, its output 2 top_k; attention streams its lanes
    (``hwmoe.accel.program.stream_lanes``)."""
    lanes = [2 * top_k, 2 * int(design.get("linear", {}).get("t", 0))]
    lanes += [int(design.get(e, {}).get("lanes", 0)) for e in ("attention", "router")]
    return max(1, *lanes)
