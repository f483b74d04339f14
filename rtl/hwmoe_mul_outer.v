// hwmoe_mul_outer: the outer product p[i][j] = a[i] * b[j] of N_A signed A_W-bit words by N_B signed B_W-bit
// words, registered once (the multiplier output), exact. One input column of a MAC array: the N_PE lanes'
// activations (a) times the T_OUT weights of the tile column (b).
//
// When A_W <= 8 and B_W <= 8 two products that share a[i] come from ONE multiplication (two MACs per DSP
// slice, docs/numerics.md §3): the pair b[2k], b[2k+1] is packed as Q = b[2k] + b[2k+1] * 2^S with
// S = A_W + B_W, and M = a[i] * Q = a*b[2k] + a*b[2k+1] * 2^S (a signed (B_W+S+1) x A_W product: 25 x 8 at
// w8a8, one DSP48E2 27x18 or one DSP48E1 25x18). Each product fits S bits signed (|a*b| <= 2^(S-2)), so the
// low field, M[S-1:0] sign-extended, is a*b[2k]; the high product is (M - low) / 2^S = M[2S-1:S] + M[S-1]
// modulo 2^S: the low field's sign borrowed one from the high field and the correction adds it back. The
// split is exact for every input, every cycle, before any accumulation. With odd N_B the last b[j] is
// multiplied alone. Wider words are multiplied one product per multiplier.
//
// Parameters: A_W, B_W : word widths (signed); N_A, N_B : words of a and b
// Ports: a (word i in bits [i*A_W +: A_W]), b (word j in [j*B_W +: B_W]); p: a[i]*b[j] in bits
//   [(i*N_B+j)*(A_W+B_W) +: A_W+B_W], one clock after a and b
`default_nettype none
module hwmoe_mul_outer #(
    parameter integer A_W = 8,
    parameter integer B_W = 8,
    parameter integer N_A = 1,
    parameter integer N_B = 2
) (
    input  wire                           clk,
    input  wire [N_A*A_W-1:0]             a,
    input  wire [N_B*B_W-1:0]             b,
    output wire [N_A*N_B*(A_W+B_W)-1:0]   p
);
    localparam integer S     = A_W + B_W;                        // product width = field distance
    localparam integer PAIRS = (A_W <= 8 && B_W <= 8) ? N_B / 2 : 0;   // packed pairs
    localparam integer Q_W   = B_W + S + 1;                      // packed pair, signed
    genvar i, k, j;
    generate
        for (k = 0; k < PAIRS; k = k + 1) begin : g_pair
            wire signed [B_W-1:0] b_lo = b[(2*k)*B_W +: B_W];
            wire signed [B_W-1:0] b_hi = b[(2*k+1)*B_W +: B_W];
            wire signed [Q_W-1:0] q = {b_hi[B_W-1], b_hi, {S{1'b0}}} + {{(S+1){b_lo[B_W-1]}}, b_lo};
            for (i = 0; i < N_A; i = i + 1) begin : g_a
                wire signed [A_W-1:0] ai = a[i*A_W +: A_W];
                // the low 2S bits of a * q (exact modulo 2^(2S): all the split reads)
                wire signed [A_W+Q_W-1:0] m_full = ai * q;
                reg  [2*S-1:0] m;
                always @(posedge clk) m <= m_full[2*S-1:0];
                assign p[(i*N_B+2*k)*S +: S]   = m[S-1:0];
                assign p[(i*N_B+2*k+1)*S +: S] = m[2*S-1:S] + {{(S-1){1'b0}}, m[S-1]};
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hi = &{1'b0, m_full[A_W+Q_W-1:2*S]};
                /* verilator lint_on UNUSEDSIGNAL */
            end
        end
        for (j = 2 * PAIRS; j < N_B; j = j + 1) begin : g_one
            for (i = 0; i < N_A; i = i + 1) begin : g_a
                reg signed [S-1:0] m;
                always @(posedge clk) m <= $signed(a[i*A_W +: A_W]) * $signed(b[j*B_W +: B_W]);
                assign p[(i*N_B+j)*S +: S] = m;
            end
        end
    endgenerate
endmodule
`default_nettype wire
