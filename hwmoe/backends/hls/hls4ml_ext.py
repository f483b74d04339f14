"""hwmoe kernels as hls4ml extension layers (hls4ml's Extension API).

``register(backend_name="Vivado")`` adds to hls4ml:

* a layer class ``HwmoeGELU`` (exact-erf GELU), registered with ``hls4ml.model.layers.register_layer``;
* a PyTorch frontend handler for ``torch.nn.GELU`` (``approximate="none"``) producing that layer;
* a config template and a function call template on the backend, which write the config struct of hwmoe's
  GELU unit (``hls/gelu.h``: formats, table size and the table of ``hwmoe/numerics/tables.py``) and call it
  element by element;
* the sources ``hwmoe_common.h``, ``gelu.h``, a generated ``hwmoe_tables.h`` and a small adapter header,
  copied into the project's ``nnet_utils/``.

The layer computes exactly ``hwmoe.kernels.gelu.gelu`` on the raw words of its input, with the input and output
ap_fixed formats (widths, rounding and overflow modes) of the hls4ml model (``reference`` below). Only
``io_parallel`` is supported.  The table covers |x| up to the GELU cutoff or the input format's range,
whichever is smaller (``GeluTable.for_range``).
"""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

import numpy as np

from ...numerics.fixed import Fmt, O, Q
from ...numerics import tables
from ...kernels.gelu import gelu as gelu_reference
from ...paths import HLS_DIR
LAYER_NAME = "HwmoeGELU"

ADAPTER_H = """// hwmoe_hls4ml_gelu.h: hls4ml adapter of hwmoe's GELU unit (hwmoe/hls4ml_ext.py).
#ifndef HWMOE_HLS4ML_GELU_H
#define HWMOE_HLS4ML_GELU_H

#include "gelu.h"

namespace hwmoe {

// GELU of CONFIG_T::n_words values of an io_parallel array; CONFIG_T is a hwmoe GELU config (gelu.h).
template <class data_T, class res_T, typename CONFIG_T>
void hls4ml_gelu(data_T data[CONFIG_T::n_words], res_T res[CONFIG_T::n_words]) {
    HWMOE_HLS(INLINE)
    for (int i = 0; i < CONFIG_T::n_words; i++) {
        HWMOE_HLS(UNROLL)
        res[i] = hwmoe::gelu<CONFIG_T>(data[i]);
    }
}

}  // namespace hwmoe

#endif
"""

_registered: set[str] = set()
_layer_cls = None


def fmt_of(precision) -> Fmt:
    """The hwmoe Fmt of an hls4ml FixedPrecisionType (width, integer bits, sign, rounding and overflow)."""
    from hls4ml.model.types import FixedPrecisionType

    if not isinstance(precision, FixedPrecisionType):
        raise TypeError(f"hwmoe GELU needs an ap_fixed precision, got {precision}")
    if getattr(precision, "saturation_bits", None) not in (None, 0):
        raise ValueError("hwmoe GELU does not support saturation bits")
    q = Q(f"AP_{precision.rounding_mode.name}")
    o = O(f"AP_{precision.saturation_mode.name}")
    return Fmt(precision.width, precision.integer, precision.signed, q, o)


def table_for(in_fmt: Fmt) -> tables.GeluTable:
    """The GELU table for inputs in ``in_fmt``: up to min(max |x|, cutoff)."""
    return tables.GeluTable.for_range((1 << (in_fmt.width - in_fmt.signed)) * in_fmt.lsb)


def reference(x: np.ndarray, in_precision, out_precision) -> np.ndarray:
    """What the hls4ml layer computes: float values of ``in_precision`` -> float values of ``out_precision``."""
    from ...numerics.fixed import quantize

    in_fmt, out_fmt = fmt_of(in_precision), fmt_of(out_precision)
    raw = quantize(np.asarray(x, dtype=np.float64), in_fmt)
    return gelu_reference(raw, in_fmt, out_fmt, table_for(in_fmt)) * out_fmt.lsb


def _source_dir() -> Path:
    """A directory holding hwmoe_tables.h and the adapter header (hls4ml copies registered sources)."""
    from .emitter import tables_header

    texts = {"hwmoe_tables.h": tables_header(), "hwmoe_hls4ml_gelu.h": ADAPTER_H}
    digest = hashlib.sha256("".join(texts.values()).encode()).hexdigest()[:16]
    d = Path(tempfile.gettempdir()) / f"hwmoe_hls4ml_{digest}"
    d.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        p = d / name
        if not p.exists() or p.read_text() != text:
            tmp = d / f".{name}.tmp"
            tmp.write_text(text)
            tmp.replace(p)
    return d


def _make_layer_cls():
    from hls4ml.model.attributes import Attribute
    from hls4ml.model.layers import Layer

    class HwmoeGELU(Layer):
        """Exact-erf GELU computed by hwmoe's GELU unit (hls/gelu.h)."""

        _expected_attributes = [Attribute("n_in")]

        def initialize(self):
            inp = self.get_input_variable()
            self.add_output_variable(inp.shape)
            if "n_in" not in self.attributes:
                self.set_attr("n_in", inp.size())

    HwmoeGELU.__name__ = LAYER_NAME
    return HwmoeGELU


def parse_gelu(operation, layer_name, input_names, input_shapes, node, class_object, data_reader, config):
    """PyTorch frontend handler: torch.nn.GELU (exact erf) -> HwmoeGELU."""
    if class_object is not None and getattr(class_object, "approximate", "none") != "none":
        raise ValueError("hwmoe GELU implements the exact (erf) GELU, not approximate='tanh'")
    layer = {"class_name": LAYER_NAME, "name": layer_name, "inputs": input_names}
    return layer, [s for s in input_shapes[0]]


def _make_templates(layer_cls):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    from .emitter import gelu_lut, struct

    class HwmoeGeluConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)

        def format(self, node):
            if node.model.config.get_config_value("IOType") != "io_parallel":
                raise ValueError("hwmoe GELU supports io_parallel only")
            inp, out = node.get_input_variable(), node.get_output_variable()
            in_fmt, out_fmt = fmt_of(inp.type.precision), fmt_of(out.type.precision)
            table = table_for(in_fmt)
            return struct(f"config{node.index}",
                          f"hwmoe GELU unit: {in_fmt.ctype()} -> {out_fmt.ctype()}, {table.entries} intervals of 1/32",
                          {"in_t": inp.type.name, "out_t": out.type.name},
                          {"entries": table.entries, "n_words": node.get_attr("n_in")}, gelu_lut(table))

    class HwmoeGeluFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=["nnet_utils/hwmoe_hls4ml_gelu.h"])

        def format(self, node):
            p = self._default_function_params(node)
            return f"hwmoe::hls4ml_gelu<{p['input_t']}, {p['output_t']}, {p['config']}>({p['input']}, {p['output']});"

    return HwmoeGeluConfigTemplate, HwmoeGeluFunctionTemplate


def register(backend_name: str = "Vivado") -> None:
    """Register hwmoe's GELU with hls4ml (layer, PyTorch handler, templates and sources on ``backend_name``).
    Calling it again, for the same or another backend, is harmless."""
    global _layer_cls
    import hls4ml
    import importlib

    pytorch_to_hls = importlib.import_module("hls4ml.converters.pytorch_to_hls")
    from hls4ml.model.layers import register_layer

    if _layer_cls is None:
        _layer_cls = _make_layer_cls()
        register_layer(LAYER_NAME, _layer_cls)
    if "GELU" not in pytorch_to_hls.get_supported_pytorch_layers():
        pytorch_to_hls.register_pytorch_layer_handler("GELU", parse_gelu)
    if backend_name in _registered:
        return
    backend = hls4ml.backends.get_backend(backend_name)
    for template in _make_templates(_layer_cls):
        backend.register_template(template)
    for name in ("hwmoe_common.h", "gelu.h"):
        backend.register_source(HLS_DIR / name)
    src = _source_dir()
    for name in ("hwmoe_tables.h", "hwmoe_hls4ml_gelu.h"):
        backend.register_source(src / name)
    _registered.add(backend_name)
