"""hwmoe_requant_runtime against hwmoe.numerics.fixed.requant, exhaustively on small words: every input word,
every value of the signed shift input (right shifts with AP_RND rounding, left shifts, both beyond the word)
and every run-time output width, once with the input wider than the output port and once narrower.
Combinational: an Icarus sweep printing one line per combination, no streams."""

import numpy as np
import pytest

from hwmoe.numerics.fixed import Fmt, requant
from sweep import run_sweep

SHIFT_B = 6


def sweep_bench(in_w: int, out_w: int) -> str:
    width_b = out_w.bit_length()
    return f"""
module tb;
    reg signed [{in_w - 1}:0] din;
    reg signed [{SHIFT_B - 1}:0] shift;
    reg [{width_b - 1}:0] out_width;
    wire signed [{out_w - 1}:0] dout;
    hwmoe_requant_runtime #(.IN_W({in_w}), .OUT_W({out_w}), .SHIFT_B({SHIFT_B})) dut (
        .din(din), .shift(shift), .out_width(out_width), .dout(dout));
    integer x, s, w;
    initial begin
        for (x = {-(1 << (in_w - 1))}; x < {1 << (in_w - 1)}; x = x + 1)
            for (s = {-(1 << (SHIFT_B - 1))}; s < {1 << (SHIFT_B - 1)}; s = s + 1)
                for (w = 2; w <= {out_w}; w = w + 1) begin
                    din = x; shift = s; out_width = w; #1;
                    $display("%0d %0d %0d %0d", x, s, w, dout);
                end
        $finish;
    end
endmodule
"""


@pytest.mark.parametrize("in_w,out_w", [(9, 6), (4, 8)])
def test_requant_runtime_exhaustive(in_w, out_w, tmp_path):
    out = run_sweep(sweep_bench(in_w, out_w), "hwmoe_requant_runtime", tmp_path)
    rows = np.array([line.split() for line in out.splitlines() if line and line[0] in "-0123456789"],
                    dtype=np.int64)
    assert len(rows) == (1 << in_w) * (1 << SHIFT_B) * (out_w - 1)
    x, shift, width, got = rows.T
    frac_out = 2 * out_w                       # any output fraction: only frac_in - frac_out = shift matters
    for w in range(2, out_w + 1):
        for s in range(-(1 << (SHIFT_B - 1)), 1 << (SHIFT_B - 1)):
            sel = (width == w) & (shift == s)
            want = requant(x[sel], frac_out + s, Fmt.from_frac(w, frac_out))
            assert np.array_equal(got[sel], want), f"IN_W {in_w} OUT_W {out_w} width {w} shift {s}"
