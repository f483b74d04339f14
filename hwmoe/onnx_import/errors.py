"""The importer's errors: one line each, naming the ONNX node and what was expected."""
from __future__ import annotations


def one_line(text: str) -> str:
    return " ".join(str(text).split())


class UnsupportedGraph(ValueError):
    """The ONNX graph is valid but is not (exactly) a model the accelerator implements."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


class OnnxLoadError(ValueError):
    """The file is missing, unreadable or not a valid ONNX model."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


def label(name: str, op_type: str) -> str:
    return f"node {name!r} ({op_type})"


def refuse(op, message: str) -> UnsupportedGraph:
    """``raise refuse(op, "...")``: an error naming ``op`` (an ``Op`` or an ONNX NodeProto)."""
    name = getattr(op, "name", "?")
    kind = getattr(op, "onnx_op", "") or getattr(op, "op_type", "?")
    return UnsupportedGraph(f"{label(name, kind)}: {message}")
