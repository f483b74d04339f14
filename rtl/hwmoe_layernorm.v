// hwmoe_layernorm: LayerNorm unit, bit-exact with hwmoe.kernels.layernorm.layernorm (docs/numerics.md
// section 6).  Per row of `dim` words:
//   xs = x rounded to STAT_W bits (AP_RND, AP_SAT), mean = round(sum(xs) * R / 2^24),
//   E[x^2] = round(sum(xs^2) * R / 2^24) with R = round(2^24 / dim); v = max(max(E[x^2] - mean^2, 0) + eps, 1); 1/sqrt(v) from the two-half
//   table (hwmoe_rsqrt); n = sat(round((x - mean) * r / 2^shift)) in the NORM_W-bit norm format (its
//   fraction depends on dim); y = requant(n * gamma + beta, out_width/out_frac) with AP_RND and AP_SAT.
// The input fraction never enters the datapath (the statistics keep x's integer bits; the normalisation
// shift depends only on the widths); the formats that do are run-time inputs, so one build runs every layer.
//
// Organisation: three decoupled stages around NBUF row buffers (block RAM, NBUF * ceil(MAX_DIM/LANES) beats of
// LANES words).  Stage A writes an incoming row into a free buffer while accumulating its sums; stage B (a
// free-running pipeline) turns the sums into mean, r and the row shift; stage C reads the buffered row
// back and streams the normalised row out.  Rows overlap: row i+1 (and i+2, ...) arrive while row i is
// normalised, so a steady stream runs at one beat per cycle in and out.
//
// Parameters (build time: word widths and maxima)
//   LANES    : words per beat on the x, p (2x) and y streams
//   MAX_DIM  : largest row length (runtime `dim` <= MAX_DIM, LANES <= MAX_DIM, MAX_DIM < 2^20)
//   X_W      : input word width (signed); it fixes the statistics' cut (x rounded to its top STAT_W bits), so
//              the input format's width is build time, its fraction irrelevant
//   P_W      : gamma/beta word width (signed)
//   OUT_W    : output port width (signed): the widest run-time out_width
//   STAT_W   : statistics width (x rounded to it, same integer bits)
//   NORM_W   : width of the normalised value (x - mean) / std
//   NBUF     : row buffers (power of two >= 2; 4 keeps the stream busy for rows of >= 8 beats)
//   RSQRT_IDX: index bits of the 1/sqrt table, hwmoe.numerics.tables.RSQRT_INDEX_BITS (passed by hwmoe)
//   RSQRT    : $readmemh file of hwmoe.numerics.tables.rsqrt_table() (2 * 2^RSQRT_IDX x 16 bits; format-
//              independent: it maps a mantissa in [1, 4) to its U1.15 1/sqrt, the exponent is handled by shifts)
//   FRAC_B   : width of the signed run-time fraction inputs (8: the program's format fields; derived)
//   OW_B     : width of out_width, $clog2(OUT_W + 1) (derived)
//
// Control inputs (run time, held from reset):
//   dim       : row length, 1..MAX_DIM;  tokens: rows per layer, >= 1
//   p_frac    : gamma/beta fractional bits (signed FRAC_B bits)
//   out_frac  : output fractional bits (signed FRAC_B bits)
//   out_width : output format width, 2..OUT_W: y saturates at it and is sign-extended to OUT_W on the port
//   eps       : eps with 2 * (statistics fraction) fractional bits, round(eps * 2^(2 fs)), 0 .. 2^31-1, where
//               fs = x_frac - X_W + STAT_W (hwmoe.kernels.layernorm.eps_raw)
// Every run-time value within these ranges is exact (shifts clamp where the result no longer changes).
// Streams (valid/ready; lane i in bits [i*W +: W]):
//   x : LANES x X_W bits per beat.  A row is ceil(dim/LANES) beats; lanes past `dim` in the last beat are
//       ignored.  Rows follow each other.
//   p : 2*LANES x P_W bits per beat: lanes 0..LANES-1 gamma, LANES..2*LANES-1 beta, ceil(dim/LANES) beats,
//       once per layer: a layer's parameters are taken after the previous layer's last row has been read
//       out of its buffer (the first set right after reset).
//   y : LANES x OUT_W bits per beat, same layout as x; lanes past `dim` are 0.
// After reset the unit spends max(26, ceil(dim/LANES)) cycles computing R and the row layout before it
// takes any input (x_tready and p_tready low).
`default_nettype none
module hwmoe_layernorm #(
    parameter integer LANES    = 4,
    parameter integer MAX_DIM  = 24,
    parameter integer X_W      = 16,
    parameter integer P_W      = 16,
    parameter integer OUT_W    = 16,
    parameter integer STAT_W   = 16,
    parameter integer NORM_W   = 18,
    parameter integer NBUF     = 4,
    parameter integer RSQRT_IDX = 10,
    parameter         RSQRT    = "rsqrt.mem",
    // derived (do not override)
    parameter integer DIM_B    = $clog2(MAX_DIM + 1),
    parameter integer FRAC_B   = 8,
    parameter integer OW_B     = $clog2(OUT_W + 1)
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire [DIM_B-1:0]           dim,
    input  wire [15:0]                tokens,
    input  wire signed [FRAC_B-1:0]   p_frac,
    input  wire signed [FRAC_B-1:0]   out_frac,
    input  wire [OW_B-1:0]            out_width,
    input  wire [30:0]                eps,
    input  wire [LANES*X_W-1:0]       x_tdata,
    input  wire                       x_tvalid,
    output wire                       x_tready,
    input  wire [2*LANES*P_W-1:0]     p_tdata,
    input  wire                       p_tvalid,
    output wire                       p_tready,
    output wire [LANES*OUT_W-1:0]     y_tdata,
    output wire                       y_tvalid,
    input  wire                       y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1 || LANES > MAX_DIM) begin
            $error("hwmoe_layernorm: LANES = %0d with MAX_DIM = %0d: need 1 <= LANES <= MAX_DIM", LANES, MAX_DIM);
            $finish;
        end
        if (MAX_DIM >= 1 << 20) begin
            $error("hwmoe_layernorm: MAX_DIM = %0d, must be below 2^20", MAX_DIM);
            $finish;
        end
        if (NBUF < 2 || (NBUF & (NBUF - 1)) != 0) begin
            $error("hwmoe_layernorm: NBUF = %0d, must be a power of two >= 2", NBUF);
            $finish;
        end
        if (STAT_W < 2 || STAT_W > 19) begin
            $error("hwmoe_layernorm: STAT_W = %0d outside 2..19", STAT_W);
            $finish;
        end
    end
    localparam integer BMAX   = (MAX_DIM + LANES - 1) / LANES;
    localparam integer BEAT_W = $clog2(BMAX + 1);
    localparam integer NB_W   = $clog2(NBUF);
    localparam integer PTR_W  = NB_W + 1;
    localparam integer DEPTH  = NBUF * BMAX;
    localparam integer ADDR_W = $clog2(DEPTH);
    localparam integer PA_W   = (BMAX > 1) ? $clog2(BMAX) : 1;
    localparam integer LANE_W = $clog2(LANES + 1);
    localparam integer SUM_W  = STAT_W + DIM_B + 1;
    localparam integer SQ_W   = 2 * STAT_W + DIM_B;
    localparam integer RC_W   = 25;
    localparam integer MEAN_W = STAT_W + 2;
    localparam integer E2_W   = 2 * STAT_W + 1;
    localparam integer MSQ_W  = 2 * MEAN_W;
    localparam integer D_W    = MSQ_W + 1;
    localparam integer V_W    = ((2 * STAT_W > 32) ? 2 * STAT_W : 32) + 1;
    localparam integer TOP_W  = $clog2(V_W);
    localparam integer DM     = (X_W > STAT_W) ? X_W - STAT_W : 0;
    localparam integer DX     = (STAT_W > X_W) ? STAT_W - X_W : 0;
    localparam integer NF_MAX = NORM_W - 2;
    localparam integer NF_MIN = NF_MAX - ((DIM_B - 1) >> 1);
    localparam integer NF_W   = $clog2(NF_MAX + 1);
    localparam integer SMIN   = DM + 15 - NF_MAX;
    localparam integer LM     = (SMIN < 0) ? -SMIN : 0;
    localparam integer KMAX   = DM + 15 + LM - NF_MIN + ((V_W - 1) >> 1);
    localparam integer K_W    = ($clog2(KMAX + 1) > NF_W) ? $clog2(KMAX + 1) : NF_W;
    localparam integer K2_W   = ((NF_W > FRAC_B) ? NF_W : FRAC_B) + 2;   // k2 = nf + p_frac - out_frac
    localparam integer K_BASE = DM + 15 + LM;           // k = K_BASE - nf + (top >> 1)
    localparam integer TAG_W  = NB_W + MEAN_W;
    localparam [NB_W-1:0] LAST_BUF = {NB_W{1'b1}};

    // ------------------------------------------------------------------ init: R = round(2^24/dim), layout
    function automatic [DIM_B-1:0] lead_dim;
        input [DIM_B-1:0] value;
        integer i;
        begin
            lead_dim = {DIM_B{1'b0}};
            for (i = 0; i < DIM_B; i = i + 1)
                if (value[i]) lead_dim = i[DIM_B-1:0];
        end
    endfunction

    localparam [DIM_B:0] LANES_D = LANES[DIM_B:0];
    wire [25:0] div_n = 26'h2000000 | {{(26-DIM_B){1'b0}}, dim};   // round(2^24/dim) = floor((2^25+dim)/(2dim))
    wire [DIM_B:0] div_d = {dim, 1'b0};
    reg  [DIM_B:0] div_rem;
    reg  [4:0] div_step;
    reg  [RC_W-1:0] div_q;
    reg  div_busy, cnt_busy, init_done;
    wire [DIM_B+1:0] trial = {div_rem, div_n[div_step]};
    reg  [DIM_B:0] cnt_rem;               // ends as the number of lanes used in a row's last beat
    reg  [BEAT_W-1:0] beats;              // beats per row
    reg  [NF_W-1:0] nf;                   // fractional bits of the norm format for this dim
    wire [RC_W-1:0] recip = div_q;             // quotient bit 25 is always 0
    /* verilator lint_off UNUSEDSIGNAL */
    wire [31:0] nf_full = NF_MAX - ({{(32-DIM_B){1'b0}}, lead_dim(dim)} >> 1);   // NF_MIN..NF_MAX
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [K2_W-1:0] k2 = $signed({{(K2_W-NF_W){1'b0}}, nf}) + {{(K2_W-FRAC_B){p_frac[FRAC_B-1]}}, p_frac}
                                - {{(K2_W-FRAC_B){out_frac[FRAC_B-1]}}, out_frac};

    always @(posedge clk) begin
        if (rst) begin
            div_busy <= 1'b1; div_step <= 5'd25; div_rem <= {(DIM_B+1){1'b0}}; div_q <= {RC_W{1'b0}};
            cnt_busy <= 1'b1; cnt_rem <= {1'b0, dim}; beats <= {{(BEAT_W-1){1'b0}}, 1'b1};
            init_done <= 1'b0;
            nf <= nf_full[NF_W-1:0];
        end else begin
            if (div_busy) begin
                if (trial >= {1'b0, div_d}) begin
                    div_rem <= trial[DIM_B:0] - div_d;
                    div_q <= {div_q[RC_W-2:0], 1'b1};
                end else begin
                    div_rem <= trial[DIM_B:0];
                    div_q <= {div_q[RC_W-2:0], 1'b0};
                end
                if (div_step == 5'd0) div_busy <= 1'b0;
                else div_step <= div_step - 5'd1;
            end
            if (cnt_busy) begin
                if (cnt_rem > LANES_D) begin
                    cnt_rem <= cnt_rem - LANES_D;
                    beats <= beats + 1'b1;
                end else cnt_busy <= 1'b0;
            end
            init_done <= !div_busy && !cnt_busy;
        end
    end
    wire [LANE_W-1:0] last_lanes = cnt_rem[LANE_W-1:0];

    // ------------------------------------------------------------------ stage A: row in, sums
    reg [PTR_W-1:0] wr_ptr, acc_ptr, b_ptr, fin_ptr, rd_ptr;
    wire [PTR_W-1:0] in_flight = wr_ptr - rd_ptr;
    assign x_tready = init_done && (in_flight != NBUF[PTR_W-1:0]);
    wire x_fire = x_tvalid && x_tready;
    reg [BEAT_W-1:0] wbeat;
    reg [ADDR_W-1:0] wbase;
    wire x_lastbeat = (wbeat == beats - 1'b1);

    (* ram_style = "block" *) reg [LANES*X_W-1:0] xmem [0:DEPTH-1];
    wire [ADDR_W-1:0] waddr = wbase + {{(ADDR_W-BEAT_W){1'b0}}, wbeat};
    always @(posedge clk) begin
        if (x_fire) xmem[waddr] <= x_tdata;
    end

    reg a1_valid, a2_valid, a3_valid;
    reg a1_last, a2_last, a3_last;
    reg [NB_W-1:0] a1_buf, a2_buf, a3_buf;
    reg [LANES*STAT_W-1:0] a1_xs, a2_xs;
    reg [LANES*2*STAT_W-1:0] a2_sq;
    reg signed [SUM_W-1:0] a3_sum, acc_sum;
    reg [SQ_W-1:0] a3_sq, acc_sq;
    reg signed [SUM_W-1:0] sum_arr [0:NBUF-1];
    reg [SQ_W-1:0] sq_arr [0:NBUF-1];

    // x rounded to the statistics width (AP_RND, AP_SAT: the top STAT_W bits plus half an LSB, which only
    // the largest words overflow) or widened with zero fraction bits
    wire [LANES*STAT_W-1:0] xs_cut;
    genvar gi;
    generate
        for (gi = 0; gi < LANES; gi = gi + 1) begin : g_cut
            if (X_W > STAT_W) begin : g_rnd
                wire [STAT_W:0] top = {x_tdata[gi*X_W + X_W - 1], x_tdata[gi*X_W + DM +: STAT_W]};
                wire [STAT_W:0] up = top + {{STAT_W{1'b0}}, x_tdata[gi*X_W + DM - 1]};
                // the sum overflows only upwards, from the largest word: saturate there
                assign xs_cut[gi*STAT_W +: STAT_W] = (up[STAT_W] != up[STAT_W-1]) ? {1'b0, {(STAT_W-1){1'b1}}}
                                                                                : up[STAT_W-1:0];
            end else if (X_W == STAT_W) begin : g_same
                assign xs_cut[gi*STAT_W +: STAT_W] = x_tdata[gi*X_W +: X_W];
            end else begin : g_wide
                assign xs_cut[gi*STAT_W +: STAT_W] = {x_tdata[gi*X_W +: X_W], {DX{1'b0}}};
            end
        end
    endgenerate
    reg [LANES*STAT_W-1:0] xs_in;
    reg signed [SUM_W-1:0] lane_sum;
    reg [SQ_W-1:0] lane_sq;
    integer li;
    always @* begin
        for (li = 0; li < LANES; li = li + 1)
            xs_in[li*STAT_W +: STAT_W] = (!x_lastbeat || li < last_lanes) ? xs_cut[li*STAT_W +: STAT_W]
                                                                         : {STAT_W{1'b0}};
        lane_sum = {SUM_W{1'b0}};
        lane_sq = {SQ_W{1'b0}};
        for (li = 0; li < LANES; li = li + 1) begin
            lane_sum = lane_sum + {{(SUM_W-STAT_W){a2_xs[li*STAT_W+STAT_W-1]}}, a2_xs[li*STAT_W +: STAT_W]};
            lane_sq = lane_sq + {{(SQ_W-2*STAT_W){1'b0}}, a2_sq[li*2*STAT_W +: 2*STAT_W]};
        end
    end

    generate
        for (gi = 0; gi < LANES; gi = gi + 1) begin : g_sq
            wire signed [STAT_W-1:0] xs1 = a1_xs[gi*STAT_W +: STAT_W];
            always @(posedge clk) a2_sq[gi*2*STAT_W +: 2*STAT_W] <= xs1 * xs1;
        end
    endgenerate

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= {PTR_W{1'b0}}; acc_ptr <= {PTR_W{1'b0}};
            wbeat <= {BEAT_W{1'b0}}; wbase <= {ADDR_W{1'b0}};
            a1_valid <= 1'b0; a2_valid <= 1'b0; a3_valid <= 1'b0;
            acc_sum <= {SUM_W{1'b0}}; acc_sq <= {SQ_W{1'b0}};
        end else begin
            if (x_fire) begin
                if (x_lastbeat) begin
                    wbeat <= {BEAT_W{1'b0}};
                    wr_ptr <= wr_ptr + 1'b1;
                    wbase <= (wr_ptr[NB_W-1:0] == LAST_BUF) ? {ADDR_W{1'b0}} : wbase + BMAX[ADDR_W-1:0];
                end else wbeat <= wbeat + 1'b1;
            end
            a1_valid <= x_fire;
            a2_valid <= a1_valid;
            a3_valid <= a2_valid;
            if (a3_valid) begin
                if (a3_last) begin
                    acc_sum <= {SUM_W{1'b0}};
                    acc_sq <= {SQ_W{1'b0}};
                    acc_ptr <= acc_ptr + 1'b1;
                end else begin
                    acc_sum <= acc_sum + a3_sum;
                    acc_sq <= acc_sq + a3_sq;
                end
            end
        end
        a1_xs <= xs_in; a1_last <= x_lastbeat; a1_buf <= wr_ptr[NB_W-1:0];
        a2_xs <= a1_xs; a2_last <= a1_last; a2_buf <= a1_buf;
        a3_sum <= lane_sum; a3_sq <= lane_sq; a3_last <= a2_last; a3_buf <= a2_buf;
        if (a3_valid && a3_last) begin
            sum_arr[a3_buf] <= acc_sum + a3_sum;
            sq_arr[a3_buf] <= acc_sq + a3_sq;
        end
    end

    // ------------------------------------------------------------------ stage B: statistics, 1/sqrt
    reg b1_valid, b2_valid, b3_valid, b4_valid, b5_valid;
    reg [NB_W-1:0] b1_buf, b2_buf, b3_buf, b4_buf, b5_buf;
    reg signed [SUM_W-1:0] b1_sum;
    reg [SQ_W-1:0] b1_sq;
    reg signed [SUM_W+RC_W:0] b2_mean_p;
    reg [SQ_W+RC_W-1:0] b2_ex2_p;
    reg signed [MEAN_W-1:0] b3_mean, b4_mean, b5_mean;
    reg [E2_W-1:0] b3_ex2, b4_ex2;
    reg [MSQ_W-1:0] b4_msq;
    reg [V_W-1:0] b5_v;

    localparam signed [SUM_W+RC_W:0] HALF_MP = {{(SUM_W+RC_W-23){1'b0}}, 1'b1, 23'd0};
    localparam [SQ_W+RC_W-1:0] HALF_EP = {{(SQ_W+RC_W-24){1'b0}}, 1'b1, 23'd0};
    // the rounded statistics fit MEAN_W and E2_W bits (|mean| <= max |xs| * (1 + dim/2^25))
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [SUM_W+RC_W:0] mean_r = (b2_mean_p + HALF_MP) >>> 24;
    wire [SQ_W+RC_W-1:0] ex2_r = (b2_ex2_p + HALF_EP) >> 24;
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [D_W-1:0] var_d = $signed({{(D_W-E2_W){1'b0}}, b4_ex2}) - $signed({1'b0, b4_msq});
    wire [V_W-1:0] var_c = var_d[D_W-1] ? {V_W{1'b0}} : var_d[V_W-1:0];
    wire [V_W-1:0] eps_v = {{(V_W-31){1'b0}}, eps};
    wire [V_W-1:0] v_eps = var_c + eps_v;

    always @(posedge clk) begin
        if (rst) begin
            b_ptr <= {PTR_W{1'b0}};
            b1_valid <= 1'b0; b2_valid <= 1'b0; b3_valid <= 1'b0; b4_valid <= 1'b0; b5_valid <= 1'b0;
        end else begin
            b1_valid <= (acc_ptr != b_ptr);
            if (acc_ptr != b_ptr) b_ptr <= b_ptr + 1'b1;
            b2_valid <= b1_valid; b3_valid <= b2_valid; b4_valid <= b3_valid; b5_valid <= b4_valid;
        end
        b1_sum <= sum_arr[b_ptr[NB_W-1:0]];
        b1_sq <= sq_arr[b_ptr[NB_W-1:0]];
        b1_buf <= b_ptr[NB_W-1:0];
        b2_mean_p <= b1_sum * $signed({1'b0, recip});
        b2_ex2_p <= b1_sq * recip;
        b2_buf <= b1_buf;
        b3_mean <= mean_r[MEAN_W-1:0];
        b3_ex2 <= ex2_r[E2_W-1:0];
        b3_buf <= b2_buf;
        b4_msq <= b3_mean * b3_mean;
        b4_mean <= b3_mean; b4_ex2 <= b3_ex2; b4_buf <= b3_buf;
        b5_v <= (v_eps == {V_W{1'b0}}) ? {{(V_W-1){1'b0}}, 1'b1} : v_eps;
        b5_mean <= b4_mean; b5_buf <= b4_buf;
    end

    wire rs_valid;
    wire [15:0] rs_r;
    wire [TOP_W-2:0] rs_half;
    wire [TAG_W-1:0] rs_tag;
    hwmoe_rsqrt #(.V_W(V_W), .TAG_W(TAG_W), .IDX_W(RSQRT_IDX), .TABLE(RSQRT)) u_rsqrt (
        .clk(clk), .rst(rst), .in_valid(b5_valid), .v(b5_v), .tag_in({b5_buf, b5_mean}),
        .out_valid(rs_valid), .r(rs_r), .half(rs_half), .tag_out(rs_tag));

    reg signed [MEAN_W-1:0] mean_arr [0:NBUF-1];
    reg [15:0] r_arr [0:NBUF-1];
    reg [K_W-1:0] k_arr [0:NBUF-1];
    wire [K_W-1:0] k_row = K_BASE[K_W-1:0] - {{(K_W-NF_W){1'b0}}, nf} + {{(K_W-TOP_W+1){1'b0}}, rs_half};
    wire [NB_W-1:0] rs_buf = rs_tag[TAG_W-1 -: NB_W];
    always @(posedge clk) begin
        if (rst) fin_ptr <= {PTR_W{1'b0}};
        else if (rs_valid) fin_ptr <= fin_ptr + 1'b1;
        if (rs_valid) begin
            mean_arr[rs_buf] <= rs_tag[MEAN_W-1:0];
            r_arr[rs_buf] <= rs_r;
            k_arr[rs_buf] <= k_row;
        end
    end

    // ------------------------------------------------------------------ parameters
    reg p_loaded;
    reg [BEAT_W-1:0] pbeat;
    assign p_tready = init_done && !p_loaded;
    wire p_fire = p_tvalid && p_tready;
    (* ram_style = "block" *) reg [2*LANES*P_W-1:0] pmem [0:BMAX-1];
    always @(posedge clk) begin
        if (p_fire) pmem[pbeat[PA_W-1:0]] <= p_tdata;
    end

    // ------------------------------------------------------------------ stage C: normalise and stream out
    reg [6:1] cv;
    wire adv = !cv[6] || y_tready;
    wire row_ready = (fin_ptr != rd_ptr) && p_loaded;
    wire issue = adv && row_ready;
    reg [BEAT_W-1:0] rbeat;
    reg [ADDR_W-1:0] rbase;
    reg [15:0] row_count;
    wire r_last = (rbeat == beats - 1'b1);
    wire [NB_W-1:0] rb = rd_ptr[NB_W-1:0];
    wire [ADDR_W-1:0] raddr = rbase + {{(ADDR_W-BEAT_W){1'b0}}, rbeat};

    reg [LANES*X_W-1:0] xq;
    reg [2*LANES*P_W-1:0] pq;
    reg signed [MEAN_W-1:0] mean1;
    reg [15:0] r1, r2;
    reg [K_W-1:0] kc1, kc2, kc3;
    reg last1;

    always @(posedge clk) begin
        if (rst) begin
            cv <= 6'd0;
            rd_ptr <= {PTR_W{1'b0}};
            rbeat <= {BEAT_W{1'b0}}; rbase <= {ADDR_W{1'b0}}; row_count <= 16'd0;
            p_loaded <= 1'b0; pbeat <= {BEAT_W{1'b0}};
        end else begin
            if (adv) cv <= {cv[5:1], issue};
            if (p_fire) begin
                if (pbeat == beats - 1'b1) begin
                    pbeat <= {BEAT_W{1'b0}};
                    p_loaded <= 1'b1;
                end else pbeat <= pbeat + 1'b1;
            end
            if (issue) begin
                if (r_last) begin
                    rbeat <= {BEAT_W{1'b0}};
                    rd_ptr <= rd_ptr + 1'b1;
                    rbase <= (rb == LAST_BUF) ? {ADDR_W{1'b0}} : rbase + BMAX[ADDR_W-1:0];
                    if (row_count == tokens - 16'd1) begin
                        row_count <= 16'd0;
                        p_loaded <= 1'b0;
                    end else row_count <= row_count + 16'd1;
                end else rbeat <= rbeat + 1'b1;
            end
        end
        if (adv) begin
            xq <= xmem[raddr];
            pq <= pmem[rbeat[PA_W-1:0]];
            mean1 <= mean_arr[rb];
            r1 <= r_arr[rb];
            kc1 <= k_arr[rb];
            last1 <= r_last;
            r2 <= r1;
            kc2 <= kc1;
            kc3 <= kc2;
        end
    end

    generate
        for (gi = 0; gi < LANES; gi = gi + 1) begin : g_lane
            wire keep = !last1 || (gi < last_lanes);
            hwmoe_layernorm_lane #(
                .X_W(X_W), .P_W(P_W), .OUT_W(OUT_W), .MEAN_W(MEAN_W), .DX(DX), .DM(DM), .NORM_W(NORM_W),
                .LM(LM), .K_W(K_W), .NF_W(NF_W), .K2_W(K2_W), .OW_B(OW_B)
            ) u_lane (
                .clk(clk), .en(adv),
                .x1(xq[gi*X_W +: X_W]), .gamma1(pq[gi*P_W +: P_W]), .beta1(pq[(LANES+gi)*P_W +: P_W]),
                .keep1(keep), .mean1(mean1), .r2(r2), .k3(kc3), .nf(nf), .k2(k2), .out_width(out_width),
                .y(y_tdata[gi*OUT_W +: OUT_W])
            );
        end
    endgenerate
    assign y_tvalid = cv[6];
endmodule
`default_nettype wire
