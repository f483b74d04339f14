"""Whole-model estimate: per-layer cycles and bounds, the two-engine schedule, latency, throughput, GOPS and
resources of a design on a board.

Schedule.  The workload is a chain of stages alternating between the linear and the attention engine
(:mod:`.workload`); the router unit's gate layers are on the linear engine's timeline.  A batch of B images
is split into groups of ``group`` images; a group runs each linear stage with its weights loaded once for the
whole group, and each attention stage image by image.  Each engine
takes its stages in order (stage, then group), a stage starting when its input stage of the same group is done
and the engine is free.  So at batch 1 everything is sequential; with two or more groups the attention of one
group overlaps the linear layers of the other.  Latency is always also reported at batch 1.

Work.  GOPS = 2 x the graph's own MAC count (``Graph.macs()``: patch embedding, q/k/v/proj, attention QK^T and
AV, dense MLP, router, top-k experts, head) per image / time.  For M3ViT-T that is 0.783 GMAC = 1.566 GOP per
image, not the 2.5 GOP some papers use.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from . import shell
from .engines import ENGINES, EngineConfig
from .memory import activation_buffers
from .usage import Usage
from .workload import Workload

#: The shell's resources at (AXI data bits, LANES_MAX), from its calibrated model (:mod:`.shell`).
shell_usage = lru_cache(maxsize=None)(shell.shell_total)


@dataclass(frozen=True)
class Design:
    """A point of the design space: each engine's (and unit's) choice of parameters and the batch grouping.
    ``router`` is empty for models without MoE layers."""
    linear: dict
    attention: dict
    group: int = 1
    router: dict = field(default_factory=dict)

    def choice(self, engine: str) -> dict:
        return getattr(self, engine)

    def to_dict(self) -> dict:
        d = {"linear": dict(self.linear), "attention": dict(self.attention), "group": self.group}
        if self.router:
            d["router"] = dict(self.router)
        return d

    @classmethod
    def of(cls, choices: dict, group: int = 1) -> "Design":
        """From ``{engine: choice}`` (engines a model does not have may be missing)."""
        return cls(dict(choices.get("linear", {})), dict(choices.get("attention", {})), group,
                   dict(choices.get("router", {})))


@dataclass
class Estimate:
    design: Design
    board: str
    precision: str
    clock_mhz: float
    batch: int
    latency_ms: float                  # one image alone (batch 1)
    batch_ms: float                    # the whole batch
    images_per_s: float
    gops: float                        # at the chosen batch
    gop_per_image: float
    resources: Usage
    breakdown: dict[str, Usage]
    available: dict[str, int]
    layers: list[dict] = field(default_factory=list)
    fits: bool = True
    limiting: tuple[str, float] = ("", 0.0)

    @property
    def ms_per_image(self) -> float:
        return self.batch_ms / self.batch

    def to_dict(self) -> dict:
        used = self.resources.rounded()
        return {
            "board": self.board, "precision": self.precision, "clock_mhz": self.clock_mhz, "batch": self.batch,
            "design": self.design.to_dict(),
            "latency_ms": self.latency_ms, "batch_ms": self.batch_ms, "ms_per_image": self.ms_per_image,
            "images_per_s": self.images_per_s, "gops": self.gops,
            "work": {"gop_per_image": self.gop_per_image,
                     "counted": "2 x the graph's MACs (Graph.macs()), top-k experts only"},
            "resources": {"used": used, "available": dict(self.available),
                          "utilisation": {k: round(used[k] / self.available[k], 4) if self.available[k] else None
                                          for k in used},
                          "by_unit": {k: v.rounded() for k, v in self.breakdown.items()}},
            "fits": self.fits, "limiting": {"resource": self.limiting[0], "of_allowed": round(self.limiting[1], 4)},
            "layers": self.layers,
        }


class Evaluator:
    """Prices designs of one workload on one board at one precision (and its formats); caches per engine
    choice."""

    def __init__(self, wl: Workload, board, prec, clock_mhz: float | None = None, margins: dict | None = None,
                 spaces: dict | None = None, formats: dict | None = None, pricer=None):
        self.wl, self.board, self.prec = wl, board, prec
        #: the accelerator's timing model of the model (:class:`hwmoe.cost.accel.AccelPricer`): when given, it
        #: prices every latency (the search's); without one, the kernels' formulas with :mod:`.memory`
        self.pricer = pricer
        #: the format of each tensor role the engines are built for: a calibrated plan's
        #: (:func:`hwmoe.numerics.calibration.plan_formats`) or, without one, the precision's defaults
        self.formats = formats or prec.formats()
        self.spaces = spaces or {}
        self.clock = float(clock_mhz or board.clock_mhz)
        self.bpc = board.bandwidth_bytes_per_cycle(self.clock)
        self.margins = margins
        self._cfg: dict = {}
        self._stage: dict = {}
        self._res: dict = {}
        self._engines: list[str] | None = None
        self.hidden = max([op.work.d_out for op in wl.ops("linear")] + [op.work.hidden for op in wl.ops("moe")]
                          + [wl.dim])
        self.top_k = max([op.work.top_k for op in wl.ops("router")], default=0)

    # ---- per engine -------------------------------------------------------------------------------
    @property
    def engines(self) -> list[str]:
        """The engines / units this workload uses (those that run at least one of its ops), in ENGINES order."""
        if self._engines is None:
            self._engines = [e for e, eng in ENGINES.items() if any(eng.runs(op) for op in self.wl.ops())]
        return self._engines

    def space(self, engine: str) -> dict[str, list]:
        """The engine's legal values (from the model's dims), or the override given at construction."""
        return self.spaces.get(engine) or ENGINES[engine].space(self.wl)

    def config(self, engine: str, choice: dict, images: int = 1) -> EngineConfig:
        """Kernel parameters; buffers sized for a group of ``images`` (the linear kernel holds them all)."""
        key = (engine, tuple(sorted(choice.items())), images)
        if key not in self._cfg:
            self._cfg[key] = ENGINES[engine].build(choice, self.wl, self.formats, images)
        return self._cfg[key]

    def stage_costs(self, engine: str, choice: dict, images: int) -> list[list | None]:
        """Per stage of the workload: the costs of the ops ``engine`` runs in it if the stage is on the
        engine's timeline (possibly none), else None."""
        key = (engine, tuple(sorted(choice.items())), images)
        if key not in self._stage:
            cfg, eng = self.config(engine, choice, images), ENGINES[engine]
            self._stage[key] = [[eng.op_cost(cfg, op, self.wl, images, self.bpc, self.formats) for op in s.ops
                                 if eng.runs(op)] if s.engine == eng.timeline else None for s in self.wl.stages]
        return self._stage[key]

    def stage_cycles(self, engine: str, choice: dict, images: int) -> list[float | None]:
        return [None if c is None else sum(o.timing.total for o in c)
                for c in self.stage_costs(engine, choice, images)]

    def engine_cycles(self, engine: str, choice: dict, images: int = 1) -> float:
        """The engine's busy cycles for one group of ``images`` (stage-1 objective)."""
        if self.pricer is not None:
            return images * self.pricer.engine_cycles(engine, choice)
        return sum(c for c in self.stage_cycles(engine, choice, images) if c is not None)

    def engine_resources(self, engine: str, choice: dict, images: int = 1) -> dict[str, Usage]:
        key = (engine, tuple(sorted(choice.items())), images)
        if key not in self._res:
            self._res[key] = ENGINES[engine].resources(self.config(engine, choice, images), self.board.dsp_kind)
        return self._res[key]

    def shared_resources(self, batch: int, group: int) -> dict[str, Usage]:
        in_flight = min(batch, 2 * group) if batch > group else group
        return {"activation_buffers": activation_buffers(self.wl.tokens, self.wl.dim, self.hidden, in_flight,
                                                         self.prec, self.board.resources.uram)}

    def shell(self, choices: dict) -> Usage:
        """The accelerator's shell (DMA, sequencer, registers) for a design's engine choices
        (``Design.to_dict()``; of some engines only: the shell their streams need at least), at the AXI data
        width the latency is priced at (the pricer's memory), else the one ``hwmoe build`` generates by default
        (``shell.BUS_W``)."""
        bus_w = self.pricer.memory.bus_bytes * 8 if self.pricer is not None else shell.BUS_W
        return shell_usage(bus_w, shell.design_lanes_max(choices, self.top_k))

    # ---- whole design -------------------------------------------------------------------------------
    def makespan(self, design: Design, batch: int) -> float:
        """Cycles for ``batch`` images under the two-engine schedule (a stage on the linear timeline takes
        the linear engine's and the router unit's cycles of that stage, one after the other).  With the
        accelerator's timing model: its engines' commands one after another, image after image (the
        accelerator has one schedule: one command at a time)."""
        if self.pricer is not None:
            return batch * (sum(self.engine_cycles(e, design.choice(e)) for e in self.engines)
                            + self.pricer.end_cycles())
        group = max(1, min(design.group, batch))
        sizes = [group] * (batch // group) + ([batch % group] if batch % group else [])
        stages = self.wl.stages
        per = {}
        for n in set(sizes):
            dur = [0.0] * len(stages)
            for e in self.engines:
                for s, c in enumerate(self.stage_cycles(e, design.choice(e), n)):
                    if c is not None:
                        dur[s] += c
            per[n] = dur
        free = {"linear": 0.0, "attention": 0.0}
        done = [0.0] * len(sizes)
        for s, st in enumerate(stages):
            for g, n in enumerate(sizes):
                start = max(done[g], free.get(st.engine, 0.0))
                done[g] = free[st.engine] = start + per[n][s]
        return max(done)

    def resources(self, design: Design, batch: int) -> tuple[Usage, dict[str, Usage]]:
        group = max(1, min(design.group, batch))
        parts = {}
        for e in self.engines:
            parts.update(self.engine_resources(e, design.choice(e), group))
        parts.update(self.shared_resources(batch, group))
        parts["shell"] = self.shell(design.to_dict())
        total = Usage()
        for u in parts.values():
            total = total + u
        return total, parts

    def evaluate(self, design: Design, batch: int = 1, layers: bool = True) -> Estimate:
        total, parts = self.resources(design, batch)
        if self.pricer is not None:         # the whole program's cycles (makespan: the sum of the engines')
            cyc1 = self.pricer.design_cycles(design.to_dict())
            cycb = batch * cyc1
        else:
            cyc1 = self.makespan(design, 1)
            cycb = cyc1 if batch == 1 else self.makespan(design, batch)
        ms = lambda c: c / (self.clock * 1e3)
        gop = 2 * self.wl.macs_per_image / 1e9
        avail = self.board.resources.as_dict()
        est = Estimate(design, self.board.name, self.prec.name, self.clock, batch, ms(cyc1), ms(cycb),
                       batch / (ms(cycb) / 1e3), gop * batch / (ms(cycb) / 1e3), gop, total, parts, avail,
                       fits=total.fits(self.board.resources, self.margins),
                       limiting=total.worst(self.board.resources, self.margins))
        if layers:
            est.layers = self.layer_table(design)
        return est

    def layer_table(self, design: Design) -> list[dict]:
        if self.pricer is not None:
            return self.pricer.layers(design.to_dict())
        rows = []
        costs = {e: self.stage_costs(e, design.choice(e), 1) for e in self.engines}
        for s, st in enumerate(self.wl.stages):
            by_name = {oc.name: (e, oc) for e in self.engines if costs[e][s] is not None for oc in costs[e][s]}
            for op in st.ops:
                if op.name not in by_name:
                    continue
                e, oc = by_name[op.name]
                rows.append({"name": oc.name, "kind": oc.kind, "engine": e,
                             "compute_cycles": round(oc.timing.compute), "memory_cycles": round(oc.timing.memory),
                             "cycles": round(oc.timing.total), "bytes": round(oc.timing.bytes),
                             "bound": oc.timing.bound, "macs": oc.macs})
        return rows


def evaluate(wl: Workload, design: Design, board, prec, batch: int = 1, clock_mhz: float | None = None) -> Estimate:
    return Evaluator(wl, board, prec, clock_mhz).evaluate(design, batch)


__all__ = ["Design", "Estimate", "Evaluator", "evaluate"]
