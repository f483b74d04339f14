"""ONNX importer: what torch's two exporters make of the model in every writing style is read into the same
kernel graph as the PyTorch module (structure, parameters, numerics against onnxruntime), and near-miss graphs
are refused with an error naming the offending ONNX node."""
from __future__ import annotations

import dataclasses
import itertools
import math
import pathlib
import types

import numpy as np
import onnx
import pytest
import torch
import torch.nn as nn
from onnx import helper, numpy_helper

from hwmoe import ir
from hwmoe.frontend.export import block_input, export_model, export_module
from hwmoe.frontend.from_torch import graph_from_model
from hwmoe.frontend.model import MoEViT, build_model, make_config, sample_input
from hwmoe.frontend.onnx_import import OnnxLoadError, UnsupportedGraph, import_onnx
from hwmoe.frontend.onnx_import.verify import check_against_onnxruntime, run_onnxruntime
from hwmoe.reference import run_float

_CACHE: dict = {}


def exported(onnx_dir, preset="tiny", block=None, dynamo=False, opset=None, **style):
    """Export once per session; returns (path, torch module, config)."""
    opset = opset or (18 if dynamo else 17)
    key = (preset, block, dynamo, opset, tuple(sorted(style.items())))
    if key not in _CACHE:
        cfg = make_config(preset, {k: str(v) for k, v in style.items()})
        name = "_".join(str(p) for p in key[:4]) + "".join(f"_{k}-{v}" for k, v in key[4]) + ".onnx"
        path = onnx_dir / name
        module, _ = export_model(cfg, str(path), block=block, dynamo=dynamo, opset=opset)
        _CACHE[key] = (path, module, cfg)
    return _CACHE[key]


def onnx_input(model: onnx.ModelProto, seed=0) -> np.ndarray:
    shape = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def assert_matches_onnxruntime(graph: ir.Graph, path, tol=1e-4):
    model = onnx.load(str(path))
    x = onnx_input(model)
    want = run_onnxruntime(model, x)
    got = run_float(graph, x)
    assert got.size == want.size
    assert np.abs(got.reshape(-1) - want.reshape(-1)).max() <= tol


def assert_same_graph(graph: ir.Graph, want: ir.Graph):
    """Same kernels in the same order with the same parameters (the yardstick is hwmoe.frontend.from_torch)."""
    assert [n.kind for n in graph.nodes] == [n.kind for n in want.nodes]
    for got, ref in zip(graph.nodes, want.nodes):
        gp, rp = got.params(), ref.params()
        assert gp.keys() == rp.keys(), got.name
        for k in rp:
            assert gp[k].shape == rp[k].shape, (got.name, k)
            np.testing.assert_allclose(gp[k], rp[k], rtol=0, atol=1e-6, err_msg=f"{got.name}.{k}")
        for attr in ("heads", "head_dim", "top_k", "renormalize", "patch"):
            if hasattr(ref, attr):
                assert getattr(got, attr) == getattr(ref, attr), (got.name, attr)
        for attr in ("scale", "eps"):
            if hasattr(ref, attr):
                assert getattr(got, attr) == pytest.approx(getattr(ref, attr), rel=1e-6), (got.name, attr)
        assert len(got.inputs) == len(ref.inputs) and len(got.outputs) == len(ref.outputs)
    rename = {graph.input: want.input}                     # same wiring: tensors map one to one
    for got, ref in zip(graph.nodes, want.nodes):
        ins = [rename.get(t) for t in got.inputs]
        assert ins == ref.inputs or (got.kind == "add" and sorted(ins) == sorted(ref.inputs)), got.name
        rename.update(zip(got.outputs, ref.outputs))
        for t, r in zip(got.outputs, ref.outputs):
            assert tuple(graph.shapes[t]) == tuple(want.shapes[r]), (got.name, t)
    assert rename[graph.output] == want.output
    assert tuple(graph.shapes[graph.input]) == tuple(want.shapes[want.input])
    assert tuple(graph.shapes[graph.output]) == tuple(want.shapes[want.output])
    graph.validate()


def check_import(path, module, block, cfg=None):
    graph = import_onnx(str(path), verify=False)
    if block is None:
        want = graph_from_model(module)
    else:                       # graph_from_model reads only .cfg and .blocks[block] of the model
        want = graph_from_model(types.SimpleNamespace(cfg=cfg or module.attn.cfg, blocks={block: module}), block)
    assert_same_graph(graph, want)
    assert_matches_onnxruntime(graph, path)
    return graph


# -- the exporters' output, default style ----------------------------------------------------------------------

@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
@pytest.mark.parametrize("block", [None, 0, 1], ids=["whole", "block0", "block1"])
def test_tiny_default_style(onnx_dir, dynamo, block):
    path, module, cfg = exported(onnx_dir, block=block, dynamo=dynamo)
    graph = check_import(path, module, block)
    kinds = [n.kind for n in graph.nodes]
    if block is None:
        assert kinds[0] == "patch_embed" and kinds[-1] == "head"
        assert graph.shapes[graph.input] == (cfg.in_chans, cfg.img_h, cfg.img_w)
        assert kinds.count("attention") == cfg.depth and kinds.count("experts") == cfg.depth // 2
    else:
        assert graph.shapes[graph.input] == (cfg.tokens, cfg.dim)
        assert kinds.count("experts") == (1 if block == 1 else 0)


def test_default_verification_and_model_proto(onnx_dir):
    path, module, cfg = exported(onnx_dir, block=1)
    graph = import_onnx(onnx.load(str(path)))            # verify=True by default, from a ModelProto
    assert [n.kind for n in graph.nodes].count("router") == 1
    assert check_against_onnxruntime(graph, onnx.load(str(path))) < 1e-4


def test_verification_catches_a_wrong_graph(onnx_dir):
    path, _, _ = exported(onnx_dir, block=0)
    graph = import_onnx(str(path), verify=False)
    lin = next(n for n in graph.nodes if n.kind == "linear")
    lin.weight = lin.weight * 1.01
    with pytest.raises(UnsupportedGraph, match="disagrees with onnxruntime"):
        check_against_onnxruntime(graph, onnx.load(str(path)))


@pytest.fixture(scope="module")
def m3vit_t(onnx_dir):
    """One m3vit-t model, exported whole (legacy) and block 1 (dynamo).  Weights: seeded normal values for
    every parameter (init_weights' truncated normals take ~15 s of CPU at this size)."""
    cfg = make_config("m3vit-t")
    model = MoEViT(cfg).eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            std = 0.02 if p.dim() == 1 or "embed" in name or "token" in name else p[0].numel() ** -0.5
            p.copy_(torch.randn(p.shape, generator=gen) * std + (1.0 if name.endswith("norm1.weight") or
                    name.endswith("norm2.weight") or name == "norm.weight" else 0.0))
    whole, block = onnx_dir / "m3vit-t_whole_legacy.onnx", onnx_dir / "m3vit-t_block1_dynamo.onnx"
    export_module(model, sample_input(cfg), str(whole), 17, False)
    export_module(model.blocks[1], block_input(cfg), str(block), 18, True)
    return model, whole, block


def test_m3vit_t_whole_legacy(m3vit_t):
    model, path, _ = m3vit_t
    graph = check_import(path, model, None)
    att = next(n for n in graph.nodes if n.kind == "attention")
    assert (att.heads, att.head_dim, att.scale) == (3, 64, 0.125)
    ex = next(n for n in graph.nodes if n.kind == "experts")
    assert ex.w1.shape == (16, 384, 192) and ex.w2.shape == (16, 192, 384) and ex.top_k == 2


def test_m3vit_t_moe_block_dynamo(m3vit_t):
    model, _, path = m3vit_t
    graph = check_import(path, model.blocks[1], 1, model.cfg)
    assert [n.kind for n in graph.nodes].count("experts") == 1


# -- writing styles ---------------------------------------------------------------------------------------------

LEGACY_STYLES = [dict(qkv=q, attn_impl=a, ln_impl=l, moe_impl=m, renormalize=(i % 2 == 1))
                 for i, (q, a, l, m) in enumerate(itertools.product(
                     ("fused", "separate"), ("explicit", "sdpa"), ("builtin", "decomposed"),
                     ("gather", "scatter", "dispatch")))]
DYNAMO_STYLES = [dict(qkv="separate"), dict(attn_impl="sdpa"), dict(ln_impl="decomposed"),
                 dict(moe_impl="scatter"), dict(moe_impl="dispatch", renormalize=True),
                 dict(renormalize=True),
                 dict(qkv="separate", attn_impl="sdpa", ln_impl="decomposed", moe_impl="gather")]


def _style_id(style):
    return "-".join(f"{v}" for v in style.values())


def check_style(onnx_dir, dynamo, style):
    path, module, cfg = exported(onnx_dir, block=1, dynamo=dynamo, **style)
    graph = check_import(path, module, 1)
    kinds = [n.kind for n in graph.nodes]
    assert kinds == ["layernorm", "linear", "linear", "linear", "attention", "linear", "add", "layernorm",
                     "router", "experts", "add"]
    router = graph.nodes[8]
    assert router.top_k == cfg.top_k and router.renormalize == cfg.renormalize
    np.testing.assert_array_equal(router.weight, module.mlp.gate.weight.detach().numpy())
    att = graph.nodes[4]
    assert (att.heads, att.head_dim) == (cfg.heads, cfg.head_dim)
    assert att.scale == pytest.approx(cfg.head_dim ** -0.5, rel=1e-6)
    a = module.attn
    if cfg.qkv == "fused":
        w, b = a.qkv.weight.detach().numpy(), a.qkv.bias.detach().numpy()
        parts = [(w[j * cfg.dim:(j + 1) * cfg.dim], b[j * cfg.dim:(j + 1) * cfg.dim]) for j in range(3)]
    else:
        parts = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in (a.q, a.k, a.v)]
    producers = {t: n for n in graph.nodes for t in n.outputs}
    for inp, (w, b) in zip(att.inputs, parts):             # q, k, v: each its own linear with its own rows
        lin = producers[inp]
        assert lin.kind == "linear"
        np.testing.assert_array_equal(lin.weight, w)
        np.testing.assert_array_equal(lin.bias, b)
    ex = graph.nodes[9]
    assert ex.w1.shape == (cfg.experts, cfg.expert_hidden, cfg.dim)
    assert ex.b2.shape == (cfg.experts, cfg.dim) and ex.top_k == cfg.top_k
    assert ex.inputs == [router.inputs[0]] + router.outputs


@pytest.mark.parametrize("style", LEGACY_STYLES, ids=_style_id)
def test_styles_legacy(onnx_dir, style):
    check_style(onnx_dir, False, style)


@pytest.mark.parametrize("style", DYNAMO_STYLES, ids=_style_id)
def test_styles_dynamo(onnx_dir, style):
    check_style(onnx_dir, True, style)


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_whole_model_other_styles(onnx_dir, dynamo):
    style = dict(qkv="separate", attn_impl="sdpa", ln_impl="decomposed", moe_impl="dispatch", renormalize=True)
    path, module, cfg = exported(onnx_dir, dynamo=dynamo, **style)
    graph = check_import(path, module, None)
    assert [n.renormalize for n in graph.nodes if n.kind == "router"] == [True]


@pytest.mark.parametrize("dynamo", [False, True], ids=["legacy", "dynamo"])
def test_gelu_op_opset20(onnx_dir, dynamo):
    path, module, cfg = exported(onnx_dir, block=0, dynamo=dynamo, opset=20)
    assert any(n.op_type == "Gelu" for n in onnx.load(str(path)).graph.node)
    check_import(path, module, 0)


def test_hand_made_gelu_op(onnx_dir, tmp_path):
    """The legacy opset-17 export with its erf GELU replaced by one Gelu node (opset 20)."""
    path, module, cfg = exported(onnx_dir, block=0)
    model = onnx.load(str(path))
    g = model.graph
    act = [n for n in g.node if "/mlp/act/" in n.name]
    first = next(n for n in act if n.op_type == "Div")
    x, y = first.input[0], next(n for n in act if n.op_type == "Mul" and n.name.endswith("Mul_1")).output[0]
    keep = [n for n in g.node if n not in act]
    pos = sum(1 for n in list(g.node)[:list(g.node).index(first)] if n not in act)
    del g.node[:]
    g.node.extend(keep[:pos] + [helper.make_node("Gelu", [x], [y], name="my_gelu")] + keep[pos:])
    del model.opset_import[:]
    model.opset_import.extend([helper.make_opsetid("", 20)])
    onnx.checker.check_model(model)
    out = tmp_path / "gelu.onnx"
    onnx.save(model, str(out))
    graph = import_onnx(str(out))
    assert [n.kind for n in graph.nodes].count("gelu") == 1
    assert_same_graph(graph, graph_from_model(types.SimpleNamespace(cfg=cfg, blocks={0: module}), 0))


# -- equivalent ways of writing the same layers are read into the same graph ---------------------------------

def _head_slice(self, img):
    x = self.patch_embed(img).flatten(2).transpose(1, 2)
    x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
    for blk in self.blocks:
        x = blk(x)
    return self.head(self.norm(x)[:, 0:1]).flatten(1)          # Slice [0:1] instead of Gather 0


def _attn_q_scaled(self, x):
    b, n, c = x.shape
    qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]                # scale on q, not on the scores
    return self.proj((((q @ k.transpose(-2, -1)).softmax(dim=-1)) @ v).transpose(1, 2).reshape(b, n, c))


def _attn_div_unbind(self, x):
    b, n, c = x.shape
    q, k, v = (t.transpose(1, 2) for t in self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).unbind(2))
    a = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
    return self.proj((a.softmax(dim=-1) @ v).permute(0, 2, 1, 3).flatten(2))


def _gelu_by_hand(x):
    return x * 0.5 * (1 + torch.erf(x * (1 / math.sqrt(2))))


def _ln_rsqrt(self, x):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) * (x - mean)).mean(-1, keepdim=True)
    return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def _method(obj, name, fn):
    setattr(obj, name, types.MethodType(fn, obj))


REWRITES = {
    "head_slice": lambda m: _method(m, "forward", _head_slice),
    "attn_q_scaled": lambda m: _method(m.blocks[0].attn, "forward", _attn_q_scaled),
    "attn_div_unbind": lambda m: _method(m.blocks[1].attn, "forward", _attn_div_unbind),
    "gelu_by_hand": lambda m: setattr(m.blocks[0].mlp.act, "forward", _gelu_by_hand),
    "ln_rsqrt": lambda m: _method(m.blocks[1].norm2, "forward", _ln_rsqrt),
}


@pytest.mark.parametrize("rewrite,dynamo", [(r, False) for r in REWRITES] +
                         [("attn_div_unbind", True), ("ln_rsqrt", True)])
def test_equivalent_rewrites(tmp_path, rewrite, dynamo):
    cfg = make_config("tiny")
    path = export_variant(tmp_path, cfg, None, REWRITES[rewrite], dynamo=dynamo, opset=18 if dynamo else 17)
    graph = import_onnx(str(path), verify=False)
    assert_same_graph(graph, graph_from_model(build_model(cfg, 0)))
    assert_matches_onnxruntime(graph, path)


def test_legacy_opset18_decomposed_layernorm(onnx_dir):
    path, module, cfg = exported(onnx_dir, opset=18, ln_impl="decomposed", moe_impl="scatter")
    check_import(path, module, None)


# -- near misses are refused by name ---------------------------------------------------------------------------

def refused(src, *words):
    with pytest.raises(UnsupportedGraph) as err:
        import_onnx(src if isinstance(src, onnx.ModelProto) else str(src))
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def edited(onnx_dir, edit, **kw):
    path, _, _ = exported(onnx_dir, **kw)
    model = onnx.load(str(path))
    edit(model)
    return model


def node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def set_attr(n, key, value):
    for a in n.attribute:
        if a.name == key:
            n.attribute.remove(a)
            break
    n.attribute.append(helper.make_attribute(key, value))


def export_variant(tmp_path, cfg, block, patch, dynamo=False, opset=17, name="variant"):
    model = build_model(cfg, 0)
    patch(model)
    path = tmp_path / f"{name}.onnx"
    if block is None:
        export_module(model, sample_input(cfg), str(path), opset, dynamo)
    else:
        export_module(model.blocks[block], block_input(cfg), str(path), opset, dynamo)
    return path


@pytest.mark.parametrize("opset", [17, 20])
def test_refuses_tanh_gelu(tmp_path, opset):
    def patch(m):
        m.blocks[0].mlp.act = nn.GELU(approximate="tanh")
    path = export_variant(tmp_path, make_config("tiny"), 0, patch, opset=opset)
    if opset == 17:
        refused(path, "(Tanh)", "/mlp/act/Tanh", "tanh")
    else:
        refused(path, "(Gelu)", "/mlp/act/Gelu", "approximate='tanh'")


def test_refuses_wrong_key_transpose(onnx_dir):
    def edit(m):
        set_attr(node(m, "/attn/Transpose_1"), "perm", [1, 0, 3, 2])
    refused(edited(onnx_dir, edit, block=0), "'/attn/Transpose_1' (Transpose)", "perm [1, 0, 3, 2]", "k^T")


def test_refuses_wrong_head_split_perm(onnx_dir):
    """permute(2, 0, 1, 3, 4) instead of (2, 0, 3, 1, 4): every shape still works out, heads and tokens swap."""
    def edit(m):
        set_attr(node(m, "/attn/Transpose"), "perm", [2, 0, 1, 3, 4])
    model = edited(onnx_dir, edit, block=0)
    run_onnxruntime(model, onnx_input(model))              # onnxruntime happily runs it
    refused(model, "'/attn/Transpose' (Transpose)", "perm [2, 0, 1, 3, 4]", "attention q")


def test_refuses_wrong_merge_heads(onnx_dir):
    def edit(m):
        set_attr(node(m, "/attn/Transpose_2"), "perm", [0, 1, 2, 3])
    model = edited(onnx_dir, edit, block=0)
    run_onnxruntime(model, onnx_input(model))
    refused(model, "'/attn/Transpose_2' (Transpose)", "token-major", "'/attn/proj/MatMul'")


def _attention_forward(bug):
    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if bug == "reshape_k":
            kt = k.reshape(b, self.heads, self.head_dim, n)        # reshape where a transpose is needed
        else:
            kt = k.transpose(-2, -1)
        if bug == "swap_heads":
            q = q.flip(1)
        o = ((q @ kt) * self.scale).softmax(dim=-1) @ v
        return self.proj(o.transpose(1, 2).reshape(b, n, c))
    return forward


@pytest.mark.parametrize("bug,words", [("reshape_k", ["(Reshape)", "k^T"]), ("swap_heads", ["(Slice)", "q"])])
def test_refuses_attention_layout_bugs(tmp_path, bug, words):
    def patch(m):
        m.blocks[0].attn.forward = types.MethodType(_attention_forward(bug), m.blocks[0].attn)
    refused(export_variant(tmp_path, make_config("tiny"), 0, patch), *words)


@pytest.mark.parametrize("name,axis", [("/attn/Softmax", 2), ("/mlp/Softmax", 1)])
def test_refuses_softmax_over_wrong_axis(onnx_dir, name, axis):
    def edit(m):
        set_attr(node(m, name), "axis", axis)
    refused(edited(onnx_dir, edit, block=1), f"'{name}' (Softmax)", f"axis {axis}")


def test_refuses_topk_smallest(onnx_dir):
    def edit(m):
        set_attr(node(m, "/mlp/TopK"), "largest", 0)
    refused(edited(onnx_dir, edit, block=1), "'/mlp/TopK' (TopK)", "largest=0")


def test_refuses_layernorm_over_other_axis(onnx_dir):
    def edit(m):
        set_attr(node(m, "/norm1/LayerNormalization"), "axis", 1)
    refused(edited(onnx_dir, edit, block=0), "'/norm1/LayerNormalization' (LayerNormalization)", "last axis")


def test_refuses_decomposed_layernorm_over_other_axis(onnx_dir):
    def edit(m):
        set_attr(node(m, "/norm1/ReduceMean"), "axes", [1])
    refused(edited(onnx_dir, edit, block=0, ln_impl="decomposed"), "'/norm1/ReduceMean' (ReduceMean)",
            "axes [1]")


def test_refuses_layernorm_without_mean_subtraction(tmp_path):
    def rms_forward(self, x):
        var = x.pow(2).mean(-1, keepdim=True)
        return x / torch.sqrt(var + self.eps) * self.weight + self.bias

    def patch(m):
        m.blocks[0].norm2.forward = types.MethodType(rms_forward, m.blocks[0].norm2)
    refused(export_variant(tmp_path, make_config("tiny"), 0, patch), "'/norm2/ReduceMean' (ReduceMean)",
            "mean subtraction")


def test_refuses_unknown_op(onnx_dir):
    def edit(m):
        g = m.graph
        ln = node(m, "/norm1/LayerNormalization")
        qkv = node(m, "/attn/qkv/MatMul")
        qkv.input[0] = "sin_out"
        pos = list(g.node).index(ln) + 1
        g.node.insert(pos, helper.make_node("Sin", [ln.output[0]], ["sin_out"], name="inserted_sin"))
    refused(edited(onnx_dir, edit, block=0), "'inserted_sin' (Sin)", "not supported")


def test_refuses_non_constant_weight(onnx_dir):
    def edit(m):
        g = m.graph
        mm = node(m, "/attn/proj/MatMul")
        init = next(i for i in g.initializer if i.name == mm.input[1])
        g.initializer.remove(init)
        g.input.append(helper.make_tensor_value_info(init.name, onnx.TensorProto.FLOAT, list(init.dims)))
    refused(edited(onnx_dir, edit, block=0), "'/attn/proj/MatMul' (MatMul)", "not a constant")


def test_refuses_router_bias(tmp_path):
    def patch(m):
        gate = m.blocks[1].mlp.gate
        m.blocks[1].mlp.gate = nn.Linear(gate.in_features, gate.out_features, bias=True)
    refused(export_variant(tmp_path, make_config("tiny"), 1, patch), "(MatMul)", "bias")


def test_refuses_wrong_expert_weighting(tmp_path):
    """Each token's top-k weights applied to the wrong slots: everything runs, the sum is wrong."""
    def forward(self, x):
        b, n, d = x.shape
        weights, index = self.route(x)
        every = torch.stack([e(x) for e in self.experts], dim=2)
        picked = torch.gather(every, 2, index.unsqueeze(-1).expand(b, n, self.cfg.top_k, d))
        return (picked * weights.flip(-1).unsqueeze(-1)).sum(dim=2)

    def patch(m):
        m.blocks[1].mlp.forward = types.MethodType(forward, m.blocks[1].mlp)
    refused(export_variant(tmp_path, make_config("tiny"), 1, patch), "'/mlp/ReduceSum' (ReduceSum)",
            "gate-weighted sum")


def test_refuses_corrupt_and_missing_files(onnx_dir, tmp_path):
    path, _, _ = exported(onnx_dir, block=0)
    data = path.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[: len(data) // 3])
    (tmp_path / "junk.onnx").write_bytes(bytes(range(256)) * 4)
    for name in ("cut.onnx", "junk.onnx", "missing.onnx"):
        with pytest.raises(ValueError) as err:
            import_onnx(str(tmp_path / name))
        assert "\n" not in str(err.value) and name in str(err.value)
        assert isinstance(err.value, OnnxLoadError)


# -- property: a mutated graph is either refused or read correctly, never mis-read --------------------------

def _mutate(model: onnx.ModelProto, rng) -> str:
    """One random local edit: an attribute (perm, axis, axes, largest, ...), swapped operands, or a small
    constant changed."""
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    cands = []
    for n in g.node:
        cands += [("attr", n, a) for a in n.attribute
                  if a.name in ("perm", "axis", "axes", "largest", "keepdims", "transB", "epsilon")]
        if n.op_type in ("Sub", "Div", "MatMul", "Concat") and len(n.input) >= 2:
            cands.append(("swap", n, None))
        cands += [("const", n, (i, t)) for i, t in enumerate(n.input)
                  if t in inits and int(np.prod(inits[t].dims)) <= 8]
    kind, n, a = cands[rng.integers(len(cands))]
    if kind == "attr":
        v = helper.get_attribute_value(a)
        if a.name == "perm":
            v = [int(p) for p in rng.permutation(v)]
        elif isinstance(v, list):
            v = [int(x + rng.choice([-1, 1])) for x in v]
        elif isinstance(v, float):
            v *= 2.0
        elif a.name == "axis":
            v += int(rng.choice([-1, 1]))
        else:
            v = 1 - v
        set_attr(n, a.name, v)
        return f"{n.name}.{a.name}={v}"
    if kind == "swap":
        n.input[0], n.input[1] = n.input[1], n.input[0]
        return f"{n.name} operands swapped"
    i, t = a
    arr = numpy_helper.to_array(inits[t]).copy()
    flat = arr.reshape(-1)
    if np.issubdtype(arr.dtype, np.integer):
        if flat.size > 1 and rng.random() < 0.5:
            rng.shuffle(flat)
        else:
            flat[rng.integers(flat.size)] += rng.choice([-1, 1])
    else:
        flat *= rng.choice([0.9, -1.0])
    g.initializer.append(numpy_helper.from_array(arr, t + "_mutated"))
    n.input[i] = t + "_mutated"
    return f"{n.name} input {i} -> {flat.tolist()}"


@pytest.mark.parametrize("dynamo,style", [(False, {}), (False, dict(moe_impl="dispatch", attn_impl="sdpa")),
                                          (True, {}), (True, dict(qkv="separate", moe_impl="scatter"))],
                         ids=["legacy", "legacy-dispatch-sdpa", "dynamo", "dynamo-separate-scatter"])
def test_mutations_are_refused_or_read_correctly(onnx_dir, dynamo, style):
    path, _, _ = exported(onnx_dir, block=1, dynamo=dynamo, **style)
    rng = np.random.default_rng(sum(map(ord, str(style))) + dynamo)
    for _ in range(25):
        model = onnx.load(str(path))
        what = _mutate(model, rng)
        x = onnx_input(model)
        try:
            want = run_onnxruntime(model, x)
        except Exception:                     # not a valid model any more: refused (at the latest by verify)
            with pytest.raises(ValueError) as err:
                import_onnx(model)
            assert "\n" not in str(err.value)
            continue
        try:
            graph = import_onnx(model, verify=False)
        except ValueError as e:
            assert "\n" not in str(e)
            continue
        got = run_float(graph, x)             # what is read must be read correctly
        assert got.size == want.size and np.abs(got.reshape(-1) - want.reshape(-1)).max() <= 1e-4, what


# -- import cache -------------------------------------------------------------------------------------------
@pytest.fixture
def counted_imports(monkeypatch, tmp_path):
    """A private cache; returns the list of files actually imported (cache misses)."""
    import hwmoe.frontend.onnx_import as onnx_import
    monkeypatch.setenv("HWMOE_CACHE", str(tmp_path / "cache"))
    calls, real = [], onnx_import.import_onnx
    monkeypatch.setattr(onnx_import, "import_onnx", lambda path: calls.append(path) or real(path))
    return calls


def assert_identical(graph: ir.Graph, want: ir.Graph):
    assert (graph.input, graph.output, graph.shapes) == (want.input, want.output, want.shapes)
    assert [type(n) for n in graph.nodes] == [type(n) for n in want.nodes]
    for got, ref in zip(graph.nodes, want.nodes):
        gp, rp = got.params(), ref.params()
        assert gp.keys() == rp.keys() and all(np.array_equal(gp[k], rp[k]) and gp[k].dtype == rp[k].dtype
                                              for k in rp), got.name
        rest = [f.name for f in dataclasses.fields(ref) if f.name not in rp]
        assert [getattr(got, k) for k in rest] == [getattr(ref, k) for k in rest], got.name


def test_cache_second_import_is_equal(onnx_dir, counted_imports):
    from hwmoe.graph_cache import import_cached
    path, _, _ = exported(onnx_dir)
    first = import_cached(path)
    second = import_cached(path)
    assert counted_imports == [str(path)]                 # the second came from the cache
    assert_identical(second, first)
    assert_identical(second, import_onnx(str(path)))


def test_cache_misses_a_changed_file(onnx_dir, tmp_path, counted_imports):
    from hwmoe.graph_cache import import_cached
    src, _, _ = exported(onnx_dir)
    path = tmp_path / "m.onnx"
    model = onnx.load(str(src))
    onnx.save(model, str(path))
    before = import_cached(path)
    init = max(model.graph.initializer, key=lambda i: numpy_helper.to_array(i).size)
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 2, init.name))
    onnx.save(model, str(path))
    after = import_cached(path)
    assert counted_imports == [str(path)] * 2
    assert any(not np.array_equal(a, b) for n, m in zip(after.nodes, before.nodes)
               for a, b in zip(n.params().values(), m.params().values()))
    assert_identical(after, import_onnx(str(path)))


class _Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (self.path,)


@pytest.mark.parametrize("damage", ["truncated npz", "garbage json", "missing npz", "wrong node field",
                                    "pickled array"])
def test_cache_corrupt_entry_is_rebuilt(onnx_dir, tmp_path, counted_imports, damage):
    import json
    from hwmoe.graph_cache import cache_key, import_cached
    from hwmoe.paths import cache_dir
    path, _, _ = exported(onnx_dir)
    want = import_cached(path)
    marker = tmp_path / "unpickled"
    entry = cache_dir() / "graphs" / cache_key(path)
    npz, js = entry.with_suffix(".npz"), entry.with_suffix(".json")
    if damage == "truncated npz":
        npz.write_bytes(npz.read_bytes()[:1000])
    elif damage == "garbage json":
        js.write_text("{not json")
    elif damage == "missing npz":
        npz.unlink()
    elif damage == "wrong node field":
        desc = json.loads(js.read_text())
        desc["nodes"][0]["bogus"] = 1
        js.write_text(json.dumps(desc))
    else:                                                  # unpickling it would create the marker file
        with open(npz, "wb") as f:
            np.savez(f, **{"0.weight": np.array([_Touch(marker)], dtype=object)})
    assert_identical(import_cached(path), want)            # rebuilt, not crashed
    assert not marker.exists()
    assert_identical(import_cached(path), want)            # and the rebuilt entry is read back
    assert counted_imports == [str(path)] * 2


def test_cache_unwritable_is_skipped(onnx_dir, tmp_path, monkeypatch):
    from hwmoe.graph_cache import import_cached
    path, _, _ = exported(onnx_dir)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("HWMOE_CACHE", str(tmp_path / "file"))     # the cache folder is a file
    assert_identical(import_cached(path), import_onnx(str(path)))
