// hwmoe_moe: Mixture-of-Experts layer on the linear datapath (hwmoe_linear_core in two-pass mode),
// bit-exact with hwmoe.kernels.moe.moe:
//   for each expert e with a non-empty token queue (tokens choosing e, increasing order):
//     h = requant(x[q] W1[e]^T + b1[e]) -> GELU -> act;  y = requant(act W2[e]^T + b2[e]) (expert format)
//     acc[q] += y * gate[q, slot]       (exact, U1.15 gates)
//   out = requant(acc) (AP_RND, AP_SAT)
// Expert-by-expert: each used expert's weights are streamed once per layer and applied to its whole queue.
//
// Dense mode (control dense = 1): the engine computes one linear layer exactly as hwmoe_linear does
// (hwmoe.kernels.linear.linear, then GELU when gelu_en), so that one MAC array serves every linear layer and
// every expert: d_in = dim, d_out = hidden; the activations are held in the hidden-activation banks (token t
// in lane t mod N_PE) and the core runs one job of pass A over all tokens, starting as the tokens arrive;
// its outputs go straight to y, block-major (for each block of T outputs, one beat per token, words past
// d_out 0); no routes are read, no experts requested, the gate-weighted accumulation is idle.
//
// How the weight DMA knows which experts to send: after the routes (idx, gate) have arrived, a scanner
// walks the experts in increasing order, building each expert's queue (one token per cycle); for every
// expert with at least one token it emits the expert's number on the wreq stream, in increasing order,
// at least one expert ahead of the compute (two queues are double-buffered). The host/DMA streams the
// weights and biases of exactly these experts, in that order, on w and b; an expert without tokens is
// never requested and none of its words are consumed.
//
// Parameters
//   T               : weight tile (T x T) and chunk; N_PE : token lanes sharing each tile
//   X_W             : input activation words (signed);  W_W, B_W : weight and bias words
//   H_W             : first linear's output (GELU input) words;  A_W : GELU output words
//   E_W             : expert output words;  OUT_W : layer output words (each the widest any run uses)
//   BSH_MAX         : largest left shift aligning a bias (x_frac + w1_frac - b1_frac, a_frac + w2_frac - b2_frac)
//   G_FRAC, G_LSH_MAX : the GELU unit's input fraction (>= every h_frac) and the largest G_FRAC - h_frac
//   EXPERTS, TOP_K  : experts and experts per token
//   MAX_TOKENS, MAX_DIM, MAX_HIDDEN : compile-time maxima of the runtime dims
//   ENTRIES, STEP_BITS, D_W, TABLE : GELU table (as hwmoe_gelu)
//   FRAC_B          : width of the signed run-time fraction inputs (8: the program's format fields; derived)
//
// Control inputs (constant from reset): tokens (1..MAX_TOKENS), dim (1..MAX_DIM), hidden (1..MAX_HIDDEN);
//   the run's formats: fractional bits x_frac, w1_frac, b1_frac, h_frac, a_frac, w2_frac, b2_frac, e_frac,
//   out_frac (signed) and widths h_width, a_width, e_width, out_width (each <= its word parameter);
//   dense : 1 = one linear layer (below), 0 = an MoE layer; bias_en, gelu_en : dense mode's bias and GELU
//   switches (an MoE layer always uses both). A dense run: dim = d_in (<= MAX_HIDDEN: its activations are
//   held in the hidden banks), hidden = d_out, weights w1_frac, biases b1_frac, GELU input h_frac/h_width,
//   output out_frac/out_width (<= OUT_W: the core's output lanes are max(A_W, E_W, OUT_W) wide), activations
//   no wider than A_W (so a wide dense output, as the patch embedding's, does not widen the MAC operand)
//
// Streams (lane i in bits [i*W +: W]); Dt = ceil(dim/T), Ht = ceil(hidden/T):
//   x    : T*X_W bits/beat, tokens*Dt beats, token-major, rows padded to Dt chunks (padding ignored)
//   idx  : TOP_K*IDX_W bits/beat (unsigned expert numbers), one beat per token
//   gate : TOP_K*16 bits/beat (U1.15 gate weights, same slot order as idx), one beat per token
//   w    : T*W_W bits/beat; per requested expert: W1 [hidden, dim] row-major, rows padded to Dt chunks,
//          then W2 [dim, hidden], rows padded to Ht chunks (padding ignored)
//   b    : T*B_W bits/beat; per requested expert: Ht beats of b1 then Dt beats of b2 (padded by T)
//   y    : T*OUT_W bits/beat, tokens*Dt beats, token-major, words past dim are 0 (after all experts)
//   wreq : IDX_W bits/beat, one beat per expert with tokens (its number), increasing; wreq_tlast on the
//          highest such expert (the routes are all in before the first request)
// Dense mode: x as above with Dt = ceil(d_in/T); no idx, gate or wreq beats; w: W [d_out, d_in] row-major,
//   rows padded to Dt chunks; b: ceil(d_out/T) beats (not read when bias_en is 0); y: T*OUT_W bits/beat,
//   block-major (hwmoe_linear's y)
`default_nettype none
module hwmoe_moe #(
    parameter integer T          = 4,
    parameter integer N_PE       = 2,
    parameter integer X_W        = 16,
    parameter integer W_W        = 16,
    parameter integer B_W        = 16,
    parameter integer H_W        = 16,
    parameter integer A_W        = 16,
    parameter integer E_W        = 16,
    parameter integer OUT_W      = 16,
    parameter integer BSH_MAX    = 16,
    parameter integer G_FRAC     = 11,
    parameter integer G_LSH_MAX  = 0,
    parameter integer EXPERTS    = 4,
    parameter integer TOP_K      = 2,
    parameter integer MAX_TOKENS = 16,
    parameter integer MAX_DIM    = 16,
    parameter integer MAX_HIDDEN = 32,
    parameter integer ENTRIES    = 149,
    parameter integer STEP_BITS  = 5,
    parameter integer D_W        = 16,
    parameter         TABLE      = "gelu.mem",
    // derived (do not override)
    parameter integer FRAC_B     = 8,
    parameter integer TOKENS_B   = $clog2(MAX_TOKENS + 1),
    parameter integer DIM_B      = $clog2(((MAX_DIM > MAX_HIDDEN) ? MAX_DIM : MAX_HIDDEN) + 1),   // a dense d_in too
    parameter integer HIDDEN_B   = $clog2(MAX_HIDDEN + 1),
    parameter integer IDX_W      = (EXPERTS > 1) ? $clog2(EXPERTS) : 1
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire [TOKENS_B-1:0]     tokens,
    input  wire [DIM_B-1:0]        dim,
    input  wire [HIDDEN_B-1:0]     hidden,
    input  wire signed [FRAC_B-1:0] x_frac,
    input  wire signed [FRAC_B-1:0] w1_frac,
    input  wire signed [FRAC_B-1:0] b1_frac,
    input  wire signed [FRAC_B-1:0] h_frac,
    input  wire [7:0]              h_width,
    input  wire signed [FRAC_B-1:0] a_frac,
    input  wire [7:0]              a_width,
    input  wire signed [FRAC_B-1:0] w2_frac,
    input  wire signed [FRAC_B-1:0] b2_frac,
    input  wire signed [FRAC_B-1:0] e_frac,
    input  wire [7:0]              e_width,
    input  wire signed [FRAC_B-1:0] out_frac,
    input  wire [7:0]              out_width,
    input  wire                    dense,
    input  wire                    bias_en,
    input  wire                    gelu_en,
    input  wire [T*X_W-1:0]        x_tdata,
    input  wire                    x_tvalid,
    output wire                    x_tready,
    input  wire [TOP_K*IDX_W-1:0]  idx_tdata,
    input  wire                    idx_tvalid,
    output wire                    idx_tready,
    input  wire [TOP_K*16-1:0]     gate_tdata,
    input  wire                    gate_tvalid,
    output wire                    gate_tready,
    input  wire [T*W_W-1:0]        w_tdata,
    input  wire                    w_tvalid,
    output wire                    w_tready,
    input  wire [T*B_W-1:0]        b_tdata,
    input  wire                    b_tvalid,
    output wire                    b_tready,
    output wire [T*OUT_W-1:0]      y_tdata,
    output wire                    y_tvalid,
    input  wire                    y_tready,
    output wire [IDX_W-1:0]        wreq_tdata,
    output wire                    wreq_tvalid,
    input  wire                    wreq_tready,
    output wire                    wreq_tlast
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (T < 1 || N_PE < 1) begin
            $error("hwmoe_moe: T = %0d, N_PE = %0d: each must be at least 1", T, N_PE);
            $finish;
        end
        if (TOP_K < 1 || TOP_K > EXPERTS) begin
            $error("hwmoe_moe: TOP_K = %0d with EXPERTS = %0d: need 1 <= TOP_K <= EXPERTS", TOP_K, EXPERTS);
            $finish;
        end
        if (MAX_TOKENS < 1 || MAX_DIM < 1 || MAX_HIDDEN < 1) begin
            $error("hwmoe_moe: MAX_TOKENS = %0d, MAX_DIM = %0d, MAX_HIDDEN = %0d: each must be at least 1",
                   MAX_TOKENS, MAX_DIM, MAX_HIDDEN);
            $finish;
        end
    end
    localparam integer MAXD   = (MAX_DIM > MAX_HIDDEN) ? MAX_DIM : MAX_HIDDEN;
    localparam integer MX_W   = (X_W > A_W) ? X_W : A_W;          // MAC activation operand
    localparam integer AE_W   = (A_W > E_W) ? A_W : E_W;
    localparam integer O_W    = (AE_W > OUT_W) ? AE_W : OUT_W;   // core output lanes (a dense output: OUT_W)
    localparam integer ACC2_W = E_W + 17 + $clog2(TOP_K + 1);     // sum over the token's experts of y * gate
    localparam integer EXP_B  = $clog2(EXPERTS + 1);
    // the core's derived widths (same expressions as in hwmoe_linear_core, T_IN = T_OUT = T)
    localparam integer OFF_B  = $clog2(MAXD + T + 1);
    localparam integer TOK_B  = $clog2(MAX_TOKENS + N_PE + 1);
    localparam integer MAX_T  = (MAXD + T - 1) / T;
    localparam integer MAX_G  = (MAX_TOKENS + N_PE - 1) / N_PE;
    localparam integer IT_B   = (MAX_T > 1) ? $clog2(MAX_T) : 1;
    localparam integer G_B    = (MAX_G > 1) ? $clog2(MAX_G) : 1;
    localparam integer PE_B   = (N_PE > 1) ? $clog2(N_PE) : 1;
    localparam integer MAX_DT = (MAX_DIM + T - 1) / T;
    localparam integer MAX_HT = (MAX_HIDDEN + T - 1) / T;
    localparam integer TK_B   = (MAX_TOKENS > 1) ? $clog2(MAX_TOKENS) : 1;   // a token number
    localparam integer XA_B0  = (MAX_TOKENS * MAX_DT > 1) ? $clog2(MAX_TOKENS * MAX_DT) : 1;
    localparam integer XA_B   = (XA_B0 > TOK_B) ? XA_B0 : TOK_B;        // token counters index it too
    localparam integer HA_B   = (MAX_G * MAX_HT > 1) ? $clog2(MAX_G * MAX_HT) : 1;
    localparam integer QA_B   = $clog2(2 * MAX_G);
    localparam [OFF_B-1:0] T_D     = T[OFF_B-1:0];
    localparam [XA_B-1:0]  MAXDT_X = MAX_DT[XA_B-1:0];
    localparam [HA_B-1:0]  MAXHT_H = MAX_HT[HA_B-1:0];
    localparam [QA_B-1:0]  MAXG_Q  = MAX_G[QA_B-1:0];
    localparam [EXP_B-1:0] EXPERTS_E = EXPERTS[EXP_B-1:0];
    localparam integer     NPE_M1  = N_PE - 1;
    localparam [PE_B-1:0]  PE_LAST = NPE_M1[PE_B-1:0];

    wire [OFF_B-1:0] dim_d = {{(OFF_B-DIM_B){1'b0}}, dim};
    wire [OFF_B-1:0] hid_d = {{(OFF_B-HIDDEN_B){1'b0}}, hidden};
    wire [TOK_B-1:0] ntok  = {{(TOK_B-TOKENS_B){1'b0}}, tokens};

    // ------------------------------------------------------------------ activations (one copy per lane)
    reg  [TOK_B-1:0] xt;                     // complete tokens written
    reg  [IT_B-1:0]  xc;
    reg  [OFF_B-1:0] xcoff;
    reg  [PE_B-1:0]  xp;                     // dense mode: the token's lane and group in the hidden banks
    reg  [G_B-1:0]   xg;
    assign x_tready = xt < ntok;
    wire x_fire = x_tvalid && x_tready;
    wire x_done = !x_tready;
    wire xw_last_c = (xcoff + T_D) >= dim_d;
    always @(posedge clk) begin
        if (rst) begin
            xt <= {TOK_B{1'b0}}; xc <= {IT_B{1'b0}}; xcoff <= {OFF_B{1'b0}}; xp <= {PE_B{1'b0}};
            xg <= {G_B{1'b0}};
        end else if (x_fire) begin
            if (!xw_last_c) begin
                xc <= xc + 1'b1; xcoff <= xcoff + T_D;
            end else begin
                xc <= {IT_B{1'b0}}; xcoff <= {OFF_B{1'b0}}; xt <= xt + 1'b1;
                if (xp == PE_LAST) begin
                    xp <= {PE_B{1'b0}}; xg <= xg + 1'b1;
                end else xp <= xp + 1'b1;
            end
        end
    end
    wire [T*X_W-1:0] x_masked;
    hwmoe_pad_mask #(.LANES(T), .W(X_W), .IDX_W(OFF_B)) u_xmask (
        .din(x_tdata), .offset(xcoff), .limit(dim_d), .dout(x_masked));
    wire [XA_B-1:0] x_waddr = {{(XA_B-TOK_B){1'b0}}, xt} * MAXDT_X + {{(XA_B-IT_B){1'b0}}, xc};

    // ------------------------------------------------------------------ routes
    reg  [TOK_B-1:0] it_n, gt_n;
    assign idx_tready = it_n < ntok;
    assign gate_tready = gt_n < ntok;
    wire idx_fire = idx_tvalid && idx_tready;
    wire gate_fire = gate_tvalid && gate_tready;
    wire route_done = !idx_tready && !gate_tready;
    (* ram_style = "block" *) reg [TOP_K*IDX_W-1:0] idx_mem [0:MAX_TOKENS-1];
    (* ram_style = "block" *) reg [TOP_K*16-1:0]    gate_mem [0:MAX_TOKENS-1];
    always @(posedge clk) begin
        if (rst) begin
            it_n <= {TOK_B{1'b0}}; gt_n <= {TOK_B{1'b0}};
        end else begin
            if (idx_fire) it_n <= it_n + 1'b1;
            if (gate_fire) gt_n <= gt_n + 1'b1;
        end
    end
    always @(posedge clk) begin
        if (idx_fire) idx_mem[it_n[TK_B-1:0]] <= idx_tdata;
        if (gate_fire) gate_mem[gt_n[TK_B-1:0]] <= gate_tdata;
    end

    // ------------------------------------------------------------------ scanner: expert queues, wreq
    localparam [1:0] S_WAIT = 2'd0, S_SCAN = 2'd1, S_TAIL = 2'd2, S_EMIT = 2'd3;
    reg  [1:0]       s_state;
    reg  [EXP_B-1:0] s_e;
    reg  [TOK_B-1:0] s_t;                    // next token to read
    reg  [TOK_B-1:0] s_j;                    // queue length so far
    reg  [PE_B-1:0]  s_jp;
    reg  [G_B-1:0]   s_jg;
    reg              s_half;
    reg  [1:0]       q_busy, q_taken;
    reg  [TOK_B-1:0] q_n [0:1];
    reg              r_v;
    reg  [TK_B-1:0]  r_t;
    reg  [TOP_K*IDX_W-1:0] r_idx;
    reg  [TOP_K*16-1:0]    r_gate;
    reg              wreq_v;
    wire scan_done = (s_e == EXPERTS_E);
    wire s_start = (s_state == S_WAIT) && !dense && !scan_done && route_done && !q_busy[s_half];
    wire s_reading = (s_state == S_SCAN);
    // does the token just read choose expert s_e, and with which gate?
    reg              r_hit;
    reg  [15:0]      r_g;
    integer k;
    always @* begin
        r_hit = 1'b0; r_g = 16'd0;
        for (k = 0; k < TOP_K; k = k + 1)
            if ({{(EXP_B-IDX_W){1'b0}}, r_idx[k*IDX_W +: IDX_W]} == s_e) begin
                r_hit = 1'b1; r_g = r_gate[k*16 +: 16];
            end
    end
    wire q_write = r_v && r_hit;
    wire [QA_B-1:0] q_waddr = (s_half ? MAXG_Q : {QA_B{1'b0}}) + {{(QA_B-G_B){1'b0}}, s_jg};
    assign wreq_tvalid = wreq_v;
    assign wreq_tdata = s_e[IDX_W-1:0];
    // experts chosen by some token, marked as the routes arrive: no request follows the highest one
    reg  [EXPERTS-1:0] chosen;
    integer ck;
    always @(posedge clk) begin
        if (rst) chosen <= {EXPERTS{1'b0}};
        else if (idx_fire)
            for (ck = 0; ck < TOP_K; ck = ck + 1) chosen[idx_tdata[ck*IDX_W +: IDX_W]] <= 1'b1;
    end
    wire [EXPERTS-1:0] above = chosen >> s_e >> 1;             // chosen experts after s_e
    assign wreq_tlast = above == {EXPERTS{1'b0}};
    reg  [1:0] q_release;                    // set by the post stage (below)
    reg        jh;                           // next half to hand to the core
    wire       job_take;

    always @(posedge clk) begin
        if (rst) begin
            s_state <= S_WAIT; s_e <= {EXP_B{1'b0}}; s_t <= {TOK_B{1'b0}}; s_j <= {TOK_B{1'b0}};
            s_jp <= {PE_B{1'b0}}; s_jg <= {G_B{1'b0}}; s_half <= 1'b0; q_busy <= 2'b00; q_taken <= 2'b00;
            r_v <= 1'b0; wreq_v <= 1'b0; jh <= 1'b0;
        end else begin
            r_v <= s_reading;
            if (q_write) begin
                s_j <= s_j + 1'b1;
                if (s_jp == PE_LAST) begin
                    s_jp <= {PE_B{1'b0}}; s_jg <= s_jg + 1'b1;
                end else s_jp <= s_jp + 1'b1;
            end
            case (s_state)
                S_WAIT: if (s_start) begin
                    s_state <= S_SCAN; s_t <= {TOK_B{1'b0}}; s_j <= {TOK_B{1'b0}};
                    s_jp <= {PE_B{1'b0}}; s_jg <= {G_B{1'b0}};
                end
                S_SCAN: begin
                    s_t <= s_t + 1'b1;
                    if (s_t + 1'b1 == ntok) s_state <= S_TAIL;
                end
                S_TAIL: if (!r_v) begin        // the last token has been looked at
                    if (s_j != {TOK_B{1'b0}}) begin
                        q_busy[s_half] <= 1'b1; q_n[s_half] <= s_j; wreq_v <= 1'b1; s_state <= S_EMIT;
                    end else begin
                        s_e <= s_e + 1'b1; s_state <= S_WAIT;
                    end
                end
                default: if (wreq_tready) begin     // S_EMIT
                    wreq_v <= 1'b0; s_half <= !s_half; s_e <= s_e + 1'b1; s_state <= S_WAIT;
                end
            endcase
            if (job_take) begin
                q_taken[jh] <= 1'b1; jh <= !jh;
            end
            if (q_release[0]) begin q_busy[0] <= 1'b0; q_taken[0] <= 1'b0; end
            if (q_release[1]) begin q_busy[1] <= 1'b0; q_taken[1] <= 1'b0; end
        end
    end
    always @(posedge clk) begin
        r_idx <= idx_mem[s_t[TK_B-1:0]];
        r_gate <= gate_mem[s_t[TK_B-1:0]];
        r_t <= s_t[TK_B-1:0];
    end

    // queues, banked by position mod N_PE: token numbers for the gather (issue side), token + gate for the
    // accumulation (post side)
    reg  ih, ph;                             // half of the job being issued / post-processed
    wire rd_en, rd_pass;
    wire [G_B-1:0]  rd_g;
    wire [IT_B-1:0] rd_c;
    wire [QA_B-1:0] qi_raddr = (ih ? MAXG_Q : {QA_B{1'b0}}) + {{(QA_B-G_B){1'b0}}, rd_g};
    wire o_valid, o_pass, o_last;
    wire [IT_B-1:0] o_ot;
    wire [G_B-1:0]  o_g;
    wire [PE_B-1:0] o_p;
    wire [T*O_W-1:0] o_data;
    wire [QA_B-1:0] qp_raddr = (ph ? MAXG_Q : {QA_B{1'b0}}) + {{(QA_B-G_B){1'b0}}, o_g};
    wire [N_PE*(TK_B+16)-1:0] qp_q;
    // activations and hidden values read for the MAC array (RD_LAT = 2)
    reg  [IT_B-1:0] rd_c1;
    reg             rd_pass1, rd_pass2;
    wire [N_PE*T*MX_W-1:0] rd_data;
    wire [HA_B-1:0] h_raddr = {{(HA_B-G_B){1'b0}}, rd_g} * MAXHT_H + {{(HA_B-IT_B){1'b0}}, rd_c};
    wire [HA_B-1:0] h_waddr = {{(HA_B-G_B){1'b0}}, o_g} * MAXHT_H + {{(HA_B-IT_B){1'b0}}, o_ot};
    wire h_we = o_valid && !o_pass && !dense;
    wire [OFF_B-1:0] o_obase = {{(OFF_B-IT_B){1'b0}}, o_ot} * T_D;
    // dense mode: the activations go to the hidden banks (A_W words), token xt in lane xp, group xg
    wire [HA_B-1:0] xh_waddr = {{(HA_B-G_B){1'b0}}, xg} * MAXHT_H + {{(HA_B-IT_B){1'b0}}, xc};
    wire [T*A_W-1:0] xh_wdata;
    genvar gx;
    generate
        for (gx = 0; gx < T; gx = gx + 1) begin : g_xh
            wire [X_W-1:0] xw = x_masked[gx*X_W +: X_W];
            if (A_W >= X_W) begin : g_ext
                assign xh_wdata[gx*A_W +: A_W] = {{(A_W-X_W){xw[X_W-1]}}, xw};
            end else begin : g_low                      // a dense run's activations fit A_W bits
                assign xh_wdata[gx*A_W +: A_W] = xw[A_W-1:0];
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hi = &{1'b0, xw[X_W-1:A_W]};
                /* verilator lint_on UNUSEDSIGNAL */
            end
        end
    endgenerate
    wire [T*A_W-1:0] h_lanes, h_wdata;          // the GELU outputs: the low A_W bits of each O_W lane
    genvar gi;
    generate
        for (gi = 0; gi < T; gi = gi + 1) begin : g_hlane
            assign h_lanes[gi*A_W +: A_W] = o_data[gi*O_W +: A_W];
        end
    endgenerate
    hwmoe_pad_mask #(.LANES(T), .W(A_W), .IDX_W(OFF_B)) u_hmask (
        .din(h_lanes), .offset(o_obase), .limit(hid_d), .dout(h_wdata));
    always @(posedge clk) begin
        rd_c1 <= rd_c; rd_pass1 <= rd_pass; rd_pass2 <= rd_pass1;
    end

    genvar gp;
    generate
        for (gp = 0; gp < N_PE; gp = gp + 1) begin : g_lane
            localparam integer PI = gp;
            localparam [PE_B-1:0] PID = PI[PE_B-1:0];
            reg [TK_B-1:0]      qi_mem [0:2*MAX_G-1];
            reg [TK_B+15:0]     qp_mem [0:2*MAX_G-1];
            reg [TK_B-1:0]      qi_r;
            reg [TK_B+15:0]     qp_r;
            (* ram_style = "block" *) reg [T*X_W-1:0] x_mem [0:MAX_TOKENS*MAX_DT-1];
            (* ram_style = "block" *) reg [T*A_W-1:0] h_mem [0:MAX_G*MAX_HT-1];
            reg [T*X_W-1:0]     xq;
            reg [T*A_W-1:0]     hq, hq2;
            wire [XA_B-1:0] x_raddr = {{(XA_B-TK_B){1'b0}}, qi_r} * MAXDT_X + {{(XA_B-IT_B){1'b0}}, rd_c1};
            always @(posedge clk) begin
                if (q_write && s_jp == PID) begin
                    qi_mem[q_waddr] <= r_t;
                    qp_mem[q_waddr] <= {r_g, r_t};
                end
                qi_r <= qi_mem[qi_raddr];
                qp_r <= qp_mem[qp_raddr];
                if (x_fire && !dense) x_mem[x_waddr] <= x_masked;
                xq <= x_mem[x_raddr];
                if (dense ? (x_fire && xp == PID) : (h_we && o_p == PID))
                    h_mem[dense ? xh_waddr : h_waddr] <= dense ? xh_wdata : h_wdata;
                hq <= h_mem[h_raddr];
                hq2 <= hq;
            end
            assign qp_q[gp*(TK_B+16) +: TK_B+16] = qp_r;
            genvar gw;
            for (gw = 0; gw < T; gw = gw + 1) begin : g_word
                wire [X_W-1:0] xw = xq[gw*X_W +: X_W];
                wire [A_W-1:0] hw = hq2[gw*A_W +: A_W];
                assign rd_data[(gp*T+gw)*MX_W +: MX_W] = (rd_pass2 || dense) ? {{(MX_W-A_W){hw[A_W-1]}}, hw}
                                                                             : {{(MX_W-X_W){xw[X_W-1]}}, xw};
            end
        end
    endgenerate

    // ------------------------------------------------------------------ jobs for the core
    reg  hid_done;                          // pass A of the current job has written all its outputs
    wire iss_pass;
    wire [TOK_B-1:0] iss_need;
    reg  d_taken;                           // dense mode: the one job has been taken
    wire job_valid = dense ? !d_taken : (q_busy[jh] && !q_taken[jh]);
    always @(posedge clk) begin
        if (rst) begin
            hid_done <= 1'b0; ih <= 1'b0; d_taken <= 1'b0;
        end else begin
            if (job_take) d_taken <= 1'b1;
            if (job_take) begin
                hid_done <= 1'b0; ih <= jh;
            end else if (h_we && o_last) hid_done <= 1'b1;
        end
    end

    reg  clear_done;
    localparam integer SH_B  = FRAC_B + 2;                    // differences of FRAC_B-bit fields, with room
    localparam integer GL_B  = (G_LSH_MAX > 0) ? $clog2(G_LSH_MAX + 1) : 1;
    localparam integer GY_I  = (G_FRAC > D_W) ? G_FRAC : D_W; // fraction of the GELU's exact result
    localparam integer H_CW  = (H_W > E_W) ? H_W : E_W;       // requant words of either pass
    wire signed [SH_B-1:0] fx  = {{2{x_frac[FRAC_B-1]}}, x_frac},   fw1 = {{2{w1_frac[FRAC_B-1]}}, w1_frac};
    wire signed [SH_B-1:0] fb1 = {{2{b1_frac[FRAC_B-1]}}, b1_frac}, fh  = {{2{h_frac[FRAC_B-1]}}, h_frac};
    wire signed [SH_B-1:0] fa  = {{2{a_frac[FRAC_B-1]}}, a_frac},   fw2 = {{2{w2_frac[FRAC_B-1]}}, w2_frac};
    wire signed [SH_B-1:0] fb2 = {{2{b2_frac[FRAC_B-1]}}, b2_frac}, fe  = {{2{e_frac[FRAC_B-1]}}, e_frac};
    wire signed [SH_B-1:0] fo  = {{2{out_frac[FRAC_B-1]}}, out_frac};
    wire signed [SH_B-1:0] f_acc1 = fx + fw1, f_acc2 = fa + fw2;
    localparam integer G_FRAC_I = G_FRAC;
    wire signed [SH_B-1:0] g_frac = G_FRAC_I[SH_B-1:0], gy_frac = GY_I[SH_B-1:0];
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [SH_B-1:0] g_lsh = g_frac - fh;               // 0 .. G_LSH_MAX for a legal run
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [SH_B-1:0] ro_shift = fe + 10'sd15 - fo;          // the read-out's cast of acc (frac e + 15)
    // pass A's casts: an expert's first linear (-> h, GELU -> a), or a dense run's (-> h, GELU -> out when
    // gelu_en; else -> out)
    wire a_gelu = !dense || gelu_en;
    wire signed [SH_B-1:0] a_qfrac = a_gelu ? fh : fo;
    wire signed [SH_B-1:0] a_ofrac = dense ? fo : fa;
    hwmoe_linear_core #(
        .T_IN(T), .T_OUT(T), .N_PE(N_PE), .X_W(MX_W), .W_W(W_W), .B_W(B_W),
        .MAX_TOKENS(MAX_TOKENS), .MAX_D_IN(MAXD), .MAX_D_OUT(MAXD), .TWO_PASS(1), .HAS_BIAS(1), .RD_LAT(2),
        .H_W(H_CW), .BSH_MAX(BSH_MAX), .GELU(1), .G_FRAC(G_FRAC), .G_LSH_MAX(G_LSH_MAX), .O_W(O_W),
        .ENTRIES(ENTRIES), .STEP_BITS(STEP_BITS), .D_W(D_W), .TABLE(TABLE), .SH_B(SH_B)
    ) u_core (
        .clk(clk), .rst(rst), .a_in(dim_d), .a_out(hid_d), .b_in(hid_d), .b_out(dim_d),
        .bias_en(!dense || bias_en), .one_pass(dense), .a_bshift(fb1 - f_acc1), .a_qshift(f_acc1 - a_qfrac),
        .a_qwidth(a_gelu ? h_width : out_width), .a_gelu(a_gelu), .a_glsh(g_lsh[GL_B-1:0]),
        .a_oshift(gy_frac - a_ofrac), .a_owidth(dense ? out_width : a_width),
        .b_bshift(fb2 - f_acc2), .b_qshift(f_acc2 - fe), .b_qwidth(e_width),
        .job_valid(job_valid), .job_n(dense ? ntok : q_n[jh]), .job_take(job_take),
        .iss_pass(iss_pass), .iss_need(iss_need), .src_ok(dense ? (xt >= iss_need) : iss_pass ? hid_done : x_done),
        .rd_en(rd_en), .rd_pass(rd_pass), .rd_g(rd_g), .rd_c(rd_c), .rd_data(rd_data),
        .w_tdata(w_tdata), .w_tvalid(w_tvalid), .w_tready(w_tready),
        .b_tdata(b_tdata), .b_tvalid(b_tvalid), .b_tready(b_tready),
        .o_valid(o_valid), .o_ready(dense ? y_tready : (!o_pass || clear_done)), .o_pass(o_pass), .o_last(o_last),
        .o_ot(o_ot),
        .o_g(o_g), .o_p(o_p), .o_data(o_data)
    );

    // ------------------------------------------------------------------ gate-weighted accumulation
    // R0: queue entry read; R1: acc read, y * gate; R2: acc write
    reg              r0_v, r0_last, r1_v, r1_last;
    reg  [PE_B-1:0]  r0_p;
    reg  [IT_B-1:0]  r0_ot;
    reg  [T*E_W-1:0] r0_y;
    reg  [XA_B-1:0]  r1_addr;
    reg  signed [E_W+16:0] r1_prod [0:T-1];
    wire o_acc = o_valid && o_pass && clear_done;
    wire [TK_B+15:0] r0_entry = qp_q[r0_p*(TK_B+16) +: TK_B+16];
    wire [TK_B-1:0]  r0_tok = r0_entry[TK_B-1:0];
    wire [15:0]      r0_gate = r0_entry[TK_B +: 16];
    wire [XA_B-1:0]  r0_addr = {{(XA_B-TK_B){1'b0}}, r0_tok} * MAXDT_X + {{(XA_B-IT_B){1'b0}}, r0_ot};
    integer l;
    always @(posedge clk) begin
        if (rst) begin
            r0_v <= 1'b0; r1_v <= 1'b0; r0_last <= 1'b0; r1_last <= 1'b0;
        end else begin
            r0_v <= o_acc; r0_last <= o_acc && o_last;
            r1_v <= r0_v; r1_last <= r0_last;
        end
        r0_p <= o_p; r0_ot <= o_ot;
        for (l = 0; l < T; l = l + 1) r0_y[l*E_W +: E_W] <= o_data[l*O_W +: E_W];
        r1_addr <= r0_addr;
        for (l = 0; l < T; l = l + 1)
            r1_prod[l] <= $signed(r0_y[l*E_W +: E_W]) * $signed({1'b0, r0_gate});
    end
    always @(posedge clk) begin
        if (rst) begin
            ph <= 1'b0; q_release <= 2'b00;
        end else begin
            q_release <= 2'b00;
            if (r1_v && r1_last) begin
                q_release[ph] <= 1'b1; ph <= !ph;
            end
        end
    end

    // accumulator memory: cleared after reset, read-modify-written per expert, read out at the end
    reg  [TOK_B-1:0] ct;
    reg  [IT_B-1:0]  cc;
    reg  [OFF_B-1:0] ccoff;
    wire c_last_c = (ccoff + T_D) >= dim_d;
    wire [XA_B-1:0] c_addr = {{(XA_B-TOK_B){1'b0}}, ct} * MAXDT_X + {{(XA_B-IT_B){1'b0}}, cc};
    always @(posedge clk) begin
        if (rst) begin
            ct <= {TOK_B{1'b0}}; cc <= {IT_B{1'b0}}; ccoff <= {OFF_B{1'b0}}; clear_done <= 1'b0;
        end else if (!clear_done) begin
            if (!c_last_c) begin
                cc <= cc + 1'b1; ccoff <= ccoff + T_D;
            end else begin
                cc <= {IT_B{1'b0}}; ccoff <= {OFF_B{1'b0}}; ct <= ct + 1'b1;
                if (ct + 1'b1 == ntok) clear_done <= 1'b1;
            end
        end
    end

    // read-out: after the last expert, acc -> requant -> y, token-major
    reg              ro_act, ro_end, ro_inflight;
    reg  [TOK_B-1:0] rt;
    reg  [IT_B-1:0]  rc;
    reg  [OFF_B-1:0] rcoff, rcoff1;
    reg  [2:0]       f_cnt;
    reg  [1:0]       f_rd, f_wr;
    reg  [T*OUT_W-1:0] fifo [0:3];
    wire ro_last_c = (rcoff + T_D) >= dim_d;
    wire ro_issue = ro_act && !ro_end && ({1'b0, f_cnt} + {3'b000, ro_inflight} < 4'd3);
    wire [XA_B-1:0] ro_addr = {{(XA_B-TOK_B){1'b0}}, rt} * MAXDT_X + {{(XA_B-IT_B){1'b0}}, rc};
    wire y_fire = !dense && y_tvalid && y_tready;              // a read-out beat leaves the FIFO
    always @(posedge clk) begin
        if (rst) begin
            ro_act <= 1'b0; ro_end <= 1'b0; ro_inflight <= 1'b0; rt <= {TOK_B{1'b0}}; rc <= {IT_B{1'b0}};
            rcoff <= {OFF_B{1'b0}}; f_cnt <= 3'd0; f_rd <= 2'd0; f_wr <= 2'd0;
        end else begin
            if (scan_done && q_busy == 2'b00 && clear_done) ro_act <= 1'b1;
            ro_inflight <= ro_issue;
            if (ro_issue) begin
                if (!ro_last_c) begin
                    rc <= rc + 1'b1; rcoff <= rcoff + T_D;
                end else begin
                    rc <= {IT_B{1'b0}}; rcoff <= {OFF_B{1'b0}}; rt <= rt + 1'b1;
                    if (rt + 1'b1 == ntok) ro_end <= 1'b1;
                end
            end
            if (ro_inflight) f_wr <= f_wr + 1'b1;
            if (y_fire) f_rd <= f_rd + 1'b1;
            f_cnt <= f_cnt + (ro_inflight ? 3'd1 : 3'd0) - (y_fire ? 3'd1 : 3'd0);
        end
        rcoff1 <= rcoff;
    end
    wire [T*OUT_W-1:0] dense_y;                 // dense mode: the core's outputs, words past d_out 0
    generate
        for (gi = 0; gi < T; gi = gi + 1) begin : g_dense
            localparam integer LI = gi;
            localparam [OFF_B-1:0] LID = LI[OFF_B-1:0];
            wire [O_W-1:0] ol = o_data[gi*O_W +: O_W];
            wire [OUT_W-1:0] oy;
            if (OUT_W >= O_W) begin : g_ext
                assign oy = {{(OUT_W-O_W){ol[O_W-1]}}, ol};
            end else begin : g_low                      // a dense run's output fits OUT_W bits
                assign oy = ol[OUT_W-1:0];
                /* verilator lint_off UNUSEDSIGNAL */
                wire unused_hi = &{1'b0, ol[O_W-1:OUT_W]};
                /* verilator lint_on UNUSEDSIGNAL */
            end
            assign dense_y[gi*OUT_W +: OUT_W] = ((o_obase + LID) < hid_d) ? oy : {OUT_W{1'b0}};
        end
    endgenerate
    assign y_tvalid = dense ? o_valid : (f_cnt != 3'd0);
    assign y_tdata = dense ? dense_y : fifo[f_rd];

    (* ram_style = "block" *) reg [T*ACC2_W-1:0] acc_mem [0:MAX_TOKENS*MAX_DT-1];
    reg  [T*ACC2_W-1:0] acc_q;
    wire [XA_B-1:0] acc_raddr = ro_act ? ro_addr : r0_addr;
    reg  [T*ACC2_W-1:0] acc_new;
    always @* begin
        for (l = 0; l < T; l = l + 1)
            acc_new[l*ACC2_W +: ACC2_W] = acc_q[l*ACC2_W +: ACC2_W]
                + {{(ACC2_W-E_W-17){r1_prod[l][E_W+16]}}, r1_prod[l]};
    end
    always @(posedge clk) begin
        if (!clear_done && !dense) acc_mem[c_addr] <= {(T*ACC2_W){1'b0}};
        else if (r1_v) acc_mem[r1_addr] <= acc_new;
        acc_q <= acc_mem[acc_raddr];
    end
    wire [T*OUT_W-1:0] ro_y;
    localparam integer OW_B = $clog2(OUT_W + 1);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [7:0] out_width_all = out_width;                     // a legal width fits OW_B bits
    /* verilator lint_on UNUSEDSIGNAL */
    generate
        for (gi = 0; gi < T; gi = gi + 1) begin : g_out
            localparam integer LI = gi;
            localparam [OFF_B-1:0] LID = LI[OFF_B-1:0];
            wire signed [OUT_W-1:0] yq;
            hwmoe_requant_runtime #(.IN_W(ACC2_W), .OUT_W(OUT_W), .SHIFT_B(SH_B)) u_rq (
                .din(acc_q[gi*ACC2_W +: ACC2_W]), .shift(ro_shift), .out_width(out_width_all[OW_B-1:0]),
                .dout(yq));
            assign ro_y[gi*OUT_W +: OUT_W] = ((rcoff1 + LID) < dim_d) ? yq : {OUT_W{1'b0}};
        end
    endgenerate
    always @(posedge clk) begin
        if (ro_inflight) fifo[f_wr] <= ro_y;
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, rd_en};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
