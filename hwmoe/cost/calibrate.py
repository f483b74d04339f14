"""Calibrate the resource model on yosys: ``python -m hwmoe.cost.calibrate [--kernel K ...] [--fit-only]``.

For every registered kernel (hwmoe.kernels.registry) and every part of the accelerator's shell
(hwmoe.cost.shell: ``shell_dma``, ``shell_seq``, ``shell_ctrl``), synthesise each of its calibration points with
``yosys synth_xilinx -family xcup`` (seconds each; the DMA's one to a few minutes), record the counts in
``search/calibration/<name>.json``, fit LUT and FF (a shell part: also DSP and BRAM36) as non-negative linear
functions of its features and write the coefficients to ``hwmoe/cost/fitted.py``.  ``--fit-only`` refits from
the recorded data without running yosys.
"""
from __future__ import annotations

import argparse
import json
import pprint
from dataclasses import asdict
from pathlib import Path

from ..backends.rtl.yosys import synth
from ..kernels.registry import KERNELS
from ..paths import CALIBRATION_DIR
from .fit import fit_linear
from .shell import PARTS

#: what is calibrated: the kernels (LUT and FF fitted; DSP and BRAM36 structural) and the shell's parts (all fitted)
UNITS = {**KERNELS, **PARTS}
FITTED_KINDS = {name: ("lut", "ff", "dsp", "bram36") if name in PARTS else ("lut", "ff") for name in UNITS}

FITTED_PY = Path(__file__).resolve().parent / "fitted.py"


def run_points(kernel, log=print) -> list[dict]:
    rows = []
    for p in kernel.calibration_points():
        top, vparams, memories = kernel.synth_case(p)
        r = synth(top, vparams, memories, timeout=getattr(kernel, "synth_timeout", 300.0))
        rows.append({"params": asdict(p), "verilog": {k: v for k, v in vparams.items()}, **r})
        log(f"  {kernel.name} {vparams}: {r['counts']} ({r['seconds']} s)")
    return rows


def fit_kernel(kernel, rows: list[dict]) -> dict:
    feats = [kernel.features(kernel.params(**r["params"])) for r in rows]
    names = sorted({k for f in feats for k in f})
    return {kind: fit_linear(feats, [r["counts"][kind] for r in rows], names) for kind in FITTED_KINDS[kernel.name]}


def write_fitted(fits: dict) -> None:
    FITTED_PY.write_text('"""LUT/FF coefficients fitted on yosys runs.  Written by ``python -m '
                         'hwmoe.cost.calibrate``; do not edit."""\n'
                         f"FIT: dict = {pprint.pformat(fits, width=110, sort_dicts=True)}\n")


def load_rows(name: str, directory: Path = CALIBRATION_DIR) -> list[dict]:
    path = directory / f"{name}.json"
    return json.loads(path.read_text())["points"] if path.is_file() else []


def report(directory: Path = CALIBRATION_DIR) -> dict:
    """Per kernel and shell part: the worst relative error of LUT/FF and the worst absolute error of DSP/BRAM36
    of the model against every recorded point."""
    out = {}
    for name, kernel in UNITS.items():
        rows = load_rows(name, directory)
        if not rows:
            continue
        worst = {"lut": 0.0, "ff": 0.0, "dsp": 0.0, "bram36": 0.0}
        for r in rows:
            got = kernel.resources(kernel.params(**r["params"])).as_dict()
            for k in ("lut", "ff"):
                worst[k] = max(worst[k], abs(got[k] - r["counts"][k]) / max(r["counts"][k], 1.0))
            for k in ("dsp", "bram36"):
                worst[k] = max(worst[k], abs(got[k] - r["counts"][k]))
        out[name] = {"points": len(rows), "lut_rel": round(worst["lut"], 3), "ff_rel": round(worst["ff"], 3),
                     "dsp_abs": worst["dsp"], "bram36_abs": worst["bram36"]}
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m hwmoe.cost.calibrate", description=__doc__.splitlines()[0])
    ap.add_argument("--kernel", action="append", help="only this kernel or shell part (repeatable); default: all")
    ap.add_argument("--fit-only", action="store_true", help="refit from search/calibration/*.json")
    ap.add_argument("--out", type=Path, default=CALIBRATION_DIR)
    ap.add_argument("--report", action="store_true", help="print the model's worst errors on the recorded data")
    a = ap.parse_args(argv)
    if a.report:
        for name, r in report(a.out).items():
            print(f"{name:<10} {r}")
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    fits = {}
    for name, kernel in UNITS.items():
        if a.fit_only or (a.kernel and name not in a.kernel):
            rows = load_rows(name, a.out)
            if not rows:
                continue
        else:
            print(f"{name}: synthesising {len(kernel.calibration_points())} points")
            rows = run_points(kernel)
            (a.out / f"{name}.json").write_text(json.dumps(
                {"kernel": name, "tool": "yosys 0.23 synth_xilinx -family xcup -flatten", "points": rows},
                indent=1) + "\n")
        fits[name] = fit_kernel(kernel, rows)
        for kind, coef in fits[name].items():
            print(f"{name}: {kind.upper():<6} = {coef}")
    write_fitted(fits)
    print(f"wrote {FITTED_PY}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
