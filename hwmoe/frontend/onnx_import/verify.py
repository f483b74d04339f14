"""Safety net: the imported float IR must compute what onnxruntime computes on the original model."""
from __future__ import annotations

import numpy as np
import onnx

from ... import ir
from .errors import UnsupportedGraph

TOLERANCE = 1e-3


def main_input(model: onnx.ModelProto) -> onnx.ValueInfoProto:
    inits = {i.name for i in model.graph.initializer}
    return next(i for i in model.graph.input if i.name not in inits)


def ort_session(model: onnx.ModelProto):
    """A quiet single-threaded onnxruntime session (other work may share the machine)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])


def run_onnxruntime(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    return ort_session(model).run(None, {main_input(model).name: x.astype(np.float32)})[0]


def check_against_onnxruntime(graph: ir.Graph, model: onnx.ModelProto, seed: int = 0,
                              tolerance: float = TOLERANCE) -> float:
    """Max abs difference between the float IR and onnxruntime on a seeded random input; raises
    UnsupportedGraph above ``tolerance``."""
    from ...reference import run_float
    shape = tuple(d.dim_value for d in main_input(model).type.tensor_type.shape.dim)
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    try:
        want = run_onnxruntime(model, x)
    except Exception as e:
        first = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        raise UnsupportedGraph(f"onnxruntime cannot run the model, so the import cannot be verified "
                               f"({type(e).__name__}: {first})") from None
    got = run_float(graph, x)
    if got.size != want.size:
        raise UnsupportedGraph(f"the imported graph gives {got.size} outputs, onnxruntime {want.size}")
    diff = float(np.abs(got.reshape(-1) - want.reshape(-1)).max())
    if not diff <= tolerance:
        raise UnsupportedGraph(f"the imported graph disagrees with onnxruntime (max diff {diff:.3g} > "
                               f"{tolerance:g}); refusing a possible mis-read")
    return diff
