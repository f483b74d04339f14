"""Calibration: float runs of the kernel graph on sample inputs give every tensor's range, from which the
plan picks each format's integer bits (docs/numerics.md §2).  The plan is saved as JSON beside the model.

Each value has a role (:data:`hwmoe.numerics.precision.ROLES`), which gives its width; the roles are assigned
here, by node kind, and :func:`plan_formats` reads a plan back by role for the cost model and the search."""
from __future__ import annotations

import numpy as np

from .. import ir
from .fixed import Fmt, int_bits_for
from .softmax import DEFAULT_BLOCK, LOG2E
from .tables import U1_15, GeluTable
from .plan import Plan
from .precision import ROLES, get_precision
from ..reference import check_input, float_step, run_graph

#: the role of a tensor whose format is fixed, not calibrated (the router's U1.15 gate weights)
GATE_ROLE = "gate"

#: kernel-internal values the plan gives a format, by node kind: (value, the float statistic its range comes
#: from, its role, the statistic's scale); attention scores live in the log2 domain
INTERNAL_VALUES = {
    "patch_embed": (("tokens", "tokens", "resid", 1.0),),
    "attention": (("scores", "scores", "score", LOG2E),),
    "router": (("logits", "logits", "act", 1.0),),
    "experts": (("hidden", "hidden", "act", 1.0), ("act", "hidden", "act", 1.0),
                ("expert_out", "expert_out", "act", 1.0)),
}


def tensor_roles(graph: ir.Graph) -> dict[str, str | None]:
    """The role (a :data:`hwmoe.numerics.precision.ROLES` entry) of every activation tensor, by its producer
    and consumers: the residual stream, attention operands, other activations; the router's expert indices
    are integers (None) and its gate weights U1.15 (:data:`GATE_ROLE`)."""
    roles = {graph.input: "act"}
    attention_inputs = {t for n in graph.nodes if n.kind == "attention" for t in n.inputs}
    for n in graph.nodes:
        for t in n.outputs:
            roles[t] = "resid" if n.kind in ("patch_embed", "add") else "attn" if t in attention_inputs else "act"
        if n.kind == "router":
            roles[n.outputs[0]], roles[n.outputs[1]] = None, GATE_ROLE
    return roles


def param_role(name: str) -> str:
    """Weights (linear, gate, experts) or other parameters (biases, gamma/beta, class token, positions)."""
    return "weight" if name in ("weight", "w1", "w2") else "param"


def plan_formats(graph: ir.Graph, plan: Plan) -> dict[str, Fmt]:
    """role -> the widest format ``plan`` gives any value of that role in ``graph`` (the most integer bits
    among the widest words): what an engine that runs every layer is built for.  Roles the graph does not
    use keep the precision's defaults (:meth:`Precision.formats`)."""
    found: dict[str, Fmt] = {}

    def see(role, fmt: Fmt) -> None:
        if role not in found or (fmt.width, fmt.int_bits) > (found[role].width, found[role].int_bits):
            found[role] = fmt

    for name, role in tensor_roles(graph).items():
        if role in ROLES:
            see(role, plan.tensors[name])
    for n in graph.nodes:
        for pname in n.params():
            see(param_role(pname), plan.params[f"{n.name}.{pname}"])
        for value, _, role, _ in INTERNAL_VALUES.get(n.kind, ()):
            see(role, plan.internal[f"{n.name}.{value}"])
    return plan.spec.formats(found)


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
    for name, role in tensor_roles(graph).items():
        if role == GATE_ROLE:
            plan.tensors[name] = U1_15
        elif role:
            plan.tensors[name] = _fmt(p.width(role), ranges[name], p.headroom)
    gelu_reach = 0.0
    for n in graph.nodes:
        params = n.params()
        if n.kind == "layernorm":           # gamma and beta share one format: one multiplier-adder path
            shared = max(float(np.max(np.abs(n.gamma))), float(np.max(np.abs(n.beta))))
            params = {"gamma": shared, "beta": shared}
        for pname, value in params.items():
            plan.params[f"{n.name}.{pname}"] = _fmt(p.width(param_role(pname)), float(np.max(np.abs(value))), 0)
        for value, stat, role, scale in INTERNAL_VALUES.get(n.kind, ()):
            plan.internal[f"{n.name}.{value}"] = _fmt(p.width(role), stats[f"{n.name}.{stat}"] * scale, p.headroom)
        if n.kind == "experts":             # the GELU inside the experts and a GELU node share the table
            gelu_reach = max(gelu_reach, stats[n.name + ".hidden"])
        elif n.kind == "gelu":
            gelu_reach = max(gelu_reach, ranges[n.inputs[0]])
    plan.gelu_entries = GeluTable.for_range(gelu_reach).entries
    return plan
