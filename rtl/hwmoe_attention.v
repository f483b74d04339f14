// hwmoe_attention: streaming multi-head attention, out = softmax(q k^T * scale) v per head, without the
// N x N score matrix (docs/numerics.md section 7, reference hwmoe.kernels.attention.attention).
//
// Per head, K and V (tokens x HEAD_DIM each) are streamed in once and held in block RAM; the query rows are
// then processed in groups of P rows, each group replaying K/V from the buffers block by block (BLOCK keys):
// per block, scores t = requant(q . k * C) for the P rows (SCORE), the running maximum, then the rescale of
// the A.V accumulators and of the running sum by 2^-(m_new - m_old) and acc += e_j * v_j with
// e_j = 2^-(m_new - t_j) (AV). After the last block each row is normalised by its running sum and streamed
// out (output engine, overlapped with the next group). BLOCK is part of the numerics: it must equal the
// reference's ``block`` (the plan's attention_block).
//
// Each row has LANES multipliers, time-shared between q.k (SCORE) and e.v / accumulator rescale (AV).
// Schedule per head (clean streams), CH = HEAD_DIM / LANES, N = tokens, nb = keys in the block:
//   KV load  N*CH cycles (K and V concurrently);  per group of P_g <= P rows: QLOAD P_g*CH cycles, then per
//   block SCORE nb*CH + drain 6 + exp start 3 + AV CH*(nb+2), then 3 cycles before the output engine starts.
//   The output engine emits P_g*CH beats (latency 3) while the next group loads and scores; the next group
//   waits before its first rescale until the engine has read every accumulator (only a short last group
//   can wait). See hwmoe.kernels.attention.cycles for the closed form.
// Multipliers: P*LANES lane multipliers (A_W x B_W, one DSP48E2 up to 27 x 18), per row s*C (S_W x C_W) and
// l*r (L_W x 16), LANES output normalisers (ACC_W x 17). Memories: K and V buffers (block RAM,
// MAX_TOKENS*HEAD_DIM/LANES x LANES words, registered read), per row the exp2 and reciprocal tables
// (2^EXP_IDX and 2^RECIP_IDX x 16 ROMs) and small LUT RAMs (q, accumulators).
//
// Build-time parameters (the datapath: word widths and maxima, the widest any run needs)
//   P          : query rows in flight (parallel rows of LANES multipliers each)
//   BLOCK      : keys per softmax block (numerics: must match the reference's block)
//   HEAD_DIM   : head dimension, a multiple of LANES
//   MAX_HEADS  : largest run-time number of heads
//   MAX_TOKENS : largest runtime token count (sizes the K/V buffers: MAX_TOKENS*HEAD_DIM words each)
//   LANES      : words per stream beat and multipliers per row
//   Q_W, K_W, V_W : q, k, v word widths (signed); a narrower format's words arrive sign-extended (exact)
//   T_W        : score register width (signed), the largest run-time score width t_width
//   OUT_W      : output word width (signed), the largest run-time output width out_width
//   C_W        : width of the score constant c_value (unsigned; hwmoe.kernels.attention.SCORE_CONSTANT_WIDTH)
//   EXP_IDX, RECIP_IDX : index bits of the exp2 and reciprocal tables (hwmoe.numerics.tables.EXP_INDEX_BITS,
//                RECIP_INDEX_BITS, passed by hwmoe)
//   EXP_TABLE, RECIP_TABLE : $readmemh files of the exp2 and reciprocal tables (2^EXP_IDX, 2^RECIP_IDX x 16
//                bits, Q15: format-independent)
//   derived (do not override): TOKENS_B, HEADS_B, FRAC_B, T_B, OUT_B, the widths of the control inputs
//                (W_MAX0 .. W_MAX4: steps of the widest word, for FRAC_B)
//
// Run-time control inputs, held constant from reset for the whole run (a run is one attention call):
//   tokens     : 1 .. MAX_TOKENS                                    (TOKENS_B = clog2(MAX_TOKENS + 1) bits)
//   heads      : 1 .. MAX_HEADS                                     (HEADS_B = clog2(MAX_HEADS + 1) bits)
//   q_frac, k_frac, v_frac : fractional bits of q, k, v             (signed, FRAC_B bits)
//   t_width, t_frac : the score format: width 2 .. T_W, fractional bits 0 .. t_width (T_B bits each)
//   out_width, out_frac : the output format: width 2 .. OUT_W (OUT_B bits), fractional bits (signed, FRAC_B)
//   c_value, c_frac : the score constant scale*log2(e) (hwmoe.kernels.attention.score_constant): C_W bits
//                unsigned and its fractional bits (signed, FRAC_B)
//   FRAC_B = clog2(widest word, the 16-bit exp2/reciprocal words included) + 2: a fraction lies in
//   -2^(FRAC_B-1) .. 2^(FRAC_B-1) - 1 (at least -2 W .. 2 W - 1 for every word width W). Every value of these
//   inputs is computed exactly: the scores are requantised by the run-time shift q_frac + k_frac + c_frac -
//   t_frac and saturated at t_width, the exp2 input is aligned to 8 fractional bits, the output shifted by
//   v_frac + 15 + p - out_frac and saturated at out_width (hwmoe_requant_runtime: AP_RND, AP_SAT).
// Streams (AXI4-Stream style valid/ready, lane i in bits [i*W +: W]), each LANES words per beat:
//   q_* (LANES*Q_W bits/beat), k_* (LANES*K_W), v_* (LANES*V_W) in; y_* (LANES*OUT_W) out.
//   Order of every stream: head-major, then token, then HEAD_DIM/LANES chunks of LANES words, i.e. for head h
//   the rows x[:, h*HEAD_DIM:(h+1)*HEAD_DIM] one after another. K/V of head h are accepted once head h-1's
//   last group has been scored, q rows of head h group by group after them; the streams may arrive in any
//   interleaving the handshakes allow (a stream is simply not ready while the kernel is elsewhere).
`default_nettype none
module hwmoe_attention #(
    parameter integer P          = 4,
    parameter integer BLOCK      = 16,
    parameter integer HEAD_DIM   = 16,
    parameter integer MAX_HEADS  = 2,
    parameter integer MAX_TOKENS = 32,
    parameter integer LANES      = 8,
    parameter integer Q_W        = 16,
    parameter integer K_W        = 16,
    parameter integer V_W        = 16,
    parameter integer T_W        = 16,
    parameter integer OUT_W      = 16,
    parameter integer C_W        = 16,
    parameter integer EXP_IDX    = 10,
    parameter integer RECIP_IDX  = 10,
    parameter         EXP_TABLE  = "exp2.mem",
    parameter         RECIP_TABLE = "recip.mem",
    // derived (do not override)
    parameter integer TOKENS_B   = $clog2(MAX_TOKENS + 1),
    parameter integer HEADS_B    = $clog2(MAX_HEADS + 1),
    parameter integer W_MAX0     = (Q_W > K_W) ? Q_W : K_W,
    parameter integer W_MAX1     = (V_W > T_W) ? V_W : T_W,
    parameter integer W_MAX2     = (OUT_W > C_W) ? OUT_W : C_W,
    parameter integer W_MAX3     = (W_MAX0 > W_MAX1) ? W_MAX0 : W_MAX1,
    parameter integer W_MAX4     = (W_MAX2 > 16) ? W_MAX2 : 16,
    parameter integer FRAC_B     = $clog2((W_MAX3 > W_MAX4) ? W_MAX3 : W_MAX4) + 2,
    parameter integer T_B        = $clog2(T_W + 1),
    parameter integer OUT_B      = $clog2(OUT_W + 1)
) (
    input  wire                              clk,
    input  wire                              rst,
    input  wire [TOKENS_B-1:0]               tokens,
    input  wire [HEADS_B-1:0]                heads,
    input  wire signed [FRAC_B-1:0]          q_frac,
    input  wire signed [FRAC_B-1:0]          k_frac,
    input  wire signed [FRAC_B-1:0]          v_frac,
    input  wire [T_B-1:0]                    t_width,
    input  wire [T_B-1:0]                    t_frac,
    input  wire [OUT_B-1:0]                  out_width,
    input  wire signed [FRAC_B-1:0]          out_frac,
    input  wire [C_W-1:0]                    c_value,
    input  wire signed [FRAC_B-1:0]          c_frac,
    input  wire [LANES*Q_W-1:0]              q_tdata,
    input  wire                              q_tvalid,
    output wire                              q_tready,
    input  wire [LANES*K_W-1:0]              k_tdata,
    input  wire                              k_tvalid,
    output wire                              k_tready,
    input  wire [LANES*V_W-1:0]              v_tdata,
    input  wire                              v_tvalid,
    output wire                              v_tready,
    output wire [LANES*OUT_W-1:0]            y_tdata,
    output wire                              y_tvalid,
    input  wire                              y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (P < 1 || BLOCK < 1 || MAX_HEADS < 1 || LANES < 1 || MAX_TOKENS < 1) begin
            $error("hwmoe_attention: P, BLOCK, MAX_HEADS, LANES, MAX_TOKENS = %0d, %0d, %0d, %0d, %0d: each must be >= 1",
                   P, BLOCK, MAX_HEADS, LANES, MAX_TOKENS);
            $finish;
        end
        if (HEAD_DIM < LANES || HEAD_DIM % LANES != 0) begin
            $error("hwmoe_attention: HEAD_DIM = %0d is not a multiple of LANES = %0d", HEAD_DIM, LANES);
            $finish;
        end
        if (Q_W < 2 || K_W < 2 || V_W < 2 || T_W < 2 || OUT_W < 2 || C_W < 1) begin
            $error("hwmoe_attention: Q_W, K_W, V_W, T_W, OUT_W, C_W = %0d, %0d, %0d, %0d, %0d, %0d: signed words need 2 bits, C_W 1",
                   Q_W, K_W, V_W, T_W, OUT_W, C_W);
            $finish;
        end
    end
    localparam integer CH     = HEAD_DIM / LANES;
    localparam integer CH_W   = (CH > 1) ? $clog2(CH) : 1;
    localparam integer JB_W   = (BLOCK > 1) ? $clog2(BLOCK) : 1;
    localparam integer NB_W   = $clog2(BLOCK + 2);               // 0 .. BLOCK+1
    localparam integer ROW_W  = (P > 1) ? $clog2(P) : 1;
    localparam integer RG_W   = $clog2(P + 1);
    localparam integer DEPTH  = MAX_TOKENS * CH;
    localparam integer ADDR_W = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer ACC_W  = V_W + 15 + TOKENS_B;                 // |acc| < tokens * 2^15 * 2^(V_W-1)
    localparam integer L_W    = 15 + TOKENS_B;                       // l < tokens * 2^15
    localparam integer LP_W   = $clog2(L_W);
    localparam [3:0]   SD_LAST = 4'd5;                             // score pipeline drain: 6 cycles
    localparam integer AW_W   = ADDR_W + 1;

    localparam [2:0] OP_NONE = 3'd0, OP_SCORE = 3'd1, OP_RSH = 3'd2, OP_RSL = 3'd3, OP_AV = 3'd4;
    localparam [2:0] ST_KV = 3'd0, ST_QL = 3'd1, ST_SC = 3'd2, ST_SD = 3'd3, ST_SX = 3'd4, ST_AV = 3'd5,
                     ST_OD = 3'd6, ST_DONE = 3'd7;
    localparam integer CH_LAST_I = CH - 1;
    localparam [CH_W-1:0] CH_LAST = CH_LAST_I[CH_W-1:0];
    localparam integer CH_STEP_I = CH;
    localparam [AW_W-1:0] CH_STEP = CH_STEP_I[AW_W-1:0];
    localparam integer CH_V_I = CH;
    localparam [CH_W:0] CH_V = CH_V_I[CH_W:0];
    localparam integer CMP_W = ((TOKENS_B > NB_W) ? TOKENS_B : NB_W) + RG_W + 1;
    localparam integer BLOCK_C_I = BLOCK;
    localparam [CMP_W-1:0] BLOCK_C = BLOCK_C_I[CMP_W-1:0];
    localparam integer P_C_I = P;
    localparam [CMP_W-1:0] P_C = P_C_I[CMP_W-1:0];
    localparam integer BLOCK_NB_I = BLOCK;
    localparam [NB_W-1:0] BLOCK_NB = BLOCK_NB_I[NB_W-1:0];
    localparam integer P_RG_I = P;
    localparam [RG_W-1:0] P_RG = P_RG_I[RG_W-1:0];
    localparam integer P_TOK_I = P;
    localparam [TOKENS_B-1:0] P_TOK = P_TOK_I[TOKENS_B-1:0];
    localparam integer SHIFT_B = FRAC_B + 3;   // sums of four terms, each below 2^FRAC_B in magnitude

    // ---------------------------------------------------------------- run-time formats
    // scores: s * C has q_frac + k_frac + c_frac fractional bits, t has t_frac
    wire signed [SHIFT_B-1:0] score_shift = {{3{q_frac[FRAC_B-1]}}, q_frac} + {{3{k_frac[FRAC_B-1]}}, k_frac} +
                                            {{3{c_frac[FRAC_B-1]}}, c_frac} -
                                            $signed({{(SHIFT_B-T_B){1'b0}}, t_frac});
    // output: acc * r has v_frac + 15 + 15 + p fractional bits, 1/l's 15 + p are the reciprocal's
    localparam signed [SHIFT_B-1:0] Q15_S = 15;
    wire signed [SHIFT_B-1:0] norm_shift = {{3{v_frac[FRAC_B-1]}}, v_frac} + Q15_S -
                                           {{3{out_frac[FRAC_B-1]}}, out_frac};

    // ---------------------------------------------------------------- sequencer state
    reg [2:0]        state;
    reg [HEADS_B-1:0] head;
    reg [TOKENS_B-1:0]  i0;           // first query row of the group
    reg [TOKENS_B-1:0]  j0;           // first key of the block
    reg              first_blk;
    reg [ADDR_W-1:0] kcnt, vcnt;   // K/V load counters
    reg              k_done, v_done;
    reg [ROW_W-1:0]  qrow;
    reg [CH_W-1:0]   qc;
    reg [JB_W-1:0]   sj;           // SCORE: key in block
    reg [CH_W-1:0]   sc;           // SCORE / AV: chunk
    reg [NB_W-1:0]   ap;           // AV: 0 = RSH, 1 = RSL, 2 + j = AV of key j
    reg [AW_W-1:0]   kaddr, vaddr, vbase;
    reg [3:0]        cnt;
    reg              e_act;        // exp issuer
    reg [JB_W-1:0]   e_j;
    reg              o_busy;       // output engine is issuing

    wire [TOKENS_B-1:0] rows_left = tokens - i0;
    wire [TOKENS_B-1:0] keys_left = tokens - j0;
    wire [CMP_W-1:0] rows_left_c = {{(CMP_W-TOKENS_B){1'b0}}, rows_left};
    wire [CMP_W-1:0] keys_left_c = {{(CMP_W-TOKENS_B){1'b0}}, keys_left};
    wire             last_group = (rows_left_c <= P_C);
    wire             last_block = (keys_left_c <= BLOCK_C);
    /* verilator lint_off UNUSEDSIGNAL */
    wire [CMP_W-1:0] j0_next = {{(CMP_W-TOKENS_B){1'b0}}, j0} + {{(CMP_W-NB_W){1'b0}}, nb};   // < tokens if used
    /* verilator lint_on UNUSEDSIGNAL */
    wire [RG_W-1:0]  rows_g = last_group ? rows_left_c[RG_W-1:0] : P_RG;
    wire [NB_W-1:0]  nb     = last_block ? keys_left_c[NB_W-1:0] : BLOCK_NB;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [TOKENS_B+CH_W:0] kv_beats = tokens * CH_V;   // < 2^ADDR_W + 1
    /* verilator lint_on UNUSEDSIGNAL */
    wire [ADDR_W-1:0] kv_last = kv_beats[ADDR_W-1:0] - 1'b1;
    wire [JB_W-1:0]  nb_last = nb[JB_W-1:0] - 1'b1;         // nb - 1 < BLOCK
    wire [NB_W-1:0]  ap_last = nb + 1'b1;
    wire [RG_W-1:0]  qrow_ext = {{(RG_W-ROW_W){1'b0}}, qrow};

    // ---------------------------------------------------------------- K/V buffers
    (* ram_style = "block" *) reg [LANES*K_W-1:0] kbuf [0:DEPTH-1];
    (* ram_style = "block" *) reg [LANES*V_W-1:0] vbuf [0:DEPTH-1];
    reg [LANES*K_W-1:0] kq;
    reg [LANES*V_W-1:0] vq;
    wire k_hs = k_tvalid && k_tready;
    wire v_hs = v_tvalid && v_tready;
    wire q_hs = q_tvalid && q_tready;
    assign k_tready = (state == ST_KV) && !k_done;
    assign v_tready = (state == ST_KV) && !v_done;
    assign q_tready = (state == ST_QL);
    always @(posedge clk) begin
        if (k_hs) kbuf[kcnt] <= k_tdata;
        if (v_hs) vbuf[vcnt] <= v_tdata;
        kq <= kbuf[kaddr[ADDR_W-1:0]];
        vq <= vbuf[vaddr[ADDR_W-1:0]];
    end
    wire k_fin = k_done || (k_hs && kcnt == kv_last);
    wire v_fin = v_done || (v_hs && vcnt == kv_last);

    // ---------------------------------------------------------------- operation issued at S0
    reg [2:0]      op_kind;
    reg [JB_W-1:0] op_j;
    localparam [NB_W-1:0] AP_1 = 1, AP_2 = 2;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [NB_W-1:0] ap_m2 = ap - AP_2;
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        op_kind = OP_NONE;
        op_j = sj;
        if (state == ST_SC) op_kind = OP_SCORE;
        else if (state == ST_AV) begin
            op_kind = (ap == {NB_W{1'b0}}) ? OP_RSH : (ap == AP_1) ? OP_RSL : OP_AV;
            op_j = ap_m2[JB_W-1:0];
        end
    end
    wire op_jlast = (op_j == nb_last);
    wire er0      = (state == ST_SX) && (cnt == 4'd2);
    wire o_start  = (state == ST_OD) && (cnt == 4'd0);

    // control delay line: {kind, c, j, jlast, first}
    localparam integer OPB = 3 + CH_W + JB_W + 2;
    reg [OPB-1:0] opd [1:6];
    integer s;
    always @(posedge clk) begin
        opd[1] <= rst ? {OPB{1'b0}} : {op_kind, sc, op_j, op_jlast, first_blk};
        for (s = 2; s <= 6; s = s + 1) opd[s] <= rst ? {OPB{1'b0}} : opd[s-1];
    end
    // field extraction
    wire [2:0]      kind1 = opd[1][OPB-1 -: 3];
    wire [CH_W-1:0] c1    = opd[1][JB_W+2 +: CH_W];
    wire [JB_W-1:0] j1    = opd[1][2 +: JB_W];
    wire [2:0]      kind3 = opd[3][OPB-1 -: 3];
    wire [CH_W-1:0] c3    = opd[3][JB_W+2 +: CH_W];
    wire            last3 = opd[3][1];
    wire            first3 = opd[3][0];
    wire [2:0]      kind4 = opd[4][OPB-1 -: 3];
    wire [CH_W-1:0] c4    = opd[4][JB_W+2 +: CH_W];
    wire [2:0]      kind5 = opd[5][OPB-1 -: 3];
    wire [CH_W-1:0] c5    = opd[5][JB_W+2 +: CH_W];
    wire [2:0]      kind6 = opd[6][OPB-1 -: 3];
    wire [CH_W-1:0] c6    = opd[6][JB_W+2 +: CH_W];
    wire [JB_W-1:0] j6    = opd[6][2 +: JB_W];
    wire sc4 = (kind4 == OP_SCORE);
    wire cfirst4 = (c4 == {CH_W{1'b0}});
    wire clast4 = (c4 == CH_LAST);
    wire sv5 = (kind5 == OP_SCORE) && (c5 == CH_LAST);
    wire sv6 = (kind6 == OP_SCORE) && (c6 == CH_LAST);

    // exp ops: R at er0, E for j = 0..nb-1 on the following cycles; captured 3 cycles later
    wire ee0 = e_act;
    wire elast0 = (e_j == nb_last);
    localparam integer EB = 3 + JB_W + 1;      // {r, e, last, j, first}
    reg [EB-1:0] ed1, ed2, ed3;
    always @(posedge clk) begin
        ed1 <= rst ? {EB{1'b0}} : {er0, ee0, elast0, e_j, first_blk};
        ed2 <= rst ? {EB{1'b0}} : ed1;
        ed3 <= rst ? {EB{1'b0}} : ed2;
    end
    wire            cr     = ed3[EB-1];
    wire            ce     = ed3[EB-2];
    wire            clast  = ed3[EB-3];
    wire [JB_W-1:0] cj     = ed3[1 +: JB_W];
    wire            cfirst = ed3[0];

    // ---------------------------------------------------------------- sequencer
    always @(posedge clk) begin
        if (rst) begin
            state <= ST_KV;
            head <= {HEADS_B{1'b0}};
            i0 <= {TOKENS_B{1'b0}};
            j0 <= {TOKENS_B{1'b0}};
            first_blk <= 1'b1;
            kcnt <= {ADDR_W{1'b0}};
            vcnt <= {ADDR_W{1'b0}};
            k_done <= 1'b0;
            v_done <= 1'b0;
            qrow <= {ROW_W{1'b0}};
            qc <= {CH_W{1'b0}};
            sj <= {JB_W{1'b0}};
            sc <= {CH_W{1'b0}};
            ap <= {NB_W{1'b0}};
            kaddr <= {AW_W{1'b0}};
            vaddr <= {AW_W{1'b0}};
            vbase <= {AW_W{1'b0}};
            cnt <= 4'd0;
            e_act <= 1'b0;
            e_j <= {JB_W{1'b0}};
        end else begin
            // exp issuer
            if (er0) begin
                e_act <= 1'b1;
                e_j <= {JB_W{1'b0}};
            end else if (e_act) begin
                e_j <= e_j + 1'b1;
                if (elast0) e_act <= 1'b0;
            end
            case (state)
                ST_KV: begin
                    if (k_hs) begin
                        kcnt <= kcnt + 1'b1;
                        if (kcnt == kv_last) k_done <= 1'b1;
                    end
                    if (v_hs) begin
                        vcnt <= vcnt + 1'b1;
                        if (vcnt == kv_last) v_done <= 1'b1;
                    end
                    if (k_fin && v_fin) begin
                        state <= ST_QL;
                        qrow <= {ROW_W{1'b0}};
                        qc <= {CH_W{1'b0}};
                    end
                end
                ST_QL: if (q_hs) begin
                    if (qc == CH_LAST) begin
                        qc <= {CH_W{1'b0}};
                        qrow <= qrow + 1'b1;
                        if (qrow_ext == rows_g - 1'b1) begin
                            state <= ST_SC;
                            j0 <= {TOKENS_B{1'b0}};
                            first_blk <= 1'b1;
                            sj <= {JB_W{1'b0}};
                            sc <= {CH_W{1'b0}};
                            kaddr <= {AW_W{1'b0}};
                            vbase <= {AW_W{1'b0}};
                        end
                    end else begin
                        qc <= qc + 1'b1;
                    end
                end
                ST_SC: begin
                    kaddr <= kaddr + 1'b1;
                    if (sc == CH_LAST) begin
                        sc <= {CH_W{1'b0}};
                        sj <= sj + 1'b1;
                        if (sj == nb_last) begin
                            state <= ST_SD;
                            cnt <= SD_LAST;
                        end
                    end else begin
                        sc <= sc + 1'b1;
                    end
                end
                ST_SD: begin
                    if (cnt != 4'd0) cnt <= cnt - 1'b1;
                    else if (!o_busy) begin      // the previous group's output must have been read out
                        state <= ST_SX;
                        cnt <= 4'd2;
                    end
                end
                ST_SX: begin
                    cnt <= cnt - 1'b1;
                    if (cnt == 4'd0) begin
                        state <= ST_AV;
                        ap <= {NB_W{1'b0}};
                        sc <= {CH_W{1'b0}};
                    end
                end
                ST_AV: begin
                    if (ap == {NB_W{1'b0}}) vaddr <= vbase + {{(AW_W-CH_W){1'b0}}, sc};
                    else if (ap != AP_1) vaddr <= vaddr + CH_STEP;
                    if (ap == ap_last) begin
                        ap <= {NB_W{1'b0}};
                        sc <= sc + 1'b1;
                        if (sc == CH_LAST) begin
                            sc <= {CH_W{1'b0}};
                            if (last_block) begin
                                state <= ST_OD;
                                cnt <= 4'd2;
                            end else begin
                                state <= ST_SC;
                                j0 <= j0_next[TOKENS_B-1:0];
                                first_blk <= 1'b0;
                                sj <= {JB_W{1'b0}};
                                vbase <= kaddr;
                            end
                        end
                    end else begin
                        ap <= ap + 1'b1;
                    end
                end
                ST_OD: begin
                    cnt <= cnt - 1'b1;
                    if (cnt == 4'd0) begin
                        i0 <= i0 + P_TOK;
                        if (last_group) begin
                            i0 <= {TOKENS_B{1'b0}};
                            if (head == heads - 1'b1) state <= ST_DONE;
                            else begin
                                head <= head + 1'b1;
                                state <= ST_KV;
                                kcnt <= {ADDR_W{1'b0}};
                                vcnt <= {ADDR_W{1'b0}};
                                k_done <= 1'b0;
                                v_done <= 1'b0;
                            end
                        end else begin
                            state <= ST_QL;
                            qrow <= {ROW_W{1'b0}};
                            qc <= {CH_W{1'b0}};
                        end
                    end
                end
                default: ;
            endcase
        end
    end

    // ---------------------------------------------------------------- rows
    wire [P*LANES*ACC_W-1:0] rd_acc;
    wire [P*16-1:0]          rr;
    wire [P*LP_W-1:0]        rp;
    reg  [ROW_W-1:0]         o_row;
    reg  [CH_W-1:0]          o_c;
    genvar g;
    generate
        for (g = 0; g < P; g = g + 1) begin : g_row
            localparam [ROW_W-1:0] ROW = g;
            hwmoe_attention_row #(
                .LANES(LANES), .HEAD_DIM(HEAD_DIM), .BLOCK(BLOCK),
                .Q_W(Q_W), .K_W(K_W), .V_W(V_W), .T_W(T_W), .C_W(C_W),
                .EXP_IDX(EXP_IDX), .RECIP_IDX(RECIP_IDX), .EXP_TABLE(EXP_TABLE), .RECIP_TABLE(RECIP_TABLE),
                .CH_W(CH_W), .JB_W(JB_W), .ACC_W(ACC_W), .L_W(L_W), .LP_W(LP_W),
                .SHIFT_B(SHIFT_B), .T_B(T_B)
            ) u_row (
                .clk(clk), .c_value(c_value), .score_shift(score_shift), .t_width(t_width), .t_frac(t_frac),
                .q_we(q_hs && qrow == ROW), .q_wc(qc), .q_wdata(q_tdata),
                .kind1(kind1), .c1(c1), .j1(j1), .kdata(kq), .vdata(vq),
                .kind3(kind3), .c3(c3), .last3(last3), .first3(first3),
                .sc4(sc4), .cfirst4(cfirst4), .clast4(clast4), .sv5(sv5), .sv6(sv6), .j6(j6),
                .er(er0), .ee(ee0), .ej(e_j), .efirst(first_blk),
                .cr(cr), .ce(ce), .cj(cj), .clast(clast), .cfirst(cfirst),
                .rd_c(o_c), .rd_acc(rd_acc[g*LANES*ACC_W +: LANES*ACC_W]),
                .rr(rr[g*16 +: 16]), .rp(rp[g*LP_W +: LP_W])
            );
        end
    endgenerate

    // ---------------------------------------------------------------- output engine
    reg [RG_W-1:0] o_rows;
    reg ov1, ov2, ov3;
    reg [LANES*ACC_W-1:0] o1_acc;
    reg [15:0] o1_r;
    reg [LP_W-1:0] o1_p;
    wire o_adv   = !ov3 || y_tready;
    wire o_issue = o_busy && o_adv;
    wire [RG_W-1:0] o_row_ext = {{(RG_W-ROW_W){1'b0}}, o_row};
    always @(posedge clk) begin
        if (rst) begin
            o_busy <= 1'b0;
            o_row <= {ROW_W{1'b0}};
            o_c <= {CH_W{1'b0}};
            o_rows <= {RG_W{1'b0}};
            ov1 <= 1'b0;
            ov2 <= 1'b0;
            ov3 <= 1'b0;
        end else begin
            if (o_start) begin
                o_busy <= 1'b1;
                o_row <= {ROW_W{1'b0}};
                o_c <= {CH_W{1'b0}};
                o_rows <= rows_g;
            end else if (o_issue) begin
                if (o_c == CH_LAST) begin
                    o_c <= {CH_W{1'b0}};
                    o_row <= o_row + 1'b1;
                    if (o_row_ext == o_rows - 1'b1) o_busy <= 1'b0;
                end else begin
                    o_c <= o_c + 1'b1;
                end
            end
            if (o_adv) begin
                ov1 <= o_issue;
                ov2 <= ov1;
                ov3 <= ov2;
            end
        end
    end
    reg [LANES*ACC_W-1:0] o_acc;
    reg [15:0] o_r;
    reg [LP_W-1:0] o_p;
    integer x;
    always @* begin
        o_acc = rd_acc[0 +: LANES*ACC_W];
        o_r = rr[0 +: 16];
        o_p = rp[0 +: LP_W];
        for (x = 1; x < P; x = x + 1) begin
            if (o_row == x[ROW_W-1:0]) begin
                o_acc = rd_acc[x*LANES*ACC_W +: LANES*ACC_W];
                o_r = rr[x*16 +: 16];
                o_p = rp[x*LP_W +: LP_W];
            end
        end
    end
    always @(posedge clk) begin
        if (o_adv) begin
            o1_acc <= o_acc;
            o1_r   <= o_r;
            o1_p   <= o_p;
        end
    end
    generate
        for (g = 0; g < LANES; g = g + 1) begin : g_norm
            hwmoe_attention_norm #(
                .ACC_W(ACC_W), .LP_W(LP_W), .OUT_W(OUT_W), .BASE_B(SHIFT_B)
            ) u_norm (
                .clk(clk), .en(o_adv), .acc(o1_acc[g*ACC_W +: ACC_W]), .r(o1_r), .p(o1_p),
                .base_shift(norm_shift), .out_width(out_width),
                .y(y_tdata[g*OUT_W +: OUT_W])
            );
        end
    endgenerate
    assign y_tvalid = ov3;
endmodule
`default_nettype wire
