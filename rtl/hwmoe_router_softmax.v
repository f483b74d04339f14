// hwmoe_router_softmax: the MoE router's selection and gate weights for one token's EXPERTS logits, exactly
// hwmoe.kernels.router.router after the logits (docs/numerics.md section 4):
//   top-k of the integer logits, largest first, ties to the lower expert index (top_k_lowest_index);
//   d_i = (max - logit_i) * LOG2E (= t_max - t_i with t = logit * round(log2(e) * 2^15)),
//   e_i = exp2_neg(d_i) (hwmoe_exp2_lane on d_i cut to EXP_IDX fractional bits: d_i has logit_frac + 15, a
//   run-time amount; the cut truncates like the lane's index does, so it is exact), sum = sum_i e_i, gate_j = normalise(e_topj, sum) in U1.15
//   (hwmoe_recip_lane: g = sat16(round(e * r / 2^p))); with `renorm`, gate_j = normalise(gate_j, sum_j gate_j).
// Two stages, one token each: a sweep over the experts (one per cycle: exp2, running sum, top-k insertion;
// EXPERTS + 4 cycles), then the normalisation (11 cycles to the output register).
//
// Parameters (build time)
//   EXPERTS : number of experts (>= 2);  TOP_K : selected experts per token (1 .. EXPERTS)
//   L_W     : logit word width (signed; narrower logit formats arrive sign-extended)
//   FRAC_B  : width of the signed run-time logit_frac
//   LOG2E   : log2(e) in U1.15 (hwmoe.kernels.router.LOG2E_RAW)
//   EXP_IDX, RECIP_IDX : index bits of the two tables (hwmoe.numerics.tables.EXP_INDEX_BITS, RECIP_INDEX_BITS)
//   EXP2    : $readmemh file of hwmoe.numerics.tables.exp2_table() (2^EXP_IDX x 16)
//   RECIP   : $readmemh file of hwmoe.numerics.tables.recip_table() (2^RECIP_IDX x 16)
//
// Ports
//   lv_valid/lv_data/lv_max : a token's logits (EXPERTS x L_W, expert i in bits [i*L_W +: L_W]) and their
//                             maximum, held by the caller until lv_done
//   lv_done                 : one-cycle pulse when the logits have been read (the caller may replace them)
//   out_valid/out_ready     : the result, out_idx (TOP_K x 16 bits, expert indices, best first) and
//                             out_gate (TOP_K x 16 bits, U1.15 gate weights)
//   renorm                  : control input, renormalise the k gate weights to sum 1
//   logit_frac              : control input, the logits' fractional bits, -15 .. 2^(FRAC_B-1) - 1
`default_nettype none
module hwmoe_router_softmax #(
    parameter integer EXPERTS = 4,
    parameter integer TOP_K   = 2,
    parameter integer L_W     = 16,
    parameter integer FRAC_B  = 8,
    parameter integer LOG2E   = 47274,
    parameter integer EXP_IDX = 10,
    parameter integer RECIP_IDX = 10,
    parameter         EXP2    = "exp2.mem",
    parameter         RECIP   = "recip.mem"
) (
    input  wire                     clk,
    input  wire                     rst,
    input  wire                     renorm,
    input  wire signed [FRAC_B-1:0] logit_frac,
    input  wire                     lv_valid,
    input  wire [EXPERTS*L_W-1:0]   lv_data,
    input  wire [L_W-1:0]           lv_max,
    output wire                     lv_done,
    output wire                     out_valid,
    input  wire                     out_ready,
    output wire [TOP_K*16-1:0]      out_idx,
    output wire [TOP_K*16-1:0]      out_gate
);
    localparam integer IDX_W = $clog2(EXPERTS);
    localparam integer D_W   = L_W + 17;                 // (max - logit) * LOG2E
    localparam integer SUM_W = 16 + $clog2(EXPERTS);     // sum of EXPERTS words <= 2^15
    localparam integer GS_W  = 16 + $clog2(TOP_K + 1);   // sum of TOP_K gates < 2^16
    localparam integer RX_W  = (SUM_W > GS_W) ? SUM_W : GS_W;
    localparam integer P_W   = $clog2(RX_W);
    localparam [16:0] LOG2E_C = LOG2E[16:0];
    localparam integer EXP_FRAC = EXP_IDX;               // d's fraction at the exp2 lane: its index bits
    localparam integer D8_W  = D_W + EXP_FRAC;           // d cut to EXP_FRAC fractional bits (<= EXP_FRAC up)
    localparam integer AMT_W = $clog2(D_W + 1);

    // ------------------------------------------------------------------ sweep
    reg sw_busy, res_valid;
    reg [IDX_W:0] si;
    reg [3:1] sv;
    reg [IDX_W-1:0] si1, si2, si3;
    reg signed [L_W-1:0] sl1, sl2, sl3;
    reg [D8_W-1:0] d1;
    reg [SUM_W-1:0] sum;
    reg signed [L_W-1:0] tk_l [0:TOP_K-1];
    reg [IDX_W-1:0] tk_i [0:TOP_K-1];
    reg [15:0] tk_e [0:TOP_K-1];
    reg [TOP_K-1:0] tk_v;

    wire issuing = sw_busy && (si != EXPERTS[IDX_W:0]);
    wire [IDX_W-1:0] si_e = si[IDX_W-1:0];
    wire signed [L_W-1:0] l_i = lv_data[si_e*L_W +: L_W];
    wire signed [L_W:0] diff = $signed({lv_max[L_W-1], lv_max}) - $signed({l_i[L_W-1], l_i});
    wire [D_W-1:0] d_i = {{(D_W-L_W-1){1'b0}}, diff} * {{(D_W-17){1'b0}}, LOG2E_C};
    // d_i (logit_frac + 15 fractional bits) cut to EXP_FRAC: floor when shifting right (a shift of D_W or
    // more leaves 0), exact when shifting left (logit_frac >= -15: at most EXP_FRAC bits)
    wire signed [31:0] cut = {{(32-FRAC_B){logit_frac[FRAC_B-1]}}, logit_frac} + (15 - EXP_FRAC);
    wire [AMT_W-1:0] cut_right = (cut <= 0) ? {AMT_W{1'b0}} :
                                 (cut >= $signed(D_W)) ? D_W[AMT_W-1:0] : cut[AMT_W-1:0];
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [31:0] cut_neg = -cut;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [3:0] cut_left = (cut >= 0) ? 4'd0 : (cut_neg >= EXP_FRAC) ? EXP_FRAC[3:0] : cut_neg[3:0];
    wire [D8_W-1:0] d8_i = ({{EXP_FRAC{1'b0}}, d_i} >> cut_right) << cut_left;
    assign lv_done = issuing && (si_e == EXPERTS[IDX_W-1:0] - 1'b1);
    wire capture;
    wire sw_start = !sw_busy && !res_valid && lv_valid;

    wire [15:0] e3;
    hwmoe_exp2_lane #(.D_W(D8_W), .FRAC(EXP_FRAC), .IDX_W(EXP_IDX), .TABLE(EXP2)) u_exp2 (
        .clk(clk), .en(1'b1), .d(d1), .e(e3));

    // insertion of (sl3, si3, e3): entries holding a logit >= the new one stay (they have lower indices)
    reg [TOP_K-1:0] ge;
    integer j;
    always @* begin
        for (j = 0; j < TOP_K; j = j + 1) ge[j] = tk_v[j] && (tk_l[j] >= sl3);
    end

    always @(posedge clk) begin
        if (rst) begin
            sw_busy <= 1'b0; res_valid <= 1'b0; si <= {(IDX_W+1){1'b0}}; sv <= 3'b000;
            tk_v <= {TOP_K{1'b0}}; sum <= {SUM_W{1'b0}};
        end else begin
            sv <= {sv[2:1], issuing};
            if (sw_start) begin
                sw_busy <= 1'b1;
                si <= {(IDX_W+1){1'b0}};
                tk_v <= {TOP_K{1'b0}};
                sum <= {SUM_W{1'b0}};
            end else if (issuing) si <= si + 1'b1;
            if (sv[3]) begin
                sum <= sum + {{(SUM_W-16){1'b0}}, e3};
                for (j = 0; j < TOP_K; j = j + 1) begin
                    if (!ge[j]) begin
                        if (j == 0 || ge[(j == 0) ? 0 : j - 1]) begin
                            tk_l[j] <= sl3; tk_i[j] <= si3; tk_e[j] <= e3; tk_v[j] <= 1'b1;
                        end else begin
                            tk_l[j] <= tk_l[(j == 0) ? 0 : j - 1]; tk_i[j] <= tk_i[(j == 0) ? 0 : j - 1];
                            tk_e[j] <= tk_e[(j == 0) ? 0 : j - 1]; tk_v[j] <= tk_v[(j == 0) ? 0 : j - 1];
                        end
                    end
                end
                if (si3 == EXPERTS[IDX_W-1:0] - 1'b1) begin
                    sw_busy <= 1'b0;
                    res_valid <= 1'b1;
                end
            end
            if (capture) res_valid <= 1'b0;
        end
        d1 <= d8_i;
        si1 <= si_e; sl1 <= l_i;
        si2 <= si1; sl2 <= sl1;
        si3 <= si2; sl3 <= sl2;
    end

    // ------------------------------------------------------------------ normalisation
    reg n_busy, o_valid;
    reg [9:0] ph;
    wire out_fire = o_valid && out_ready;
    assign capture = res_valid && (!n_busy || out_fire);
    reg [SUM_W-1:0] n_sum;
    reg [GS_W-1:0] gsum;
    reg [15:0] n_e [0:TOP_K-1];
    reg [IDX_W-1:0] n_i [0:TOP_K-1];
    reg [31:0] prod [0:TOP_K-1];
    reg [15:0] g1 [0:TOP_K-1];
    reg [15:0] g2 [0:TOP_K-1];
    reg [P_W-1:0] p_sh;
    reg [TOP_K*16-1:0] o_idx, o_gate;

    wire second = ph[5] || ph[6] || ph[7];
    wire [RX_W-1:0] rx = second ? {{(RX_W-GS_W){1'b0}}, gsum} : {{(RX_W-SUM_W){1'b0}}, n_sum};
    wire [15:0] rr;
    wire [P_W-1:0] rp;
    hwmoe_recip_lane #(.X_W(RX_W), .P_W(P_W), .IDX_W(RECIP_IDX), .TABLE(RECIP)) u_recip (
        .clk(clk), .en(1'b1), .x(rx), .r(rr), .p(rp));

    // round(prod / 2^p_sh) saturated to 16 bits
    function automatic [15:0] norm16;
        input [31:0] value;
        input [P_W-1:0] shift;
        reg [32:0] half, rounded;
        begin
            half = {1'b0, 32'd1 << shift} >> 1;
            rounded = ({1'b0, value} + half) >> shift;
            norm16 = (rounded > 33'd65535) ? 16'hffff : rounded[15:0];
        end
    endfunction

    reg [GS_W-1:0] gs;
    always @* begin
        gs = {GS_W{1'b0}};
        for (j = 0; j < TOP_K; j = j + 1) gs = gs + {{(GS_W-16){1'b0}}, g1[j]};
    end

    always @(posedge clk) begin
        if (rst) begin
            n_busy <= 1'b0; o_valid <= 1'b0; ph <= 10'd0;
        end else begin
            ph <= {ph[8:0], capture};
            if (capture) n_busy <= 1'b1;
            else if (out_fire) n_busy <= 1'b0;
            if (ph[9]) o_valid <= 1'b1;
            else if (out_fire) o_valid <= 1'b0;
        end
        if (capture) begin
            n_sum <= sum;
            for (j = 0; j < TOP_K; j = j + 1) begin
                n_e[j] <= tk_e[j];
                n_i[j] <= tk_i[j];
            end
        end
        if (ph[2] || ph[7]) p_sh <= rp;
        for (j = 0; j < TOP_K; j = j + 1) begin
            if (ph[2]) prod[j] <= n_e[j] * rr;
            if (ph[7]) prod[j] <= g1[j] * rr;
            if (ph[3]) g1[j] <= norm16(prod[j], p_sh);
            if (ph[8]) g2[j] <= norm16(prod[j], p_sh);
            if (ph[9]) begin
                o_idx[j*16 +: 16] <= {{(16-IDX_W){1'b0}}, n_i[j]};
                o_gate[j*16 +: 16] <= renorm ? g2[j] : g1[j];
            end
        end
        if (ph[4]) gsum <= gs;
    end
    assign out_valid = o_valid;
    assign out_idx = o_idx;
    assign out_gate = o_gate;
endmodule
`default_nettype wire
