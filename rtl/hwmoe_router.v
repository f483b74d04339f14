// hwmoe_router: MoE router unit, bit-exact with hwmoe.kernels.router.router and hwmoe.kernels.moe.expert_queues.
//   logits = requant(x Wg^T) (no bias; exact accumulation, AP_RND + AP_SAT to logit_width/logit_frac), then top-k, softmax
//   over all experts and optional renormalisation (hwmoe_router_softmax), per-token routing beats, and after
//   each layer's tokens the per-expert token queues (hwmoe_router_queues).
//
// Organisation: tokens are written into one of four token buffers (block RAM); the gate weights (EXPERTS x
// dim, streamed once per layer) sit in EXPERT_PAR block RAMs.  The MAC array (EXPERT_PAR x LANES
// multipliers) computes EXPERT_PAR logits per pass over a buffered token, EXPERTS / EXPERT_PAR passes of
// ceil(dim/LANES) cycles per token, with the running maximum; the logits go to a double buffer read by the
// softmax stage.
//
// Parameters (build time: word widths and maxima)
//   LANES      : words per beat of the x and w streams
//   MAX_DIM    : largest token dimension (runtime `dim` <= MAX_DIM, LANES <= MAX_DIM)
//   EXPERTS    : number of experts; TOP_K: experts chosen per token; EXPERT_PAR: logits computed at once
//                (divides EXPERTS)
//   X_W, W_W   : token and gate-weight word widths (signed; narrower formats arrive sign-extended, exact)
//   L_W        : logit word width (signed): the widest run-time logit_width
//   MAX_TOKENS : largest `tokens` per layer (queue memory EXPERTS x MAX_TOKENS)
//   LOG2E      : round(log2(e) * 2^15);  EXP2, RECIP: $readmemh files of the exp2 and reciprocal tables, both
//                format-independent (U1.15 words of 2^-f for an EXP_IDX-bit fraction f, of 1/m for a mantissa
//                m indexed by its RECIP_IDX bits below the leading one; hwmoe.numerics.tables, passed by hwmoe)
//   FRAC_B     : width of the signed run-time fraction inputs (8: the program's format fields; derived)
//   LW_B       : width of logit_width, $clog2(L_W + 1) (derived)
//
// Control inputs (run time, held from reset): dim (1..MAX_DIM), tokens (per layer, 1..MAX_TOKENS), renorm
// (1: renormalise gates), x_frac, w_frac (fractional bits of x and of the gate weights, signed FRAC_B bits),
// logit_frac (the logits' fractional bits, signed FRAC_B bits, >= -15), logit_width (2..L_W: logits saturate
// at it).  Every value within these ranges is exact (shifts clamp where the result no longer changes).
// Streams (valid/ready; lane i in bits [i*W +: W]):
//   x : LANES x X_W bits; a token is ceil(dim/LANES) beats, lanes past dim in its last beat ignored.
//   w : LANES x W_W bits; per layer EXPERTS x ceil(dim/LANES) beats, expert 0's row first, same padding.
//       A layer's weights are taken after the previous layer's last token has been read by the MAC array.
//   y : 2*TOP_K lanes of 16 bits per token: expert indices (largest logit first), then gate weights (U1.15).
//   q : 5 lanes of 16 bits (hwmoe_router_queues): per layer, per expert a header [1, e, count, 0, 0] then
//       [0, e, token, slot, gate] for each token that chose e, in increasing token order.
`default_nettype none
module hwmoe_router #(
    parameter integer LANES      = 4,
    parameter integer MAX_DIM    = 24,
    parameter integer EXPERTS    = 4,
    parameter integer TOP_K      = 2,
    parameter integer EXPERT_PAR = 4,
    parameter integer X_W        = 16,
    parameter integer W_W        = 16,
    parameter integer L_W        = 16,
    parameter integer MAX_TOKENS = 16,
    parameter integer LOG2E      = 47274,
    parameter integer EXP_IDX    = 10,
    parameter integer RECIP_IDX  = 10,
    parameter         EXP2       = "exp2.mem",
    parameter         RECIP      = "recip.mem",
    // derived (do not override)
    parameter integer DIM_B      = $clog2(MAX_DIM + 1),
    parameter integer FRAC_B     = 8,
    parameter integer LW_B       = $clog2(L_W + 1)
) (
    input  wire                      clk,
    input  wire                      rst,
    input  wire [DIM_B-1:0]          dim,
    input  wire [15:0]               tokens,
    input  wire                      renorm,
    input  wire signed [FRAC_B-1:0]  x_frac,
    input  wire signed [FRAC_B-1:0]  w_frac,
    input  wire signed [FRAC_B-1:0]  logit_frac,
    input  wire [LW_B-1:0]           logit_width,
    input  wire [LANES*X_W-1:0]      x_tdata,
    input  wire                      x_tvalid,
    output wire                      x_tready,
    input  wire [LANES*W_W-1:0]      w_tdata,
    input  wire                      w_tvalid,
    output wire                      w_tready,
    output wire [2*TOP_K*16-1:0]     y_tdata,
    output wire                      y_tvalid,
    input  wire                      y_tready,
    output wire [5*16-1:0]           q_tdata,
    output wire                      q_tvalid,
    input  wire                      q_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1 || LANES > MAX_DIM) begin
            $error("hwmoe_router: LANES = %0d with MAX_DIM = %0d: need 1 <= LANES <= MAX_DIM", LANES, MAX_DIM);
            $finish;
        end
        if (EXPERT_PAR < 1 || EXPERTS % EXPERT_PAR != 0) begin
            $error("hwmoe_router: EXPERT_PAR = %0d does not divide EXPERTS = %0d", EXPERT_PAR, EXPERTS);
            $finish;
        end
    end
    localparam integer BMAX   = (MAX_DIM + LANES - 1) / LANES;
    localparam integer BEAT_W = $clog2(BMAX + 1);
    localparam integer LANE_W = $clog2(LANES + 1);
    localparam integer NPASS  = EXPERTS / EXPERT_PAR;
    localparam integer PASS_W = $clog2(NPASS + 1);
    localparam integer EP_W   = $clog2(EXPERT_PAR + 1);
    localparam integer XDEPTH = 4 * BMAX;
    localparam integer XA_W   = $clog2(XDEPTH);
    localparam integer WDEPTH = NPASS * BMAX;
    localparam integer WA_W   = (WDEPTH > 1) ? $clog2(WDEPTH) : 1;
    localparam integer BA_W   = (BMAX > 1) ? $clog2(BMAX) : 1;     // beat part of an address
    localparam integer PR_W   = X_W + W_W;
    localparam integer ACC_W  = PR_W + DIM_B;
    localparam integer SHIFT_B = FRAC_B + 2;                          // x_frac + w_frac - logit_frac

    wire signed [SHIFT_B-1:0] shift = {{2{x_frac[FRAC_B-1]}}, x_frac} + {{2{w_frac[FRAC_B-1]}}, w_frac}
                                      - {{2{logit_frac[FRAC_B-1]}}, logit_frac};

    // ------------------------------------------------------------------ init: row layout
    localparam [DIM_B:0] LANES_D = LANES[DIM_B:0];
    reg cnt_busy, init_done;
    reg [DIM_B:0] cnt_rem;                // ends as the lanes used in a token's last beat
    reg [BEAT_W-1:0] beats;
    always @(posedge clk) begin
        if (rst) begin
            cnt_busy <= 1'b1; cnt_rem <= {1'b0, dim}; beats <= {{(BEAT_W-1){1'b0}}, 1'b1}; init_done <= 1'b0;
        end else begin
            if (cnt_busy) begin
                if (cnt_rem > LANES_D) begin
                    cnt_rem <= cnt_rem - LANES_D;
                    beats <= beats + 1'b1;
                end else cnt_busy <= 1'b0;
            end
            init_done <= !cnt_busy;
        end
    end
    wire [LANE_W-1:0] last_lanes = cnt_rem[LANE_W-1:0];

    // ------------------------------------------------------------------ token buffers
    reg [2:0] x_in_ptr, x_mac_ptr;        // tokens written / tokens fully read by the MAC array
    reg [BEAT_W-1:0] xbeat;
    reg [XA_W-1:0] xbase;
    wire [2:0] x_held = x_in_ptr - x_mac_ptr;
    assign x_tready = init_done && (x_held != 3'd4);
    wire x_fire = x_tvalid && x_tready;
    wire x_lastbeat = (xbeat == beats - 1'b1);
    reg [LANES*X_W-1:0] x_masked;
    integer li;
    always @* begin
        for (li = 0; li < LANES; li = li + 1)
            x_masked[li*X_W +: X_W] = (!x_lastbeat || li < last_lanes) ? x_tdata[li*X_W +: X_W] : {X_W{1'b0}};
    end
    (* ram_style = "block" *) reg [LANES*X_W-1:0] xmem [0:XDEPTH-1];
    always @(posedge clk) begin
        if (x_fire) xmem[xbase + {{(XA_W-BEAT_W){1'b0}}, xbeat}] <= x_masked;
        if (rst) begin
            x_in_ptr <= 3'd0; xbeat <= {BEAT_W{1'b0}}; xbase <= {XA_W{1'b0}};
        end else if (x_fire) begin
            if (x_lastbeat) begin
                xbeat <= {BEAT_W{1'b0}};
                x_in_ptr <= x_in_ptr + 3'd1;
                xbase <= (x_in_ptr[1:0] == 2'd3) ? {XA_W{1'b0}} : xbase + BMAX[XA_W-1:0];
            end else xbeat <= xbeat + 1'b1;
        end
    end

    // ------------------------------------------------------------------ gate weights
    reg w_loaded;
    reg [BEAT_W-1:0] wbeat;
    reg [EP_W-1:0] wq;
    reg [PASS_W-1:0] wpass;
    reg [WA_W-1:0] wbase;
    assign w_tready = init_done && !w_loaded;
    wire w_fire = w_tvalid && w_tready;
    reg [LANES*W_W-1:0] w_masked;
    always @* begin
        for (li = 0; li < LANES; li = li + 1)
            w_masked[li*W_W +: W_W] = (wbeat != beats - 1'b1 || li < last_lanes) ? w_tdata[li*W_W +: W_W]
                                                                                : {W_W{1'b0}};
    end

    // ------------------------------------------------------------------ MAC array
    reg mac_active;
    reg [PASS_W-1:0] mpass;
    reg [BEAT_W-1:0] mbeat;
    reg [WA_W-1:0] mwbase;
    reg [15:0] mac_tok;                   // token of the layer being read by the MAC array
    reg [2:0] l_done_ptr, l_sw_ptr;       // tokens whose logits are complete / have been swept
    wire x_avail = (x_in_ptr != x_mac_ptr);
    wire l_free = ((x_mac_ptr - l_sw_ptr) != 3'd2);
    wire can_start = w_loaded && x_avail && l_free;
    wire m_issue = mac_active || can_start;
    wire m_beat_last = (mbeat == beats - 1'b1);
    wire m_pass_last = (mpass == NPASS[PASS_W-1:0] - 1'b1);
    wire m_tok_last = m_issue && m_beat_last && m_pass_last;
    reg [XA_W-1:0] mxbase;

    always @(posedge clk) begin
        if (rst) begin
            w_loaded <= 1'b0; wbeat <= {BEAT_W{1'b0}}; wq <= {EP_W{1'b0}}; wpass <= {PASS_W{1'b0}};
            wbase <= {WA_W{1'b0}};
            mac_active <= 1'b0; mpass <= {PASS_W{1'b0}}; mbeat <= {BEAT_W{1'b0}}; mwbase <= {WA_W{1'b0}};
            mac_tok <= 16'd0; x_mac_ptr <= 3'd0; mxbase <= {XA_W{1'b0}};
        end else begin
            if (w_fire) begin
                if (wbeat == beats - 1'b1) begin
                    wbeat <= {BEAT_W{1'b0}};
                    if (wq == EXPERT_PAR[EP_W-1:0] - 1'b1) begin
                        wq <= {EP_W{1'b0}};
                        if (wpass == NPASS[PASS_W-1:0] - 1'b1) begin
                            wpass <= {PASS_W{1'b0}};
                            wbase <= {WA_W{1'b0}};
                            w_loaded <= 1'b1;
                        end else begin
                            wpass <= wpass + 1'b1;
                            wbase <= wbase + BMAX[WA_W-1:0];
                        end
                    end else wq <= wq + 1'b1;
                end else wbeat <= wbeat + 1'b1;
            end
            if (m_issue) begin
                mac_active <= !m_tok_last;
                if (m_beat_last) begin
                    mbeat <= {BEAT_W{1'b0}};
                    if (m_pass_last) begin
                        mpass <= {PASS_W{1'b0}};
                        mwbase <= {WA_W{1'b0}};
                    end else begin
                        mpass <= mpass + 1'b1;
                        mwbase <= mwbase + BMAX[WA_W-1:0];
                    end
                end else mbeat <= mbeat + 1'b1;
                if (m_tok_last) begin
                    x_mac_ptr <= x_mac_ptr + 3'd1;
                    mxbase <= (x_mac_ptr[1:0] == 2'd3) ? {XA_W{1'b0}} : mxbase + BMAX[XA_W-1:0];
                    if (mac_tok == tokens - 16'd1) begin
                        mac_tok <= 16'd0;
                        w_loaded <= 1'b0;
                    end else mac_tok <= mac_tok + 16'd1;
                end
            end
        end
    end

    // stage 1: buffer reads; stage 2: products; stage 3: accumulate; stage 4: requantise, store, maximum
    reg mv1, mv2, mv3;
    reg mf1, mf2, ml1, ml2, mt1, mt2, mt3;
    reg ms1, ms2, ms3;                    // logit buffer slot
    reg [PASS_W-1:0] mp1, mp2, mp3;
    reg [LANES*X_W-1:0] xq;
    reg [EXPERT_PAR*LANES*W_W-1:0] wqd;
    reg [EXPERT_PAR*LANES*PR_W-1:0] prod2;
    reg [EXPERT_PAR*ACC_W-1:0] acc3;
    wire [EXPERT_PAR*L_W-1:0] logit3;

    genvar gq, gl;
    generate
        for (gq = 0; gq < EXPERT_PAR; gq = gq + 1) begin : g_slot
            localparam [EP_W-1:0] QID = gq;
            (* ram_style = "block" *) reg [LANES*W_W-1:0] wmem [0:WDEPTH-1];
            always @(posedge clk) begin
                if (w_fire && wq == QID) wmem[wbase + {{(WA_W-BA_W){1'b0}}, wbeat[BA_W-1:0]}] <= w_masked;
                if (m_issue) wqd[gq*LANES*W_W +: LANES*W_W] <=
                    wmem[mwbase + {{(WA_W-BA_W){1'b0}}, mbeat[BA_W-1:0]}];
            end
            for (gl = 0; gl < LANES; gl = gl + 1) begin : g_lane
                wire signed [X_W-1:0] xv = xq[gl*X_W +: X_W];
                wire signed [W_W-1:0] wv = wqd[(gq*LANES+gl)*W_W +: W_W];
                always @(posedge clk) prod2[(gq*LANES+gl)*PR_W +: PR_W] <= xv * wv;
            end
            reg signed [ACC_W-1:0] lane_sum;
            integer k;
            always @* begin
                lane_sum = mf2 ? {ACC_W{1'b0}} : acc3[gq*ACC_W +: ACC_W];
                for (k = 0; k < LANES; k = k + 1)
                    lane_sum = lane_sum + {{(ACC_W-PR_W){prod2[(gq*LANES+k)*PR_W+PR_W-1]}},
                                           prod2[(gq*LANES+k)*PR_W +: PR_W]};
            end
            always @(posedge clk) if (mv2) acc3[gq*ACC_W +: ACC_W] <= lane_sum;
            hwmoe_requant_runtime #(.IN_W(ACC_W), .OUT_W(L_W), .SHIFT_B(SHIFT_B)) u_requant (
                .din(acc3[gq*ACC_W +: ACC_W]), .shift(shift), .out_width(logit_width),
                .dout(logit3[gq*L_W +: L_W]));
        end
    endgenerate

    // maximum of this pass's logits and the running maximum
    reg [L_W-1:0] run_max;
    reg [L_W-1:0] pass_max;
    integer m;
    always @* begin
        pass_max = mp3 == {PASS_W{1'b0}} ? logit3[0 +: L_W] : run_max;
        for (m = 0; m < EXPERT_PAR; m = m + 1)
            if ($signed(logit3[m*L_W +: L_W]) > $signed(pass_max)) pass_max = logit3[m*L_W +: L_W];
    end

    reg [EXPERTS*L_W-1:0] lv0, lv1;
    reg [L_W-1:0] lmax0, lmax1;
    wire lv_done;
    always @(posedge clk) begin
        if (rst) begin
            mv1 <= 1'b0; mv2 <= 1'b0; mv3 <= 1'b0;
            l_done_ptr <= 3'd0; l_sw_ptr <= 3'd0;
        end else begin
            mv1 <= m_issue; mv2 <= mv1; mv3 <= mv2 && ml2;
            if (mv3 && mt3) l_done_ptr <= l_done_ptr + 3'd1;
            if (lv_done) l_sw_ptr <= l_sw_ptr + 3'd1;
        end
        xq <= xmem[mxbase + {{(XA_W-BEAT_W){1'b0}}, mbeat}];
        mf1 <= (mbeat == {BEAT_W{1'b0}}); ml1 <= m_beat_last; mt1 <= m_pass_last; ms1 <= x_mac_ptr[0];
        mp1 <= mpass;
        mf2 <= mf1; ml2 <= ml1; mt2 <= mt1; ms2 <= ms1; mp2 <= mp1;
        mt3 <= mt2; ms3 <= ms2; mp3 <= mp2;
        if (mv3) begin
            run_max <= pass_max;
            if (mt3) begin
                if (ms3) lmax1 <= pass_max;
                else lmax0 <= pass_max;
            end
            if (ms3) lv1[mp3*EXPERT_PAR*L_W +: EXPERT_PAR*L_W] <= logit3;
            else lv0[mp3*EXPERT_PAR*L_W +: EXPERT_PAR*L_W] <= logit3;
        end
    end

    // ------------------------------------------------------------------ selection, gates, queues
    wire sm_valid, sm_ready;
    wire [TOP_K*16-1:0] sm_idx, sm_gate;
    hwmoe_router_softmax #(
        .EXPERTS(EXPERTS), .TOP_K(TOP_K), .L_W(L_W), .FRAC_B(FRAC_B), .LOG2E(LOG2E),
        .EXP_IDX(EXP_IDX), .RECIP_IDX(RECIP_IDX), .EXP2(EXP2), .RECIP(RECIP)
    ) u_softmax (
        .clk(clk), .rst(rst), .renorm(renorm), .logit_frac(logit_frac),
        .lv_valid(l_done_ptr != l_sw_ptr), .lv_data(l_sw_ptr[0] ? lv1 : lv0), .lv_max(l_sw_ptr[0] ? lmax1 : lmax0),
        .lv_done(lv_done), .out_valid(sm_valid), .out_ready(sm_ready), .out_idx(sm_idx), .out_gate(sm_gate));

    // the routing beat goes to the r stream and to the queues together
    wire g_tready;
    assign y_tdata = {sm_gate, sm_idx};
    assign y_tvalid = sm_valid && g_tready;
    assign sm_ready = y_tready && g_tready;
    hwmoe_router_queues #(.EXPERTS(EXPERTS), .TOP_K(TOP_K), .MAX_TOKENS(MAX_TOKENS)) u_queues (
        .clk(clk), .rst(rst), .tokens(tokens),
        .g_tdata({sm_gate, sm_idx}), .g_tvalid(sm_valid && y_tready), .g_tready(g_tready),
        .q_tdata(q_tdata), .q_tvalid(q_tvalid), .q_tready(q_tready));
endmodule
`default_nettype wire
