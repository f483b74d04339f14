// hwmoe_add_lane: one lane of the add engine, y = requant(a * 2^a_shift + b * 2^b_shift) with the requant's
// shift and output width given at run time (hwmoe_requant_runtime: AP_RND, then AP_SAT; docs/numerics.md
// section 3).  Two register stages, both enabled by `en`: the aligned sum, then the requantised word.
//
// Parameters
//   A_W, B_W  : widths of the signed operands
//   OUT_W     : width of the signed result word (the widest run-time out_width)
//   ALIGN_MAX : largest alignment shift of an operand (a_shift, b_shift <= ALIGN_MAX)
//   SHIFT_B   : width of the signed requant shift
//   S_W, SH_W, WIDTH_B : derived widths (sum, alignment shift, out_width): do not override
//
// Ports
//   clk, en            : clock and register enable (the pipeline advances)
//   a, b               : the operands
//   a_shift, b_shift   : left shifts aligning a and b to the common fractional bits (<= ALIGN_MAX)
//   shift              : the sum's fractional bits minus the result's (signed: > 0 rounds right, < 0 left)
//   out_width          : the result's run-time width, 2 .. OUT_W
//   y                  : the result, sign-extended to OUT_W bits
`default_nettype none
module hwmoe_add_lane #(
    parameter integer A_W       = 32,
    parameter integer B_W       = 32,
    parameter integer OUT_W     = 32,
    parameter integer ALIGN_MAX = 16,
    parameter integer SHIFT_B   = 10,
    parameter integer S_W       = (A_W > B_W ? A_W : B_W) + ALIGN_MAX + 1,
    parameter integer SH_W      = ALIGN_MAX > 0 ? $clog2(ALIGN_MAX + 1) : 1,
    parameter integer WIDTH_B   = $clog2(OUT_W + 1)
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [A_W-1:0]    a,
    input  wire signed [B_W-1:0]    b,
    input  wire [SH_W-1:0]          a_shift,
    input  wire [SH_W-1:0]          b_shift,
    input  wire signed [SHIFT_B-1:0] shift,
    input  wire [WIDTH_B-1:0]       out_width,
    output reg  signed [OUT_W-1:0]  y
);
    wire signed [S_W-1:0] a_wide = {{(S_W-A_W){a[A_W-1]}}, a};
    wire signed [S_W-1:0] b_wide = {{(S_W-B_W){b[B_W-1]}}, b};
    reg  signed [S_W-1:0] sum;          // |a|, |b| <= 2^(S_W-2) after alignment: the sum cannot overflow
    always @(posedge clk) begin
        if (en) sum <= (a_wide <<< a_shift) + (b_wide <<< b_shift);
    end

    wire signed [OUT_W-1:0] requantised;
    hwmoe_requant_runtime #(.IN_W(S_W), .OUT_W(OUT_W), .SHIFT_B(SHIFT_B)) u_requant (
        .din(sum), .shift(shift), .out_width(out_width), .dout(requantised));
    always @(posedge clk) begin
        if (en) y <= requantised;
    end
endmodule
`default_nettype wire
