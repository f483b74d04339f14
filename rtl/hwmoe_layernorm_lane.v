// hwmoe_layernorm_lane: the output datapath of one LayerNorm lane (see hwmoe_layernorm), enable-stalled.
//   stage 1: centred = x * 2^DX - mean * 2^DM                   (fc = max(x frac, stat frac) fractional bits)
//   stage 2: prod = centred * r                                  (r: U1.15 1/sqrt mantissa of the row)
//   stage 3: n = sat_NORM_W(round(prod * 2^LM / 2^k))            (k = row shift + LM, AP_RND)
//   stage 4: y = n * gamma + beta * 2^nf                         (nf = norm fractional bits for the dim)
//   stage 5: out = sat_OUT_W(round(y * 2^LO / 2^k2)), 0 on a padding lane
// Values enter at stage 1; mean at stage 1, r at stage 2 and k at stage 3 come from the caller (shared by
// the lanes); gamma, beta and the lane mask are carried here.
//
// Parameters
//   X_W, P_W, OUT_W : widths of x, of gamma/beta and of the output (all signed)
//   MEAN_W          : width of the signed row mean (stat format)
//   DX, DM          : left shifts aligning x and the mean to the common fraction
//   NORM_W          : width of the normalised value n
//   LM, K_W         : pre-shift and width of the normalisation shift k (k = shift + LM >= 0)
//   NF_W            : width of nf
//   LO, K2_W        : pre-shift and width of the output shift k2 (k2 = nf + P_FRAC - OUT_FRAC + LO >= 0)
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
    parameter integer LO     = 0,
    parameter integer K2_W   = 6
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
    input  wire [K2_W-1:0]          k2,
    output wire signed [OUT_W-1:0]  y
);
    localparam integer XA_W = X_W + DX;
    localparam integer MA_W = MEAN_W + DM;
    localparam integer CW   = ((XA_W > MA_W) ? XA_W : MA_W) + 1;   // centred
    localparam integer PR_W = CW + 17;                              // centred * r
    localparam integer T_W  = PR_W + LM + 1;                        // shifted with rounding headroom
    localparam integer KCL  = PR_W + LM;                            // any larger shift rounds to 0
    localparam integer Y_W  = NORM_W + P_W + 1;
    localparam integer YL_W = Y_W + LO + 1;
    localparam integer K2CL = Y_W + LO;

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
    wire signed [YL_W-1:0] y_ext = {{(YL_W-Y_W){y5[Y_W-1]}}, y5};
    wire signed [YL_W-1:0] yl = y_ext <<< LO;
    wire [K2_W-1:0] kk2 = ({{(32-K2_W){1'b0}}, k2} > K2CL) ? K2CL[K2_W-1:0] : k2;
    wire [YL_W-1:0] half2_u = ({{(YL_W-1){1'b0}}, 1'b1} << kk2) >> 1;
    wire signed [YL_W-1:0] half2 = $signed(half2_u);
    wire signed [YL_W-1:0] ys = (yl + half2) >>> kk2;
    localparam signed [YL_W-1:0] OMAX = {{(YL_W-OUT_W+1){1'b0}}, {(OUT_W-1){1'b1}}};
    localparam signed [YL_W-1:0] OMIN = ~OMAX;
    wire signed [OUT_W-1:0] o_sat = (ys > OMAX) ? OMAX[OUT_W-1:0] : (ys < OMIN) ? OMIN[OUT_W-1:0] : ys[OUT_W-1:0];
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
