// hwmoe_requant: cast a signed fixed-point word to a narrower one, as docs/numerics.md section 3 defines:
// shift right by SHIFT bits rounding half up (AP_RND), then saturate to OUT_W signed bits (AP_SAT).
// A negative SHIFT shifts left (exact). Purely combinational.
//
// Parameters
//   IN_W  : width of the signed input word
//   SHIFT : input fractional bits minus output fractional bits (may be negative)
//   OUT_W : width of the signed output word
`default_nettype none
module hwmoe_requant #(
    parameter integer IN_W  = 32,
    parameter integer SHIFT = 8,
    parameter integer OUT_W = 16
) (
    input  wire signed [IN_W-1:0]  din,
    output wire signed [OUT_W-1:0] dout
);
    localparam integer LEFT = (SHIFT < 0) ? -SHIFT : 0;
    localparam integer W    = IN_W + 1 + LEFT;
    localparam signed [W-1:0] MAXV = {{(W-OUT_W+1){1'b0}}, {(OUT_W-1){1'b1}}};
    localparam signed [W-1:0] MINV = ~MAXV;

    wire signed [W-1:0] wide = {{(W-IN_W){din[IN_W-1]}}, din};
    wire signed [W-1:0] shifted;
    generate
        if (SHIFT > 0) begin : g_right
            localparam signed [W-1:0] HALF = {{(W-1){1'b0}}, 1'b1} <<< (SHIFT - 1);
            assign shifted = (wide + HALF) >>> SHIFT;
        end else begin : g_left
            assign shifted = wide <<< LEFT;
        end
    endgenerate
    assign dout = (shifted > MAXV) ? MAXV[OUT_W-1:0] :
                  (shifted < MINV) ? MINV[OUT_W-1:0] : shifted[OUT_W-1:0];
endmodule
`default_nettype wire
