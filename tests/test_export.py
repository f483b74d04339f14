"""Export: the ONNX file passes the checker and onnxruntime on it equals PyTorch (<= 1e-4)."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from hwmoe.frontend.export import export_model
from hwmoe.frontend.model import PRESETS, build_model, make_config


def ort_run(path, x):
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("preset,block,dynamo", [
    ("tiny", None, False), ("tiny", None, True), ("tiny", 0, False), ("tiny", 1, True),
    ("m3vit-t", None, False), ("m3vit-t", 1, True),
])
def test_export_matches_torch(preset, block, dynamo, onnx_dir):
    cfg = make_config(preset)
    path = onnx_dir / f"exp-{preset}-{block}-{dynamo}.onnx"
    module, x = export_model(cfg, str(path), seed=3, block=block, dynamo=dynamo)
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    with torch.no_grad():
        want = module(x).numpy()
    np.testing.assert_allclose(ort_run(path, x.numpy()), want, atol=1e-4, rtol=0)


def test_presets_have_the_published_shapes():
    t = PRESETS["m3vit-t"]
    assert (t.tokens, t.dim, t.depth, t.heads, t.head_dim, t.mlp_hidden) == (129, 192, 12, 3, 64, 768)
    assert (t.experts, t.expert_hidden, t.top_k, t.renormalize) == (16, 384, 2, False)
    s = PRESETS["m3vit-s"]
    assert (s.dim, s.heads, s.mlp_hidden, s.expert_hidden) == (384, 6, 1536, 768)
    tiny = PRESETS["tiny"]
    assert tiny.depth >= 2 and tiny.heads >= 2 and tiny.top_k == 2 and tiny.experts >= 2


def test_overrides_and_bad_fields():
    cfg = make_config("tiny", {"depth": "4", "renormalize": "true", "experts": "8"})
    assert (cfg.depth, cfg.renormalize, cfg.experts) == (4, True, 8)
    for bad, msg in [({"depth": "x"}, "not a valid int"), ({"colour": "1"}, "unknown model field"),
                     ({"heads": "3"}, "not divisible"), ({"top_k": "9"}, "top_k"),
                     ({"qkv": "merged"}, "expected one of")]:
        with pytest.raises(ValueError, match=msg):
            make_config("tiny", bad)
    with pytest.raises(ValueError, match="unknown preset"):
        make_config("huge")


def test_seeded_weights_and_state_dict(tmp_path):
    cfg = make_config("tiny")
    a, b, c = build_model(cfg, 1), build_model(cfg, 1), build_model(cfg, 2)
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(a.head.weight, c.head.weight)
    torch.save(c.state_dict(), tmp_path / "w.pt")
    d = build_model(cfg, 1, weights=str(tmp_path / "w.pt"))
    assert torch.equal(d.head.weight, c.head.weight)
    torch.save({"nonsense": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not match"):
        build_model(cfg, 1, weights=str(tmp_path / "bad.pt"))


def test_every_style_computes_the_same_function():
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    ref = build_model(make_config("tiny"), 5)(x)
    for style in [{"attn_impl": "sdpa"}, {"ln_impl": "decomposed"}, {"moe_impl": "scatter"},
                  {"moe_impl": "dispatch"}]:
        torch.testing.assert_close(build_model(make_config("tiny", style), 5)(x), ref, atol=1e-5, rtol=0)
