"""The importer's errors: one line each, naming the ONNX node and what was expected."""
from __future__ import annotations

from ...errors import UserError


class UnsupportedGraph(UserError):
    """The ONNX graph is valid but is not (exactly) a model the accelerator implements."""


class OnnxLoadError(UserError):
    """The file is missing, unreadable or not a valid ONNX model."""


def label(name: str, op_type: str) -> str:
    return f"node {name!r} ({op_type})"


def refuse(op, message: str) -> UnsupportedGraph:
    """``raise refuse(op, "...")``: an error naming ``op`` (an ``Op`` or an ONNX NodeProto)."""
    name = getattr(op, "name", "?")
    kind = getattr(op, "onnx_op", "") or getattr(op, "op_type", "?")
    return UnsupportedGraph(f"{label(name, kind)}: {message}")
