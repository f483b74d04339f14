"""MoE router unit: gate logits, top-k on the logits, softmax over all experts, optional renormalisation.

Top-k is taken on the integer logits (softmax is monotonic, so the set is the one softmax-then-top-k picks,
without ties that rounding the probabilities would create); ties go to the lower expert index."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..boards import dsps_per_multiplier
from ..cost.usage import brams_for
from ..numerics.fixed import Fmt, quantize
from ..numerics.intmath import ceil_div, clog2
from ..numerics.routing import expert_queues, top_k_lowest_index
from ..numerics.softmax import EXP2, LOG2E, RECIP, normalise, softmax_row_probs
from ..numerics.tables import Q15, U1_15
from .base import Kernel, KernelData, Point, SimCase, check_runtime_fracs
from .linear import linear
from .table_unit import SOFTMAX_TABLE_PARAMETERS, softmax_tables_bram36
from .testdata import row_beats, signed_range

LOG2E_RAW = int(quantize(LOG2E, U1_15))


def router(x, x_fmt: Fmt, w, w_fmt: Fmt, logit_fmt: Fmt, top_k: int, renormalize: bool):
    """Raw x [tokens, dim] -> (expert indices [tokens, k], gate weights [tokens, k] raw U1.15)."""
    logits = linear(x, x_fmt, w, w_fmt, None, None, logit_fmt)
    index = top_k_lowest_index(logits, top_k)
    probs = softmax_row_probs(logits, logit_fmt.frac, LOG2E_RAW, Q15, U1_15)
    gates = np.take_along_axis(probs, index, -1)
    if renormalize:
        gates = normalise(gates, gates.sum(-1, keepdims=True), Q15, Q15, U1_15)
    return index, gates


# ---------------------------------------------------------------------------------------------- hardware
@dataclass(frozen=True)
class RouterParams:
    """Hardware parameters of the router unit (rtl/hwmoe_router.v) and the size of a test case."""
    lanes: int = 4
    dim_max: int = 24           # DIM
    dim: int = 22               # runtime token dimension
    experts: int = 4
    top_k: int = 2
    expert_par: int = 4         # logits computed at once (divides experts)
    tokens: int = 6             # tokens per layer
    layers: int = 1
    tmax: int = 16              # largest tokens per layer (queue memory)
    x_width: int = 16
    x_frac: int = 10
    w_width: int = 16
    w_frac: int = 14
    logit_width: int = 16
    logit_frac: int = 10
    renormalize: bool = False
    ties: bool = False          # identical gate rows (0 = 1, 4 = 5, ...): logits that tie exactly
    logit_word: int = 0         # L_W, the logits' word width in the unit (0: logit_width); a narrower
                                # logit_width saturates at its width

    def check(self) -> None:
        for name in ("lanes", "dim_max", "dim", "experts", "top_k", "expert_par", "tokens", "layers", "tmax",
                     "x_width", "w_width", "logit_width"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not self.lanes <= self.dim_max or not self.dim <= self.dim_max:
            raise ValueError("need lanes <= dim_max and dim <= dim_max")
        if self.experts < 2 or self.experts > 1 << 15 or not 1 <= self.top_k <= self.experts:
            raise ValueError("need 2 <= experts and 1 <= top_k <= experts")
        if self.experts % self.expert_par:
            raise ValueError(f"expert_par {self.expert_par} must divide experts {self.experts}")
        if not self.tokens <= self.tmax < 1 << 16:
            raise ValueError(f"tokens {self.tokens} must be <= tmax {self.tmax} < 2^16")
        if not 2 <= self.logit_width <= self.logit_w:
            raise ValueError(f"logit_width {self.logit_width} must be 2..logit_word {self.logit_w}")
        check_runtime_fracs(self, "x_frac", "w_frac", "logit_frac")
        if self.logit_frac < -Q15:
            raise ValueError(f"logit_frac {self.logit_frac} must be >= -{Q15} (exp2 takes logit_frac + 15 "
                             "fractional bits)")

    @property
    def logit_w(self) -> int:
        """L_W: the logits' word width in the unit."""
        return self.logit_word or self.logit_width

    def fmts(self) -> tuple[Fmt, Fmt, Fmt]:
        f = Fmt.from_frac
        return f(self.x_width, self.x_frac), f(self.w_width, self.w_frac), f(self.logit_width, self.logit_frac)


# pipeline latencies of rtl/hwmoe_router.v (cycles())
ROUTER_TAIL = 19            # a token's last MAC read -> its routing beat, besides the experts-long sweep
GATE_PERIOD = 11            # the gate normalisation stage holds a token this long
QUEUE_TAIL = 3              # last routing beat -> first queue beat, besides the top_k bucket writes


def _period(lanes: int, dim: int, experts: int, expert_par: int) -> int:
    mac = (experts // expert_par) * ceil_div(dim, lanes)
    return max(mac, GATE_PERIOD, experts + 5, ceil_div(experts + mac + 4, 2))


def routes_cycles(lanes: int, dim: int, experts: int, tokens: int, expert_par: int) -> int:
    """First input beat to the last routing beat (y) of one layer: what the accelerator waits for (the queue
    stream that follows is for a kernel-level consumer)."""
    b = ceil_div(dim, lanes)
    mac = (experts // expert_par) * b
    return experts * b + mac - 1 + experts + ROUTER_TAIL + (tokens - 1) * _period(lanes, dim, experts, expert_par)


def cycles(lanes: int, dim: int, experts: int, top_k: int, tokens: int, layers: int = 1,
           expert_par: int | None = None) -> int:
    """First input beat accepted to last output beat (routing beats and queues), no stalls.

    A token is b = ceil(dim/lanes) beats and takes mac = (experts/expert_par) * b cycles in the MAC array;
    the softmax sweep holds a token experts + 5 cycles, the gate normalisation GATE_PERIOD, and the MAC array
    may run at most two tokens ahead of the sweep, so tokens follow every
    period = max(mac, GATE_PERIOD, experts + 5, ceil((experts + mac + 4) / 2)) cycles.
    A layer first loads experts * b weight beats; its first routing beat comes mac - 1 + experts + ROUTER_TAIL
    after that; after its last one the queues follow: top_k bucket writes, then experts headers and
    tokens * top_k entries.  The next layer's weights stream in once the MAC array has read the last token."""
    ep = experts if expert_par is None else expert_par
    b = ceil_div(dim, lanes)
    mac = (experts // ep) * b
    period = _period(lanes, dim, experts, ep)
    load = experts * b
    last = routes_cycles(lanes, dim, experts, tokens, ep)
    total = last + top_k + QUEUE_TAIL + experts + tokens * top_k
    # start of the last token in the MAC array: back to back, or held by the sweep two tokens behind
    last_mac = load + (tokens - 1) * mac
    if tokens >= 3:
        last_mac = max(last_mac, load + mac + experts + 4 + (tokens - 3) * period)
    return (layers - 1) * (last_mac + mac) + total


def queue_beats(index, gates, experts: int) -> np.ndarray:
    """The q stream of rtl/hwmoe_router_queues.v for one layer: per expert a header [1, e, count, 0, 0], then
    [0, e, token, slot, gate] per queued token (hwmoe.numerics.routing.expert_queues order)."""
    gates = np.asarray(gates, np.int64)
    out = []
    for e, (tok, slot) in enumerate(expert_queues(index, experts)):
        out.append([1, e, len(tok), 0, 0])
        out.extend([0, e, int(t), int(s), int(gates[t, s])] for t, s in zip(tok, slot))
    return np.array(out, np.int64)


def route_beats(index, gates) -> np.ndarray:
    """The r stream: per token its k expert indices, then its k gate weights."""
    return np.concatenate([np.asarray(index, np.int64), np.asarray(gates, np.int64)], axis=1)


def _gate_weights(rng, p: RouterParams, w_fmt: Fmt) -> np.ndarray:
    """Random gate rows; feature 0 (a large constant in every token) pushes the last expert up for every
    token and the one before it down for every token, so one expert is chosen by all tokens and one by none."""
    w = quantize(rng.normal(0, 0.6 / np.sqrt(p.dim), (p.experts, p.dim)), w_fmt)
    w[:, 0] = 0
    w[-1, 0] = quantize(0.75, w_fmt)
    w[-2, 0] = quantize(-0.75, w_fmt)
    if p.ties:
        for e in range(0, p.experts - 2, 4):
            w[e + 1] = w[e]
    return w


def make_data(p: RouterParams, seed=0) -> KernelData:
    """Per layer: x [tokens, dim] (normal, 3% random words, feature 0 a large constant in every token: with
    _gate_weights one expert is chosen by every token and one by none), the gate weights w [experts, dim],
    and the expected routes index, gates [tokens, top_k]; each array with the layer first."""
    rng = np.random.default_rng(seed)
    x_fmt, w_fmt, l_fmt = p.fmts()
    xs, ws, indices, gates_ = [], [], [], []
    for layer in range(p.layers):
        x = quantize(rng.normal(0, 1, (p.tokens, p.dim)), x_fmt)
        x = np.where(rng.random(x.shape) < 0.03, signed_range(rng, p.x_width, x.shape, 1.0), x)
        x[:, 0] = quantize(min(4.0, x_fmt.raw_max * x_fmt.lsb), x_fmt)
        w = _gate_weights(rng, p, w_fmt)
        index, gates = router(x, x_fmt, w, w_fmt, l_fmt, p.top_k, p.renormalize)
        xs.append(x), ws.append(w), indices.append(index), gates_.append(gates)
    return KernelData(inputs={"x": np.stack(xs)}, weights={"w": np.stack(ws)},
                      expected={"index": np.stack(indices), "gates": np.stack(gates_)},
                      formats={"x": x_fmt, "w": w_fmt, "logit": l_fmt, "gates": U1_15})


def verilog_parameters(p: RouterParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_router.v)."""
    return {"LANES": p.lanes, "MAX_DIM": p.dim_max, "EXPERTS": p.experts, "TOP_K": p.top_k,
            "EXPERT_PAR": p.expert_par, "X_W": p.x_width, "W_W": p.w_width, "L_W": p.logit_w,
            "MAX_TOKENS": p.tmax, "LOG2E": LOG2E_RAW, **SOFTMAX_TABLE_PARAMETERS}


def controls(p: RouterParams) -> dict[str, int]:
    """The control inputs of ``p``'s run (port -> value)."""
    return {"dim": p.dim, "tokens": p.tokens, "renorm": int(p.renormalize), "x_frac": p.x_frac,
            "w_frac": p.w_frac, "logit_frac": p.logit_frac, "logit_width": p.logit_width}


def make_case(p: RouterParams, seed: int = 0) -> SimCase:
    d = make_data(p, seed)
    b = ceil_div(p.dim, p.lanes)
    routes = [route_beats(i, g) for i, g in zip(d.expected["index"], d.expected["gates"])]
    queues = [queue_beats(i, g, p.experts) for i, g in zip(d.expected["index"], d.expected["gates"])]
    xs = [row_beats(x, b, p.lanes) for x in d.inputs["x"]]
    ws = [row_beats(w, b, p.lanes) for w in d.weights["w"]]
    return SimCase(
        toplevel="hwmoe_router",
        parameters=verilog_parameters(p),
        inputs={"x": np.concatenate(xs), "w": np.concatenate(ws)},
        expected={"y": np.concatenate(routes), "q": np.concatenate(queues)},
        widths={"x": -p.x_width, "w": -p.w_width, "y": 16, "q": 16},
        predicted_cycles=cycles(p.lanes, p.dim, p.experts, p.top_k, p.tokens, p.layers, p.expert_par),
        config=controls(p),
        memories={"EXP2": (EXP2, 16), "RECIP": (RECIP, 16)})


def make_queue_case(experts: int = 5, top_k: int = 2, tokens: int = 9, tmax: int = 12, layers: int = 2,
                    seed: int = 0) -> SimCase:
    """A case for rtl/hwmoe_router_queues.v alone: random distinct choices per token, expert 0 chosen by
    every token, the last expert by none (needs top_k <= experts - 1)."""
    if not 1 <= top_k <= experts - 1:
        raise ValueError("the queue case needs 1 <= top_k <= experts - 1")
    rng = np.random.default_rng(seed)
    routes, queues = [], []
    for _ in range(layers):
        index = np.array([np.concatenate([[0], 1 + rng.permutation(experts - 2)[:top_k - 1]])[rng.permutation(top_k)]
                          for _ in range(tokens)], np.int64)
        gates = rng.integers(0, 1 << 16, (tokens, top_k))
        routes.append(route_beats(index, gates))
        queues.append(queue_beats(index, gates, experts))
    return SimCase(
        toplevel="hwmoe_router_queues",
        parameters={"EXPERTS": experts, "TOP_K": top_k, "MAX_TOKENS": tmax},
        inputs={"g": np.concatenate(routes)}, expected={"q": np.concatenate(queues)},
        widths={"g": 16, "q": 16},
        predicted_cycles=queue_cycles(experts, top_k, tokens, layers), config={"tokens": tokens})


def queue_cycles(experts: int, top_k: int, tokens: int, layers: int = 1) -> int:
    """hwmoe_router_queues alone, routing beats arriving back to back: k + 1 cycles per token to file it,
    then experts + tokens * k queue beats per layer; the next layer's first beat is taken two cycles before
    the previous layer's last queue beat leaves."""
    per_layer = tokens * (top_k + 1) + 2 + experts + tokens * top_k
    return layers * per_layer - 2 * (layers - 1)


@dataclass(frozen=True)
class RouterWork:
    """One gate layer: ``tokens`` tokens of ``dim`` words, ``experts`` logits each, top-``top_k``."""
    tokens: int
    dim: int
    experts: int
    top_k: int


@lru_cache(maxsize=4096)
def _cycles(p: RouterParams, work: RouterWork) -> int:
    return cycles(p.lanes, work.dim, work.experts, work.top_k, work.tokens, 1, p.expert_par)


class RouterKernel(Kernel):
    """The MoE router unit (rtl/hwmoe_router.v): a MAC array of EXPERT_PAR x LANES multipliers computing the
    gate logits, top-k, exp2/reciprocal softmax, per-expert token queues.  In the accelerator it reads the
    linear engine's input stream (re-chunked to its own LANES words per beat)."""
    name = "router"
    Params = RouterParams
    Work = RouterWork
    description = "MoE router: gate MAC array, top-k, exp2/reciprocal softmax, per-expert token queues"
    node_kinds = ("router",)
    reference = staticmethod(router)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    def work(self, node, graph) -> RouterWork:
        experts, dim = node.weight.shape
        return RouterWork(int(graph.shapes[node.inputs[0]][0]), int(dim), int(experts), node.top_k)

    def macs(self, work: RouterWork) -> int:
        return work.tokens * work.dim * work.experts

    def weight_words(self, work: RouterWork) -> tuple[int, int]:
        return work.dim * work.experts, 0

    def cycles(self, params: RouterParams, work: RouterWork) -> int:
        """One gate layer: weights load, logits, softmax, queues."""
        return _cycles(params, work)

    # ---- resources ----------------------------------------------------------------------------------
    @staticmethod
    def widths(p: RouterParams) -> dict[str, int]:
        pr = p.x_width + p.w_width
        return {"pr": pr, "acc": pr + clog2(p.dim_max + 1), "idx": max(1, clog2(p.experts))}

    @staticmethod
    def multipliers(p: RouterParams) -> int:
        return p.expert_par * p.lanes

    def features(self, p: RouterParams, dsp_kind: str = "DSP48E2") -> dict[str, float]:
        w = self.widths(p)
        split = dsps_per_multiplier(dsp_kind, p.x_width, p.w_width) - 1
        return {"mult_bits": self.multipliers(p) * w["pr"],                   # products + adder trees
                "split_bits": self.multipliers(p) * split * w["pr"],          # adding the parts of a 2-DSP product
                "acc_bits": p.expert_par * (w["acc"] + p.logit_w),            # accumulators, requant, max
                "logit_bits": 2 * p.experts * p.logit_w,                      # double-buffered logit rows
                "softmax_bits": 4 * (p.logit_w + 17),                         # max - logit, x LOG2E, exp2 input
                "topk_bits": p.top_k * (p.logit_w + 64)}                      # top-k registers, gate stage

    def dsp(self, p: RouterParams, dsp_kind: str = "DSP48E2") -> float:
        """MAC array; in the softmax stage (max - logit) x LOG2E (unsigned L_W + 1 x 17 bits, one per unit) and per
        top-k slot two 16 x 16 products (e x 1/sum, gate x 1/sum for the renormalisation)."""
        return float(self.multipliers(p) * dsps_per_multiplier(dsp_kind, p.x_width, p.w_width)
                     + dsps_per_multiplier(dsp_kind, p.logit_w + 2, 18) + 2 * p.top_k)

    def bram36(self, p: RouterParams) -> float:
        """Four token buffers, EXPERT_PAR gate-weight memories, the exp2 and reciprocal tables, the queue
        buckets (EXPERTS x MAX_TOKENS entries)."""
        beats = ceil_div(p.dim_max, p.lanes)
        entry = max(1, clog2(p.tmax)) + max(1, clog2(p.top_k)) + 16
        return (brams_for(4 * beats, p.lanes * p.x_width)
                + p.expert_par * brams_for((p.experts // p.expert_par) * beats, p.lanes * p.w_width)
                + softmax_tables_bram36() + brams_for(p.experts * p.tmax, entry))

    def calibration_points(self) -> list:
        P = RouterParams
        w32 = dict(x_width=32, x_frac=16, logit_width=32, logit_frac=16)
        return [P(lanes=2, dim_max=8, dim=8, experts=4, top_k=1, expert_par=1, tokens=4, tmax=8),
                P(),                                                             # the kernel's test case
                P(lanes=4, dim_max=16, dim=16, experts=8, top_k=2, expert_par=2, tokens=8, tmax=16),
                P(lanes=2, dim_max=16, dim=16, experts=4, top_k=3, expert_par=4, tokens=4, tmax=8),
                P(lanes=8, dim_max=16, dim=16, experts=4, top_k=2, expert_par=2, tokens=4, tmax=64),
                P(lanes=2, dim_max=8, dim=8, experts=4, top_k=2, expert_par=2, tokens=4, tmax=8, **w32),
                P(lanes=4, dim_max=16, dim=16, experts=8, top_k=2, expert_par=4, tokens=8, tmax=16, **w32),
                P(lanes=2, dim_max=8, dim=8, experts=16, top_k=2, expert_par=2, tokens=4, tmax=8)]

    def engine_params(self, choice: dict, maxima: RouterWork, formats) -> RouterParams:
        """``choice``: lanes, expert_par; activations in, weights, the logits' own format; queues for the
        largest layer's tokens."""
        act, w, logit = formats["act"], formats["weight"], formats["logit"]
        return RouterParams(**choice, dim_max=maxima.dim, dim=maxima.dim, experts=maxima.experts,
                            top_k=maxima.top_k, tokens=maxima.tokens, tmax=maxima.tokens, x_width=act.width,
                            x_frac=act.frac, w_width=w.width, w_frac=w.frac, logit_width=logit.width,
                            logit_frac=logit.frac)


ROUTER = RouterKernel()


POINTS = {
    # 4 experts, top-2, all logits at once; dim 22 over 4 lanes (padded last beat)
    "default": Point({}),
    # identical gate rows (exact logit ties), renormalised gates, 8 experts in 4 passes of 2, top-3, 2 layers
    "ties-renorm": Point({"experts": "8", "top_k": "3", "expert_par": "2", "ties": "1", "renormalize": "1",
                          "layers": "2", "tokens": "5", "dim": "16", "lanes": "2", "dim_max": "16"},
                         ("icarus", "verilator")),
    # 8-bit logits that saturate (ties at the limit), 8-bit words, top-1, one lane
    "sat-logits-top1": Point({"logit_width": "8", "logit_frac": "5", "x_width": "8", "x_frac": "4", "w_width": "8",
                              "w_frac": "6", "top_k": "1", "lanes": "1", "dim": "9", "dim_max": "12",
                              "tokens": "7"}),
    # tied gate rows, renormalised top-3 of 8 experts, 32-bit words and logits
    "renorm-top3-w32": Point({"renormalize": "1", "ties": "1", "top_k": "3", "experts": "8", "logit_width": "32",
                              "logit_frac": "24", "x_width": "32", "x_frac": "24"}),
    # m3vit-t: 129 tokens of dim 192, 16 experts, top-2 (Verilator: 64 multipliers, much faster there than
    # on Icarus)
    "m3vit-t": Point({"lanes": "4", "dim": "192", "dim_max": "192", "experts": "16", "expert_par": "16",
                      "tokens": "129", "tmax": "129"}, ("verilator",), full_size=True),
}
