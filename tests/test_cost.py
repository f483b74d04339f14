"""Cost model: workload extraction, delegation of cycles to the kernels' formulas, resources against recorded
(and one live) yosys synthesis, the memory model, the schedule and the whole-model figures."""
from __future__ import annotations

import dataclasses
import shutil

import pytest

from hwmoe.boards import load_board
from hwmoe.cost.calibrate import load_rows
from hwmoe.cost.fit import is_calibrated
from hwmoe.cost.memory import overlap
from hwmoe.cost.model import Design, Evaluator
from hwmoe.cost.workload import expected_touched, workload_from_config, workload_from_graph
from hwmoe.frontend.model import make_config
from hwmoe.kernels.registry import KERNELS
from hwmoe.numerics.precision import get_precision
from hwmoe.numerics.intmath import ceil_div

# Tolerances the calibrated model meets on every recorded yosys point (search/calibration/*.json)
LUT_TOL = 0.15
FF_TOL = 0.15
BRAM_TOL = 0.5          # half a RAMB36 (one RAMB18)


@pytest.fixture(scope="module")
def m3vit_t():
    return workload_from_config(make_config("m3vit-t"), "m3vit-t")


@pytest.fixture(scope="module")
def zcu102_eval(m3vit_t):
    return Evaluator(m3vit_t, load_board("zcu102"), get_precision("w16a32"))


UBIMOE_LIKE = Design({"t": 16, "n_pe": 3, "ln_nbuf": 4}, {"rows": 4, "lanes": 16, "block": 16}, 1,
                     router={"lanes": 16, "expert_par": 4})


# ------------------------------------------------------------------------------------------------ workload
def test_workload_from_config_matches_graph():
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model
    cfg = make_config("tiny")
    g = graph_from_model(build_model(cfg, 0))
    a, b = workload_from_graph(g, "tiny"), workload_from_config(cfg, "tiny")
    assert a.stages == b.stages
    assert a.tokens == b.tokens and a.dim == b.dim
    assert a.macs_per_image == b.macs_per_image == g.macs()


def test_m3vit_t_work(m3vit_t):
    assert m3vit_t.tokens == 129
    assert m3vit_t.macs_per_image == 782_911_488          # 1.566 GOP per image
    engines = [s.engine for s in m3vit_t.stages]
    assert engines.count("attention") == 12 and all(a != b for a, b in zip(engines, engines[1:]))


def test_expected_touched_experts():
    assert expected_touched(16, 2, 129) == pytest.approx(16.0, abs=1e-5)     # every expert at batch 1
    assert expected_touched(16, 2, 1) == pytest.approx(2.0)
    assert 2.0 < expected_touched(16, 2, 4) < 8.0


# ------------------------------------------------------------------------------------------------ cycles
def _work(name):
    return {"linear": dict(rows=37, d_in=40, d_out=36), "attention": dict(tokens=21, heads=2, head_dim=16),
            "layernorm": dict(rows=6, dim=22), "gelu": dict(words=256),
            "moe": dict(tokens=9, dim=10, hidden=14, experts=4, top_k=2),
            "router": dict(tokens=6, dim=22, experts=4, top_k=2), "exp2": dict(words=99),
            "recip": dict(words=99), "add": dict(words=99)}[name]


def _formula(name, p, w):
    """The module's own cycle formula called with its own arguments (what the RTL testbenches check)."""
    from hwmoe.kernels import add, attention, exp2, gelu, layernorm, linear, moe, recip, router
    return {"linear": lambda: linear.cycles(p, w.rows, w.d_in, w.d_out),
            "attention": lambda: attention.cycles(p, w.tokens, w.heads, w.head_dim),
            "layernorm": lambda: layernorm.cycles(p.lanes, w.dim, w.rows, 1, p.nbuf),
            "gelu": lambda: gelu.cycles(ceil_div(w.words, p.lanes)),
            "moe": lambda: moe.cycles(p, w.tokens, w.dim, w.hidden, w.experts, w.top_k),
            "router": lambda: router.cycles(p.lanes, w.dim, w.experts, w.top_k, w.tokens, 1, p.expert_par),
            "exp2": lambda: exp2.cycles(ceil_div(w.words, p.lanes)),
            "recip": lambda: recip.cycles(ceil_div(w.words, p.lanes)),
            "add": lambda: add.cycles(ceil_div(w.words, p.lanes))}[name]()


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_cycles_are_the_kernel_formula(name):
    """Kernel.cycles(params, work) returns exactly what the module's formula returns (memoised or not)."""
    k = KERNELS[name]
    p = k.params()
    work = k.Work(**_work(name))
    assert k.cycles(p, work) == _formula(name, p, work)
    assert k.cycles(p, work) == _formula(name, p, work)          # answered from the memo: the same


def test_linear_cycles_match_kernel_case():
    """On the kernel's own test case, the kernel's figure is the one the RTL test checks."""
    k = KERNELS["linear"]
    p = k.params()
    work = k.Work(rows=p.tokens, d_in=p.d_in, d_out=p.d_out, gelu=p.gelu)
    assert k.cycles(p, work) == k.make_case(p).predicted_cycles


def test_moe_and_router_cycles_match_kernel_cases():
    from hwmoe.numerics.routing import expert_queues
    m = KERNELS["moe"]
    p = m.params(t=4, n_pe=2)
    case = m.make_case(p)
    counts = tuple(len(t) for t, _ in expert_queues(case.inputs["idx"], p.experts))
    assert m.cycles(p, m.Work(p.tokens, p.dim, p.hidden, p.experts, p.top_k, counts)) == case.predicted_cycles
    r = KERNELS["router"]
    q = r.params()
    assert r.cycles(q, r.Work(q.tokens, q.dim, q.experts, q.top_k)) == r.make_case(q).predicted_cycles


def test_moe_layers_use_the_moe_and_router_formulas(zcu102_eval):
    """Experts run as the MoE kernel (not two linear passes), the gate on the router unit."""
    from hwmoe.kernels import moe, router
    ev = zcu102_eval
    rows = {r["name"]: r for r in ev.evaluate(UBIMOE_LIKE).layers}
    m = ev.config("linear", UBIMOE_LIKE.linear).units["moe"]
    r = ev.config("router", UBIMOE_LIKE.router).units["router"]
    assert (m.t, m.n_pe) == (16, 3) and (r.lanes, r.expert_par) == (16, 4)
    assert rows["blocks.1.moe.experts"]["compute_cycles"] == moe.cycles(m, 129, 192, 384, 16, 2)
    assert rows["blocks.1.moe.gate"]["compute_cycles"] == router.cycles(16, 192, 16, 2, 129, 1, 4)
    assert rows["blocks.1.moe.gate"]["engine"] == "router" and rows["blocks.1.moe.experts"]["engine"] == "linear"


def test_linear_space_is_square_tiles(m3vit_t):
    from hwmoe.cost.engines import ENGINES
    sp = ENGINES["linear"].space(m3vit_t)
    assert set(sp) == {"t", "n_pe", "ln_nbuf"}
    assert all(192 % t == 0 and 768 % t == 0 and 384 % t == 0 for t in sp["t"])
    r = ENGINES["router"].space(m3vit_t)
    assert r["expert_par"] == [1, 2, 4, 8, 16] and all(192 % n == 0 for n in r["lanes"])
    ev = Evaluator(m3vit_t, load_board("zcu102"), get_precision("w16a32"))
    assert ev.engines == ["linear", "router", "attention"]
    from hwmoe.cost.workload import Stage
    dense = dataclasses.replace(m3vit_t, stages=tuple(Stage(st.engine, tuple(o for o in st.ops
                                                                             if o.kind not in ("router", "experts")))
                                                      for st in m3vit_t.stages))
    ev = Evaluator(dense, load_board("zcu102"), get_precision("w16a32"))
    assert ev.engines == ["linear", "attention"]
    assert "moe" not in ev.engine_resources("linear", {"t": 16, "n_pe": 2, "ln_nbuf": 4})


# ------------------------------------------------------------------------------------------------ resources
CALIBRATED = [n for n in sorted(KERNELS) if load_rows(n)]


@pytest.mark.parametrize("name", CALIBRATED)
def test_resources_match_recorded_synthesis(name):
    a = KERNELS[name]
    assert is_calibrated(name), f"{name}: recorded data but no fit; run python -m hwmoe.cost.calibrate --fit-only"
    for row in load_rows(name):
        p = a.params(**row["params"])
        got, want = a.resources(p), row["counts"]
        where = f"{name} {row['verilog']}"
        assert got.dsp == want["dsp"], f"{where}: DSP {got.dsp} != yosys {want['dsp']}"
        assert abs(got.bram36 - want["bram36"]) <= BRAM_TOL, f"{where}: BRAM36 {got.bram36} vs {want['bram36']}"
        assert got.lut == pytest.approx(want["lut"], rel=LUT_TOL), f"{where}: LUT"
        assert got.ff == pytest.approx(want["ff"], rel=FF_TOL), f"{where}: FF"


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_live_yosys_matches_model():
    """Synthesise one small point now (a few seconds) and compare with the model."""
    from hwmoe.backends.rtl.yosys import synth
    a = KERNELS["linear"]
    p = a.params(t_in=3, t_out=3, n_pe=2, tokens=6, d_in=24, d_out=12)      # not a calibration point
    top, params, memories = a.synth_case(p)
    want = synth(top, params, memories)["counts"]
    got = a.resources(p)
    assert got.dsp == want["dsp"]
    assert abs(got.bram36 - want["bram36"]) <= BRAM_TOL
    assert got.lut == pytest.approx(want["lut"], rel=0.25)
    assert got.ff == pytest.approx(want["ff"], rel=0.25)


@pytest.mark.skipif(shutil.which("yosys") is None, reason="yosys not installed")
def test_live_yosys_packs_8bit_macs():
    """8-bit words: two products sharing an activation take one DSP48E2 (rtl/hwmoe_mul_outer.v), an odd output
    column one alone: N_PE x T_IN x ceil(T_OUT/2) = 2 x 1 x 2 = 4, not the 6 of one per product (~16 s)."""
    from hwmoe.backends.rtl.yosys import synth
    a = KERNELS["linear"]
    p = a.params(t_in=1, t_out=3, n_pe=2, tokens=4, d_in=4, d_out=6, bias=False, x_width=8, x_frac=4, w_width=8,
                 w_frac=6, out_width=8, out_frac=4, h_width=8, h_frac=4)
    top, params, memories = a.synth_case(p)
    assert synth(top, params, memories)["counts"]["dsp"] == a.dsp(p) == 4


def test_gelu_multiplier_only_when_interpolating():
    """A GELU lane whose input has no bits below the table step (in_frac <= 5) builds no slope multiplier and one
    table copy: yosys on two 8-bit lanes gave 0 DSP / 1 BRAM36 at in_frac 5, 2 / 2 at 6 and 7; the MoE engine at
    w8a8 with a 3-fraction-bit GELU input 9 DSP / 6.5 BRAM36 (T = 3), with 7 bits 12 / 8 (a calibration point)."""
    g, m = KERNELS["gelu"], KERNELS["moe"]
    assert [(g.dsp(p), g.bram36(p)) for p in (g.params(lanes=2, in_width=8, in_frac=f) for f in (5, 6, 7))] \
        == [(0, 1), (2, 2), (2, 2)]
    w8 = dict(t=3, n_pe=1, tokens=8, dim=8, hidden=12, experts=4, top_k=2, x_width=8, x_frac=4, w_width=8,
              w1_frac=6, w2_frac=6, h_width=8, a_width=8, a_frac=4, e_width=8, e_frac=3, out_width=8, out_frac=3)
    assert [(m.dsp(p), m.bram36(p)) for p in (m.params(h_frac=f, **w8) for f in (3, 7))] == [(9, 6.5), (12, 8)]


@pytest.mark.parametrize("rows,lanes,width", [(1, 2, 16), (3, 4, 16), (4, 4, 18), (9, 32, 18), (16, 64, 16)])
def test_attention_dsp_is_structural(rows, lanes, width):
    """One shared multiplier per lane (q.k, rescale and e.v), per row s*C (2) and l*r (1), two per output
    normaliser: P LANES + 3 P + 2 LANES at 16- and 18-bit operands (the recorded yosys points agree)."""
    a = KERNELS["attention"]
    p = a.params(rows=rows, lanes=lanes, head_dim=64, heads=3, tokens=129, q_width=width, q_frac=width - 4,
                 k_width=width, k_frac=width - 4, v_width=width, v_frac=width - 4)
    assert a.dsp(p) == rows * lanes + 3 * rows + 2 * lanes


def test_dsp_per_mac_follows_widths():
    a = KERNELS["linear"]
    p16 = a.params(t_in=4, t_out=4, n_pe=2, x_width=16, w_width=16)
    p32 = a.params(t_in=4, t_out=4, n_pe=2, x_width=32, x_frac=16, w_width=16)
    assert a.dsp(p16) == 32 and a.dsp(p32) == 64          # 16x32 needs two DSP48E2
    p8 = a.params(t_in=4, t_out=3, n_pe=2, x_width=8, x_frac=4, w_width=8, w_frac=6)
    assert a.dsp(p8) == 2 * 4 * 2                         # 8x8: two output columns per DSP, the third alone
    m = KERNELS["moe"]
    m8 = m.params(t=3, n_pe=2, x_width=8, x_frac=4, w_width=8, h_width=8, a_width=8, e_width=8, out_width=8)
    m16 = m.params(t=3, n_pe=2)
    assert m.dsp(m16) - m.dsp(m8) == 2 * 3 * (3 - 2)     # the MAC array only: 18 products on 12 DSPs, not 18


# ------------------------------------------------------------------------------------------------ memory
def test_overlap_rules():
    t = overlap(1000, 64_000, 64.0, True, fill_bytes=640)
    assert t.total == 1000 + 10 and t.bound == "compute"
    t = overlap(1000, 128_000, 64.0, True)
    assert t.total == 2000 and t.bound == "memory"
    assert overlap(1000, 64_000, 64.0, False).total == 2000


def test_moe_layers_are_memory_bound_on_ddr(zcu102_eval):
    rows = zcu102_eval.evaluate(UBIMOE_LIKE).layers
    moe = [r for r in rows if r["kind"] == "experts"]
    # at batch 1 every expert's weights are used by ~16 tokens only: weight streaming bounds the layer, through
    # the kernel's T_IN-word weight port (256 bit here, 9.6 GB/s) before the 19.2 GB/s DDR
    assert len(moe) == 6 and all(r["bound"] in ("memory", "weight-port") for r in moe)
    # every expert is loaded: 16 x (2 x 192 x 384 x 2 B + biases)
    assert moe[0]["bytes"] == pytest.approx(16 * (2 * 192 * 384 * 2 + (384 + 192) * 2))
    u280 = Evaluator(zcu102_eval.wl, load_board("u280"), zcu102_eval.prec).evaluate(UBIMOE_LIKE).layers
    assert all(r["bound"] != "memory" for r in u280 if r["kind"] == "experts")


# ------------------------------------------------------------------------------------------------ schedule
def test_batch1_is_sequential(zcu102_eval):
    ev = zcu102_eval
    total = sum(ev.engine_cycles(e, UBIMOE_LIKE.choice(e)) for e in ("linear", "router", "attention"))
    assert ev.makespan(UBIMOE_LIKE, 1) == pytest.approx(total)
    est = ev.evaluate(UBIMOE_LIKE)
    assert est.latency_ms == pytest.approx(total / (ev.clock * 1e3))
    assert est.gops == pytest.approx(2 * ev.wl.macs_per_image / (est.latency_ms / 1e3) / 1e9)


def test_batch_overlaps_engines(zcu102_eval):
    ev = zcu102_eval
    one = ev.makespan(UBIMOE_LIKE, 1)
    lin = ev.engine_cycles("linear", UBIMOE_LIKE.linear) + ev.engine_cycles("router", UBIMOE_LIKE.router)
    att = ev.engine_cycles("attention", UBIMOE_LIKE.attention)
    two = ev.makespan(dataclasses.replace(UBIMOE_LIKE, group=1), 2)
    assert max(2 * lin, 2 * att) <= two < 2 * one               # the engines overlap across images
    grouped = ev.makespan(dataclasses.replace(UBIMOE_LIKE, group=2), 2)
    assert grouped < 2 * one                                     # weights amortised over the group
    est = ev.evaluate(dataclasses.replace(UBIMOE_LIKE, group=1), batch=2)
    assert est.images_per_s > 1e3 / est.latency_ms


def test_estimate_reports_everything(zcu102_eval):
    d = zcu102_eval.evaluate(UBIMOE_LIKE).to_dict()
    for key in ("latency_ms", "images_per_s", "gops", "resources", "layers", "fits", "work"):
        assert key in d
    assert set(d["resources"]["used"]) == {"lut", "ff", "dsp", "bram36", "uram"}
    assert {r["bound"] for r in d["layers"]} <= {"compute", "memory", "weight-port"}
    # UbiMoE's engine shape: 768 MACs at 16 x 32 bit = 1536 DSPs in the linear kernel (+ 16 GELU lanes)
    by = d["resources"]["by_unit"]
    assert by["linear"]["dsp"] == 768 * 2 + 16
    assert by["moe"]["dsp"] == 16 * 2                     # the MoE mode adds the y x gate multipliers (32 x 17)
    assert by["router"]["dsp"] == 4 * 16 * 2 + 2 + 4      # EXPERT_PAR x LANES MACs, LOG2E product, 2 per top-k
    assert by["attention"]["dsp"] == 4 * 16 + 3 * 4 + 2 * 16
