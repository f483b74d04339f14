"""Exhaustive unit sweeps of small combinational modules: a generated Verilog bench prints one line per
input combination; Icarus runs it beside the module, and the test compares the lines with NumPy."""
import subprocess
from pathlib import Path

from hwmoe.paths import RTL_DIR


def run_sweep(bench: str, module: str, work: Path) -> str:
    """Compile ``bench`` (Verilog text) with ``rtl/<module>.v`` in ``work`` and return what it prints."""
    (work / "tb.v").write_text(bench)
    subprocess.run(["iverilog", "-g2012", "-o", str(work / "sim.vvp"), str(work / "tb.v"),
                    str(RTL_DIR / f"{module}.v")], check=True, capture_output=True, text=True)
    return subprocess.run(["vvp", "-n", str(work / "sim.vvp")], check=True, capture_output=True, text=True).stdout
