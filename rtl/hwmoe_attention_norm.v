// hwmoe_attention_norm: one lane of the output engine of hwmoe_attention: out = normalise(acc, l)
// (hwmoe.kernels.softmax.normalise): acc * r with r = RECIP[...] the U1.15 reciprocal of l's mantissa and p =
// msb(l), shifted right by V_FRAC + 15 + p - OUT_FRAC bits rounding half up (AP_RND; a negative shift is an
// exact left shift), then saturated to OUT_W bits (AP_SAT).
// Two register stages, both held while en is low: product register, then result register (latency 2).
//
// Parameters
//   ACC_W    : accumulator width (signed, 15 + V_FRAC fractional bits)
//   LP_W     : width of p
//   V_FRAC   : fractional bits of v
//   OUT_W    : output width (signed)
//   OUT_FRAC : output fractional bits
`default_nettype none
module hwmoe_attention_norm #(
    parameter integer ACC_W    = 40,
    parameter integer LP_W     = 5,
    parameter integer V_FRAC   = 12,
    parameter integer OUT_W    = 16,
    parameter integer OUT_FRAC = 12
) (
    input  wire                    clk,
    input  wire                    en,
    input  wire signed [ACC_W-1:0] acc,
    input  wire [15:0]             r,
    input  wire [LP_W-1:0]         p,
    output wire signed [OUT_W-1:0] y
);
    localparam integer BASE   = V_FRAC + 15 - OUT_FRAC;       // shift = BASE + p
    localparam integer LS     = (BASE < 0) ? -BASE : 0;        // constant left shift keeping the shift >= 0
    localparam integer OFS    = BASE + LS;                     // shift of the left-shifted product = OFS + p
    localparam integer SH_MAX = (1 << LP_W) - 1 + OFS;
    localparam integer SH_W   = $clog2(SH_MAX + 1);
    localparam integer PR_W   = ACC_W + 17;
    localparam integer X_W0   = PR_W + LS + 1;
    localparam integer X_W1   = (X_W0 > SH_MAX + 2) ? X_W0 : SH_MAX + 2;
    localparam integer X_W    = (X_W1 > OUT_W + 1) ? X_W1 : OUT_W + 1;
    localparam signed [X_W-1:0] MAXV = {{(X_W-OUT_W+1){1'b0}}, {(OUT_W-1){1'b1}}};
    localparam signed [X_W-1:0] MINV = ~MAXV;
    localparam integer OFS_V_I = OFS;
    localparam [SH_W-1:0] OFS_V = OFS_V_I[SH_W-1:0];

    reg signed [PR_W-1:0] prod;
    reg [LP_W-1:0]        p2;
    always @(posedge clk) begin
        if (en) begin
            prod <= acc * $signed({1'b0, r});
            p2   <= p;
        end
    end

    wire [SH_W-1:0] shift = {{(SH_W-LP_W){1'b0}}, p2} + OFS_V;
    wire signed [X_W-1:0] x    = {{(X_W-PR_W){prod[PR_W-1]}}, prod} <<< LS;
    wire signed [X_W-1:0] one  = {{(X_W-1){1'b0}}, 1'b1};
    wire signed [X_W-1:0] half = (shift == {SH_W{1'b0}}) ? {X_W{1'b0}} : (one <<< (shift - 1'b1));
    wire signed [X_W-1:0] rounded = (x + half) >>> shift;
    reg signed [OUT_W-1:0] y3;
    always @(posedge clk) begin
        if (en) y3 <= (rounded > MAXV) ? MAXV[OUT_W-1:0] : (rounded < MINV) ? MINV[OUT_W-1:0] : rounded[OUT_W-1:0];
    end
    assign y = y3;
endmodule
`default_nettype wire
