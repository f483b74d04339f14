// hwmoe_linear_biasq: output cast of the linear kernel: acc + bias aligned to the accumulator's fractional
// bits (exact left shift, or AP_RND right shift when the bias has more fractional bits, as
// hwmoe.fixed.align), then hwmoe_requant (AP_RND, AP_SAT) to OUT_W / OUT_FRAC. Combinational.
//
// Parameters
//   ACC_W, ACC_FRAC : accumulator width (signed) and fractional bits
//   B_W, B_FRAC     : bias width (signed) and fractional bits
//   OUT_W, OUT_FRAC : output width (signed) and fractional bits
`default_nettype none
module hwmoe_linear_biasq #(
    parameter integer ACC_W    = 40,
    parameter integer B_W      = 16,
    parameter integer ACC_FRAC = 20,
    parameter integer B_FRAC   = 10,
    parameter integer OUT_W    = 16,
    parameter integer OUT_FRAC = 10
) (
    input  wire signed [ACC_W-1:0] acc,
    input  wire signed [B_W-1:0]   bias,
    output wire signed [OUT_W-1:0] dout
);
    localparam integer LSH  = (ACC_FRAC >= B_FRAC) ? ACC_FRAC - B_FRAC : 0;
    localparam integer RSH  = (B_FRAC > ACC_FRAC) ? B_FRAC - ACC_FRAC : 0;
    localparam integer BA_W = B_W + LSH + 1;
    localparam integer S_W  = ((ACC_W > BA_W) ? ACC_W : BA_W) + 1;

    wire signed [BA_W-1:0] bext = {{(LSH+1){bias[B_W-1]}}, bias};
    wire signed [BA_W-1:0] bal;
    generate
        if (RSH > 0) begin : g_round
            localparam signed [BA_W-1:0] HALF = {{(BA_W-1){1'b0}}, 1'b1} <<< (RSH - 1);
            assign bal = (bext + HALF) >>> RSH;
        end else begin : g_shift
            assign bal = bext <<< LSH;
        end
    endgenerate
    wire signed [S_W-1:0] sum = {{(S_W-ACC_W){acc[ACC_W-1]}}, acc} + {{(S_W-BA_W){bal[BA_W-1]}}, bal};
    hwmoe_requant #(.IN_W(S_W), .SHIFT(ACC_FRAC - OUT_FRAC), .OUT_W(OUT_W)) u_requant (.din(sum), .dout(dout));
endmodule
`default_nettype wire
