// hwmoe_add_lane: one lane of the add engine, y = requant(a * 2^a_shift + b * 2^b_shift) with the requant's
// shift and saturation bound given at run time (docs/numerics.md section 3: AP_RND, then AP_SAT).
// Two register stages, both enabled by `en`: the aligned sum, then the rounded, shifted, saturated word.
//
// Parameters
//   A_W, B_W  : widths of the signed operands
//   OUT_W     : width of the signed result word
//   ALIGN_MAX : largest alignment shift of an operand (a_shift, b_shift <= ALIGN_MAX)
//   S_W, SH_W, R_W, L_W : derived widths (sum, alignment shift, right shift, left shift): do not override
//
// Ports
//   clk, en            : clock and register enable (the pipeline advances)
//   a, b               : the operands
//   a_shift, b_shift   : left shifts aligning a and b to the common fractional bits (<= ALIGN_MAX)
//   right              : right shift of the sum with AP_RND rounding (0 .. S_W; S_W gives 0 for every sum)
//   left               : left shift of the sum (0 .. OUT_W; OUT_W saturates every non-zero sum)
//   sat_max            : the largest result, 2^(w-1) - 1 for a run-time output width w <= OUT_W
//   y                  : the result, sign-extended to OUT_W bits
`default_nettype none
module hwmoe_add_lane #(
    parameter integer A_W       = 32,
    parameter integer B_W       = 32,
    parameter integer OUT_W     = 32,
    parameter integer ALIGN_MAX = 16,
    parameter integer S_W       = (A_W > B_W ? A_W : B_W) + ALIGN_MAX + 1,
    parameter integer SH_W      = ALIGN_MAX > 0 ? $clog2(ALIGN_MAX + 1) : 1,
    parameter integer R_W       = $clog2(S_W + 1),
    parameter integer L_W       = $clog2(OUT_W + 1)
) (
    input  wire                    clk,
    input  wire                    en,
    input  wire signed [A_W-1:0]   a,
    input  wire signed [B_W-1:0]   b,
    input  wire [SH_W-1:0]         a_shift,
    input  wire [SH_W-1:0]         b_shift,
    input  wire [R_W-1:0]          right,
    input  wire [L_W-1:0]          left,
    input  wire [OUT_W-1:0]        sat_max,
    output reg  signed [OUT_W-1:0] y
);
    localparam integer T_W = S_W + 1 + OUT_W;          // the sum after rounding and a left shift

    wire signed [S_W-1:0] a_wide = {{(S_W-A_W){a[A_W-1]}}, a};
    wire signed [S_W-1:0] b_wide = {{(S_W-B_W){b[B_W-1]}}, b};
    reg  signed [S_W-1:0] sum;          // |a|, |b| <= 2^(S_W-2) after alignment: the sum cannot overflow
    always @(posedge clk) begin
        if (en) sum <= (a_wide <<< a_shift) + (b_wide <<< b_shift);
    end

    wire signed [S_W:0]   sum_wide = {sum[S_W-1], sum};
    wire        [S_W:0]   half     = {{S_W{1'b0}}, 1'b1} << right >> 1;   // 2^(right-1), 0 for right = 0
    wire signed [S_W:0]   rounded  = (sum_wide + $signed(half)) >>> right;
    wire signed [T_W-1:0] shifted  = {{OUT_W{rounded[S_W]}}, rounded} <<< left;
    wire signed [T_W-1:0] max_wide = {{(T_W-OUT_W){1'b0}}, sat_max};
    wire signed [T_W-1:0] min_wide = ~max_wide;
    always @(posedge clk) begin
        if (en) y <= (shifted > max_wide) ? max_wide[OUT_W-1:0] :
                     (shifted < min_wide) ? min_wide[OUT_W-1:0] : shifted[OUT_W-1:0];
    end
endmodule
`default_nettype wire
