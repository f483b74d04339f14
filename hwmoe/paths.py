"""Where the repository's non-Python sources live (the package sits beside them: an editable install), and
hwmoe's cache outside the repository."""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RTL_DIR = REPO / "rtl"
HLS_DIR = REPO / "hls"
SIM_DIR = REPO / "sim"
BOARDS_DIR = REPO / "boards"
CALIBRATION_DIR = REPO / "search" / "calibration"


def cache_dir() -> Path:
    """hwmoe's cache (simulation builds): $HWMOE_CACHE, else $XDG_CACHE_HOME/hwmoe, else ~/.cache/hwmoe."""
    if os.environ.get("HWMOE_CACHE"):
        return Path(os.environ["HWMOE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hwmoe"
