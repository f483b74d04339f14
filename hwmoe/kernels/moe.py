"""MoE expert-by-expert dispatch on the linear kernel: each expert's weights are used once per layer for
its whole token queue; outputs are scaled by the gate weight and accumulated exactly.  In dense mode the same
engine runs one linear layer (exactly the linear kernel's function), so one MAC array serves every layer."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from ..boards import dsps_for_products, dsps_per_multiplier
from ..cost.usage import Usage, brams_for
from ..numerics.fixed import Fmt, requant
from ..numerics.intmath import ceil_div, clog2
from ..numerics.routing import expert_queues
from ..numerics.tables import GELU_FMT, GELU_STEP_BITS, ONE_Q15, Q15, U1_15, GeluTable
from .base import Kernel, KernelData, Point, SimCase, check_runtime_fracs, runtime_requant_bits
from .gelu import gelu, lane_brams, lane_dsps
from .linear import LINEAR, LinearParams, LinearWork, block_schedule, dense_cycles, linear
from .testdata import linear_operands, pad_rows


def moe(x, x_fmt: Fmt, index, gates, w1, w1_fmt: Fmt, b1, b1_fmt: Fmt, w2, w2_fmt: Fmt, b2, b2_fmt: Fmt,
        hidden_fmt: Fmt, act_fmt: Fmt, expert_fmt: Fmt, out: Fmt, table: GeluTable) -> np.ndarray:
    """Raw x [tokens, dim] -> raw sum over the token's experts of gate * expert(x), in ``out``.
    hidden_fmt: first linear's output (GELU input); act_fmt: GELU output; expert_fmt: expert output."""
    x = np.asarray(x, np.int64)
    acc = np.zeros(x.shape, np.int64)                 # frac expert_fmt.frac + 15
    for e, (tok, slot) in enumerate(expert_queues(index, len(w1))):
        if tok.size == 0:
            continue                                   # an expert without tokens is skipped
        h = linear(x[tok], x_fmt, w1[e], w1_fmt, b1[e], b1_fmt, hidden_fmt)
        y = linear(gelu(h, hidden_fmt, act_fmt, table), act_fmt, w2[e], w2_fmt, b2[e], b2_fmt, expert_fmt)
        acc[tok] += y * np.asarray(gates, np.int64)[tok, slot][:, None]
    return requant(acc, expert_fmt.frac + Q15, out)


# ---------------------------------------------------------------------------------------------------------
# The hardware kernel (rtl/hwmoe_moe.v: the linear core in two-pass mode, a route scanner, gate-weighted
# accumulation in on-chip memory)

@dataclass(frozen=True)
class MoeParams:
    """Hardware parameters of the MoE kernel and the size of a test case (max_* = 0: the case's dims).

    routing: "mixed" = expert 0 chosen by every token, the last expert by none, other slots random;
    "uniform" = top-k distinct experts per token uniformly at random.

    The *_width fields are the engine's words; a run's own h, a and out widths are run_*_width (0: the word).
    Dense mode (``dense``): the run is one linear layer of ``tokens`` rows, d_in = ``dim``, d_out = ``hidden``,
    weights at w1_frac, biases at b1_frac (when ``bias``), GELU fused at h (when ``gelu``), output at out
    (linear.linear, as the linear kernel's make_data); the expert and gate fields are unused."""
    t: int = 4                   # T_IN = T_OUT
    n_pe: int = 2
    x_width: int = 16
    x_frac: int = 10
    w_width: int = 16
    w1_frac: int = 14
    w2_frac: int = 14
    b_width: int = 16
    b1_frac: int = 12
    b2_frac: int = 12
    h_width: int = 16            # first linear's output = GELU input
    h_frac: int = 11
    a_width: int = 16            # GELU output
    a_frac: int = 11
    e_width: int = 16            # expert output
    e_frac: int = 10
    out_width: int = 16
    out_frac: int = 12           # narrower range than the expert output: some outputs saturate
    bias_shift_max: int = 0      # BSH_MAX at least this (largest accumulator frac - bias frac of any run)
    gelu_lsh: int = 0            # the GELU unit computes at G_FRAC = h_frac + gelu_lsh fractional bits
    gelu_lsh_max: int = 0        # G_LSH_MAX at least this (largest G_FRAC - h_frac of any run)
    experts: int = 4
    top_k: int = 2
    entries: int = 149
    tokens: int = 9
    dim: int = 10
    hidden: int = 14
    max_tokens: int = 0
    max_dim: int = 0
    max_hid: int = 0
    routing: str = "mixed"
    saturating: float = 0.1
    run_h_width: int = 0         # the run's h, a and out widths (0 = the word)
    run_a_width: int = 0
    run_out_width: int = 0
    dense: bool = False          # the run is one linear layer (dense mode)
    bias: bool = True            # dense mode: the run adds biases
    gelu: bool = False           # dense mode: the run fuses GELU

    @property
    def run_widths(self) -> tuple[int, int, int]:
        """The run's h, a and out widths."""
        return (self.run_h_width or self.h_width, self.run_a_width or self.a_width,
                self.run_out_width or self.out_width)

    def maxima(self) -> tuple[int, int, int]:
        """MAX_TOKENS, MAX_DIM, MAX_HIDDEN; a dense run's d_in and d_out are held by the hidden banks."""
        if self.dense:
            return (max(self.max_tokens, self.tokens), self.max_dim or self.dim,
                    max(self.max_hid, self.dim, self.hidden))
        return (max(self.max_tokens, self.tokens), max(self.max_dim, self.dim), max(self.max_hid, self.hidden))

    @property
    def bsh_max(self) -> int:
        """BSH_MAX: the bias alignment's reach over both expert linears."""
        return max(self.bias_shift_max, self.x_frac + self.w1_frac - self.b1_frac,
                   self.a_frac + self.w2_frac - self.b2_frac, 0)

    @property
    def g_lsh_max(self) -> int:
        return max(self.gelu_lsh_max, self.gelu_lsh)

    def check(self) -> None:
        for name in ("t", "n_pe", "experts", "top_k", "tokens", "dim", "hidden", "entries"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        check_runtime_fracs(self, "x_frac", "w1_frac", "w2_frac", "b1_frac", "b2_frac", "h_frac", "a_frac",
                            "e_frac", "out_frac")
        if not 0 <= self.gelu_lsh <= 32 or not 0 <= self.gelu_lsh_max <= 32:
            raise ValueError("gelu_lsh and gelu_lsh_max must be 0..32")
        if not 0 <= self.bias_shift_max <= 64 or self.bsh_max > 64:
            raise ValueError(f"the bias alignment reach {self.bsh_max} exceeds 64")
        if self.top_k > self.experts:
            raise ValueError("top_k exceeds the number of experts")
        if self.routing not in ("mixed", "uniform"):
            raise ValueError(f"routing {self.routing!r}: expected mixed or uniform")
        dims = [self.dim, self.hidden] if self.dense else [self.hidden]
        if self.max_tokens and self.max_tokens < self.tokens or self.max_hid and self.max_hid < max(dims) \
                or self.max_dim and self.max_dim < self.dim and not self.dense:
            raise ValueError("a runtime dim exceeds its compile-time maximum")
        for run, word in (("run_h_width", "h_width"), ("run_a_width", "a_width"), ("run_out_width", "out_width")):
            if getattr(self, run) and not 2 <= getattr(self, run) <= getattr(self, word):
                raise ValueError(f"{run} = {getattr(self, run)}: need 2..{word} ({getattr(self, word)})")
        if self.dense:
            # the activations are held in the hidden banks (A_W); the output leaves on the core's output lanes,
            # max(A_W, E_W, OUT_W) wide, so a wide output (the patch embedding's residual words) does not widen
            # A_W, which sets the MAC array's activation operand (max(X_W, A_W): 8-bit operands pack)
            if self.x_width > self.a_width:
                raise ValueError("dense mode: activations wider than A_W")


MOE_RD_LAT = 2       # queue lookup + activation read (hwmoe_moe)
SCAN_OVERHEAD = 3    # scanner cycles per expert beyond one per token (+1 to emit a request)


def balanced_counts(tokens: int, experts: int, top_k: int) -> list[int]:
    """Tokens per expert when the tokens * top_k choices spread evenly (the search's default)."""
    total = tokens * top_k
    return [total // experts + (1 if e < total % experts else 0) for e in range(experts)]


def cycles(p: MoeParams, tokens: int | None = None, dim: int | None = None, hidden: int | None = None,
           experts: int | None = None, top_k: int | None = None, expert_tokens=None) -> int:
    """First input beat to last output beat of one MoE layer, all streams flowing (no stalls).
    ``expert_tokens``: tokens routed to each expert (default: balanced_counts).

    The route scanner starts when the routes are in (``tokens`` beats) and takes tokens+3 cycles per expert
    (+1 for a used expert's request), running at most two queues ahead; each used expert is a job on the
    core: pass A (dim -> hidden, Ht blocks of Dt chunks, after all activations are in: tokens*Dt beats),
    then pass B (hidden -> dim, Dt blocks of Ht chunks) once pass A's last output is written; weight blocks
    load one beat per cycle into a double buffer shared by all passes (linear.block_schedule); the layer's
    output is read out after the last expert's accumulation, one beat per cycle (tokens*Dt beats)."""
    tokens = p.tokens if tokens is None else int(tokens)
    dim = p.dim if dim is None else int(dim)
    hidden = p.hidden if hidden is None else int(hidden)
    if p.dense:
        return dense_cycles(p.t, p.t, p.n_pe, MOE_RD_LAT, True, tokens, dim, hidden)
    experts = p.experts if experts is None else int(experts)
    top_k = p.top_k if top_k is None else int(top_k)
    counts = list(expert_tokens) if expert_tokens is not None else balanced_counts(tokens, experts, top_k)
    t, n_pe, rd = p.t, p.n_pe, MOE_RD_LAT
    dt, ht = ceil_div(dim, t), ceil_div(hidden, t)
    blocks_a = [(min(t, hidden - k * t), dt) for k in range(ht)]
    blocks_b = [(min(t, dim - k * t), ht) for k in range(dt)]
    drain = rd + 2 + 2 + 3               # hold (SD = RD_LAT + 2), bias/requant, GELU stage (all passes)
    x_done = tokens * dt
    scan_free, core_free, last_out = float(tokens), 0.0, 0.0
    release: list[float] = []
    state = None
    for n in counts:
        start = max(scan_free, release[-2] if len(release) >= 2 else 0.0)
        if n == 0:
            scan_free = start + tokens + SCAN_OVERHEAD
            continue
        queue_ready = start + tokens + SCAN_OVERHEAD
        scan_free = queue_ready + 1
        take = max(queue_ready, core_free)
        last_group = n - (ceil_div(n, n_pe) - 1) * n_pe
        e_a, state = block_schedule(blocks_a, n, n_pe, rd, state, start=max(take + 1, x_done))
        hid_done = e_a + drain + last_group + 1
        e_b, state = block_schedule(blocks_b, n, n_pe, rd, state, start=hid_done)
        core_free = e_b + 1
        last_out = e_b + drain + last_group
        release.append(last_out + 4)
    readout = max(last_out + 4, scan_free) + 1
    return int(round(readout + 2 + tokens * dt))


def make_routes(rng, p: MoeParams) -> tuple[np.ndarray, np.ndarray]:
    """Top-k expert indices (distinct per token) and U1.15 gate weights (a softmax-like split of at most 1.0,
    one token with a gate of exactly 1.0 when top_k is 1)."""
    e, k = p.experts, p.top_k
    index = np.stack([rng.permutation(e)[:k] for _ in range(p.tokens)]).astype(np.int64)
    if p.routing == "mixed" and e >= 3:
        for i in range(p.tokens):
            others = rng.permutation(np.arange(1, e - 1))[:k - 1]
            row = np.concatenate([[0], others])
            index[i] = rng.permutation(row) if k <= e - 1 else index[i]
    w = rng.dirichlet(np.ones(k), p.tokens) * rng.uniform(0.5, 1.0, (p.tokens, 1))
    gates = np.clip(np.round(w * ONE_Q15), 0, ONE_Q15).astype(np.int64)
    if k == 1:
        gates[0, 0] = ONE_Q15
    return index, gates


def as_linear(p: MoeParams) -> LinearParams:
    """A dense run as the linear kernel's run (the same function, formats and test data)."""
    h, _, out = p.run_widths
    return LinearParams(t_in=p.t, t_out=p.t, n_pe=p.n_pe, x_width=p.x_width, x_frac=p.x_frac, w_width=p.w_width,
                        w_frac=p.w1_frac, b_width=p.b_width, b_frac=p.b1_frac, out_width=out, out_frac=p.out_frac,
                        bias=p.bias, gelu=p.gelu, h_width=h, h_frac=p.h_frac, entries=p.entries, tokens=p.tokens,
                        d_in=p.dim, d_out=p.hidden, saturating=p.saturating)


def make_data(p: MoeParams, seed=0) -> KernelData:
    """x [tokens, dim] (a fraction ``saturating`` of extreme tokens), routes index, gates [tokens, top_k]
    (make_routes: with "mixed" routing an expert chosen by every token and one by none), per-expert weights
    w1 [experts, hidden, dim], b1 [experts, hidden], w2 [experts, dim, hidden], b2 [experts, dim] and the
    expected y [tokens, dim].  ``seed`` may be a Generator (make_case draws its padding from the same one)."""
    if p.dense:
        return LINEAR.make_data(as_linear(p), seed)
    rng = np.random.default_rng(seed)
    _fmt = Fmt.from_frac
    h_width, a_width, out_width = p.run_widths
    x_fmt, w1_fmt, w2_fmt = _fmt(p.x_width, p.x_frac), _fmt(p.w_width, p.w1_frac), _fmt(p.w_width, p.w2_frac)
    b1_fmt, b2_fmt = _fmt(p.b_width, p.b1_frac), _fmt(p.b_width, p.b2_frac)
    h_fmt, a_fmt = _fmt(h_width, p.h_frac), _fmt(a_width, p.a_frac)
    e_fmt, out_fmt = _fmt(p.e_width, p.e_frac), _fmt(out_width, p.out_frac)
    x, _, _ = linear_operands(rng, p.tokens, p.dim, 1, x_fmt, w1_fmt, b1_fmt, h_fmt, p.saturating)
    w1, b1, w2, b2 = [], [], [], []
    for _e in range(p.experts):
        _, w, b = linear_operands(rng, 1, p.dim, p.hidden, x_fmt, w1_fmt, b1_fmt, h_fmt, p.saturating)
        w1.append(w), b1.append(b)
        _, w, b = linear_operands(rng, 1, p.hidden, p.dim, a_fmt, w2_fmt, b2_fmt, e_fmt, p.saturating)
        w2.append(w), b2.append(b)
    w1, b1, w2, b2 = map(np.stack, (w1, b1, w2, b2))
    index, gates = make_routes(rng, p)
    table = GeluTable(p.entries)
    y = moe(x, x_fmt, index, gates, w1, w1_fmt, b1, b1_fmt, w2, w2_fmt, b2, b2_fmt, h_fmt, a_fmt, e_fmt,
            out_fmt, table)
    return KernelData(inputs={"x": x, "index": index, "gates": gates},
                      weights={"w1": w1, "b1": b1, "w2": w2, "b2": b2}, expected={"y": y},
                      formats={"x": x_fmt, "w1": w1_fmt, "b1": b1_fmt, "w2": w2_fmt, "b2": b2_fmt, "h": h_fmt,
                               "a": a_fmt, "e": e_fmt, "y": out_fmt, "gates": U1_15},
                      table=table)


def verilog_parameters(p: MoeParams) -> dict[str, int]:
    """The Verilog parameters of the engine ``p`` is built as (rtl/hwmoe_moe.v)."""
    mt, md, mh = p.maxima()
    return {"T": p.t, "N_PE": p.n_pe, "X_W": p.x_width, "W_W": p.w_width, "B_W": p.b_width, "H_W": p.h_width,
            "A_W": p.a_width, "E_W": p.e_width, "OUT_W": p.out_width, "BSH_MAX": p.bsh_max,
            "G_FRAC": p.h_frac + p.gelu_lsh, "G_LSH_MAX": p.g_lsh_max, "EXPERTS": p.experts, "TOP_K": p.top_k,
            "MAX_TOKENS": mt, "MAX_DIM": md, "MAX_HIDDEN": mh, "ENTRIES": p.entries, "STEP_BITS": GELU_STEP_BITS,
            "D_W": GELU_FMT.width}


def controls(p: MoeParams) -> dict[str, int]:
    """The control inputs of ``p``'s run (port -> value); an MoE run always adds biases and fuses GELU."""
    h_width, a_width, out_width = p.run_widths
    return {"tokens": p.tokens, "dim": p.dim, "hidden": p.hidden, "x_frac": p.x_frac, "w1_frac": p.w1_frac,
            "b1_frac": p.b1_frac, "h_frac": p.h_frac, "h_width": h_width, "a_frac": p.a_frac,
            "a_width": a_width, "w2_frac": p.w2_frac, "b2_frac": p.b2_frac, "e_frac": p.e_frac,
            "e_width": p.e_width, "out_frac": p.out_frac, "out_width": out_width, "dense": int(p.dense),
            "bias_en": int(p.bias or not p.dense), "gelu_en": int(p.gelu or not p.dense)}


def _dense_case(p: MoeParams, seed: int) -> SimCase:
    """A dense run: the linear kernel's case (streams, expected y block-major) on hwmoe_moe; no requests."""
    case = LINEAR.make_case(as_linear(p), seed)
    idx_w = max(1, clog2(p.experts))
    return replace(case, toplevel="hwmoe_moe", parameters=verilog_parameters(p), config=controls(p),
                   expected={**case.expected, "wreq": np.zeros((0, 1), np.int64)},
                   widths={**case.widths, "y": -p.out_width, "wreq": idx_w}, predicted_cycles=cycles(p),
                   memories={"TABLE": (GeluTable(p.entries).values(), GELU_FMT.width)})


def make_case(p: MoeParams, seed: int = 0) -> SimCase:
    if p.dense:
        return _dense_case(p, seed)
    rng = np.random.default_rng(seed)
    d = make_data(p, rng)
    x, index, gates, y = d.inputs["x"], d.inputs["index"], d.inputs["gates"], d.expected["y"]
    w1, b1, w2, b2 = (d.weights[n] for n in ("w1", "b1", "w2", "b2"))
    counts = [len(tok) for tok, _ in expert_queues(index, p.experts)]
    used = [e for e in range(p.experts) if counts[e]]
    t = p.t
    dt = ceil_div(p.dim, t)
    y_pad = np.zeros((p.tokens, dt * t), np.int64)
    y_pad[:, :p.dim] = y
    w_beats = [np.zeros((0, t), np.int64)]
    b_beats = [np.zeros((0, t), np.int64)]
    for e in used:
        w_beats += [pad_rows(w1[e], t, rng, p.w_width), pad_rows(w2[e], t, rng, p.w_width)]
        b_beats += [pad_rows(b1[e][None, :], t, rng, p.b_width), pad_rows(b2[e][None, :], t, rng, p.b_width)]
    idx_w = max(1, clog2(p.experts))
    return SimCase(
        toplevel="hwmoe_moe",
        parameters=verilog_parameters(p),
        inputs={"x": pad_rows(x, t, rng, p.x_width), "idx": index, "gate": gates,
                "w": np.concatenate(w_beats), "b": np.concatenate(b_beats)},
        expected={"y": y_pad.reshape(p.tokens * dt, t), "wreq": np.array(used, np.int64).reshape(-1, 1)},
        widths={"x": -p.x_width, "idx": idx_w, "gate": 16, "w": -p.w_width, "b": -p.b_width,
                "y": -p.out_width, "wreq": idx_w},
        predicted_cycles=cycles(p, expert_tokens=counts),
        config=controls(p),
        memories={"TABLE": (d.table.values(), GELU_FMT.width)})


@dataclass(frozen=True)
class MoeWork:
    """One MoE layer (IR node kind ``experts``): ``tokens`` tokens, ``experts`` expert MLPs dim -> hidden ->
    dim, top-``top_k``; ``expert_tokens``: tokens routed to each expert (None: balanced_counts)."""
    tokens: int
    dim: int
    hidden: int
    experts: int
    top_k: int
    expert_tokens: tuple | None = None


@lru_cache(maxsize=4096)
def _cycles(p: MoeParams, work: MoeWork) -> int:
    return cycles(p, work.tokens, work.dim, work.hidden, work.experts, work.top_k, work.expert_tokens)


#: the engine's activation widths at w16a32 (every activation format 32 bits)
_W32 = dict(x_width=32, x_frac=16, h_width=32, h_frac=16, a_width=32, a_frac=16, e_width=32, e_frac=16,
            out_width=32, out_frac=16)


class MoeKernel(Kernel):
    """The MoE kernel (rtl/hwmoe_moe.v): the linear core (T x T tile, N_PE token lanes) in two-pass mode, a
    route scanner building per-expert token queues, and gate-weighted exact accumulation of the expert
    outputs in on-chip memory.  It runs the IR's ``experts`` nodes (one name per level: the IR node is the
    layer of experts, ``moe`` the kernel that runs it).

    The MoE kernel *is* the linear datapath plus the MoE parts around it, so an accelerator whose linear
    engine also runs the experts pays for the core once: :meth:`extra` is what the MoE mode adds to a linear
    kernel of the same tile, ``moe(p) - linear(linear_equivalent(p))``, each side from its own calibrated
    model."""
    name = "moe"
    Params = MoeParams
    Work = MoeWork
    description = ("MoE layer on the linear core: route scanner, expert-by-expert two-pass jobs, gate-weighted "
                   "exact accumulation")
    node_kinds = ("experts",)
    reference = staticmethod(moe)
    make_data = staticmethod(make_data)
    make_case = staticmethod(make_case)
    verilog_parameters = staticmethod(verilog_parameters)
    controls = staticmethod(controls)

    # a linear node runs on the engine in dense mode: its Work is the linear kernel's (LinearWork)
    def work(self, node, graph) -> MoeWork | LinearWork:
        if node.kind in LINEAR.node_kinds:
            return LINEAR.work(node, graph)
        e, h, d = node.w1.shape
        return MoeWork(int(graph.shapes[node.inputs[0]][0]), int(d), int(h), int(e), node.top_k)

    def macs(self, work: MoeWork | LinearWork) -> int:
        if isinstance(work, LinearWork):
            return LINEAR.macs(work)
        return work.tokens * work.top_k * 2 * work.dim * work.hidden

    def weight_words(self, work: MoeWork | LinearWork) -> tuple[int, int]:
        if isinstance(work, LinearWork):
            return LINEAR.weight_words(work)
        return work.experts * 2 * work.dim * work.hidden, work.experts * (work.hidden + work.dim)

    def cycles(self, params: MoeParams, work: MoeWork | LinearWork) -> int:
        """One MoE layer (default routing: tokens x top_k spread evenly), or one linear layer in dense mode."""
        if isinstance(work, LinearWork):
            return dense_cycles(params.t, params.t, params.n_pe, MOE_RD_LAT, True, work.rows, work.d_in, work.d_out)
        return _cycles(params, work)

    # ---- derived widths (as rtl/hwmoe_moe.v) ----------------------------------------------------------
    @staticmethod
    def widths(p: MoeParams) -> dict[str, int]:
        mt, md, mh = p.maxima()
        maxd = max(md, mh)
        mx = max(p.x_width, p.a_width)
        return {"mx": mx, "acc": mx + p.w_width + clog2(ceil_div(maxd, p.t) * p.t),
                "acc2": p.e_width + 17 + clog2(p.top_k + 1), "idx": max(1, clog2(p.experts)),
                "o": max(p.a_width, p.e_width, p.out_width), "tk": max(1, clog2(mt))}

    @staticmethod
    def multipliers(p: MoeParams) -> int:
        return p.n_pe * p.t * p.t

    def features(self, p: MoeParams) -> dict[str, float]:
        w = self.widths(p)
        mult_bits = self.multipliers(p) * (w["mx"] + p.w_width)
        return {"mult_bits": mult_bits,                                        # MAC array, partial products
                "np2_mult_bits": mult_bits if p.t & (p.t - 1) else 0.0,        # T not a power of two (linear)
                "acc_bits": p.n_pe * p.t * w["acc"] * 2,                       # accumulators + 2-slot hold
                "lane_bits": p.t * (w["o"] + p.a_width + w["acc2"] + p.out_width),   # bias/GELU/gate/acc/out
                "in_bits": p.n_pe * p.t * (p.x_width + p.a_width) + p.t * p.t * p.w_width,
                "route_bits": p.n_pe * 2 * (w["tk"] + 16) + p.top_k * (w["idx"] + 16) + p.experts,
                # run-time casts per lane: the core's (as a linear engine of the same core) and the read-out's
                "cast_bits": p.t * (LINEAR.cast_bits(self.linear_equivalent(p), w["acc"])
                                    + runtime_requant_bits(w["acc2"], p.out_width))}

    def dsp(self, p: MoeParams, dsp_kind: str = "DSP48E2") -> float:
        """MAC array (N_PE T^2 products at the activation x weight widths, as the linear kernel's: two per
        slice at 8 bits), one GELU interpolation multiplier per output lane (when it interpolates), one y x gate
        multiplier (E_W x 17) per lane."""
        w = self.widths(p)
        return float(dsps_for_products(dsp_kind, p.n_pe * p.t, p.t, w["mx"], p.w_width)
                     + p.t * lane_dsps(p.h_frac + p.gelu_lsh) + p.t * dsps_per_multiplier(dsp_kind, p.e_width, 17))

    def bram36(self, p: MoeParams) -> float:
        """Block memories of rtl/hwmoe_moe.v: routes (idx, gate), per lane a copy of every token's activations
        and the lane's hidden activations, the gate-weighted accumulators, the core's T double-buffered weight
        rows and the T GELU tables."""
        w = self.widths(p)
        mt, md, mh = p.maxima()
        dt, ht, it = ceil_div(md, p.t), ceil_div(mh, p.t), ceil_div(max(md, mh), p.t)
        groups = ceil_div(mt, p.n_pe)
        routes = brams_for(mt, p.top_k * w["idx"]) + brams_for(mt, p.top_k * 16)
        lanes = p.n_pe * (brams_for(mt * dt, p.t * p.x_width) + brams_for(groups * ht, p.t * p.a_width))
        acc = brams_for(mt * dt, p.t * w["acc2"])
        weights = p.t * brams_for(2 * it, p.t * p.w_width)
        return routes + lanes + acc + weights + p.t * lane_brams(p.h_frac + p.gelu_lsh, p.entries)

    # ---- what the MoE mode adds to the linear engine -------------------------------------------------
    @staticmethod
    def linear_equivalent(p: MoeParams) -> LinearParams:
        """The linear kernel with the same core: T x T tile, N_PE lanes, widths, GELU fused, buffers for the
        same tokens and the wider of dim / hidden."""
        mt, md, mh = p.maxima()
        return LinearParams(t_in=p.t, t_out=p.t, n_pe=p.n_pe, x_width=max(p.x_width, p.a_width),
                            x_frac=p.x_frac, w_width=p.w_width, w_frac=p.w1_frac, b_width=p.b_width,
                            b_frac=p.b1_frac, out_width=p.a_width, out_frac=p.a_frac, gelu=True,
                            h_width=max(p.h_width, p.e_width), h_frac=p.h_frac, bias_shift_max=p.bsh_max,
                            gelu_lsh=p.gelu_lsh, gelu_lsh_max=p.g_lsh_max, entries=p.entries, tokens=mt,
                            d_in=max(md, mh), d_out=max(md, mh))

    def extra(self, p: MoeParams, dsp_kind: str = "DSP48E2") -> Usage:
        """Resources of the MoE kernel beyond a linear kernel of the same tile (never negative)."""
        a = self.resources(p, dsp_kind).as_dict()
        b = LINEAR.resources(self.linear_equivalent(p), dsp_kind).as_dict()
        return Usage(**{k: max(0.0, a[k] - b[k]) for k in a})

    def calibration_points(self) -> list:
        P = MoeParams
        return [P(t=2, n_pe=1, tokens=8, dim=8, hidden=12, experts=4, top_k=2),
                P(t=4, n_pe=2),                                                  # the kernel's test case
                P(t=2, n_pe=3, tokens=12, dim=8, hidden=16, experts=4, top_k=1),
                P(t=4, n_pe=1, tokens=16, dim=16, hidden=32, experts=8, top_k=2),
                P(t=2, n_pe=2, tokens=8, dim=8, hidden=8, experts=4, top_k=2, **_W32),
                P(t=2, n_pe=1, tokens=64, dim=32, hidden=64, experts=4, top_k=2),
                P(t=4, n_pe=1, tokens=8, dim=8, hidden=16, experts=4, top_k=2, **_W32),
                P(t=3, n_pe=1, tokens=8, dim=12, hidden=12, experts=4, top_k=2),   # T not a power of two
                P(t=6, n_pe=1, tokens=8, dim=12, hidden=12, experts=4, top_k=2),
                # 8-bit words: two output columns per multiplier, one unpaired (T = 3); the GELU input keeps 7
                # fractional bits so that its interpolation multiplier is built
                P(t=3, n_pe=1, tokens=8, dim=8, hidden=12, experts=4, top_k=2, x_width=8, x_frac=4, w_width=8,
                  w1_frac=6, w2_frac=6, h_width=8, h_frac=7, a_width=8, a_frac=4, e_width=8, e_frac=3,
                  out_width=8, out_frac=3)]

    def engine_params(self, choice: dict, maxima: MoeWork, formats) -> MoeParams:
        """``choice``: t, n_pe; the expert hidden, GELU output and expert output are activations, weights and
        biases as parameters; buffers for the largest layer's tokens, dim and hidden."""
        act, w, b = formats["act"], formats["weight"], formats["param"]
        return MoeParams(**choice, x_width=act.width, x_frac=act.frac, w_width=w.width, w1_frac=w.frac,
                         w2_frac=w.frac, b_width=b.width, b1_frac=b.frac, b2_frac=b.frac, h_width=act.width,
                         h_frac=act.frac, a_width=act.width, a_frac=act.frac, e_width=act.width, e_frac=act.frac,
                         out_width=act.width, out_frac=act.frac, experts=maxima.experts, top_k=maxima.top_k,
                         tokens=maxima.tokens, dim=maxima.dim, hidden=maxima.hidden, routing="uniform")


MOE = MoeKernel()


POINTS = {
    # expert 0 chosen by every token, expert 3 by none (not requested, no weights streamed), dims not
    # divisible by the tile, some outputs saturate
    "default": Point({}, ("icarus", "verilator")),
    # N_PE = 1, top-1 (gate exactly 1.0 on one token): one expert gets every token, two get none
    "npe1-top1": Point({"n_pe": "1", "top_k": "1", "experts": "3", "tokens": "6", "dim": "7", "hidden": "9"}),
    # 8-bit words, b1 with more fractional bits than its accumulator (rounded), saturating tokens
    "w8-bias-round": Point({"t": "3", "tokens": "8", "dim": "8", "hidden": "12", "x_width": "8", "x_frac": "4",
                            "w_width": "8", "w1_frac": "6", "w2_frac": "7", "b1_frac": "14", "b2_frac": "3",
                            "h_width": "12", "h_frac": "7", "a_width": "10", "a_frac": "6", "e_width": "12",
                            "e_frac": "6", "out_width": "8", "out_frac": "3", "saturating": "0.3"}),
    # w8a8's engine: 8-bit activations, GELU output and weights, so the MAC array packs two output columns per
    # multiplier (rtl/hwmoe_mul_outer.v); T = 3 leaves one column unpaired; two lanes (its dense mode:
    # sim/test_moe.py)
    "w8a8-packed": Point({"t": "3", "n_pe": "2", "tokens": "7", "dim": "8", "hidden": "10", "x_width": "8",
                          "x_frac": "4", "w_width": "8", "w1_frac": "6", "w2_frac": "7", "b1_frac": "9",
                          "b2_frac": "8", "h_width": "8", "h_frac": "3", "a_width": "8", "a_frac": "4",
                          "e_width": "8", "e_frac": "3", "out_width": "8", "out_frac": "3"}),
    # top-3 of 6, N_PE = 3, uniform routing, runtime dims below the compile-time maxima
    "top3-max": Point({"n_pe": "3", "experts": "6", "top_k": "3", "routing": "uniform", "tokens": "11", "dim": "6",
                       "hidden": "8", "max_tokens": "16", "max_dim": "12", "max_hid": "16"}),
    # top-1 of 8 with uniform routing, 32-bit activations, hidden and expert outputs (W16A32-like)
    "top1-uniform-w32": Point({"experts": "8", "top_k": "1", "routing": "uniform", "tokens": "9", "x_width": "32",
                               "x_frac": "24", "w1_frac": "13", "b2_frac": "10", "h_width": "32", "h_frac": "24",
                               "a_width": "32", "a_frac": "24", "e_width": "32", "e_frac": "24", "out_width": "32",
                               "out_frac": "24"}),
}
