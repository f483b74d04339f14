#!/usr/bin/env python3
"""Regenerate the resource calibration: synthesise every kernel's calibration points with yosys
(``synth_xilinx -family xcup``), write search/calibration/<kernel>.json and refit hwmoe/cost/fitted.py.

    .venv/bin/python search/calibrate_resources.py            # all kernels with RTL (a few minutes)
    .venv/bin/python search/calibrate_resources.py --fit-only # refit from the recorded JSON
    .venv/bin/python search/calibrate_resources.py --kernel linear
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hwmoe.cost.calibrate import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
