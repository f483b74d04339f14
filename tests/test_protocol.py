"""The kernel protocol: every registered kernel answers every face with the same signatures, the registry maps
every IR node kind a kernel claims, and kernels are found statically (no importlib)."""
from __future__ import annotations

import dataclasses
import re

import pytest

from hwmoe import ir
from hwmoe.cost.usage import Usage
from hwmoe.kernels.base import Kernel, KernelData, SimCase
from hwmoe.kernels.registry import KERNELS, get_kernel, kernel_for
from hwmoe.numerics.precision import PRECISIONS
from hwmoe.backends.rtl.filelist import sources
from hwmoe.paths import REPO

#: a small invocation of each kernel
WORK = {"linear": dict(rows=37, d_in=40, d_out=36, gelu=True), "attention": dict(tokens=21, heads=2, head_dim=16),
        "layernorm": dict(rows=6, dim=22), "gelu": dict(words=256),
        "moe": dict(tokens=9, dim=12, hidden=16, experts=4, top_k=2),
        "router": dict(tokens=6, dim=24, experts=4, top_k=2), "exp2": dict(words=100), "recip": dict(words=100),
        "add": dict(words=300)}

#: an engine's choice of each kernel's parallelism (Params fields)
CHOICE = {"linear": {"t_in": 4, "t_out": 4, "n_pe": 2}, "attention": {"rows": 4, "lanes": 8, "block": 16},
          "layernorm": {"lanes": 4, "nbuf": 4}, "gelu": {"lanes": 4}, "moe": {"t": 4, "n_pe": 2},
          "router": {"lanes": 4, "expert_par": 2}, "exp2": {"lanes": 4}, "recip": {"lanes": 4}, "add": {"lanes": 4}}


def test_registry_order_and_lookup():
    assert list(KERNELS) == ["linear", "attention", "layernorm", "gelu", "router", "moe", "exp2", "recip", "add"]
    assert all(isinstance(k, Kernel) and k.name == name for name, k in KERNELS.items())
    assert get_kernel("moe") is KERNELS["moe"]
    with pytest.raises(ValueError, match="expected one of linear, attention"):
        get_kernel("conv")


@pytest.mark.parametrize("name", list(KERNELS))
def test_every_face(name):
    k = KERNELS[name]
    p = k.params()
    assert isinstance(p, k.Params) and dataclasses.is_dataclass(p)
    p.check()
    assert k.description and isinstance(k.node_kinds, tuple)
    work = k.Work(**WORK[name])
    c = k.cycles(p, work)
    assert isinstance(c, int) and c > 0
    assert isinstance(k.macs(work), int) and k.macs(work) >= 0
    weights, params = k.weight_words(work)
    assert weights >= 0 and params >= 0
    u = k.resources(p, "DSP48E2")
    assert isinstance(u, Usage) and u.lut > 0
    assert u.bram36 > 0 if name != "add" else u.bram36 == 0     # the add engine has no tables or buffers
    assert u.dsp > 0 if k.macs(work) else u.dsp >= 0     # the exp2 and reciprocal units multiply nothing
    for point in k.calibration_points():
        assert isinstance(point, k.Params)
        point.check()
    data = k.make_data(p, 1)
    assert isinstance(data, KernelData) and data.inputs and data.expected
    case = k.make_case(p, 1)
    assert isinstance(case, SimCase) and case.toplevel == k.rtl_top and sources(k.rtl_top)[-1].name == f"{k.rtl_top}.v"
    assert (REPO / "rtl" / f"{k.rtl_top}.v").is_file()
    assert (REPO / "hls" / k.hls_header).is_file()
    assert (REPO / "sim" / f"{k.testbench}.py").is_file()


@pytest.mark.parametrize("precision", sorted(PRECISIONS))
@pytest.mark.parametrize("name", list(KERNELS))
def test_engine_params_take_the_formats(name, precision):
    """One signature for every kernel; the Params carry the role formats they were given and are legal."""
    k = KERNELS[name]
    formats = PRECISIONS[precision].formats()
    work = k.Work(**WORK[name])
    p = k.engine_params(CHOICE[name], k.largest([work, work]), formats)
    assert isinstance(p, k.Params)
    p.check()
    assert all(getattr(p, f) == v for f, v in CHOICE[name].items())
    if k.node_kinds:                      # engines of IR nodes produce activations (adds: the residual; routers: logits)
        want = formats[{"add": "resid", "router": "logit"}.get(name, "act")]
        out = "logit" if name == "router" else "out"
        assert (getattr(p, f"{out}_width"), getattr(p, f"{out}_frac")) == (want.width, want.frac)
    assert isinstance(k.cycles(p, work), int)


def test_largest_is_fieldwise():
    k = KERNELS["linear"]
    a, b = k.Work(rows=3, d_in=40, d_out=8), k.Work(rows=9, d_in=8, d_out=16, gelu=True)
    assert k.largest([a, b]) == k.Work(rows=9, d_in=40, d_out=16, gelu=True)


def test_every_node_kind_has_one_kernel():
    claimed = [kind for k in KERNELS.values() for kind in k.node_kinds]
    assert len(claimed) == len(set(claimed))
    assert set(claimed) == set(ir.NODE_KINDS)
    for kind, cls in ir.NODE_KINDS.items():
        node = cls.__new__(cls)
        node.name, node.kind = f"a_{kind}", kind
        assert kind in kernel_for(node).node_kinds
    node = ir.Add.__new__(ir.Add)
    node.name, node.kind = "a_conv", "conv"
    with pytest.raises(ValueError, match="no kernel runs"):
        kernel_for(node)


def test_work_and_macs_agree_with_the_ir():
    """Each node's Work (from its kernel) gives the MACs the IR node counts itself."""
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, make_config
    g = graph_from_model(build_model(make_config("tiny"), 0))
    for node in g.nodes:
        k = kernel_for(node)
        assert k.macs(k.work(node, g)) == node.macs(g.shapes), node.name


def test_no_importlib_kernel_lookup():
    """Kernels are imported by name, statically: no importlib anywhere in the kernels or the cost model, and no
    dynamic import of a kernel module anywhere in the package."""
    for path in sorted((REPO / "hwmoe").rglob("*.py")):
        text = path.read_text()
        if path.parent.name in ("kernels", "cost"):
            assert "importlib" not in text, path
        assert not re.search(r"import_module\([^)]*kernels", text), path


# ------------------------------------------------------------------------------------------------ formats
def test_default_formats_are_the_precision_rules():
    """Without a plan: the role's width, half the word integer for activations, the residual stream and router
    logits, 2 for weights, 4 for parameters and q/k/v, 6 for scores; statistics keep the residual's integer
    bits (18 bits wide at w16a32, so a wider preset's are never coarser).  Router logits are never narrower
    than 16 bits."""
    f = PRECISIONS["w16a32"].formats()
    assert {r: (x.width, x.int_bits) for r, x in f.items()} == {
        "act": (32, 16), "resid": (32, 16), "weight": (16, 2), "param": (16, 4), "attn": (18, 4),
        "score": (24, 6), "norm": (18, 11), "stat": (18, 16), "logit": (32, 16)}
    assert all(p.logit >= 16 for p in PRECISIONS.values())


def test_search_prices_the_plans_formats():
    """With a calibrated plan the engines are built at each role's widest plan format, not the defaults."""
    import numpy as np
    from hwmoe.boards import load_board
    from hwmoe.cost.model import Evaluator
    from hwmoe.cost.workload import workload_from_graph
    from hwmoe.frontend.from_torch import graph_from_model
    from hwmoe.frontend.model import build_model, make_config
    from hwmoe.numerics.calibration import calibrate, plan_formats, tensor_roles
    g = graph_from_model(build_model(make_config("tiny"), 0))
    plan = calibrate(g, "w8a8", np.random.default_rng(0).standard_normal((2,) + tuple(g.shapes[g.input])))
    formats = plan_formats(g, plan)
    acts = [plan.tensors[t] for t, role in tensor_roles(g).items() if role == "act"]
    assert formats["act"].int_bits == max(f.int_bits for f in acts) and formats["act"].width == 8
    assert formats != PRECISIONS["w8a8"].formats()
    ev = Evaluator(workload_from_graph(g, "tiny"), load_board("zcu102"), PRECISIONS["w8a8"], formats=formats)
    units = ev.config("linear", {"t": 4, "n_pe": 1, "ln_nbuf": 4}).units
    assert (units["linear"].x_width, units["linear"].x_frac) == (8, formats["act"].frac)
    assert (units["linear"].w_width, units["linear"].w_frac) == (8, formats["weight"].frac)
    assert (units["layernorm"].x_width, units["layernorm"].x_frac) == (16, formats["resid"].frac)
    att = ev.config("attention", {"rows": 2, "lanes": 4, "block": 16}).units["attention"]
    assert (att.q_frac, att.t_frac) == (formats["attn"].frac, formats["score"].frac)


def test_reference_dispatch_covers_every_node_kind():
    from hwmoe.numerics.calibration import INTERNAL_VALUES
    from hwmoe.reference import FLOAT_STEPS, FixedRunner
    assert set(FLOAT_STEPS) == set(FixedRunner.STEPS) == set(ir.NODE_KINDS)
    assert set(INTERNAL_VALUES) <= set(ir.NODE_KINDS)
