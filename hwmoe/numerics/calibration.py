"""Calibration: float runs of the kernel graph on sample inputs give every tensor's values, from which the
plan picks each format's integer bits by one of :data:`CALIBRATIONS` (docs/numerics.md §2).  The plan is
saved as JSON beside the model.

Each value has a role (:data:`hwmoe.numerics.precision.ROLES`), which gives its width; the roles are assigned
here, by node kind, and :func:`plan_formats` reads a plan back by role for the cost model and the search."""
from __future__ import annotations

import numpy as np

from .. import ir
from ..errors import UserError
from .fixed import Fmt, int_bits_for, quantize, to_float
from .softmax import DEFAULT_BLOCK, LOG2E
from .tables import U1_15, GeluTable
from .plan import Plan
from .precision import CALIBRATIONS, DEFAULT_CALIBRATION, ROLES, get_precision
from ..reference import check_input, float_step, run_graph

PERCENTILE = 99.99
#: integer bits the mse search tries below those that hold the largest magnitude (none for the residual
#: stream: every later layer reads it, and at 16 bits or more its rounding error is already small)
MSE_REACH = 4


def mse_reach(role: str) -> int:
    return 0 if role == "resid" else MSE_REACH


#: the role of a tensor whose format is fixed, not calibrated (the router's U1.15 gate weights)
GATE_ROLE = "gate"

#: kernel-internal values the plan gives a format, by node kind: (value, the float statistic its range comes
#: from, its role, the statistic's scale); attention scores live in the log2 domain
INTERNAL_VALUES = {
    "patch_embed": (("tokens", "tokens", "resid", 1.0),),
    "attention": (("scores", "scores", "score", LOG2E),),
    "router": (("logits", "logits", "logit", 1.0),),
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


class Observed:
    """What calibration keeps of the values shown to it, per key: the largest magnitude, the count of values
    and a histogram of the integer bits each non-zero value needs (``int_bits_for`` of it, signed).  With
    ``tries`` (key -> (width, [integer bits])) it sums instead each tried format's squared quantisation error
    (the mse method's second pass)."""
    OFFSET = 1100           # float64 exponents lie in -1074..1024

    def __init__(self, tries: dict[str, tuple[int, list[int]]] | None = None):
        self.peak: dict[str, float] = {}
        self.count: dict[str, int] = {}
        self.hist: dict[str, np.ndarray] = {}
        self.tries, self.error = tries, {}

    def __call__(self, key: str, value) -> None:
        x = np.asarray(value, dtype=np.float64).ravel()
        if self.tries is not None:
            if key in self.tries:
                width, bits = self.tries[key]
                err = [float(np.sum((to_float(quantize(x, f), f) - x) ** 2)) for f in (Fmt(width, i) for i in bits)]
                self.error[key] = self.error.get(key, 0.0) + np.array(err)
            return
        a = np.abs(x)
        self.peak[key] = max(self.peak.get(key, 0.0), float(a.max(initial=0.0)))
        self.count[key] = self.count.get(key, 0) + a.size
        need = np.frexp(a[a > 0])[1] + 1 + self.OFFSET
        self.hist[key] = self.hist.get(key, 0) + np.bincount(need, minlength=2 * self.OFFSET)

    def max_bits(self, key: str) -> int:
        """Integer bits that hold the largest magnitude."""
        return int_bits_for(self.peak[key])

    def percentile_bits(self, key: str, pct: float = PERCENTILE) -> int:
        """The fewest integer bits that hold all but ``100 - pct`` percent of the values."""
        h = self.hist[key]
        beyond = np.cumsum(h[::-1])[::-1] - h          # values needing more bits than each bin's
        first = int(np.flatnonzero(beyond <= (100.0 - pct) / 100.0 * self.count[key])[0]) - self.OFFSET
        return max(first, int_bits_for(0.0))

    def best_bits(self, key: str) -> int:
        """The tried integer bits with the least squared error (ties: the first tried, the most bits)."""
        return self.tries[key][1][int(np.argmin(self.error[key]))]


def _observe(graph: ir.Graph, inputs: np.ndarray, weights: dict, scales: dict, tries: dict | None = None):
    """One calibration pass: (tensors, kernel-internal values), each an :class:`Observed` of every tensor
    (and weight, keyed ``param:<node>.<name>``) and of every internal statistic (scaled by ``scales``)."""
    tensors, internal = Observed(tries), Observed(tries)
    for x in check_input(graph, inputs):
        run_graph(graph, x, float_step(lambda k, v: internal(k, v * scales[k])), tensors)
    for key, value in weights.items():
        tensors(key, value)
    return tensors, internal


def calibrate(graph: ir.Graph, precision: str, inputs: np.ndarray, attention_block: int = DEFAULT_BLOCK,
              method: str = DEFAULT_CALIBRATION) -> Plan:
    """A plan for ``graph`` at ``precision`` from float runs on ``inputs`` (batch of model inputs): integer
    bits chosen by ``method`` (one of :data:`CALIBRATIONS`) for activations, kernel-internal values and
    weights; biases and the other parameters hold their largest magnitude."""
    if method not in CALIBRATIONS:
        raise UserError(f"unknown calibration {method!r}: expected one of {', '.join(CALIBRATIONS)}")
    p = get_precision(precision)
    roles = {t: r for t, r in tensor_roles(graph).items() if r in ROLES}
    internal_roles = {f"{n.name}.{stat}": (role, scale) for n in graph.nodes
                      for _, stat, role, scale in INTERNAL_VALUES.get(n.kind, ())}
    scales = {k: scale for k, (_, scale) in internal_roles.items()}
    # attention scores take max + headroom whatever the method: a clipped score flattens its softmax row, and
    # their fraction beyond the exp2 index bits is mostly cut off anyway (docs/numerics.md §2)
    scores = {k for k, (role, _) in internal_roles.items() if role == "score"}
    weights = {f"param:{n.name}.{k}": v for n in graph.nodes for k, v in n.params().items()
               if param_role(k) == "weight"}
    widths = {**{t: p.width(r) for t, r in roles.items()}, **{k: p.width(r) for k, (r, _) in internal_roles.items()},
              **{k: p.width("weight") for k in weights}}
    headroom = lambda key: 0 if key in weights else p.headroom
    tensors, internal = _observe(graph, inputs, weights, scales)
    if method == "mse":
        role = {**roles, **{k: r for k, (r, _) in internal_roles.items()}, **{k: "weight" for k in weights}}
        tries = {k: (widths[k], list(range(obs.max_bits(k), obs.max_bits(k) - mse_reach(role[k]) - 1, -1)))
                 for obs, keys in ((tensors, [*roles, *weights]), (internal, internal_roles)) for k in keys}
        second = _observe(graph, inputs, weights, scales, tries)

    def bits(which: int, key: str) -> int:
        obs = (tensors, internal)[which]
        if method == "max" or key in scores:
            return obs.max_bits(key) + headroom(key)
        if method == "percentile":
            return obs.percentile_bits(key)
        return second[which].best_bits(key)

    plan = Plan(precision, attention_block=attention_block)
    for name, role in tensor_roles(graph).items():
        if role == GATE_ROLE:
            plan.tensors[name] = U1_15
        elif role:
            plan.tensors[name] = Fmt(p.width(role), bits(0, name))
    gelu_reach = 0.0
    for n in graph.nodes:
        params = n.params()
        if n.kind == "layernorm":           # gamma and beta share one format: one multiplier-adder path
            shared = max(float(np.max(np.abs(n.gamma))), float(np.max(np.abs(n.beta))))
            params = {"gamma": shared, "beta": shared}
        for pname, value in params.items():
            key = f"{n.name}.{pname}"
            plan.params[key] = (Fmt(p.width("weight"), bits(0, "param:" + key)) if "param:" + key in weights
                                else Fmt(p.width(param_role(pname)), int_bits_for(float(np.max(np.abs(value))))))
        for value, stat, role, _ in INTERNAL_VALUES.get(n.kind, ()):
            plan.internal[f"{n.name}.{value}"] = Fmt(p.width(role), bits(1, f"{n.name}.{stat}"))
        if n.kind == "experts":             # the GELU inside the experts and a GELU node share the table
            gelu_reach = max(gelu_reach, internal.peak[n.name + ".hidden"])
        elif n.kind == "gelu":
            gelu_reach = max(gelu_reach, tensors.peak[n.inputs[0]])
    plan.gelu_entries = GeluTable.for_range(gelu_reach).entries
    _biases_on_accumulator_grid(graph, plan)
    return plan


#: node kind -> (bias, its linear's input format (a tensor, or an internal value), weight) per biased linear
BIASED = {"linear": (("bias", None, "weight"),), "head": (("bias", None, "weight"),),
          "patch_embed": (("bias", None, "weight"),), "experts": (("b1", None, "w1"), ("b2", "act", "w2"))}


def _biases_on_accumulator_grid(graph: ir.Graph, plan: Plan) -> None:
    """A bias with more fractional bits than its linear's accumulator (``Fx + Fw``) keeps only those (more
    integer bits, same width): it is then added exactly and the linear rounds once (docs/numerics.md §1)."""
    for n in graph.nodes:
        for bias, internal, weight in BIASED.get(n.kind, ()):
            key = f"{n.name}.{bias}"
            if key not in plan.params:
                continue
            x = plan.internal[f"{n.name}.{internal}"] if internal else plan.tensors[n.inputs[0]]
            acc_frac = x.frac + plan.params[f"{n.name}.{weight}"].frac
            b = plan.params[key]
            if b.frac > acc_frac:
                plan.params[key] = Fmt(b.width, b.width - acc_frac)
