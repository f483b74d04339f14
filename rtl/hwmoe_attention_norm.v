// hwmoe_attention_norm: one lane of the output engine of hwmoe_attention: out = normalise(acc, l)
// (hwmoe.numerics.softmax.normalise): acc * r with r = RECIP[...] the U1.15 reciprocal of l's mantissa and p =
// msb(l), shifted right by v_frac + 15 + p - out_frac bits rounding half up (AP_RND; a negative shift is an
// exact left shift), then saturated to out_width bits (AP_SAT) and sign-extended to OUT_W bits
// (hwmoe_requant_runtime). The formats are run-time inputs: base_shift = v_frac + 15 - out_frac.
// Two register stages, both held while en is low: product register, then result register (latency 2).
//
// Parameters
//   ACC_W   : accumulator width (signed, 15 + v_frac fractional bits)
//   LP_W    : width of p
//   OUT_W   : output port width, the largest run-time output width (signed)
//   BASE_B  : width of the signed base_shift
//   WIDTH_B : width of out_width (derived: do not override)
`default_nettype none
module hwmoe_attention_norm #(
    parameter integer ACC_W   = 40,
    parameter integer LP_W    = 5,
    parameter integer OUT_W   = 16,
    parameter integer BASE_B  = 8,
    parameter integer WIDTH_B = $clog2(OUT_W + 1)
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [ACC_W-1:0]  acc,
    input  wire [15:0]              r,
    input  wire [LP_W-1:0]          p,
    input  wire signed [BASE_B-1:0] base_shift,
    input  wire [WIDTH_B-1:0]       out_width,
    output wire signed [OUT_W-1:0]  y
);
    localparam integer PR_W = ACC_W + 17;
    localparam integer SH_B = ((BASE_B > LP_W) ? BASE_B : LP_W) + 2;   // base_shift + p, signed

    reg signed [PR_W-1:0] prod;
    reg [LP_W-1:0]        p2;
    always @(posedge clk) begin
        if (en) begin
            prod <= acc * $signed({1'b0, r});
            p2   <= p;
        end
    end

    wire signed [SH_B-1:0] shift = {{(SH_B-BASE_B){base_shift[BASE_B-1]}}, base_shift} +
                                   $signed({{(SH_B-LP_W){1'b0}}, p2});
    wire signed [OUT_W-1:0] y_next;
    hwmoe_requant_runtime #(.IN_W(PR_W), .OUT_W(OUT_W), .SHIFT_B(SH_B)) u_requant (
        .din(prod), .shift(shift), .out_width(out_width), .dout(y_next));
    reg signed [OUT_W-1:0] y3;
    always @(posedge clk) begin
        if (en) y3 <= y_next;
    end
    assign y = y3;
endmodule
`default_nettype wire
