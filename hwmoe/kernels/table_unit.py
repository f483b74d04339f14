"""What the exp2 and reciprocal units share as kernels: a lookup-table unit inside the softmax datapaths of the
attention and router kernels, tested alone through a thin stream top (LANES words per beat, one beat per cycle,
a fixed latency).  No IR node runs on such a unit by itself."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..cost.usage import brams_for
from ..numerics.intmath import ceil_div
from ..numerics.tables import EXP_INDEX_BITS, RECIP_INDEX_BITS, U1_15
from .base import Kernel

#: the Verilog parameters that size the exp2 and reciprocal tables of a softmax datapath (attention, router)
SOFTMAX_TABLE_PARAMETERS = {"EXP_IDX": EXP_INDEX_BITS, "RECIP_IDX": RECIP_INDEX_BITS}


def softmax_tables_bram36() -> float:
    """Block RAM of one exp2 and one reciprocal table (U1.15 words; a RAMB18 each up to 1024 entries)."""
    return brams_for(1 << EXP_INDEX_BITS, U1_15.width) + brams_for(1 << RECIP_INDEX_BITS, U1_15.width)


@dataclass(frozen=True)
class UnitWork:
    """One run of the unit: ``words`` values."""
    words: int


class TableUnitKernel(Kernel):
    """Subclasses set the Kernel attributes and: ``beat_cycles`` (the module's formula: cycles of a run of
    beats, what the testbench checks), ``input_width``
    (the Params field of the input word's width), ``table`` (a function returning the table's words) and
    ``table_width`` (its word bits); ``calibration_points`` lists their yosys points."""
    Work = UnitWork
    node_kinds = ()
    input_width: str
    table_width: int

    @staticmethod
    def table():
        raise NotImplementedError

    def work(self, node, graph) -> UnitWork:
        raise TypeError(f"no IR node runs on the {self.name} unit alone (node {node.name!r})")

    def macs(self, work: UnitWork) -> int:
        return 0

    @staticmethod
    def beat_cycles(beats: int) -> int:
        raise NotImplementedError

    def cycles(self, params, work: UnitWork) -> int:
        return self.beat_cycles(ceil_div(work.words, params.lanes))

    def features(self, p) -> dict[str, float]:
        return {"lanes": p.lanes, "lane_bits": p.lanes * getattr(p, self.input_width)}

    def dsp(self, p, dsp_kind: str = "DSP48E2") -> float:
        return 0.0                                  # a table read and shifts: no multiplier

    def bram36(self, p) -> float:
        return p.lanes * brams_for(len(self.table()), self.table_width)     # one table ROM per lane

    def engine_params(self, choice: dict, maxima: UnitWork, formats):
        return replace(self.params(), lanes=choice["lanes"], words=maxima.words)
