"""The bit-accurate reference against float on a batch of inputs: per tensor the signal-to-quantisation-noise
ratio and the count of saturated words, per router the share of tokens whose top-k expert set equals
float's, per input the output's cosine with float and its top-1 class.  ``hwmoe run --report`` prints it;
benchmarks/accuracy.py tabulates it for the trained digits example."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import ir
from ..reference import FixedRunner, check_input, float_step, run_graph
from .fixed import to_float
from .floating import cosine
from .plan import Plan


@dataclass
class TensorError:
    """Sums over a batch for one tensor: float signal power, squared error, saturated and all words."""
    signal: float = 0.0
    noise: float = 0.0
    saturated: int = 0
    words: int = 0

    @property
    def sqnr_db(self) -> float:
        """10 log10(signal / noise); infinite when the words equal float exactly."""
        if self.noise == 0.0:
            return math.inf
        return 10.0 * math.log10(self.signal / self.noise) if self.signal > 0.0 else -math.inf


@dataclass
class Comparison:
    tensors: dict[str, TensorError] = field(default_factory=dict)   # every tensor with a format, graph order
    routing: dict[str, list[int]] = field(default_factory=dict)     # router node -> [tokens agreeing, tokens]
    cosines: list[float] = field(default_factory=list)              # output cosine with float, per input
    max_abs_errors: list[float] = field(default_factory=list)       # the output's largest |error|, per input
    float_top1: list[int] = field(default_factory=list)
    fixed_top1: list[int] = field(default_factory=list)

    def agreement(self, router: str) -> float:
        """Share of tokens whose top-k expert set at ``router`` equals float's."""
        same, tokens = self.routing[router]
        return same / tokens

    def table(self, plan: Plan) -> str:
        """Per tensor: format, SQNR and saturated words; per router: top-k agreement; the output's cosine."""
        rows = [("tensor", "format", "SQNR dB", "saturated words")]
        for name, e in self.tensors.items():
            f = plan.tensors[name]
            rows.append((name, f"{'' if f.signed else 'u'}<{f.width},{f.int_bits}>", f"{e.sqnr_db:.1f}",
                         f"{e.saturated} of {e.words}"))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                 for r in rows]
        lines.insert(1, "-" * len(lines[0]))
        lines += [f"top-k expert set equal to float at {r}: {100 * self.agreement(r):.2f}% of "
                  f"{self.routing[r][1]} tokens" for r in self.routing]
        lines.append(f"output cosine with float: worst {min(self.cosines):.6f}, mean {np.mean(self.cosines):.6f}; "
                     f"top-1 class equal to float for {100 * np.mean(np.equal(self.float_top1, self.fixed_top1)):.2f}%"
                     f" of {len(self.cosines)} inputs")
        return "\n".join(lines)

    def accuracy(self, labels, fixed: bool = True) -> float:
        """Share of inputs whose top-1 class (fixed point, or float) equals ``labels``."""
        return float(np.mean(np.asarray(self.fixed_top1 if fixed else self.float_top1) == np.asarray(labels)))


def compare(graph: ir.Graph, plan: Plan, inputs: np.ndarray) -> Comparison:
    """Run every input of the batch in float and bit-accurately under ``plan`` and compare them."""
    runner = FixedRunner(graph, plan)
    routers = [n for n in graph.nodes if n.kind == "router"]
    c = Comparison(routing={r.name: [0, 0] for r in routers})
    for x in check_input(graph, inputs):
        ref, got = {}, {}
        run_graph(graph, x, float_step(), ref.__setitem__)
        runner.run_raw(x, got.__setitem__)
        for name, raw in got.items():
            fmt = plan.tensors.get(name)
            if fmt is None:                     # the router's expert indices
                continue
            e = c.tensors.setdefault(name, TensorError())
            raw = np.asarray(raw)
            e.signal += float(np.sum(ref[name] ** 2))
            e.noise += float(np.sum((to_float(raw, fmt) - ref[name]) ** 2))
            e.saturated += int(np.count_nonzero((raw == fmt.raw_max) | (raw == fmt.raw_min)))
            e.words += raw.size
        for r in routers:
            same = np.all(np.sort(ref[r.outputs[0]], -1) == np.sort(got[r.outputs[0]], -1), -1)
            c.routing[r.name][0] += int(same.sum())
            c.routing[r.name][1] += same.size
        y_float, y = ref[graph.output], to_float(got[graph.output], plan.tensors[graph.output])
        c.cosines.append(cosine(y_float, y))
        c.max_abs_errors.append(float(np.max(np.abs(y_float - y))))
        c.float_top1.append(int(np.argmax(y_float)))
        c.fixed_top1.append(int(np.argmax(y)))
    return c
