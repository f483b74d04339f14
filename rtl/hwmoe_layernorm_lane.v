// hwmoe_layernorm_lane: the output datapath of one LayerNorm lane (see hwmoe_layernorm), enable-stalled.
//   stage 1: centred = x * 2^DX - mean * 2^DM                   (fc = max(x frac, stat frac) fractional bits)
//   stage 2: prod = centred * r                                  (r: U1.15 1/sqrt mantissa of the row)
//   stage 3: n = sat_NORM_W(round(prod * 2^LM / 2^k))            (k = row shift + LM, AP_RND)
//   stage 4: y = n * gamma + beta * 2^nf                         (nf = norm fractional bits for the dim)
//   stage 5: out = sat_out_width(round(y / 2^k2)) (hwmoe_requant_runtime), 0 on a padding lane
// Values enter at stage 1; mean at stage 1, r at stage 2 and k at stage 3 come from the caller (shared by
// the lanes); gamma, beta and the lane mask are carried here.  nf, k2 and out_width are held for a run.
//
// Parameters
//   X_W, P_W, OUT_W : widths of x, of gamma/beta and of the output (all signed)
//   MEAN_W          : width of the signed row mean (stat format)
//   DX, DM          : left shifts aligning x and the mean to the common fraction
//   NORM_W          : width of the normalised value n
//   LM, K_W         : pre-shift and width of the normalisation shift k (k = shift + LM >= 0)
//   NF_W            : width of nf
//   K2_W            : width of the signed output shift k2 = nf + p_frac - out_frac (run time)
//   OW_B            : width of the run-time output width out_width (2 .. OUT_W)
`default_nettype none
module hwmoe_layernorm_lane #(
    parameter integer X_W    = 16,
    parameter integer P_W    = 16,
    parameter integer OUT_W  = 16,
    parameter integer MEAN_W = 18,
    parameter integer DX     = 0,
    parameter integer DM     = 0,
    parameter integer NORM_W = 18,
    parameter integer LM     = 1,
    parameter integer K_W    = 6,
    parameter integer NF_W   = 5,
    parameter integer K2_W   = 10,
    parameter integer OW_B   = 5
) (
    input  wire                     clk,
    input  wire                     en,
    input  wire signed [X_W-1:0]    x1,
    input  wire signed [P_W-1:0]    gamma1,
    input  wire signed [P_W-1:0]    beta1,
    input  wire                     keep1,
    input  wire signed [MEAN_W-1:0] mean1,
    input  wire [15:0]              r2,
    input  wire [K_W-1:0]           k3,
    input  wire [NF_W-1:0]          nf,
    input  wire signed [K2_W-1:0]   k2,
    input  wire [OW_B-1:0]          out_width,
    output wire signed [OUT_W-1:0]  y
);
    localparam integer XA_W = X_W + DX;
    localparam integer MA_W = MEAN_W + DM;
    localparam integer CW   = ((XA_W > MA_W) ? XA_W : MA_W) + 1;   // centred
    localparam integer PR_W = CW + 17;                              // centred * r
    localparam integer T_W  = PR_W + LM + 1;                        // shifted with rounding headroom
    localparam integer KCL  = PR_W + LM;                            // any larger shift rounds to 0
    localparam integer Y_W  = NORM_W + P_W + 1;

    // stage 1 -> 2
    wire signed [CW-1:0] x_ext = {{(CW-X_W){x1[X_W-1]}}, x1};
    wire signed [CW-1:0] m_ext = {{(CW-MEAN_W){mean1[MEAN_W-1]}}, mean1};
    wire signed [CW-1:0] xa = x_ext <<< DX;
    wire signed [CW-1:0] ma = m_ext <<< DM;
    reg signed [CW-1:0] c2;
    reg signed [P_W-1:0] g2, g3, g4, b2, b3, b4;
    reg keep2, keep3, keep4, keep5;
    // stage 2 -> 3
    reg signed [PR_W-1:0] prod3;
    // stage 3 -> 4
    wire signed [T_W-1:0] t_ext = {{(T_W-PR_W){prod3[PR_W-1]}}, prod3};
    wire signed [T_W-1:0] t = t_ext <<< LM;
    wire [K_W-1:0] k = ({{(32-K_W){1'b0}}, k3} > KCL) ? KCL[K_W-1:0] : k3;
    wire [T_W-1:0] half_u = ({{(T_W-1){1'b0}}, 1'b1} << k) >> 1;
    wire signed [T_W-1:0] half = $signed(half_u);
    wire signed [T_W-1:0] shifted = (t + half) >>> k;
    localparam signed [T_W-1:0] NMAX = {{(T_W-NORM_W+1){1'b0}}, {(NORM_W-1){1'b1}}};
    localparam signed [T_W-1:0] NMIN = ~NMAX;
    wire signed [NORM_W-1:0] n_sat = (shifted > NMAX) ? NMAX[NORM_W-1:0] :
                                     (shifted < NMIN) ? NMIN[NORM_W-1:0] : shifted[NORM_W-1:0];
    reg signed [NORM_W-1:0] n4;
    // stage 4 -> 5
    wire signed [Y_W-1:0] b_ext = {{(Y_W-P_W){b4[P_W-1]}}, b4};
    wire signed [Y_W-1:0] bshift = b_ext <<< nf;
    reg signed [Y_W-1:0] y5;
    // stage 5 -> out
    wire signed [OUT_W-1:0] o_sat;
    hwmoe_requant_runtime #(.IN_W(Y_W), .OUT_W(OUT_W), .SHIFT_B(K2_W)) u_out (
        .din(y5), .shift(k2), .out_width(out_width), .dout(o_sat));
    reg signed [OUT_W-1:0] o6;

    always @(posedge clk) begin
        if (en) begin
            c2 <= xa - ma;
            g2 <= gamma1; b2 <= beta1; keep2 <= keep1;
            prod3 <= c2 * $signed({1'b0, r2});
            g3 <= g2; b3 <= b2; keep3 <= keep2;
            n4 <= n_sat;
            g4 <= g3; b4 <= b3; keep4 <= keep3;
            y5 <= n4 * g4 + bshift;
            keep5 <= keep4;
            o6 <= keep5 ? o_sat : {OUT_W{1'b0}};
        end
    end
    assign y = o6;
endmodule
`default_nettype wire
