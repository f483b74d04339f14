"""Integer helpers shared by the cycle formulas, the resource models and the test-data layouts."""
from __future__ import annotations


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for integers (b > 0), exact for any size."""
    return -(-int(a) // int(b))


def clog2(n: int) -> int:
    """Verilog's $clog2: bits needed to index ``n`` items (0 for n <= 1)."""
    return max(0, (int(n) - 1).bit_length())
