// hwmoe_linear: the reusable linear engine, y = x W^T (+ b), optional fused GELU, bit-exact with
// hwmoe.kernels.linear.linear (and gelu(linear(...)) with GELU on: the sums are cast to the GELU input format
// h first). Datapath: hwmoe_linear_core (N_PE x T_OUT x T_IN MACs per cycle, weight tiles double-buffered,
// 2-slot output hold, bias + requant + GELU serialised one token per cycle).
// All tokens' activations are held on chip (N_PE banks, token t in bank t mod N_PE), so each weight tile is
// streamed exactly once per layer. Word widths and maxima are build-time parameters; the formats, the dims
// and the bias and GELU switches are run-time control inputs, so one build serves every linear layer of a
// model (narrower words arrive sign-extended; outputs saturate at their run-time width).
//
// Parameters
//   T_IN, T_OUT     : weight tile (T_OUT output rows x T_IN inputs); N_PE : token lanes sharing each tile
//   X_W, W_W, B_W   : activation, weight, bias words (signed, the widest any run uses)
//   HAS_BIAS        : 1 = a bias unit (a run adds the b stream when bias_en), 0 = none (b stream unused)
//   GELU            : 1 = a GELU unit at the output (a run uses it when gelu_en), 0 = none
//   H_W             : widest GELU input format (unused when GELU = 0)
//   OUT_W           : widest output format
//   BSH_MAX         : largest x_frac + w_frac - b_frac of a run (the bias alignment's reach)
//   G_FRAC, G_LSH_MAX : the GELU unit's input fraction (>= every run's h_frac) and the largest
//                     G_FRAC - h_frac of a run
//   MAX_TOKENS, MAX_D_IN, MAX_D_OUT : compile-time maxima of the runtime dims
//   ENTRIES, STEP_BITS, D_W, TABLE : GELU table, as hwmoe_gelu
//   FRAC_B          : width of the signed run-time fraction inputs (8: the program's format fields; derived)
//
// Control inputs (held for a run): tokens (1..MAX_TOKENS), d_in (1..MAX_D_IN), d_out (1..MAX_D_OUT);
//   x_frac, w_frac, b_frac, h_frac, out_frac : fractional bits (signed); h_width (2..H_W), out_width
//   (2..OUT_W) : widths of the GELU input and output formats; bias_en, gelu_en : switches
//
// Streams (lane i in bits [i*W +: W]); It = ceil(d_in/T_IN), Ot = ceil(d_out/T_OUT):
//   x: T_IN*X_W bits/beat, tokens*It beats: token-major, each token's row in It chunks of T_IN words
//      (words past d_in in the last chunk are ignored)
//   w: T_IN*W_W bits/beat, d_out*It beats: W [d_out, d_in] row-major, rows padded to It chunks
//      (padding words ignored); each tile row is streamed once per layer
//   b: T_OUT*B_W bits/beat, Ot beats: biases of output block ot in beat ot (padding ignored); not read
//      when bias_en is 0
//   y: T_OUT*OUT_W bits/beat, Ot*tokens beats: block-major, for block ot: y[t, ot*T_OUT +: T_OUT] for
//      t = 0..tokens-1; words past d_out are 0
// The streams may arrive in any interleaving; clean throughput is one MAC step per cycle
// (see hwmoe.kernels.linear.cycles).
`default_nettype none
module hwmoe_linear #(
    parameter integer T_IN       = 4,
    parameter integer T_OUT      = 4,
    parameter integer N_PE       = 2,
    parameter integer X_W        = 16,
    parameter integer W_W        = 16,
    parameter integer B_W        = 16,
    parameter integer HAS_BIAS   = 1,
    parameter integer GELU       = 0,
    parameter integer H_W        = 16,
    parameter integer OUT_W      = 16,
    parameter integer BSH_MAX    = 16,
    parameter integer G_FRAC     = 11,
    parameter integer G_LSH_MAX  = 0,
    parameter integer MAX_TOKENS = 16,
    parameter integer MAX_D_IN   = 32,
    parameter integer MAX_D_OUT  = 32,
    parameter integer ENTRIES    = 149,
    parameter integer STEP_BITS  = 5,
    parameter integer D_W        = 16,
    parameter         TABLE      = "gelu.mem",
    // derived (do not override)
    parameter integer FRAC_B     = 8,
    parameter integer TOKENS_B   = $clog2(MAX_TOKENS + 1),
    parameter integer D_IN_B     = $clog2(MAX_D_IN + 1),
    parameter integer D_OUT_B    = $clog2(MAX_D_OUT + 1),
    parameter integer GL_B       = (G_LSH_MAX > 0) ? $clog2(G_LSH_MAX + 1) : 1
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [TOKENS_B-1:0]    tokens,
    input  wire [D_IN_B-1:0]      d_in,
    input  wire [D_OUT_B-1:0]     d_out,
    input  wire signed [FRAC_B-1:0] x_frac,
    input  wire signed [FRAC_B-1:0] w_frac,
    input  wire signed [FRAC_B-1:0] b_frac,
    input  wire signed [FRAC_B-1:0] h_frac,
    input  wire [7:0]             h_width,
    input  wire signed [FRAC_B-1:0] out_frac,
    input  wire [7:0]             out_width,
    input  wire                   bias_en,
    input  wire                   gelu_en,
    input  wire [T_IN*X_W-1:0]    x_tdata,
    input  wire                   x_tvalid,
    output wire                   x_tready,
    input  wire [T_IN*W_W-1:0]    w_tdata,
    input  wire                   w_tvalid,
    output wire                   w_tready,
    input  wire [T_OUT*B_W-1:0]   b_tdata,
    input  wire                   b_tvalid,
    output wire                   b_tready,
    output wire [T_OUT*OUT_W-1:0] y_tdata,
    output wire                   y_tvalid,
    input  wire                   y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (T_IN < 1 || T_OUT < 1 || N_PE < 1) begin
            $error("hwmoe_linear: T_IN = %0d, T_OUT = %0d, N_PE = %0d: each must be at least 1", T_IN, T_OUT, N_PE);
            $finish;
        end
        if (MAX_TOKENS < 1 || MAX_D_IN < 1 || MAX_D_OUT < 1) begin
            $error("hwmoe_linear: MAX_TOKENS = %0d, MAX_D_IN = %0d, MAX_D_OUT = %0d: each must be at least 1",
                   MAX_TOKENS, MAX_D_IN, MAX_D_OUT);
            $finish;
        end
        if (X_W < 2 || X_W > 32 || W_W < 2 || W_W > 32 || B_W < 2
            || B_W > 32 || H_W < 2 || H_W > 32 || OUT_W < 2 || OUT_W > 32) begin
            $error("hwmoe_linear: X_W = %0d, W_W = %0d, B_W = %0d, H_W = %0d, OUT_W = %0d: widths must be 2..32",
                   X_W, W_W, B_W, H_W, OUT_W);
            $finish;
        end
        if ((HAS_BIAS != 0 && HAS_BIAS != 1) || (GELU != 0 && GELU != 1)) begin
            $error("hwmoe_linear: HAS_BIAS = %0d, GELU = %0d: each must be 0 or 1", HAS_BIAS, GELU);
            $finish;
        end
        if (BSH_MAX < 0 || BSH_MAX > 64 || G_LSH_MAX < 0 || G_LSH_MAX > 32) begin
            $error("hwmoe_linear: BSH_MAX = %0d, G_LSH_MAX = %0d: need 0..64 and 0..32", BSH_MAX, G_LSH_MAX);
            $finish;
        end
    end
    // the core's derived widths (same expressions as in hwmoe_linear_core)
    localparam integer OFF_B  = $clog2(((MAX_D_IN > MAX_D_OUT) ? MAX_D_IN : MAX_D_OUT)
                                       + ((T_IN > T_OUT) ? T_IN : T_OUT) + 1);
    localparam integer TOK_B  = $clog2(MAX_TOKENS + N_PE + 1);
    localparam integer MAX_IT = (MAX_D_IN + T_IN - 1) / T_IN;
    localparam integer MAX_G  = (MAX_TOKENS + N_PE - 1) / N_PE;
    localparam integer IT_B   = (MAX_IT > 1) ? $clog2(MAX_IT) : 1;
    localparam integer OT_B   = ((MAX_D_OUT + T_OUT - 1) / T_OUT > 1) ? $clog2((MAX_D_OUT + T_OUT - 1) / T_OUT) : 1;
    localparam integer G_B    = (MAX_G > 1) ? $clog2(MAX_G) : 1;
    localparam integer PE_B   = (N_PE > 1) ? $clog2(N_PE) : 1;
    localparam integer XA_B   = (MAX_G * MAX_IT > 1) ? $clog2(MAX_G * MAX_IT) : 1;
    localparam integer H_CORE_W = (GELU != 0 && H_W > OUT_W) ? H_W : OUT_W;   // requant words of either run
    localparam integer SH_B     = FRAC_B + 2;                 // differences of FRAC_B-bit fields, with room
    localparam integer GY_FR    = (G_FRAC > D_W) ? G_FRAC : D_W;   // fraction of the GELU's exact result
    localparam integer GY_I     = GY_FR;
    localparam integer G_FRAC_I = G_FRAC;
    localparam [OFF_B-1:0] TIN_D  = T_IN[OFF_B-1:0];
    localparam [OFF_B-1:0] TOUT_D = T_OUT[OFF_B-1:0];
    localparam [XA_B-1:0]  MAXIT_X = MAX_IT[XA_B-1:0];
    localparam integer     NPE_M1 = N_PE - 1;
    localparam [PE_B-1:0]  PE_LAST = NPE_M1[PE_B-1:0];

    wire [OFF_B-1:0] din_d  = {{(OFF_B-D_IN_B){1'b0}}, d_in};
    wire [OFF_B-1:0] dout_d = {{(OFF_B-D_OUT_B){1'b0}}, d_out};
    wire [TOK_B-1:0] ntok   = {{(TOK_B-TOKENS_B){1'b0}}, tokens};

    // ------------------------------------------------------------------ activation buffer
    reg  [PE_B-1:0]  xw_p;
    reg  [G_B-1:0]   xw_g;
    reg  [IT_B-1:0]  xw_c;
    reg  [OFF_B-1:0] xw_coff;
    reg  [TOK_B-1:0] x_tok;                 // complete tokens written
    assign x_tready = x_tok < ntok;
    wire x_fire = x_tvalid && x_tready;
    wire xw_last_c = (xw_coff + TIN_D) >= din_d;
    always @(posedge clk) begin
        if (rst) begin
            xw_p <= {PE_B{1'b0}}; xw_g <= {G_B{1'b0}}; xw_c <= {IT_B{1'b0}}; xw_coff <= {OFF_B{1'b0}};
            x_tok <= {TOK_B{1'b0}};
        end else if (x_fire) begin
            if (!xw_last_c) begin
                xw_c <= xw_c + 1'b1; xw_coff <= xw_coff + TIN_D;
            end else begin
                xw_c <= {IT_B{1'b0}}; xw_coff <= {OFF_B{1'b0}};
                x_tok <= x_tok + 1'b1;
                if (xw_p == PE_LAST) begin
                    xw_p <= {PE_B{1'b0}}; xw_g <= xw_g + 1'b1;
                end else xw_p <= xw_p + 1'b1;
            end
        end
    end
    // words past d_in are stored as zero (the weights' padding is then harmless)
    wire [T_IN*X_W-1:0] x_masked;
    hwmoe_pad_mask #(.LANES(T_IN), .W(X_W), .IDX_W(OFF_B)) u_xmask (
        .din(x_tdata), .offset(xw_coff), .limit(din_d), .dout(x_masked));
    wire [XA_B-1:0] x_waddr = {{(XA_B-G_B){1'b0}}, xw_g} * MAXIT_X + {{(XA_B-IT_B){1'b0}}, xw_c};

    wire             rd_en, rd_pass;
    wire [G_B-1:0]   rd_g;
    wire [IT_B-1:0]  rd_c;
    wire [N_PE*T_IN*X_W-1:0] rd_data;
    wire [XA_B-1:0]  x_raddr = {{(XA_B-G_B){1'b0}}, rd_g} * MAXIT_X + {{(XA_B-IT_B){1'b0}}, rd_c};
    genvar gp;
    generate
        for (gp = 0; gp < N_PE; gp = gp + 1) begin : g_xbank
            localparam integer PI = gp;
            localparam [PE_B-1:0] PID = PI[PE_B-1:0];
            (* ram_style = "block" *) reg [T_IN*X_W-1:0] mem [0:MAX_G*MAX_IT-1];
            reg [T_IN*X_W-1:0] q;
            always @(posedge clk) begin
                if (x_fire && xw_p == PID) mem[x_waddr] <= x_masked;
                q <= mem[x_raddr];
            end
            assign rd_data[gp*T_IN*X_W +: T_IN*X_W] = q;
        end
    endgenerate

    // ------------------------------------------------------------------ run-time casts (docs/numerics.md §3, §5)
    wire signed [SH_B-1:0] fx = {{2{x_frac[FRAC_B-1]}}, x_frac}, fw = {{2{w_frac[FRAC_B-1]}}, w_frac};
    wire signed [SH_B-1:0] fb = {{2{b_frac[FRAC_B-1]}}, b_frac}, fh = {{2{h_frac[FRAC_B-1]}}, h_frac};
    wire signed [SH_B-1:0] fo = {{2{out_frac[FRAC_B-1]}}, out_frac};
    wire signed [SH_B-1:0] f_acc = fx + fw;
    wire signed [SH_B-1:0] f_q = gelu_en ? fh : fo;
    wire signed [SH_B-1:0] g_frac = G_FRAC_I[SH_B-1:0];
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [SH_B-1:0] g_lsh = g_frac - fh;                  // 0 .. G_LSH_MAX for a legal run
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [SH_B-1:0] gy_frac = GY_I[SH_B-1:0];

    // ------------------------------------------------------------------ one job: the whole layer
    reg  job_done;
    wire job_take;
    wire iss_pass;
    wire [TOK_B-1:0] iss_need;
    always @(posedge clk) begin
        if (rst) job_done <= 1'b0;
        else if (job_take) job_done <= 1'b1;
    end

    wire o_pass, o_last;
    wire [OT_B-1:0] o_ot;
    wire [G_B-1:0]  o_g;
    wire [PE_B-1:0] o_p;
    wire [T_OUT*OUT_W-1:0] o_data;
    hwmoe_linear_core #(
        .T_IN(T_IN), .T_OUT(T_OUT), .N_PE(N_PE), .X_W(X_W), .W_W(W_W), .B_W(B_W),
        .MAX_TOKENS(MAX_TOKENS), .MAX_D_IN(MAX_D_IN), .MAX_D_OUT(MAX_D_OUT), .TWO_PASS(0), .HAS_BIAS(HAS_BIAS),
        .RD_LAT(1), .H_W(H_CORE_W), .BSH_MAX(BSH_MAX), .GELU(GELU), .G_FRAC(G_FRAC), .G_LSH_MAX(G_LSH_MAX),
        .O_W(OUT_W), .ENTRIES(ENTRIES), .STEP_BITS(STEP_BITS), .D_W(D_W), .TABLE(TABLE), .SH_B(SH_B)
    ) u_core (
        .clk(clk), .rst(rst), .a_in(din_d), .a_out(dout_d), .b_in(din_d), .b_out(dout_d),
        .bias_en(bias_en), .one_pass(1'b1), .a_bshift(fb - f_acc), .a_qshift(f_acc - f_q),
        .a_qwidth(gelu_en ? h_width : out_width),
        .a_gelu(gelu_en), .a_glsh(g_lsh[GL_B-1:0]), .a_oshift(gy_frac - fo), .a_owidth(out_width),
        .b_bshift(fb - f_acc), .b_qshift(f_acc - fo), .b_qwidth(out_width),
        .job_valid(!job_done), .job_n(ntok), .job_take(job_take),
        .iss_pass(iss_pass), .iss_need(iss_need), .src_ok(x_tok >= iss_need),
        .rd_en(rd_en), .rd_pass(rd_pass), .rd_g(rd_g), .rd_c(rd_c), .rd_data(rd_data),
        .w_tdata(w_tdata), .w_tvalid(w_tvalid), .w_tready(w_tready),
        .b_tdata(b_tdata), .b_tvalid(b_tvalid), .b_tready(b_tready),
        .o_valid(y_tvalid), .o_ready(y_tready), .o_pass(o_pass), .o_last(o_last), .o_ot(o_ot), .o_g(o_g),
        .o_p(o_p), .o_data(o_data)
    );

    // output words past d_out are 0
    wire [OFF_B-1:0] y_obase = {{(OFF_B-OT_B){1'b0}}, o_ot} * TOUT_D;
    genvar go;
    generate
        for (go = 0; go < T_OUT; go = go + 1) begin : g_ymask
            localparam integer LO = go;
            localparam [OFF_B-1:0] LOD = LO[OFF_B-1:0];
            assign y_tdata[go*OUT_W +: OUT_W] = ((y_obase + LOD) < dout_d) ? o_data[go*OUT_W +: OUT_W]
                                                                         : {OUT_W{1'b0}};
        end
    endgenerate

    // status of the core not needed by a single-pass layer
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, rd_en, rd_pass, iss_pass, o_pass, o_last, o_g, o_p};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
