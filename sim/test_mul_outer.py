"""hwmoe_mul_outer (the MAC arrays' multipliers) against NumPy's products.

8 bits (packed, two products per multiplier): every pair of words (a, b), with b in the low field of a packed
pair and in the high field, each beside the partners -128, 127, 0, -1 and a pseudo-random word, under two
shared operands (a and ~a), plus an unpaired column (odd N_B). 16 bits (one product per multiplier): the same
on a grid of 52 words per operand (every 1285th word from the most negative, both ends included).
An Icarus sweep prints {p, b, a} in hex once per cycle; NumPy unpacks and compares every product."""

import numpy as np
import pytest

from sweep import run_sweep

N_A = 2
PARTNERS = 5                  # the corners and one pseudo-random word
N_B = 4 * PARTNERS + 1        # pairs (b, partner), pairs (partner, b), one unpaired b


def sweep_bench(width: int, step: int) -> str:
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    corners = [lo, hi, 0, -1]
    lanes = []                                     # b lanes, lane 0 first
    for k in range(PARTNERS):
        lanes += ["y", f"c{k}"]
    for k in range(PARTNERS):
        lanes += [f"c{k}", "y"]
    lanes.append("y")
    return f"""
module tb;
    reg clk = 0;
    reg signed [{width - 1}:0] x, y, c0, c1, c2, c3, c4;
    wire [{N_A * width - 1}:0] a = {{~x, x}};
    wire [{N_B * width - 1}:0] b = {{{', '.join(reversed(lanes))}}};
    wire [{N_A * N_B * 2 * width - 1}:0] p;
    hwmoe_mul_outer #(.A_W({width}), .B_W({width}), .N_A({N_A}), .N_B({N_B})) dut (
        .clk(clk), .a(a), .b(b), .p(p));
    integer i, j;
    initial begin
        {" ".join(f"c{k} = {v};" for k, v in enumerate(corners))}
        for (i = {lo}; i <= {hi}; i = i + {step})
            for (j = {lo}; j <= {hi}; j = j + {step}) begin
                x = i; y = j; c4 = i * 37 + j * 101 + 59;
                #1 clk = 1; #1 clk = 0;
                $display("%h", {{p, b, a}});
            end
        $finish;
    end
endmodule
"""


@pytest.mark.parametrize("width,step", [(8, 1), (16, 1285)])
def test_mul_outer_products(width, step, tmp_path):
    out = run_sweep(sweep_bench(width, step), "hwmoe_mul_outer", tmp_path)
    lines = [ln for ln in out.split() if ln[0] in "0123456789abcdef"]
    grid = len(range(-(1 << (width - 1)), 1 << (width - 1), step))
    assert len(lines) == grid * grid
    # each line is one big-endian word {p, b, a}: reverse the bytes, then every field is a whole number of
    # bytes, a and b signed width-bit words, the products signed 2*width-bit words, lane 0 first
    raw = np.frombuffer(bytes.fromhex("".join(lines)), np.uint8).reshape(len(lines), -1)[:, ::-1]
    nab = (N_A + N_B) * width // 8
    word, prod = np.dtype(f"<i{width // 8}"), np.dtype(f"<i{width // 4}")
    ab = np.ascontiguousarray(raw[:, :nab]).view(word).astype(np.int64)
    got = np.ascontiguousarray(raw[:, nab:]).view(prod).astype(np.int64)
    a, b = ab[:, :N_A], ab[:, N_A:]
    assert {-(1 << (width - 1)), (1 << (width - 1)) - 1} <= set(a[:, 0]) and len(set(b[:, -1])) == grid
    want = (a[:, :, None] * b[:, None, :]).reshape(len(lines), N_A * N_B)
    bad = np.nonzero((got != want).any(axis=1))[0]
    assert not len(bad), f"a {a[bad[0]]} b {b[bad[0]]}: got {got[bad[0]]}, want {want[bad[0]]}"
