"""A driver session's accesses as JSON: every backend operation in order with its arguments and its result.

Why: the simulation records what the driver did against the RTL; replaying that record against a board
backend (tests/test_driver.py: stand-ins for ``pynq`` and ``pyxrt`` that check each access and answer with the
recorded value) shows that the board backend issues the very same accesses and that the driver's result is
the simulation's.
Bytes written are kept as their length and SHA-256, bytes read as hex (the replay must return them)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .core import Op

FORMAT = 1


def _arg(value):
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
    return value


def entry(op: Op, result=None) -> dict:
    """One operation as JSON (the result left out when there is none)."""
    out = {"op": op.name, "args": [_arg(a) for a in op.args]}
    if isinstance(result, (bytes, bytearray)):
        out["result"] = {"hex": bytes(result).hex()}
    elif result is not None:
        out["result"] = int(result)
    return out


class Trace:
    """Records operations (``drive``/``run``'s ``trace``)."""

    def __init__(self, entries: list | None = None):
        self.entries = list(entries or [])

    def record(self, op: Op, result) -> None:
        self.entries.append(entry(op, result))

    def save(self, path) -> None:
        Path(path).write_text(json.dumps({"format": FORMAT, "ops": self.entries}, indent=0) + "\n")

    @classmethod
    def load(cls, path) -> "Trace":
        data = json.loads(Path(path).read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: trace format {data.get('format')!r}, expected {FORMAT}")
        return cls(data["ops"])

