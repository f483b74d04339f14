// hwmoe_requant_runtime: hwmoe_requant with its shift and its output width given at run time: cast a signed
// fixed-point word to another format as docs/numerics.md section 3 defines: shift right by `shift` bits
// rounding half up (AP_RND), a negative `shift` shifts left (exact), then saturate to `out_width` signed bits
// (AP_SAT); the result is sign-extended to OUT_W bits. Exact for every value of `shift`: a right shift by
// X_W or more gives 0 for every input, a left shift by OUT_W or more saturates every non-zero word, so both
// amounts are clamped there. Purely combinational.
// How, with no word wider than the input: AP_RND is floor(x / 2^s) + bit s-1 of x (the same as adding
// 2^(s-1) first); a left shift by L then fits out_width bits exactly when the rounded word fits out_width - L
// bits (its bits from out_width - L - 1 up all equal its sign; a word fits 0 or fewer bits only if it is 0),
// and only then are its low OUT_W bits shifted (an OUT_W-bit shifter); otherwise the word saturates by sign.
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
    localparam integer X_W = (IN_W > OUT_W) ? IN_W : OUT_W;        // the word, sign-extended
    localparam integer R_B = $clog2(X_W + 1);                       // right shift 0 .. X_W
    localparam integer L_B = WIDTH_B;                               // left shift 0 .. OUT_W
    localparam integer A_B = ((SHIFT_B > R_B) ? SHIFT_B : R_B) + 1; // compares shift with both clamps
    localparam integer K_B = L_B + 2;                               // out_width - left, signed
    localparam integer X_I = X_W, OUT_I = OUT_W;
    localparam signed [A_B-1:0] X_A   = X_I[A_B-1:0];
    localparam signed [A_B-1:0] OUT_A = OUT_I[A_B-1:0];

    // clamped shift amounts
    wire signed [A_B-1:0] s     = {{(A_B-SHIFT_B){shift[SHIFT_B-1]}}, shift};
    wire signed [A_B-1:0] s_neg = -s;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [A_B-1:0] right_a = (s <= 0) ? {A_B{1'b0}} : (s >= X_A) ? X_A : s;
    wire [A_B-1:0] left_a  = (s >= 0) ? {A_B{1'b0}} : (s_neg >= OUT_A) ? OUT_A : s_neg;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [R_B-1:0] right = right_a[R_B-1:0];
    wire [L_B-1:0] left  = left_a[L_B-1:0];

    // AP_RND right shift: floor(x / 2^(right-1)), then halve and add the bit shifted out last
    wire signed [X_W-1:0] x       = {{(X_W-IN_W){din[IN_W-1]}}, din};
    wire [R_B-1:0]        right_1 = right - 1'b1;
    wire signed [X_W-1:0] part    = x >>> right_1;
    wire signed [X_W-1:0] halved  = part >>> 1;
    wire signed [X_W-1:0] rounded = (right == {R_B{1'b0}}) ? x : halved + $signed({{(X_W-1){1'b0}}, part[0]});

    // saturation: does rounded * 2^left fit out_width bits, i.e. rounded fit k = out_width - left bits?
    wire signed [K_B-1:0] k      = $signed({2'b00, out_width}) - $signed({{(K_B-L_B){1'b0}}, left});
    wire                  k_pos  = (k > 0);
    wire [K_B-1:0]        k_1    = k - 1'b1;
    wire [X_W-1:0]        mask   = k_pos ? ({X_W{1'b1}} << k_1) : {X_W{1'b1}};  // bits that must equal the sign
    wire [X_W-1:0]        top    = rounded & mask;
    wire                  fits   = (top == {X_W{1'b0}}) || (k_pos && top == mask);
    wire [OUT_W-1:0]      low    = rounded[OUT_W-1:0] << left;
    wire [OUT_W-1:0]      min_w  = {OUT_W{1'b1}} << (out_width - 1'b1);           // -2^(out_width-1)
    assign dout = fits ? low : rounded[X_W-1] ? min_w : ~min_w;
endmodule
`default_nettype wire
