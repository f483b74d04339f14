"""A kernel top's Verilog sources: its file list ``rtl/<top>.f``, one path per line relative to ``rtl/``, the
modules it instantiates first (leaves before their users) and the top last.  Simulation, lint and synthesis
all read a top's sources here, so a list is written once, beside the RTL it names."""
from __future__ import annotations

from pathlib import Path

from ...paths import RTL_DIR


def list_path(top: str) -> Path:
    return RTL_DIR / f"{top}.f"


def tops() -> list[str]:
    """Every module that has a file list (the kernel tops and the units simulated alone)."""
    return sorted(p.stem for p in RTL_DIR.glob("*.f"))


def sources(top: str) -> list[Path]:
    """Absolute paths of ``top``'s sources in the order of its file list (the top last)."""
    path = list_path(top)
    if not path.is_file():
        raise FileNotFoundError(f"no file list for {top}: expected {path}")
    return [RTL_DIR / line.strip() for line in path.read_text().splitlines() if line.strip()]
