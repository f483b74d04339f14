"""The search's latency: the accelerator's own timing model (:mod:`hwmoe.accel.timing`) on the program compiled
for a design, so that the milliseconds the search reports for a design are those ``hwmoe build --design
search.json`` predicts for it (the same graph, plan, program and memory).

Pricing a design compiles its program without the image (``compile_program(image=False)``: the same engines,
layout and commands).  Fields that change an engine's cycles but none of its streams' lanes
(:data:`CYCLE_ONLY`) change no descriptor and no region, so a program compiled once is re-bound to each of their
values instead of compiled again (tests/test_search.py checks the re-bound program's cycles equal a fresh
compile's).  The search's stages price one engine at a time (:meth:`AccelPricer.engine_cycles`: the cycles of
that engine's commands, the other engines at their first legal values); the reported figure of a design is the
whole program's (:meth:`AccelPricer.design_cycles`).
"""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ..accel import timing
from ..accel.build import choice_from_design
from ..accel.engines import Engines
from ..accel.program import Program, compile_program

#: the search's engine (``hwmoe.cost.engines.ENGINES``) whose parameters each accelerator engine takes: the
#: linear core's tile serves the linear and MoE engines and sets LayerNorm's and add's lanes
SEARCH_ENGINE_OF = {"linear": "linear", "moe": "linear", "layernorm": "linear", "add": "linear",
                    "router": "router", "attention": "attention"}
#: Params fields that set an engine's cycles but no stream's lanes (``program.stream_lanes``), hence no
#: descriptor and no region of the program
CYCLE_ONLY = frozenset({"n_pe", "nbuf", "rows", "expert_par"})


@lru_cache(maxsize=4)
def model_program_inputs(model: str, precision: str):
    """(graph, plan) of a preset or an ONNX file exactly as ``hwmoe build`` makes them (seed 0: its default;
    an ONNX model's plan beside it, calibrated and saved there the first time)."""
    from ..accel.build import model_graph
    from ..frontend.config import PRESETS
    from ..inputs import plan_for
    preset = model if model in PRESETS else None
    graph, calib = model_graph(None if preset else model, preset, 0)
    plan, _, _ = plan_for(graph, None if preset else model, precision, None, calib, 0)
    return graph, plan


class AccelPricer:
    """Cycles of designs of one model (``graph`` under ``plan``) on one memory (``timing.Memory``)."""

    def __init__(self, graph, plan, memory: timing.Memory, reference: dict):
        self.graph, self.plan, self.memory = graph, plan, memory
        self.reference = reference          # {search engine: choice}: the other engines while one is priced
        self._compiled: dict = {}
        self._engine: dict = {}
        self._design: dict = {}

    def program(self, design: dict) -> tuple[Program, int]:
        """The program of ``design`` (a Design's ``to_dict()``), without its image, and its command fetch's
        cycles (``timing.fetch_cycles``)."""
        choice = choice_from_design(design)
        key = tuple(sorted((e, tuple(sorted((k, v) for k, v in c.items() if k not in CYCLE_ONLY)))
                           for e, c in choice.items()))
        if key not in self._compiled:
            base = compile_program(self.graph, self.plan, choice, image=False)
            self._compiled[key] = base, timing.fetch_cycles(base, self.memory)
        base, fetch = self._compiled[key]
        params = {e: replace(p, **{k: v for k, v in choice[e].items() if k in CYCLE_ONLY})
                  for e, p in base.engines.params.items()}
        return replace(base, engines=Engines(params)), fetch

    def design_cycles(self, design: dict) -> int:
        """START to DONE of one image: ``timing.total_cycles`` of the design's program."""
        key = repr(sorted((k, v) for k, v in design.items() if k != "group"))
        if key not in self._design:
            self._design[key] = timing.total_cycles(self.program(design)[0], self.memory)
        return self._design[key]

    def engine_cycles(self, engine: str, choice: dict) -> int:
        """The cycles of the commands of the search's ``engine`` (fetch included) at ``choice``."""
        key = (engine, tuple(sorted(choice.items())))
        if key not in self._engine:
            program, fetch = self.program({**self.reference, engine: choice, "group": 1})
            self._engine[key] = sum(timing.command_timing(program, i, self.memory, fetch=fetch).total
                                    for i, call in enumerate(program.calls) if SEARCH_ENGINE_OF[call.engine] == engine)
        return self._engine[key]

    def end_cycles(self) -> int:
        """After the last command (the reference design's): the end command's fetch and the sequencer's end."""
        return self.program({**self.reference, "group": 1})[1] + timing.SEQ_CYCLES

    def layers(self, design: dict) -> list[dict]:
        """One row per command of the design's program: its node, engine, cycles and what bounds them."""
        program = self.program(design)[0]
        rows = []
        for t, call, command in zip(timing.command_timings(program, self.memory), program.calls, program.commands):
            rows.append({"name": command.node, "kind": call.node.kind, "engine": call.engine,
                         "compute_cycles": t.compute, "memory_cycles": t.memory, "overhead_cycles": t.overhead,
                         "cycles": t.total, "bound": t.bound, "macs": t.macs})
        return rows
