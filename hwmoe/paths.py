"""Where the repository's non-Python sources live (the package sits beside them: an editable install)."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RTL_DIR = REPO / "rtl"
HLS_DIR = REPO / "hls"
SIM_DIR = REPO / "sim"
BOARDS_DIR = REPO / "boards"
CALIBRATION_DIR = REPO / "search" / "calibration"
