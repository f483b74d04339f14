"""Calibration: float runs of the kernel graph on sample inputs give every tensor's range, from which the
plan picks each format's integer bits (docs/numerics.md §2).  The plan is saved as JSON beside the model."""
from __future__ import annotations

import numpy as np

from .. import ir
from .fixed import Fmt, int_bits_for
from .softmax import DEFAULT_BLOCK, LOG2E
from .tables import U1_15, GeluTable
from .plan import Plan
from .precision import Precision, get_precision
from ..reference import check_input, float_step, run_graph

def tensor_widths(graph: ir.Graph, p: Precision) -> dict[str, int]:
    """The word width of every activation tensor, by the role of its producer and consumers."""
    widths = {graph.input: p.act}
    attention_inputs = {t for n in graph.nodes if isinstance(n, ir.Attention) for t in n.inputs}
    for n in graph.nodes:
        for t in n.outputs:
            if isinstance(n, (ir.PatchEmbed, ir.Add)):
                widths[t] = p.resid
            elif t in attention_inputs:
                widths[t] = p.attn
            else:
                widths[t] = p.act
        if isinstance(n, ir.Router):
            widths[n.outputs[0]] = 0          # expert indices are integers, not fixed point
            widths[n.outputs[1]] = U1_15.width
    return widths


def observe_ranges(graph: ir.Graph, inputs: np.ndarray) -> tuple[dict[str, float], dict[str, float]]:
    """Largest magnitude of every tensor and of kernel-internal values over the calibration batch."""
    ranges: dict[str, float] = {}
    stats: dict[str, float] = {}

    def seen(name, value):
        ranges[name] = max(ranges.get(name, 0.0), float(np.max(np.abs(value))))

    for x in check_input(graph, inputs):
        run_graph(graph, x, float_step(stats), seen)
    return ranges, stats


def _fmt(width: int, max_abs: float, headroom: int) -> Fmt:
    return Fmt(width, int_bits_for(max_abs, True, headroom))


def calibrate(graph: ir.Graph, precision: str, inputs: np.ndarray, attention_block: int = DEFAULT_BLOCK) -> Plan:
    """A plan for ``graph`` at ``precision`` from float runs on ``inputs`` (batch of model inputs)."""
    p = get_precision(precision)
    ranges, stats = observe_ranges(graph, inputs)
    plan = Plan(precision, attention_block=attention_block)
    for name, width in tensor_widths(graph, p).items():
        if width == U1_15.width and name in {n.outputs[1] for n in graph.nodes if isinstance(n, ir.Router)}:
            plan.tensors[name] = U1_15
        elif width:
            plan.tensors[name] = _fmt(width, ranges[name], p.headroom)
    gelu_reach = 0.0
    for n in graph.nodes:
        params = n.params()
        if isinstance(n, ir.LayerNorm):      # gamma and beta share one format: one multiplier-adder path
            shared = max(float(np.max(np.abs(n.gamma))), float(np.max(np.abs(n.beta))))
            params = {"gamma": shared, "beta": shared}
        for pname, value in params.items():
            width = p.weight if pname in ("weight", "w1", "w2") else p.param
            plan.params[f"{n.name}.{pname}"] = _fmt(width, float(np.max(np.abs(value))), 0)
        if isinstance(n, ir.PatchEmbed):
            plan.internal[f"{n.name}.tokens"] = _fmt(p.resid, stats[n.name + ".tokens"], p.headroom)
        elif isinstance(n, ir.Attention):
            fmt = _fmt(p.score, stats[n.name + ".scores"] * LOG2E, p.headroom)
            plan.internal[f"{n.name}.scores"] = fmt
        elif isinstance(n, ir.Router):
            plan.internal[f"{n.name}.logits"] = _fmt(p.act, stats[n.name + ".logits"], p.headroom)
        elif isinstance(n, ir.Experts):
            hidden = stats[n.name + ".hidden"]
            plan.internal[f"{n.name}.hidden"] = _fmt(p.act, hidden, p.headroom)
            plan.internal[f"{n.name}.act"] = _fmt(p.act, hidden, p.headroom)
            plan.internal[f"{n.name}.expert_out"] = _fmt(p.act, stats[n.name + ".expert_out"], p.headroom)
            gelu_reach = max(gelu_reach, hidden)
        elif isinstance(n, ir.Gelu):
            gelu_reach = max(gelu_reach, ranges[n.inputs[0]])
    plan.gelu_entries = GeluTable.for_range(gelu_reach).entries
    return plan
