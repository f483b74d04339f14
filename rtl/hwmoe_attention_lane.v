// hwmoe_attention_lane: one multiplier lane of one query row of hwmoe_attention (see there). The lane's single
// A_W x B_W multiplier is time-shared by four operations, chosen per cycle by the row sequencer:
//   SCORE : q[d] * k_j[d]              product to the row's adder tree (score s = q . k)
//   RSH   : acc_hi * r                 rescale of the running A.V accumulator, high part: the accumulator
//   RSL   : acc_lo * r                 of chunk c is split as acc = acc_hi * 2^SPLIT + acc_lo (acc_lo >= 0),
//                                      so floor(acc * r / 2^15) = (acc_hi * r) << (SPLIT - 15)
//                                      + floor(acc_lo * r / 2^15) exactly (SPLIT >= 15)
//   AV    : e_j * v_j[d]               added to the accumulator
// A chunk c of the row's accumulators (this lane's element d = c * LANES + lane) is processed as RSH, RSL,
// then AV for every key of the block; the result is written back to acc[c] with the last AV. In the first
// block of a row group the rescale terms are forced to 0 (the accumulator starts empty).
//
// Pipeline (stages of hwmoe_attention): S1 operands selected (kind1, c1) -> M0 operand registers ->
// M1 product register -> accumulator update (kind3, c3, last3, first3). acc[] is read asynchronously at c1
// (rescale) and at rd_c (output engine). No reset: the sequencer never relies on initial contents.
//
// Parameters: Q_W, K_W, V_W (operand widths, signed), ACC_W (accumulator width, signed), A_W, B_W
// (multiplier operand widths, A_W >= Q_W, V_W, ACC_W - A_W + 1 and B_W >= K_W, 17), CH (chunks per row =
// HEAD_DIM / LANES), CH_W (chunk index width).
`default_nettype none
module hwmoe_attention_lane #(
    parameter integer Q_W   = 16,
    parameter integer K_W   = 16,
    parameter integer V_W   = 16,
    parameter integer ACC_W = 40,
    parameter integer A_W   = 21,
    parameter integer B_W   = 17,
    parameter integer CH    = 2,
    parameter integer CH_W  = 1
) (
    input  wire                    clk,
    // S1: operand selection
    input  wire [2:0]              kind1,
    input  wire [CH_W-1:0]         c1,
    input  wire signed [Q_W-1:0]   q,
    input  wire signed [K_W-1:0]   k,
    input  wire signed [V_W-1:0]   v,
    input  wire [15:0]             r,
    input  wire [15:0]             e,
    // M1: accumulator update
    input  wire [2:0]              kind3,
    input  wire [CH_W-1:0]         c3,
    input  wire                    last3,
    input  wire                    first3,
    output wire signed [A_W+B_W-1:0] prod,
    // output engine read port
    input  wire [CH_W-1:0]         rd_c,
    output wire [ACC_W-1:0]        rd_acc
);
    localparam [2:0] OP_SCORE = 3'd1, OP_RSH = 3'd2, OP_RSL = 3'd3, OP_AV = 3'd4;
    localparam integer SPLIT = A_W - 1;                 // bits of acc_lo
    localparam integer HI_W  = ACC_W - SPLIT;           // bits of acc_hi (<= A_W)
    localparam integer PR_W  = A_W + B_W;
    localparam integer WIDE  = (ACC_W > PR_W) ? ACC_W : PR_W;

    reg [ACC_W-1:0] acc_mem [0:CH-1];
    wire [ACC_W-1:0] acc_old = acc_mem[c1];
    assign rd_acc = acc_mem[rd_c];

    // S1: operands
    wire signed [HI_W-1:0] acc_hi = acc_old[ACC_W-1:SPLIT];
    wire [SPLIT-1:0]       acc_lo = acc_old[SPLIT-1:0];
    reg signed [A_W-1:0] a_next;
    reg signed [B_W-1:0] b_next;
    always @* begin
        case (kind1)
            OP_SCORE: begin
                a_next = {{(A_W-Q_W){q[Q_W-1]}}, q};
                b_next = {{(B_W-K_W){k[K_W-1]}}, k};
            end
            OP_RSH: begin
                a_next = {{(A_W-HI_W){acc_hi[HI_W-1]}}, acc_hi};
                b_next = {{(B_W-16){1'b0}}, r};
            end
            OP_RSL: begin
                a_next = {1'b0, acc_lo};
                b_next = {{(B_W-16){1'b0}}, r};
            end
            default: begin
                a_next = {{(A_W-V_W){v[V_W-1]}}, v};
                b_next = {{(B_W-16){1'b0}}, e};
            end
        endcase
    end

    // M0 -> M1: the multiplier (DSP with input and product registers)
    reg signed [A_W-1:0]  a_reg;
    reg signed [B_W-1:0]  b_reg;
    reg signed [PR_W-1:0] prod_reg;
    always @(posedge clk) begin
        a_reg    <= a_next;
        b_reg    <= b_next;
        prod_reg <= a_reg * b_reg;
    end
    assign prod = prod_reg;

    // M1: accumulate (modulo 2^ACC_W: the final value of every chunk fits ACC_W bits)
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [WIDE-1:0] prod_w = {{(WIDE-PR_W){prod_reg[PR_W-1]}}, prod_reg};
    wire signed [WIDE-1:0] hi_w   = prod_w <<< (SPLIT - 15);
    wire signed [WIDE-1:0] lo_w   = prod_w >>> 15;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [ACC_W-1:0] acc_reg;
    reg [ACC_W-1:0] term;
    always @* begin
        case (kind3)
            OP_RSH:  term = first3 ? {ACC_W{1'b0}} : hi_w[ACC_W-1:0];
            OP_RSL:  term = first3 ? {ACC_W{1'b0}} : lo_w[ACC_W-1:0];
            default: term = prod_w[ACC_W-1:0];
        endcase
    end
    wire [ACC_W-1:0] acc_next = ((kind3 == OP_RSH) ? {ACC_W{1'b0}} : acc_reg) + term;
    always @(posedge clk) begin
        if (kind3 == OP_RSH || kind3 == OP_RSL || kind3 == OP_AV) acc_reg <= acc_next;
        if (kind3 == OP_AV && last3) acc_mem[c3] <= acc_next;
    end
endmodule
`default_nettype wire
