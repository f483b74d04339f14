// hwmoe_requant_rt: hwmoe_requant with the format as run-time inputs (docs/numerics.md section 3): shift the
// signed input right by `shift` bits rounding half up (AP_RND) -- a negative `shift` shifts left, exactly --
// then saturate to `width` signed bits (AP_SAT) and sign-extend the result to the OUT_W-bit port.
// Exact for every run-time value: right shifts beyond IN_W give 0 like any larger shift, and left shifts are
// clamped at OUT_W bits, where every non-zero word saturates already.  Purely combinational.
//
// Parameters (build time)
//   IN_W    : width of the signed input word
//   OUT_W   : width of the output port: the widest run-time `width`
//   SHIFT_B : width of the signed `shift` input
//   WIDTH_B : width of the unsigned `width` input (derived, do not override)
// Run-time inputs (held while a run uses them)
//   shift   : input fractional bits minus output fractional bits (signed, any value)
//   width   : output format width, 2 .. OUT_W
`default_nettype none
module hwmoe_requant_rt #(
    parameter integer IN_W    = 32,
    parameter integer OUT_W   = 16,
    parameter integer SHIFT_B = 10,
    // derived (do not override)
    parameter integer WIDTH_B = $clog2(OUT_W + 1)
) (
    input  wire signed [IN_W-1:0]    din,
    input  wire signed [SHIFT_B-1:0] shift,
    input  wire [WIDTH_B-1:0]        width,
    output wire signed [OUT_W-1:0]   dout
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (IN_W < 2 || OUT_W < 2 || SHIFT_B < 2) begin
            $error("hwmoe_requant_rt: IN_W = %0d, OUT_W = %0d, SHIFT_B = %0d: each needs at least 2 bits",
                   IN_W, OUT_W, SHIFT_B);
            $finish;
        end
    end
    localparam integer W     = IN_W + OUT_W + 1;              // the input shifted left by up to OUT_W, and a sign
    localparam integer AMT_W = $clog2(((IN_W > OUT_W) ? IN_W : OUT_W) + 1);
    localparam integer SH_W  = (SHIFT_B > 32) ? SHIFT_B : 32;
    localparam [AMT_W-1:0] RIGHT_MAX = IN_W[AMT_W-1:0];
    localparam [AMT_W-1:0] LEFT_MAX  = OUT_W[AMT_W-1:0];

    wire signed [SH_W-1:0] shift_x = {{(SH_W-SHIFT_B){shift[SHIFT_B-1]}}, shift};
    wire [AMT_W-1:0] right = (shift_x <= 0) ? {AMT_W{1'b0}} :
                             (shift_x >= $signed(IN_W)) ? RIGHT_MAX : shift_x[AMT_W-1:0];
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [SH_W-1:0] neg_shift = -shift_x;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [AMT_W-1:0] left = (shift_x >= 0) ? {AMT_W{1'b0}} :
                            (neg_shift >= $signed(OUT_W)) ? LEFT_MAX : neg_shift[AMT_W-1:0];

    wire signed [W-1:0] wide = {{(W-IN_W){din[IN_W-1]}}, din};
    wire signed [W-1:0] moved = wide <<< left;
    wire [W-1:0] half_u = ({{(W-1){1'b0}}, 1'b1} << right) >> 1;
    wire signed [W-1:0] shifted = (moved + $signed(half_u)) >>> right;
    wire [W-1:0] max_u = ({{(W-1){1'b0}}, 1'b1} << (width - 1'b1)) - 1'b1;
    wire signed [W-1:0] maxv = $signed(max_u);
    wire signed [W-1:0] minv = ~maxv;
    assign dout = (shifted > maxv) ? maxv[OUT_W-1:0] : (shifted < minv) ? minv[OUT_W-1:0] : shifted[OUT_W-1:0];
endmodule
`default_nettype wire
