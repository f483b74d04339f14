"""Cost model: cycles (the kernels' own formulas), resources calibrated on yosys, memory traffic, schedule."""
from .usage import Usage

__all__ = ["Usage"]
