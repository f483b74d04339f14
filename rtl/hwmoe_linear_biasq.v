// hwmoe_linear_biasq: output cast of the linear kernel at run-time formats: acc + bias aligned to the
// accumulator's fractional bits (exact left shift, or AP_RND right shift when the bias has more fractional
// bits, as hwmoe.numerics.fixed.align), then one AP_RND + AP_SAT cast to the run-time output format
// (docs/numerics.md section 3). Both casts are hwmoe_requant_runtime. Combinational.
//
// Parameters
//   ACC_W    : accumulator width (signed)
//   B_W      : bias width (signed)
//   BSH_MAX  : largest left shift of a bias (accumulator frac - bias frac) any run uses
//   OUT_W    : output port width, the widest run-time output format (values sign-extended)
//   SH_B     : width of the signed shift inputs
//
// Ports
//   b_shift   : bias frac - accumulator frac (negative: the bias is shifted left, down to -BSH_MAX)
//   q_shift   : accumulator frac - output frac
//   q_width   : the output format's width, 2 .. OUT_W
`default_nettype none
module hwmoe_linear_biasq #(
    parameter integer ACC_W   = 40,
    parameter integer B_W     = 16,
    parameter integer BSH_MAX = 16,
    parameter integer OUT_W   = 16,
    parameter integer SH_B    = 10,
    parameter integer QW_B    = $clog2(OUT_W + 1)
) (
    input  wire signed [ACC_W-1:0] acc,
    input  wire signed [B_W-1:0]   bias,
    input  wire signed [SH_B-1:0]  b_shift,
    input  wire signed [SH_B-1:0]  q_shift,
    input  wire [QW_B-1:0]         q_width,
    output wire signed [OUT_W-1:0] dout
);
    localparam integer BA_W = B_W + BSH_MAX;                   // an aligned bias, exactly
    localparam integer S_W  = ((ACC_W > BA_W) ? ACC_W : BA_W) + 1;
    localparam integer BA_I = BA_W;
    localparam integer BAW_B = $clog2(BA_W + 1);
    localparam [BAW_B-1:0] BA_WIDTH = BA_I[BAW_B-1:0];

    wire signed [BA_W-1:0] bal;
    hwmoe_requant_runtime #(.IN_W(B_W), .OUT_W(BA_W), .SHIFT_B(SH_B)) u_align (
        .din(bias), .shift(b_shift), .out_width(BA_WIDTH), .dout(bal));
    wire signed [S_W-1:0] sum = {{(S_W-ACC_W){acc[ACC_W-1]}}, acc} + {{(S_W-BA_W){bal[BA_W-1]}}, bal};
    hwmoe_requant_runtime #(.IN_W(S_W), .OUT_W(OUT_W), .SHIFT_B(SH_B)) u_requant (
        .din(sum), .shift(q_shift), .out_width(q_width), .dout(dout));
endmodule
`default_nettype wire
