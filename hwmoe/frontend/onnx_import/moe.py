"""Recognise the mixture of experts: the router (bias-free linear -> softmax over experts -> top-k, largest,
sorted; optionally weights / weights.sum) and the experts with their combination.

The combination is written in very different ways (every expert then a gather of the top-k outputs; a
scatter of the top-k weights into a dense gate matrix; per-expert dispatch with NonZero/Gather/index_add).
The region between the router outputs, the expert input and the combined output is delimited as the first
tensor of the input's shape that separates them from the graph output.  Inside it, only expert MLPs
(Linear-GELU-Linear) and data-movement / index / weighting ops may appear, and the region is then executed on
probe routings: which expert MLP a routing index selects is read off probes with one-hot weights, and the
whole region must compute sum_k w_k * expert_{idx_k}(x) on random routings, or the import is refused.
"""
from __future__ import annotations

import numpy as np

from .errors import refuse
from ...numerics.intmath import ceil_div
from .graph import HW, Op, SubgraphRunner, Work
from .patterns import norm_axis, only_consumer, reduce_axes, scalar

COMBINE_OPS = {"Unsqueeze", "Squeeze", "Concat", "Reshape", "Transpose", "Expand", "Gather", "GatherElements",
               "GatherND", "ScatterElements", "ScatterND", "Mul", "Add", "Sum", "ReduceSum", "Slice", "Split",
               "Flatten", "Equal", "NonZero", "Where", "Cast", "Shape", "ConstantOfShape", "Identity", "Range",
               "Size", "Sub", "Tile", "OneHot"}


class RouterMatch:
    def __init__(self, **kw):
        self.__dict__.update(kw)


def match_router(work: Work, topk: Op) -> RouterMatch:
    probs = topk.inputs[0]
    r = work.rank(probs)
    axis = norm_axis(topk.attr("axis", -1), r)
    if r is None or axis != r - 1:
        raise refuse(topk, f"selects along axis {axis}; a router's top-k runs over the experts (the last axis)")
    if topk.attr("largest", 1) != 1:
        raise refuse(topk, "largest=0 selects the k smallest probabilities; a router selects the k largest")
    if topk.attr("sorted", 1) != 1:
        raise refuse(topk, "sorted=0; the router's top-k must be sorted (largest first)")
    k = scalar(work, topk.inputs[1])
    if k is None or k != int(k) or k < 1:
        raise refuse(topk, "k is not a positive constant")
    k = int(k)
    sm = work.producer(probs)
    if sm is None or sm.op_type != "Softmax" or not sm.is_std:
        raise refuse(topk, "its input is not a softmax of router logits")
    if norm_axis(sm.attr("axis", -1), work.rank(sm.inputs[0])) != r - 1:
        raise refuse(sm, f"softmax over axis {sm.attr('axis')}; the router's softmax runs over the experts "
                         f"(the last axis)")
    if work.consumers(probs) != [topk] or work.is_output(probs):
        raise refuse(sm, "the router probabilities are used by nodes other than the top-k")
    gate = work.producer(sm.inputs[0])
    if gate is None or gate.op_type != "Linear" or gate.domain != HW:
        raise refuse(sm, "its input is not a linear layer (the router gate) of the tokens")
    if gate.params.get("bias") is not None:
        raise refuse(gate, "the router gate has a bias; the Router kernel's gate has none")
    if work.consumers(gate.outputs[0]) != [sm] or work.is_output(gate.outputs[0]):
        raise refuse(gate, "the router logits are used by nodes other than the softmax")
    experts = gate.params["weight"].shape[0]
    if k > experts:
        raise refuse(topk, f"k={k} is larger than the number of experts ({experts})")
    values, index = topk.outputs[0], topk.outputs[1]
    weights, renorm, extra = values, False, []
    rs = [c for c in work.consumers(values) if c.op_type == "ReduceSum"]
    if rs:
        rs = rs[0]
        div = only_consumer(work, rs.outputs[0], "Div")
        if reduce_axes(work, rs) != [r - 1] or not rs.attr("keepdims", 1) or div is None or \
                div.inputs != [values, rs.outputs[0]] or set(work.consumers(values)) != {rs, div}:
            raise refuse(rs, "expected the top-k weights renormalised as w / w.sum(-1, keepdim=True) and used "
                             "only that way")
        weights, renorm, extra = div.outputs[0], True, [rs, div]
    return RouterMatch(topk=topk, softmax=sm, gate=gate, x=gate.inputs[0], k=k, experts=experts,
                       values=values, index=index, weights=weights, renormalize=renorm,
                       ops=[gate, sm, topk] + extra)


def _is_cut(work: Work, sources: set, cut: str, skip: set) -> bool:
    seen, todo = set(sources), list(sources)
    while todo:
        t = todo.pop()
        if t == cut:
            continue
        if work.is_output(t):
            return False
        for c in work.consumers(t):
            if c in skip:
                continue
            for o in c.outputs:
                if o and o not in seen:
                    seen.add(o)
                    todo.append(o)
    return True


def delimit(work: Work, rm: RouterMatch) -> tuple[list[Op], str]:
    """The ops of the expert combination (in order) and its output tensor."""
    sources = {rm.x, rm.weights, rm.index}
    skip = set(rm.ops)
    fwd, todo = set(), list(sources)
    seen = set(sources)
    while todo:
        t = todo.pop()
        for c in work.consumers(t):
            if c in skip or c in fwd:
                continue
            fwd.add(c)
            for o in c.outputs:
                if o and o not in seen:
                    seen.add(o)
                    todo.append(o)
    xshape = work.shape(rm.x)
    end = None
    for op in work.ops:
        if op not in fwd:
            continue
        for t in op.outputs:
            if t and work.shape(t) == xshape and _is_cut(work, sources, t, skip):
                end = t
                break
        if end is not None:
            break
    if end is None:
        raise refuse(rm.topk, f"cannot delimit the expert combination: no tensor of the MoE input's shape "
                              f"{xshape} carries every path from the router and the experts to the output")
    region, todo = set(), [work.producer(end)]
    while todo:
        op = todo.pop()
        if op in region or op not in fwd:
            continue
        region.add(op)
        todo.extend(p for p in (work.producer(t) for t in op.inputs if t) if p is not None)
    ops = [op for op in work.ops if op in region]
    for op in ops:
        for t in op.inputs:
            if t and t not in sources and t not in work.consts and work.producer(t) not in region:
                raise refuse(op, f"reads {t!r} from outside the expert combination; expected only the expert "
                                 f"input, the router outputs and constants")
        for t in op.outputs:
            if t and t != end:
                c = work.used_outside(t, region)
                if c is not None or work.is_output(t):
                    who = c.label() if c is not None else "the graph output"
                    raise refuse(op, f"its output {t!r} (inside the expert combination) is also read by {who}")
        if op.is_std and op.op_type not in COMBINE_OPS:
            raise refuse(op, f"{op.op_type} is not expected in an expert combination (only expert MLPs, "
                             f"data movement, gathers/scatters and gate weighting are)")
        if not op.is_std and op.op_type not in ("Linear", "Gelu"):
            raise refuse(op, f"a {op.op_type} inside the expert combination is not supported")
    return ops, end


def expert_chains(work: Work, rm: RouterMatch, ops: list[Op]) -> list[tuple[Op, Op, Op]]:
    inside = set(ops)
    chains, used = [], set()
    for g in ops:
        if g.op_type != "Gelu" or g.domain != HW:
            continue
        l1 = work.producer(g.inputs[0])
        l2 = only_consumer(work, g.outputs[0])
        if l1 is None or l1.op_type != "Linear" or l1 not in inside or only_consumer(work, l1.outputs[0]) is not g:
            raise refuse(g, "a GELU in the expert combination not preceded by an expert's first linear layer")
        if l2 is None or l2.op_type != "Linear" or l2.domain != HW:
            raise refuse(g, "a GELU in the expert combination not followed by an expert's second linear layer")
        chains.append((l1, g, l2))
        used.update((l1, l2))
    for op in ops:
        if op.op_type == "Linear" and op.domain == HW and op not in used:
            raise refuse(op, "a linear layer in the expert combination that is not part of an expert MLP "
                             "(Linear-GELU-Linear)")
    if len(chains) != rm.experts:
        raise refuse(rm.gate, f"the router selects among {rm.experts} experts but the combination contains "
                              f"{len(chains)} expert MLPs")
    d = work.shape(rm.x)[-1]
    h = chains[0][0].params["weight"].shape[0]
    for l1, _, l2 in chains:
        if l1.params["weight"].shape != (h, d) or l2.params["weight"].shape != (d, h):
            raise refuse(l1, f"expert MLP shapes differ: expected {d} -> {h} -> {d}")
    return chains


def expert_outputs(work: Work, chains, x2d: np.ndarray) -> list[np.ndarray]:
    """Every expert MLP on all tokens [N, D], in float32 like the region's execution."""
    ins = list(dict.fromkeys(l1.inputs[0] for l1, _, _ in chains))
    runner = SubgraphRunner(work, [op for chain in chains for op in chain], ins, [l2.outputs[0] for *_, l2 in chains])
    return [y.astype(np.float64) for y in runner({t: x2d for t in ins})]


def probe(work: Work, rm: RouterMatch, ops: list[Op], end: str, chains) -> list[int]:
    """Chain index of each expert id; raises unless the region is the top-k weighted expert sum."""
    xs = work.shape(rm.x)
    n, d = int(np.prod(xs[:-1])), xs[-1]
    e, k = rm.experts, rm.k
    if work.shape(rm.weights) != xs[:-1] + (k,) or work.shape(rm.index) != xs[:-1] + (k,):
        raise refuse(rm.topk, f"router outputs of shape {work.shape(rm.weights)} do not match the tokens "
                              f"{xs[:-1]} with k={k}")
    runner = SubgraphRunner(work, ops, [rm.x, rm.weights, rm.index], [end])
    culprit = work.producer(end)
    rng = np.random.default_rng(20240611)
    x = rng.standard_normal(xs).astype(np.float32)
    outs = expert_outputs(work, chains, x.reshape(n, d))
    scale = 1.0 + max(float(np.abs(o).max()) for o in outs)
    tol = 1e-4 * scale

    def run(index, weights):
        try:
            y = runner({rm.x: x, rm.weights: weights.reshape(xs[:-1] + (k,)).astype(np.float32),
                        rm.index: index.reshape(xs[:-1] + (k,)).astype(np.int64)})[0]
        except Exception as ex:
            raise refuse(culprit, f"the expert combination fails on a probe routing ({type(ex).__name__}: "
                                  f"{str(ex)[:200]})") from None
        if y.size != n * d:
            raise refuse(culprit, f"the expert combination gives {y.shape}, expected {xs}")
        return y.reshape(n, d).astype(np.float64)

    candidates = {i: set(range(len(chains))) for i in range(e)}
    for j in range(ceil_div(e, n)):
        first = (np.arange(n) + j * n) % e
        index = (first[:, None] + np.arange(k)[None, :]) % e
        weights = np.zeros((n, k))
        weights[:, 0] = 1.0
        y = run(index, weights)
        for t in range(n):
            ok = {c for c in candidates[first[t]] if np.abs(y[t] - outs[c][t]).max() <= tol}
            candidates[first[t]] = ok
    mapping = [-1] * e
    taken = set()
    for i in sorted(range(e), key=lambda i: len(candidates[i])):
        free = sorted(candidates[i] - taken)
        if not free:
            raise refuse(culprit, f"the expert combination does not give expert {i}'s MLP output for tokens "
                                  f"routed to expert {i} with weight 1")
        mapping[i] = free[0]
        taken.add(free[0])
    probes = [np.argsort(rng.random((n, e)), axis=1)[:, :k]]
    if e - 2 >= k:     # experts 0 and e-1 receive no token
        probes.append(1 + np.argsort(rng.random((n, e - 2)), axis=1)[:, :k])
    probes.append(np.tile(rng.permutation(e)[:k], (n, 1)))     # every token to the same experts
    for index in probes:
        weights = rng.uniform(0.1, 1.0, (n, k))
        y = run(index, weights)
        want = sum(weights[:, s:s + 1] * np.stack([outs[mapping[i]][t] for t, i in enumerate(index[:, s])])
                   for s in range(k))
        diff = float(np.abs(y - want).max())
        if diff > tol:
            raise refuse(culprit, f"the expert combination does not compute the gate-weighted sum of the "
                                  f"selected experts' outputs (max diff {diff:.3g} on a probe routing)")
    return mapping


def fuse_moe(work: Work) -> None:
    for topk in [op for op in work.ops if op.is_std and op.op_type == "TopK"]:
        rm = match_router(work, topk)
        ops, end = delimit(work, rm)
        chains = expert_chains(work, rm, ops)
        mapping = probe(work, rm, ops, end, chains)
        ordered = [chains[c] for c in mapping]

        def stack(i, key, size):
            arrs = [ch[i].params.get(key) for ch in ordered]
            return np.stack([np.zeros(size, np.float32) if a is None else a for a in arrs]).astype(np.float32)

        h, d = ordered[0][0].params["weight"].shape
        router = Op(rm.gate.name, "Router", [rm.x], [rm.index, rm.weights],
                    {"top_k": rm.k, "renormalize": rm.renormalize}, HW, {"weight": rm.gate.params["weight"]},
                    onnx_op=rm.gate.onnx_op)
        last = work.producer(end)
        experts = Op(last.name, "Experts", [rm.x, rm.index, rm.weights], [end], {"top_k": rm.k}, HW,
                     {"w1": stack(0, "weight", None), "b1": stack(0, "bias", h),
                      "w2": stack(2, "weight", None), "b2": stack(2, "bias", d)}, onnx_op=last.onnx_op)
        work.rewrite(set(rm.ops) | set(ops), [(router, rm.gate), (experts, last)])
