"""hwmoe's GELU unit as an hls4ml extension layer: PyTorch -> hls4ml -> g++ build, bit-exact against
hwmoe.kernels.gelu.gelu applied to hls4ml's own Linear output."""
import shutil

import numpy as np
import pytest

hls4ml = pytest.importorskip("hls4ml")
torch = pytest.importorskip("torch")

from hwmoe.backends.hls import hls4ml_ext  # noqa: E402
from hwmoe.numerics.fixed import quantize  # noqa: E402
from hwmoe.kernels.gelu import gelu  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not available")


def convert(model, tmp_path, linear_out, gelu_out):
    cfg = hls4ml.utils.config_from_pytorch_model(model, (16,), granularity="name", backend="Vivado",
                                                 default_precision="ap_fixed<16,6>")
    layers = cfg["LayerName"]
    layers["input_1"]["Precision"]["result"] = "ap_fixed<16,4,AP_RND,AP_SAT>"
    layers["_0"]["Precision"].update(weight="ap_fixed<12,2,AP_RND,AP_SAT>", bias="ap_fixed<12,2,AP_RND,AP_SAT>",
                                     accum="ap_fixed<40,12>", result=linear_out)
    layers["_1"]["Precision"]["result"] = gelu_out
    for name in ("_0", "_1"):
        layers[name]["Trace"] = True
    hm = hls4ml.converters.convert_from_pytorch_model(model, hls_config=cfg, output_dir=str(tmp_path / "prj"),
                                                      backend="Vivado", io_type="io_parallel")
    hm.compile()
    return hm


@pytest.mark.parametrize("linear_out,gelu_out", [
    ("ap_fixed<16,5,AP_RND,AP_SAT>", "ap_fixed<14,4,AP_RND_CONV,AP_SAT>"),   # interpolated table
    ("ap_fixed<8,5,AP_RND,AP_SAT>", "ap_fixed<16,6>"),                        # coarse input, TRN/WRAP out
])
def test_pytorch_gelu_bit_exact(tmp_path, linear_out, gelu_out):
    hls4ml_ext.register("Vivado")
    hls4ml_ext.register("Vivado")                     # idempotent
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU()).eval()
    hm = convert(model, tmp_path, linear_out, gelu_out)
    assert hm.graph["_1"].class_name == "HwmoeGELU"
    code = (tmp_path / "prj" / "firmware" / "myproject.cpp").read_text()
    assert "hwmoe::hls4ml_gelu<" in code

    x = np.random.default_rng(1).normal(0, 3, (200, 16)).astype(np.float32)
    y = np.asarray(hm.predict(x), dtype=np.float64).reshape(200, 16)
    _, trace = hm.trace(x)
    lin = np.asarray(trace["_0"], dtype=np.float64).reshape(200, 16)   # hls4ml's own Linear output

    in_fmt = hls4ml_ext.fmt_of(hm.graph["_0"].get_output_variable().type.precision)
    out_fmt = hls4ml_ext.fmt_of(hm.graph["_1"].get_output_variable().type.precision)
    raw_in = quantize(lin, in_fmt)
    assert np.array_equal(raw_in * in_fmt.lsb, lin)                    # on the input grid already
    raw_ref = gelu(raw_in, in_fmt, out_fmt, hls4ml_ext.table_for(in_fmt))
    np.testing.assert_array_equal(quantize(y, out_fmt), raw_ref)
    np.testing.assert_array_equal(y, raw_ref * out_fmt.lsb)
    np.testing.assert_array_equal(y, hls4ml_ext.reference(lin, hm.graph["_0"].get_output_variable().type.precision,
                                                          hm.graph["_1"].get_output_variable().type.precision))
    # and it is a GELU: within a few output LSBs of torch's where nothing saturates
    exact = torch.nn.functional.gelu(torch.tensor(lin)).numpy()
    ok = np.abs(exact) < 2.0 ** (out_fmt.int_bits - 1) - 1
    assert np.abs(y - exact)[ok].max() <= 2 * max(out_fmt.lsb, 2.0 ** -in_fmt.frac) + 2.0 ** -11


def test_tanh_gelu_rejected(tmp_path):
    hls4ml_ext.register("Vivado")
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU(approximate="tanh")).eval()
    with pytest.raises(Exception, match="exact"):
        convert(model, tmp_path, "ap_fixed<16,5>", "ap_fixed<16,5>")
