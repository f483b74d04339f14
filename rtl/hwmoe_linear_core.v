// hwmoe_linear_core: the MAC array shared by every linear layer (hwmoe_linear) and by the experts of the MoE
// kernel (hwmoe_moe). Exact integer accumulation, one rounding at the output (docs/numerics.md section 3).
//
// Dataflow (weight tile streamed, activations held on chip by the wrapper):
//   A pass computes y[j, :] = x[j, :] W^T (+ b) for n token positions j. The output dim is cut into blocks of
//   T_OUT rows; a block's weights (T_OUT rows x ceil(in/T_IN) chunks of T_IN words) are loaded into one half
//   of a double buffer while the previous block computes. For each block, for each group of N_PE positions,
//   for each chunk c: every lane p (position g*N_PE+p) multiplies its T_IN activations with the T_OUT x T_IN
//   weight tile (N_PE * T_OUT * T_IN MACs per cycle) and accumulates; after the last chunk the group's
//   N_PE x T_OUT sums go to a 2-slot hold buffer and are serialised, one position per cycle, through
//   bias add -> requant (hwmoe_requant, AP_RND + AP_SAT) -> optional GELU (hwmoe_gelu_lane).
//   A job is one pass (TWO_PASS = 0, linear) or pass A then pass B on the same positions (TWO_PASS = 1, the
//   two linears of an expert: A = dim -> hidden with GELU, B = hidden -> dim); with TWO_PASS = 1 the run-time
//   one_pass makes every job pass A only (the MoE engine's dense mode).
//
// Parameters
//   T_IN, T_OUT   : input chunk and output block of the weight tile; N_PE : position lanes sharing the tile
//   X_W, W_W, B_W : activation, weight, bias widths (signed)
//   MAX_TOKENS    : most positions in a pass; MAX_D_IN, MAX_D_OUT : largest in / out dims over both passes
//   TWO_PASS      : 0 = single pass A per job, 1 = pass A then pass B per job
//   HAS_BIAS      : 1 = a bias word per output (b stream), 0 = no bias (b stream unused)
//   RD_LAT        : cycles from rd_en to rd_data (the wrapper's activation read latency, >= 1)
//   H_W           : requant output word, the widest run-time format of either pass (values sign-extended)
//   BSH_MAX       : largest left shift aligning a bias to an accumulator (accumulator frac - bias frac)
//   GELU          : 1 = a GELU unit after pass A (used when a_gelu is set), computing at G_FRAC fractional
//                   bits: a run's requantised word (h_frac <= G_FRAC) is shifted left by a_glsh =
//                   G_FRAC - h_frac <= G_LSH_MAX first, which changes no GELU value (docs/numerics.md §5)
//   O_W           : output lane width: the GELU's widest run-time output, and every requant output that
//                   bypasses the GELU (sign-extended or, when narrower than H_W, its run-time width fits)
//   ENTRIES, STEP_BITS, D_W, TABLE : GELU table (see hwmoe_gelu)
//
// Interface
//   a_in/a_out, b_in/b_out : runtime dims of passes A and B (<= MAX_D_IN / MAX_D_OUT)
//   bias_en       : add the b stream's biases (with HAS_BIAS = 1); 0 = no bias, the b stream is not read
//   one_pass      : with TWO_PASS = 1, jobs are pass A only (ignored with TWO_PASS = 0)
//   p_bshift, p_qshift, p_qwidth (p = a, b) : the pass's casts (hwmoe_linear_biasq): bias frac -
//                   accumulator frac, accumulator frac - output frac, output width (2 .. H_W)
//   a_gelu, a_glsh, a_oshift, a_owidth : pass A's GELU: on/off, G_FRAC - h_frac, GELU frac -
//                   output frac, output width (2 .. O_W)
//   (run-time inputs are held constant for a run)
//   job_valid/job_n/job_take : a job of job_n (>= 1) positions is taken when job_take is high
//   iss_pass, iss_need, src_ok : the issuer wants positions [0, iss_need) of pass iss_pass available
//   rd_en, rd_pass, rd_g, rd_c : read lane p's position rd_g*N_PE+p, chunk rd_c (T_IN words); the wrapper
//                                returns N_PE*T_IN*X_W bits on rd_data exactly RD_LAT cycles later; words of
//                                an input beyond the dim must be zero
//   w_* stream    : T_IN*W_W bits per beat: the weight matrix row-major, each row padded to whole chunks
//                   (padding words are ignored); passes in job order
//   b_* stream    : T_OUT*B_W bits per beat: one beat per block, biases of its rows (padding ignored)
//   o_* output    : one position per beat, T_OUT*O_W bits: block o_ot, lane o_p of group o_g; o_last marks
//                   the last beat of a pass. Blocks in order, positions in order within a block.
`default_nettype none
module hwmoe_linear_core #(
    parameter integer T_IN       = 4,
    parameter integer T_OUT      = 4,
    parameter integer N_PE       = 2,
    parameter integer X_W        = 16,
    parameter integer W_W        = 16,
    parameter integer B_W        = 16,
    parameter integer MAX_TOKENS = 16,
    parameter integer MAX_D_IN     = 32,
    parameter integer MAX_D_OUT    = 32,
    parameter integer TWO_PASS   = 0,
    parameter integer HAS_BIAS   = 1,
    parameter integer RD_LAT     = 1,
    parameter integer H_W        = 16,
    parameter integer BSH_MAX    = 16,
    parameter integer GELU       = 0,
    parameter integer G_FRAC     = 11,
    parameter integer G_LSH_MAX  = 0,
    parameter integer O_W        = 16,
    parameter integer ENTRIES    = 149,
    parameter integer STEP_BITS  = 5,
    parameter integer D_W        = 16,
    parameter         TABLE      = "gelu.mem",
    // derived (do not override)
    parameter integer OFF_B = $clog2(((MAX_D_IN > MAX_D_OUT) ? MAX_D_IN : MAX_D_OUT)
                                     + ((T_IN > T_OUT) ? T_IN : T_OUT) + 1),
    parameter integer TOK_B = $clog2(MAX_TOKENS + N_PE + 1),
    parameter integer IT_B  = ((MAX_D_IN + T_IN - 1) / T_IN > 1) ? $clog2((MAX_D_IN + T_IN - 1) / T_IN) : 1,
    parameter integer OT_B  = ((MAX_D_OUT + T_OUT - 1) / T_OUT > 1) ? $clog2((MAX_D_OUT + T_OUT - 1) / T_OUT) : 1,
    parameter integer G_B   = ((MAX_TOKENS + N_PE - 1) / N_PE > 1) ? $clog2((MAX_TOKENS + N_PE - 1) / N_PE) : 1,
    parameter integer PE_B  = (N_PE > 1) ? $clog2(N_PE) : 1,
    parameter integer SH_B  = 10,
    parameter integer GL_B  = (G_LSH_MAX > 0) ? $clog2(G_LSH_MAX + 1) : 1
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire [OFF_B-1:0]           a_in,
    input  wire [OFF_B-1:0]           a_out,
    input  wire [OFF_B-1:0]           b_in,
    input  wire [OFF_B-1:0]           b_out,
    input  wire                       bias_en,
    input  wire                       one_pass,
    input  wire signed [SH_B-1:0]     a_bshift,
    input  wire signed [SH_B-1:0]     a_qshift,
    input  wire [7:0]                 a_qwidth,
    input  wire                       a_gelu,
    input  wire [GL_B-1:0]            a_glsh,
    input  wire signed [SH_B-1:0]     a_oshift,
    input  wire [7:0]                 a_owidth,
    input  wire signed [SH_B-1:0]     b_bshift,
    input  wire signed [SH_B-1:0]     b_qshift,
    input  wire [7:0]                 b_qwidth,
    input  wire                       job_valid,
    input  wire [TOK_B-1:0]           job_n,
    output wire                       job_take,
    output wire                       iss_pass,
    output wire [TOK_B-1:0]           iss_need,
    input  wire                       src_ok,
    output wire                       rd_en,
    output wire                       rd_pass,
    output wire [G_B-1:0]             rd_g,
    output wire [IT_B-1:0]            rd_c,
    input  wire [N_PE*T_IN*X_W-1:0]   rd_data,
    input  wire [T_IN*W_W-1:0]        w_tdata,
    input  wire                       w_tvalid,
    output wire                       w_tready,
    input  wire [T_OUT*B_W-1:0]       b_tdata,
    input  wire                       b_tvalid,
    output wire                       b_tready,
    output wire                       o_valid,
    input  wire                       o_ready,
    output wire                       o_pass,
    output wire                       o_last,
    output wire [OT_B-1:0]            o_ot,
    output wire [G_B-1:0]             o_g,
    output wire [PE_B-1:0]            o_p,
    output wire [T_OUT*O_W-1:0]       o_data
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (TWO_PASS != 0 && TWO_PASS != 1) begin
            $error("hwmoe_linear_core: TWO_PASS = %0d must be 0 or 1", TWO_PASS);
            $finish;
        end
        if (RD_LAT < 1) begin
            $error("hwmoe_linear_core: RD_LAT = %0d, the activation read takes at least one cycle", RD_LAT);
            $finish;
        end
    end
    localparam integer MAX_IT = (MAX_D_IN + T_IN - 1) / T_IN;
    localparam integer TR_B   = (T_OUT > 1) ? $clog2(T_OUT) : 1;
    localparam integer NV_B   = $clog2(N_PE + 1);
    localparam integer PROD_W = X_W + W_W;
    localparam integer ACC_W  = PROD_W + $clog2(MAX_IT * T_IN);
    localparam integer SD     = RD_LAT + 2;                 // issue -> accumulate stage
    localparam integer WA_B   = $clog2(2 * MAX_IT);
    localparam [OFF_B-1:0] TIN_D  = T_IN[OFF_B-1:0];
    localparam [OFF_B-1:0] TOUT_D = T_OUT[OFF_B-1:0];
    localparam [OFF_B-1:0] ONE_D  = {{(OFF_B-1){1'b0}}, 1'b1};
    localparam [WA_B-1:0]  MAXIT_A = MAX_IT[WA_B-1:0];
    localparam [TOK_B-1:0] NPE_T  = N_PE[TOK_B-1:0];
    localparam integer     TLAST  = T_OUT - 1;
    localparam [TR_B-1:0]  RLAST  = TLAST[TR_B-1:0];

    // ------------------------------------------------------------------ weight loader (double buffer)
    reg [1:0]        w_full;                // half holds a complete block
    reg              l_half, l_pass, l_done;
    reg [TR_B-1:0]   l_r;
    reg [IT_B-1:0]   l_c;
    reg [OFF_B-1:0]  l_coff, l_obase;
    wire [OFF_B-1:0] l_in  = l_pass ? b_in : a_in;
    wire [OFF_B-1:0] l_out = l_pass ? b_out : a_out;
    wire [OFF_B-1:0] l_row = l_obase + {{(OFF_B-TR_B){1'b0}}, l_r};
    wire l_last_c   = (l_coff + TIN_D) >= l_in;
    wire l_last_row = (l_r == RLAST) || ((l_row + ONE_D) >= l_out);
    wire l_last_blk = (l_obase + TOUT_D) >= l_out;
    wire two_pass = (TWO_PASS != 0) && !one_pass;          // jobs of pass A then pass B
    assign w_tready = !w_full[l_half] && !l_done;
    wire w_fire = w_tvalid && w_tready;
    wire [WA_B-1:0] w_waddr = (l_half ? MAXIT_A : {WA_B{1'b0}}) + {{(WA_B-IT_B){1'b0}}, l_c};
    reg              w_clear;               // set by the reader when a half has been read
    reg              w_clear_half;

    always @(posedge clk) begin
        if (rst) begin
            w_full <= 2'b00; l_half <= 1'b0; l_pass <= 1'b0; l_done <= 1'b0;
            l_r <= {TR_B{1'b0}}; l_c <= {IT_B{1'b0}}; l_coff <= {OFF_B{1'b0}}; l_obase <= {OFF_B{1'b0}};
        end else begin
            if (w_clear) w_full[w_clear_half] <= 1'b0;
            if (w_fire) begin
                if (!l_last_c) begin
                    l_c <= l_c + 1'b1; l_coff <= l_coff + TIN_D;
                end else begin
                    l_c <= {IT_B{1'b0}}; l_coff <= {OFF_B{1'b0}};
                    if (!l_last_row) l_r <= l_r + 1'b1;
                    else begin
                        l_r <= {TR_B{1'b0}};
                        w_full[l_half] <= 1'b1;
                        l_half <= !l_half;
                        if (!l_last_blk) l_obase <= l_obase + TOUT_D;
                        else begin
                            l_obase <= {OFF_B{1'b0}};
                            if (two_pass) l_pass <= !l_pass;
                            else l_done <= 1'b1;
                        end
                    end
                end
            end
        end
    end

    // one memory per tile row; all rows read at the same address. The rows of a last block past the output
    // dim are never loaded: with 8-bit words they are the high halves of packed multiplier pairs
    // (hwmoe_mul_outer), whose low products are exact whatever those rows hold; cleared at configuration so
    // that simulation carries no unknown values into the valid products.
    reg  [WA_B-1:0] w_raddr;
    wire [T_OUT*T_IN*W_W-1:0] w_q;
    genvar gr;
    generate
        for (gr = 0; gr < T_OUT; gr = gr + 1) begin : g_wbank
            (* ram_style = "block" *) reg [T_IN*W_W-1:0] mem [0:2*MAX_IT-1];
            reg [T_IN*W_W-1:0] q;
            integer k;
            initial for (k = 0; k < 2 * MAX_IT; k = k + 1) mem[k] = {(T_IN*W_W){1'b0}};
            always @(posedge clk) begin
                if (w_fire && l_r == gr) mem[w_waddr] <= w_tdata;
                q <= mem[w_raddr];
            end
            assign w_q[gr*T_IN*W_W +: T_IN*W_W] = q;
        end
    endgenerate

    // ------------------------------------------------------------------ bias loader (2 slots, one per block)
    reg [1:0]              b_full;
    reg                    bl_slot, bl_pass, bl_done;
    reg [OFF_B-1:0]        bl_obase;
    reg [T_OUT*B_W-1:0]    bias_mem [0:1];
    wire [OFF_B-1:0] bl_out = bl_pass ? b_out : a_out;
    wire bl_last_blk = (bl_obase + TOUT_D) >= bl_out;
    wire use_bias = (HAS_BIAS != 0) && bias_en;
    assign b_tready = use_bias && !b_full[bl_slot] && !bl_done;
    wire b_fire = b_tvalid && b_tready;
    reg  b_release;                          // the postproc has finished a block
    reg  b_release_slot;

    always @(posedge clk) begin
        if (rst) begin
            b_full <= 2'b00; bl_slot <= 1'b0; bl_pass <= 1'b0; bl_done <= 1'b0; bl_obase <= {OFF_B{1'b0}};
        end else begin
            if (b_release) b_full[b_release_slot] <= 1'b0;
            if (b_fire) begin
                b_full[bl_slot] <= 1'b1;
                bl_slot <= !bl_slot;
                if (!bl_last_blk) bl_obase <= bl_obase + TOUT_D;
                else begin
                    bl_obase <= {OFF_B{1'b0}};
                    if (two_pass) bl_pass <= !bl_pass;
                    else bl_done <= 1'b1;
                end
            end
        end
    end
    always @(posedge clk) begin
        if (b_fire) bias_mem[bl_slot] <= b_tdata;
    end

    // ------------------------------------------------------------------ issuer
    reg              i_act, i_pass, i_half, i_bslot;
    reg [TOK_B-1:0]  i_n, i_jb;
    reg [G_B-1:0]    i_g;
    reg [IT_B-1:0]   i_c;
    reg [OT_B-1:0]   i_ot;
    reg [OFF_B-1:0]  i_coff, i_obase;
    reg [1:0]        outstanding;            // groups issued to completion and not yet drained from hold
    wire [OFF_B-1:0] i_in  = i_pass ? b_in : a_in;
    wire [OFF_B-1:0] i_out = i_pass ? b_out : a_out;
    wire i_last_c = (i_coff + TIN_D) >= i_in;
    wire i_last_g = (i_jb + NPE_T) >= i_n;
    wire i_last_b = (i_obase + TOUT_D) >= i_out;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [TOK_B-1:0] i_rem = i_n - i_jb;    // positions left, < N_PE + 1 in the last group
    /* verilator lint_on UNUSEDSIGNAL */
    localparam [NV_B-1:0] NPE_NV = N_PE[NV_B-1:0];
    wire [NV_B-1:0]  i_nval = i_last_g ? i_rem[NV_B-1:0] : NPE_NV;
    assign iss_need = i_last_g ? i_n : (i_jb + NPE_T);
    assign iss_pass = i_pass;
    assign job_take = !i_act && job_valid;
    wire go = i_act && w_full[i_half] && src_ok && (!i_last_c || outstanding != 2'd2);
    assign rd_en = go;
    assign rd_pass = i_pass;
    assign rd_g = i_g;
    assign rd_c = i_c;
    reg  drain;                               // a hold slot has been emptied this cycle

    always @(posedge clk) begin
        if (rst) begin
            i_act <= 1'b0; i_pass <= 1'b0; i_half <= 1'b0; i_bslot <= 1'b0;
            i_n <= {TOK_B{1'b0}}; i_jb <= {TOK_B{1'b0}}; i_g <= {G_B{1'b0}}; i_c <= {IT_B{1'b0}};
            i_ot <= {OT_B{1'b0}}; i_coff <= {OFF_B{1'b0}}; i_obase <= {OFF_B{1'b0}};
            outstanding <= 2'd0;
        end else begin
            outstanding <= outstanding + ((go && i_last_c) ? 2'd1 : 2'd0) - (drain ? 2'd1 : 2'd0);
            if (job_take) begin
                i_act <= 1'b1; i_pass <= 1'b0; i_n <= job_n;
            end
            if (go) begin
                if (!i_last_c) begin
                    i_c <= i_c + 1'b1; i_coff <= i_coff + TIN_D;
                end else begin
                    i_c <= {IT_B{1'b0}}; i_coff <= {OFF_B{1'b0}};
                    if (!i_last_g) begin
                        i_g <= i_g + 1'b1; i_jb <= i_jb + NPE_T;
                    end else begin
                        i_g <= {G_B{1'b0}}; i_jb <= {TOK_B{1'b0}};
                        i_half <= !i_half; i_bslot <= !i_bslot;
                        if (!i_last_b) begin
                            i_ot <= i_ot + 1'b1; i_obase <= i_obase + TOUT_D;
                        end else begin
                            i_ot <= {OT_B{1'b0}}; i_obase <= {OFF_B{1'b0}};
                            if (two_pass && !i_pass) i_pass <= 1'b1;
                            else i_act <= 1'b0;
                        end
                    end
                end
            end
        end
    end

    // ------------------------------------------------------------------ issue pipeline (control)
    // info fields: first_c, last_c, half, c, pass, ot, g, nval, last_g, last_b, bslot
    localparam integer F_FIRST = 0;
    localparam integer F_LASTC = 1;
    localparam integer F_HALF  = 2;
    localparam integer F_C     = 3;
    localparam integer F_PASS  = F_C + IT_B;
    localparam integer F_OT    = F_PASS + 1;
    localparam integer F_G     = F_OT + OT_B;
    localparam integer F_NV    = F_G + G_B;
    localparam integer F_LASTG = F_NV + NV_B;
    localparam integer F_LASTB = F_LASTG + 1;
    localparam integer F_BSLOT = F_LASTB + 1;
    localparam integer INFO_W  = F_BSLOT + 1;
    wire [INFO_W-1:0] info0 = {i_bslot, i_last_b, i_last_g, i_nval, i_g, i_ot, i_pass, i_c, i_half,
                               i_last_c, (i_c == {IT_B{1'b0}})};
    reg  [SD*INFO_W-1:0] pinfo;
    reg  [SD:1]          pvalid;
    wire [(SD+1)*INFO_W-1:0] st_info = {pinfo, info0};
    wire [SD:0]          st_v = {pvalid, go};
    always @(posedge clk) begin
        if (rst) pvalid <= {SD{1'b0}};
        else pvalid <= st_v[SD-1:0];
        pinfo <= st_info[SD*INFO_W-1:0];
    end

    // weight read at stage RD_LAT-1 so that weights and activations meet at stage RD_LAT
    wire [INFO_W-1:0] rinfo = st_info[(RD_LAT-1)*INFO_W +: INFO_W];
    always @* begin
        w_raddr = (rinfo[F_HALF] ? MAXIT_A : {WA_B{1'b0}}) + {{(WA_B-IT_B){1'b0}}, rinfo[F_C +: IT_B]};
        w_clear = st_v[RD_LAT-1] && rinfo[F_LASTC] && rinfo[F_LASTG];
        w_clear_half = rinfo[F_HALF];
    end

    // ------------------------------------------------------------------ MAC array
    // one outer product per input column i: the N_PE lanes' x[., i] times the tile's T_OUT weights w[., i],
    // registered once; with 8-bit words two output columns share each multiplier (hwmoe_mul_outer)
    wire [T_IN*N_PE*T_OUT*PROD_W-1:0] prod;       // column i, lane p, output o at ((i*N_PE+p)*T_OUT+o)*PROD_W
    genvar gi, gp, gw;
    generate
        for (gi = 0; gi < T_IN; gi = gi + 1) begin : g_col
            wire [N_PE*X_W-1:0]  xa;
            wire [T_OUT*W_W-1:0] wb;
            for (gp = 0; gp < N_PE; gp = gp + 1) begin : g_x
                assign xa[gp*X_W +: X_W] = rd_data[(gp*T_IN+gi)*X_W +: X_W];
            end
            for (gw = 0; gw < T_OUT; gw = gw + 1) begin : g_w
                assign wb[gw*W_W +: W_W] = w_q[(gw*T_IN+gi)*W_W +: W_W];
            end
            hwmoe_mul_outer #(.A_W(X_W), .B_W(W_W), .N_A(N_PE), .N_B(T_OUT)) u_mul (
                .clk(clk), .a(xa), .b(wb), .p(prod[gi*N_PE*T_OUT*PROD_W +: N_PE*T_OUT*PROD_W]));
        end
    endgenerate
    reg signed [ACC_W-1:0]  psum [0:N_PE*T_OUT-1];
    reg signed [ACC_W-1:0]  psum_next [0:N_PE*T_OUT-1];
    reg signed [PROD_W-1:0] pr;
    integer p, o, i;
    always @* begin
        pr = {PROD_W{1'b0}};
        for (p = 0; p < N_PE*T_OUT; p = p + 1) begin
            psum_next[p] = {ACC_W{1'b0}};
            for (i = 0; i < T_IN; i = i + 1) begin
                pr = prod[(i*N_PE*T_OUT+p)*PROD_W +: PROD_W];
                psum_next[p] = psum_next[p] + {{(ACC_W-PROD_W){pr[PROD_W-1]}}, pr};
            end
        end
    end
    always @(posedge clk) begin
        for (p = 0; p < N_PE*T_OUT; p = p + 1) psum[p] <= psum_next[p];
    end

    // accumulate at stage SD; the last chunk of a group goes to a hold slot
    localparam integer H_PASS = 0;
    localparam integer H_OT   = 1;
    localparam integer H_G    = H_OT + OT_B;
    localparam integer H_NV   = H_G + G_B;
    localparam integer H_LAST = H_NV + NV_B;
    localparam integer H_LB   = H_LAST + 1;
    localparam integer H_BS   = H_LB + 1;
    localparam integer HI_W   = H_BS + 1;
    wire [INFO_W-1:0] ainfo = st_info[SD*INFO_W +: INFO_W];
    wire a_v = st_v[SD];
    reg  signed [ACC_W-1:0] accr [0:N_PE*T_OUT-1];
    reg  signed [ACC_W-1:0] hold [0:2*N_PE*T_OUT-1];
    reg  [HI_W-1:0] hold_info [0:1];
    reg  [1:0] hold_v;
    reg  hw_slot, hr_slot;
    reg  [NV_B-1:0] pl;                      // next lane to pop from the read slot
    wire hold_fill = a_v && ainfo[F_LASTC];
    always @(posedge clk) begin
        if (a_v) begin
            for (p = 0; p < N_PE*T_OUT; p = p + 1) begin
                accr[p] <= (ainfo[F_FIRST] ? {ACC_W{1'b0}} : accr[p]) + psum[p];
                if (ainfo[F_LASTC])
                    hold[(hw_slot ? N_PE*T_OUT : 0) + p] <= (ainfo[F_FIRST] ? {ACC_W{1'b0}} : accr[p]) + psum[p];
            end
            if (ainfo[F_LASTC])
                hold_info[hw_slot] <= {ainfo[F_BSLOT], ainfo[F_LASTG], ainfo[F_LASTG] && ainfo[F_LASTB],
                                       ainfo[F_NV +: NV_B], ainfo[F_G +: G_B], ainfo[F_OT +: OT_B],
                                       ainfo[F_PASS]};
        end
    end

    // ------------------------------------------------------------------ serialiser + postproc
    reg  [1:0] pp_v;                          // postproc stage valids (S0, S1)
    wire out_v;
    wire pp_en = !out_v || o_ready;
    wire [HI_W-1:0] rinfo_h = hold_info[hr_slot];
    wire bias_ok = !use_bias || b_full[rinfo_h[H_BS]];
    wire pop = hold_v[hr_slot] && pp_en && bias_ok;
    wire pop_end = pop && (pl + 1'b1 == rinfo_h[H_NV +: NV_B]);

    always @(posedge clk) begin
        if (rst) begin
            hold_v <= 2'b00; hw_slot <= 1'b0; hr_slot <= 1'b0; pl <= {NV_B{1'b0}};
        end else begin
            if (hold_fill) begin
                hold_v[hw_slot] <= 1'b1; hw_slot <= !hw_slot;
            end
            if (pop) begin
                if (pop_end) begin
                    hold_v[hr_slot] <= 1'b0; hr_slot <= !hr_slot; pl <= {NV_B{1'b0}};
                end else pl <= pl + 1'b1;
            end
        end
    end
    always @* begin
        drain = pop_end;
        b_release = pop_end && rinfo_h[H_LB] && use_bias;
        b_release_slot = rinfo_h[H_BS];
    end

    // S0: the popped position's sums and its block's biases
    reg signed [ACC_W-1:0] s0_acc [0:T_OUT-1];
    reg [T_OUT*B_W-1:0]    s0_b;
    reg                    s0_pass, s0_last;
    reg [OT_B-1:0]         s0_ot;
    reg [G_B-1:0]          s0_g;
    reg [PE_B-1:0]         s0_p;
    wire [PE_B-1:0]        pl_pe = pl[PE_B-1:0];
    always @(posedge clk) begin
        if (rst) pp_v[0] <= 1'b0;
        else if (pp_en) pp_v[0] <= pop;
        if (pp_en) begin
            for (o = 0; o < T_OUT; o = o + 1)
                s0_acc[o] <= hold[(hr_slot ? N_PE*T_OUT : 0) + pl_pe*T_OUT + o];
            s0_b <= use_bias ? bias_mem[rinfo_h[H_BS]] : {(T_OUT*B_W){1'b0}};
            s0_pass <= rinfo_h[H_PASS];
            s0_last <= rinfo_h[H_LAST] && pop_end;
            s0_ot <= rinfo_h[H_OT +: OT_B];
            s0_g <= rinfo_h[H_G +: G_B];
            s0_p <= pl_pe;
        end
    end

    // S1: bias add and requant at the run-time casts of the position's pass, registered
    reg [T_OUT*H_W-1:0] s1_h;
    reg                 s1_pass, s1_last;
    reg [OT_B-1:0]      s1_ot;
    reg [G_B-1:0]       s1_g;
    reg [PE_B-1:0]      s1_p;
    wire [T_OUT*H_W-1:0] h_next;
    localparam integer QW_B = $clog2(H_W + 1);
    localparam integer OW_B = $clog2(O_W + 1);
    wire signed [SH_B-1:0] s0_bshift = (TWO_PASS != 0 && s0_pass) ? b_bshift : a_bshift;
    wire signed [SH_B-1:0] s0_qshift = (TWO_PASS != 0 && s0_pass) ? b_qshift : a_qshift;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [7:0] s0_qwidth = (TWO_PASS != 0 && s0_pass) ? b_qwidth : a_qwidth;   // a legal width fits QW_B bits
    wire [7:0] a_owidth_all = a_owidth;                                         // ... and OW_B bits
    /* verilator lint_on UNUSEDSIGNAL */
    genvar go_;
    generate
        for (go_ = 0; go_ < T_OUT; go_ = go_ + 1) begin : g_req
            hwmoe_linear_biasq #(.ACC_W(ACC_W), .B_W(B_W), .BSH_MAX(BSH_MAX), .OUT_W(H_W), .SH_B(SH_B)) u_cast (
                .acc(s0_acc[go_]), .bias(s0_b[go_*B_W +: B_W]), .b_shift(s0_bshift), .q_shift(s0_qshift),
                .q_width(s0_qwidth[QW_B-1:0]), .dout(h_next[go_*H_W +: H_W]));
        end
    endgenerate
    always @(posedge clk) begin
        if (rst) pp_v[1] <= 1'b0;
        else if (pp_en) pp_v[1] <= pp_v[0];
        if (pp_en) begin
            s1_h <= h_next;
            s1_pass <= s0_pass; s1_last <= s0_last; s1_ot <= s0_ot; s1_g <= s0_g; s1_p <= s0_p;
        end
    end

    // a requant output that bypasses the GELU, on an O_W lane (its run-time width fits O_W bits)
    function [O_W-1:0] bypass_lane(input [H_W-1:0] h);
        integer b;
        begin
            for (b = 0; b < O_W; b = b + 1) bypass_lane[b] = (b < H_W) ? h[b] : h[H_W-1];
        end
    endfunction

    // optional GELU (pass A with a_gelu), three enable-stalled stages; other runs and pass B bypass it with
    // the same latency
    generate
        if (GELU != 0) begin : g_gelu
            localparam integer GI_W  = 3 + OT_B + G_B + PE_B;
            localparam integer G_IN  = H_W + G_LSH_MAX;                      // h << a_glsh, exactly
            localparam integer GY_FR = (G_FRAC > D_W) ? G_FRAC : D_W;      // the GELU's exact result ...
            localparam integer GY_W  = G_IN + GY_FR - G_FRAC + 1;           // ... fits these bits
            reg [2:0]            gv;
            reg [3*(GI_W)-1:0]   ginfo;
            reg [3*T_OUT*H_W-1:0] gbyp;
            wire s1_gelu = a_gelu && !(TWO_PASS != 0 && s1_pass);
            genvar gl;
            for (gl = 0; gl < T_OUT; gl = gl + 1) begin : g_lane
                wire signed [H_W-1:0]  hl = s1_h[gl*H_W +: H_W];
                wire signed [G_IN-1:0] hx = {{(G_IN-H_W){hl[H_W-1]}}, hl};      // sign-extended
                wire signed [G_IN-1:0] gx = hx <<< a_glsh;
                wire signed [GY_W-1:0] gy;
                wire signed [O_W-1:0]  gout;
                hwmoe_gelu_lane #(.IN_W(G_IN), .IN_FRAC(G_FRAC), .OUT_W(GY_W), .OUT_FRAC(GY_FR),
                                  .ENTRIES(ENTRIES), .STEP_BITS(STEP_BITS), .D_W(D_W), .TABLE(TABLE))
                    u_lane (.clk(clk), .en(pp_en), .x(gx), .y(gy));
                hwmoe_requant_runtime #(.IN_W(GY_W), .OUT_W(O_W), .SHIFT_B(SH_B)) u_out (
                    .din(gy), .shift(a_oshift), .out_width(a_owidth_all[OW_B-1:0]), .dout(gout));
                wire [H_W-1:0] byp = gbyp[2*T_OUT*H_W + gl*H_W +: H_W];
                assign o_data[gl*O_W +: O_W] = ginfo[2*(GI_W) + 2] ? gout : bypass_lane(byp);
            end
            always @(posedge clk) begin
                if (rst) gv <= 3'b000;
                else if (pp_en) gv <= {gv[1:0], pp_v[1]};
                if (pp_en) begin
                    ginfo <= {ginfo[2*(GI_W)-1:0], s1_p, s1_g, s1_ot, s1_gelu, s1_last, s1_pass};
                    gbyp <= {gbyp[2*T_OUT*H_W-1:0], s1_h};
                end
            end
            wire [GI_W-1:0] oi = ginfo[2*(GI_W) +: GI_W];
            assign out_v = gv[2];
            assign o_pass = oi[0];
            assign o_last = oi[1];
            assign o_ot = oi[3 +: OT_B];
            assign o_g = oi[3+OT_B +: G_B];
            assign o_p = oi[3+OT_B+G_B +: PE_B];
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_gelu = oi[2];                 // the GELU switch, used at the stage before
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_nogelu
            genvar gl;
            for (gl = 0; gl < T_OUT; gl = gl + 1) begin : g_lane
                assign o_data[gl*O_W +: O_W] = bypass_lane(s1_h[gl*H_W +: H_W]);
            end
            assign out_v = pp_v[1];
            assign o_pass = s1_pass;
            assign o_last = s1_last;
            assign o_ot = s1_ot;
            assign o_g = s1_g;
            assign o_p = s1_p;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_gelu = &{1'b0, a_gelu, a_glsh, a_oshift};   // no GELU unit built
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate
    assign o_valid = out_v;
endmodule
`default_nettype wire
