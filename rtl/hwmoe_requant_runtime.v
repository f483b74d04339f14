// hwmoe_requant_runtime: hwmoe_requant with its shift and its output width given at run time: cast a signed
// fixed-point word to another format as docs/numerics.md section 3 defines: shift right by `shift` bits
// rounding half up (AP_RND: add 2^(shift-1), then arithmetic shift), a negative `shift` shifts left
// (exact), then saturate to `out_width` signed bits (AP_SAT); the result is sign-extended to OUT_W bits.
// Exact for every value of `shift`: a right shift by IN_W or more gives 0 for every input, a left shift by
// OUT_W or more saturates every non-zero word, so both amounts are clamped there and nothing wider is built.
// Purely combinational.
//
// Parameters
//   IN_W    : width of the signed input word
//   OUT_W   : width of the output port, the largest run-time output width
//   SHIFT_B : width of the signed `shift` input
//   WIDTH_B : width of `out_width` (derived: do not override)
//
// Ports
//   din       : the input word (signed)
//   shift     : input fractional bits minus output fractional bits (signed, any value)
//   out_width : the output format's width, 2 .. OUT_W
//   dout      : the result (signed), sign-extended from out_width to OUT_W bits
`default_nettype none
module hwmoe_requant_runtime #(
    parameter integer IN_W    = 32,
    parameter integer OUT_W   = 16,
    parameter integer SHIFT_B = 8,
    parameter integer WIDTH_B = $clog2(OUT_W + 1)
) (
    input  wire signed [IN_W-1:0]    din,
    input  wire signed [SHIFT_B-1:0] shift,
    input  wire [WIDTH_B-1:0]        out_width,
    output wire signed [OUT_W-1:0]   dout
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (IN_W < 1 || OUT_W < 2 || SHIFT_B < 2) begin
            $error("hwmoe_requant_runtime: IN_W, OUT_W, SHIFT_B = %0d, %0d, %0d: need IN_W >= 1, OUT_W >= 2, SHIFT_B >= 2",
                   IN_W, OUT_W, SHIFT_B);
            $finish;
        end
    end
    localparam integer R_B = $clog2(IN_W + 1);          // right shift 0 .. IN_W
    localparam integer L_B = $clog2(OUT_W + 1);         // left shift 0 .. OUT_W
    localparam integer A_B = (SHIFT_B > R_B ? SHIFT_B : R_B) + 1;   // compares shift with both clamps
    localparam integer W   = IN_W + 1;                  // din + 2^(right-1) never overflows W bits
    localparam integer T_W = W + OUT_W;                 // after the largest left shift
    localparam integer IN_I = IN_W, OUT_I = OUT_W;
    localparam signed [A_B-1:0] IN_A  = IN_I[A_B-1:0];
    localparam signed [A_B-1:0] OUT_A = OUT_I[A_B-1:0];

    wire signed [A_B-1:0] s     = {{(A_B-SHIFT_B){shift[SHIFT_B-1]}}, shift};
    wire signed [A_B-1:0] s_neg = -s;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [A_B-1:0] right_a = (s <= 0) ? {A_B{1'b0}} : (s >= IN_A) ? IN_A : s;
    wire [A_B-1:0] left_a  = (s >= 0) ? {A_B{1'b0}} : (s_neg >= OUT_A) ? OUT_A : s_neg;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [R_B-1:0] right = right_a[R_B-1:0];
    wire [L_B-1:0] left  = left_a[L_B-1:0];

    wire signed [W-1:0]   wide    = {{(W-IN_W){din[IN_W-1]}}, din};
    wire        [W-1:0]   half    = {{(W-1){1'b0}}, 1'b1} << right >> 1;   // 2^(right-1), 0 for right = 0
    wire signed [W-1:0]   rounded = (wide + $signed(half)) >>> right;
    wire signed [T_W-1:0] shifted = {{OUT_W{rounded[W-1]}}, rounded} <<< left;
    wire        [T_W-1:0] one     = {{(T_W-1){1'b0}}, 1'b1};
    wire signed [T_W-1:0] maxv    = $signed((one << (out_width - 1'b1)) - one);   // 2^(out_width-1) - 1
    wire signed [T_W-1:0] minv    = ~maxv;
    assign dout = (shifted > maxv) ? maxv[OUT_W-1:0] : (shifted < minv) ? minv[OUT_W-1:0] : shifted[OUT_W-1:0];
endmodule
`default_nettype wire
