// hwmoe_attention_row: one query row in flight of hwmoe_attention (see there for the schedule). Holds the
// row's q (HEAD_DIM words), LANES multiplier lanes with the row's A.V accumulators, the score path
// (adder tree over the lanes, accumulation over the HEAD_DIM / LANES chunks, times the score constant C,
// round and saturate into the score format), the block's scores and running maximum, the exp2 unit, the
// block's exponentials e_j, the running sum l and the reciprocal unit giving 1/l for the output engine.
//
// Stages of the control inputs (cycle numbers relative to the sequencer's S0 issue of an operation):
//   q_*      : write one chunk of q (QLOAD)
//   *1       : S1 (K/V buffer data valid): lane operand selection
//   *3       : M1: lane accumulator update / product to the adder tree (registered at the end of M1)
//   sc4 ...  : score accumulation over chunks (c == 0 starts, c == CH-1 completes)
//   sv5      : completed score times C;   sv6, j6 : requantised score t_j stored, block maximum updated
//   er       : exp of m_new - m_old (m <- m_new = max(m, block max), or the block max in the first block)
//   ee, ej   : exp of m - t_j;  cr / ce, cj, clast, cfirst : the same three cycles later (exp2 latency 2
//              plus its input register), capturing r (and l * r) / e_j (and, on the last, l).
// Run-time formats (held constant for a run, from hwmoe_attention): c_value, the score constant C (C_W bits
// unsigned); score_shift = q_frac + k_frac + c_frac - t_frac, the requantisation of s * C into the score
// format; t_width and t_frac, the score format (scores saturate at t_width bits, sign-extended to T_W bits).
// A difference d of scores enters the exp2 unit as floor(d * 2^EXP_IDX / 2^t_frac), i.e. with EXP_IDX
// fractional bits, the table's index bits: its integer part and index are those of d, so the unit is
// format-independent.
// Parameters: as hwmoe_attention (derived widths are recomputed identically here); SHIFT_B, T_B: widths of
// score_shift (signed) and of t_width, t_frac.
`default_nettype none
module hwmoe_attention_row #(
    parameter integer LANES      = 8,
    parameter integer HEAD_DIM   = 16,
    parameter integer BLOCK      = 16,
    parameter integer Q_W        = 16,
    parameter integer K_W        = 16,
    parameter integer V_W        = 16,
    parameter integer T_W        = 16,
    parameter integer C_W        = 16,
    parameter integer EXP_IDX    = 10,
    parameter integer RECIP_IDX  = 10,
    parameter         EXP_TABLE  = "exp2.mem",
    parameter         RECIP_TABLE = "recip.mem",
    // derived (set by hwmoe_attention)
    parameter integer CH_W       = 1,
    parameter integer JB_W       = 4,
    parameter integer ACC_W      = 40,
    parameter integer L_W        = 22,
    parameter integer LP_W       = 5,
    parameter integer SHIFT_B    = 8,
    parameter integer T_B        = 5
) (
    input  wire                   clk,
    input  wire [C_W-1:0]         c_value,
    input  wire signed [SHIFT_B-1:0] score_shift,
    input  wire [T_B-1:0]         t_width,
    input  wire [T_B-1:0]         t_frac,
    input  wire                   q_we,
    input  wire [CH_W-1:0]        q_wc,
    input  wire [LANES*Q_W-1:0]   q_wdata,
    input  wire [2:0]             kind1,
    input  wire [CH_W-1:0]        c1,
    input  wire [JB_W-1:0]        j1,
    input  wire [LANES*K_W-1:0]   kdata,
    input  wire [LANES*V_W-1:0]   vdata,
    input  wire [2:0]             kind3,
    input  wire [CH_W-1:0]        c3,
    input  wire                   last3,
    input  wire                   first3,
    input  wire                   sc4,
    input  wire                   cfirst4,
    input  wire                   clast4,
    input  wire                   sv5,
    input  wire                   sv6,
    input  wire [JB_W-1:0]        j6,
    input  wire                   er,
    input  wire                   ee,
    input  wire [JB_W-1:0]        ej,
    input  wire                   efirst,
    input  wire                   cr,
    input  wire                   ce,
    input  wire [JB_W-1:0]        cj,
    input  wire                   clast,
    input  wire                   cfirst,
    input  wire [CH_W-1:0]        rd_c,
    output wire [LANES*ACC_W-1:0] rd_acc,
    output wire [15:0]            rr,
    output wire [LP_W-1:0]        rp
);
    localparam integer CH    = HEAD_DIM / LANES;
    localparam integer A_W0  = (Q_W > V_W) ? Q_W : V_W;
    localparam integer A_W1  = (ACC_W + 2) / 2;
    localparam integer A_W2  = (A_W0 > A_W1) ? A_W0 : A_W1;
    localparam integer A_W   = (A_W2 > 16) ? A_W2 : 16;
    localparam integer B_W   = (K_W > 17) ? K_W : 17;
    localparam integer PR_W  = A_W + B_W;
    localparam integer S_W   = Q_W + K_W + $clog2(HEAD_DIM);
    localparam integer SC_W  = S_W + C_W + 1;
    localparam integer ES_W0 = 16 + $clog2(BLOCK + 1);
    localparam integer ES_W  = (ES_W0 < L_W) ? ES_W0 : L_W;   // sum of a block's e_j (<= l)
    localparam integer D_W   = T_W + EXP_IDX;                  // d with EXP_IDX fractional bits

    // q of the row, one LANES-word chunk per entry
    reg [LANES*Q_W-1:0] q_mem [0:CH-1];
    always @(posedge clk) if (q_we) q_mem[q_wc] <= q_wdata;
    wire [LANES*Q_W-1:0] q_rd = q_mem[c1];

    // block state: scores, exponentials, rescale factor
    reg [T_W-1:0]  t_mem [0:BLOCK-1];
    reg [15:0]     e_mem [0:BLOCK-1];
    reg [15:0]     r_reg;
    wire [15:0]    e_sel = e_mem[j1];

    // lanes and the score adder tree
    wire [LANES*PR_W-1:0] prods;
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            hwmoe_attention_lane #(
                .Q_W(Q_W), .K_W(K_W), .V_W(V_W), .ACC_W(ACC_W), .A_W(A_W), .B_W(B_W), .CH(CH), .CH_W(CH_W)
            ) u_lane (
                .clk(clk), .kind1(kind1), .c1(c1),
                .q(q_rd[i*Q_W +: Q_W]), .k(kdata[i*K_W +: K_W]), .v(vdata[i*V_W +: V_W]),
                .r(r_reg), .e(e_sel),
                .kind3(kind3), .c3(c3), .last3(last3), .first3(first3),
                .prod(prods[i*PR_W +: PR_W]),
                .rd_c(rd_c), .rd_acc(rd_acc[i*ACC_W +: ACC_W])
            );
        end
    endgenerate

    // adder tree (scores fit S_W bits; sums are taken modulo 2^S_W)
    reg [S_W-1:0] tree_sum;
    reg [S_W-1:0] tree_reg;
    integer n;
    always @* begin
        tree_sum = {S_W{1'b0}};
        for (n = 0; n < LANES; n = n + 1)
            tree_sum = tree_sum + prod_lo(prods[n*PR_W +: PR_W]);
    end
    function [S_W-1:0] prod_lo;
        input [PR_W-1:0] p;
        /* verilator lint_off UNUSEDSIGNAL */
        reg [PR_W+S_W-1:0] wide;
        /* verilator lint_on UNUSEDSIGNAL */
        begin
            wide = {{S_W{p[PR_W-1]}}, p};
            prod_lo = wide[S_W-1:0];
        end
    endfunction

    // score accumulation over chunks, times C, requantisation, block maximum
    reg [S_W-1:0]          s_acc, s_fin;
    reg signed [SC_W-1:0]  sc_reg;
    reg signed [T_W-1:0]   bmax;
    wire [S_W-1:0] s_next = (cfirst4 ? {S_W{1'b0}} : s_acc) + tree_reg;
    wire signed [T_W-1:0] t_new;
    hwmoe_requant_runtime #(.IN_W(SC_W), .OUT_W(T_W), .SHIFT_B(SHIFT_B)) u_requant (
        .din(sc_reg), .shift(score_shift), .out_width(t_width), .dout(t_new));
    always @(posedge clk) begin
        tree_reg <= tree_sum;
        if (sc4) begin
            s_acc <= s_next;
            if (clast4) s_fin <= s_next;
        end
        if (sv5) sc_reg <= $signed(s_fin) * $signed({1'b0, c_value});
        if (sv6) begin
            t_mem[j6] <= t_new;
            bmax <= (j6 == {JB_W{1'b0}} || t_new > bmax) ? t_new : bmax;
        end
    end

    // exp2 of the running-max differences (all differences are >= 0 and below 2^T_W), EXP_IDX fractional bits
    reg signed [T_W-1:0] m;
    reg [D_W-1:0] exp_d;
    wire signed [T_W-1:0] m_new = (efirst || bmax > m) ? bmax : m;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [T_W:0] d_r = {m_new[T_W-1], m_new} - {m[T_W-1], m};
    wire signed [T_W-1:0] t_ej = t_mem[ej];
    wire signed [T_W:0] d_e = {m[T_W-1], m} - {t_ej[T_W-1], t_ej};   // differences are >= 0: top bits unused
    /* verilator lint_on UNUSEDSIGNAL */
    wire [T_W-1:0] d_sel = er ? d_r[T_W-1:0] : d_e[T_W-1:0];
    wire [D_W-1:0] d_aligned = {d_sel, {EXP_IDX{1'b0}}} >> t_frac;
    always @(posedge clk) begin
        if (er) m <= m_new;
        if (er || ee) exp_d <= d_aligned;
    end
    wire [15:0] e_out;
    hwmoe_exp2_lane #(.D_W(D_W), .FRAC(EXP_IDX), .IDX_W(EXP_IDX), .TABLE(EXP_TABLE)) u_exp2 (
        .clk(clk), .en(1'b1), .d(exp_d), .e(e_out));

    // running sum: l = floor(l * r / 2^15) + sum_j e_j (l = sum_j e_j in the first block)
    reg [L_W-1:0]    l;
    reg [L_W+15:0]   l_mul;
    reg [ES_W-1:0]   esum;
    wire [ES_W-1:0]  es_prev = (cj == {JB_W{1'b0}}) ? {ES_W{1'b0}} : esum;
    wire [ES_W-1:0]  es_next = es_prev + {{(ES_W-16){1'b0}}, e_out};
    /* verilator lint_off UNUSEDSIGNAL */
    wire [L_W+15:0]  l_scaled = l_mul >> 15;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [L_W-1:0]   l_base = cfirst ? {L_W{1'b0}} : l_scaled[L_W-1:0];
    always @(posedge clk) begin
        if (cr) begin
            r_reg <= e_out;
            l_mul <= l * e_out;
        end
        if (ce) begin
            e_mem[cj] <= e_out;
            esum <= es_next;
            if (clast) l <= l_base + {{(L_W-ES_W){1'b0}}, es_next};
        end
    end

    hwmoe_recip_lane #(.X_W(L_W), .P_W(LP_W), .IDX_W(RECIP_IDX), .TABLE(RECIP_TABLE)) u_recip (
        .clk(clk), .en(1'b1), .x(l), .r(rr), .p(rp));
endmodule
`default_nettype wire
