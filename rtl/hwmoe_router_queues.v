// hwmoe_router_queues: per-expert token queues for the MoE dispatch, exactly the order of
// hwmoe.kernels.moe.expert_queues.  Takes one routing beat per token (its k expert indices and gate weights,
// the router's output) and files the token into the queue of each chosen expert (a bucket memory of
// EXPERTS x MAX_TOKENS entries, k writes per token).  After `tokens` tokens it emits, for expert 0..EXPERTS-1 in
// turn, a header beat with the expert's token count, then one beat per queued token in increasing token
// order with the slot that chose the expert and the gate weight; then it clears the counts and takes the
// next layer's tokens.
//
// Parameters
//   EXPERTS : experts (>= 2)
//   TOP_K   : expert choices per token (1 .. EXPERTS, distinct per token)
//   MAX_TOKENS : largest `tokens` (bucket memory depth per expert)
//
// Control input (held from reset): tokens (tokens per layer, 1 .. MAX_TOKENS).
// Streams (valid/ready; lane i in bits [i*16 +: 16]):
//   g : 2*TOP_K lanes of 16 bits: lanes 0..TOP_K-1 expert indices (slot order), TOP_K..2*TOP_K-1 gate
//       weights (U1.15).  One beat per token; a beat is taken every TOP_K + 1 cycles at most.
//   q : 5 lanes of 16 bits: [kind, expert, count or token, slot, gate]; kind 1 = header (count in lane 2,
//       slot and gate 0), kind 0 = entry.  EXPERTS + tokens * TOP_K beats per layer, one per cycle.
`default_nettype none
module hwmoe_router_queues #(
    parameter integer EXPERTS = 4,
    parameter integer TOP_K   = 2,
    parameter integer MAX_TOKENS = 16
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire [15:0]             tokens,
    input  wire [2*TOP_K*16-1:0]   g_tdata,
    input  wire                    g_tvalid,
    output wire                    g_tready,
    output wire [5*16-1:0]         q_tdata,
    output wire                    q_tvalid,
    input  wire                    q_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (EXPERTS < 2 || EXPERTS > 1 << 15) begin
            $error("hwmoe_router_queues: EXPERTS = %0d outside 2..2^15", EXPERTS);
            $finish;
        end
        if (TOP_K < 1 || TOP_K > EXPERTS) begin
            $error("hwmoe_router_queues: TOP_K = %0d with EXPERTS = %0d: need 1 <= TOP_K <= EXPERTS", TOP_K, EXPERTS);
            $finish;
        end
        if (MAX_TOKENS < 1 || MAX_TOKENS >= 1 << 16) begin
            $error("hwmoe_router_queues: MAX_TOKENS = %0d outside 1..2^16-1", MAX_TOKENS);
            $finish;
        end
    end
    localparam integer IDX_W  = $clog2(EXPERTS);
    localparam integer TOK_W  = (MAX_TOKENS > 1) ? $clog2(MAX_TOKENS) : 1;
    localparam integer SLOT_W = (TOP_K > 1) ? $clog2(TOP_K) : 1;
    localparam integer TOKENS_B = $clog2(MAX_TOKENS + 1);
    localparam integer ENT_W  = TOK_W + SLOT_W + 16;
    localparam integer DEPTH  = EXPERTS * MAX_TOKENS;
    localparam integer ADDR_W = $clog2(DEPTH);
    localparam integer KJ_W   = $clog2(TOP_K + 1);

    (* ram_style = "block" *) reg [ENT_W-1:0] bucket [0:DEPTH-1];
    reg [TOKENS_B-1:0] count [0:EXPERTS-1];

    // ------------------------------------------------------------------ filing: k writes per token
    reg busy, emitting;
    reg [2*TOP_K*16-1:0] held;
    reg [KJ_W-1:0] wj;
    reg [15:0] token;
    assign g_tready = !busy && !emitting;
    wire g_fire = g_tvalid && g_tready;

    wire [IDX_W-1:0] w_e = held[wj[SLOT_W-1:0]*16 +: IDX_W];
    wire [31:0] gate_lane = TOP_K + {{(32-SLOT_W){1'b0}}, wj[SLOT_W-1:0]};
    wire [15:0] w_gate = held[gate_lane*16 +: 16];
    wire [TOKENS_B-1:0] w_pos = count[w_e];
    wire [ADDR_W-1:0] w_addr = w_e * MAX_TOKENS[ADDR_W-1:0] + {{(ADDR_W-TOK_W){1'b0}}, w_pos[TOK_W-1:0]};
    wire w_last = (wj == TOP_K[KJ_W-1:0] - 1'b1);
    wire layer_end = w_last && (token == tokens - 16'd1);

    // ------------------------------------------------------------------ emission
    reg [IDX_W:0] e_cur;                  // expert being emitted
    reg in_header;                        // next item is e_cur's header
    reg [TOKENS_B-1:0] pos;                  // next entry of e_cur
    reg [ADDR_W-1:0] ebase;
    reg v1, v2;
    wire adv = !v2 || q_tready;
    wire [TOKENS_B-1:0] e_count = count[e_cur[IDX_W-1:0]];
    wire items_left = emitting;
    wire issue = adv && items_left;
    wire entry_last = (pos == e_count - 1'b1);
    wire e_last = (e_cur == EXPERTS[IDX_W:0] - 1'b1);
    wire issue_done = issue && (in_header ? (e_count == {TOKENS_B{1'b0}} && e_last) : (entry_last && e_last));

    reg h1;
    reg [IDX_W-1:0] e1;
    reg [TOKENS_B-1:0] c1;
    reg [ENT_W-1:0] ent1;
    reg [5*16-1:0] q2;

    integer i;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; emitting <= 1'b0; wj <= {KJ_W{1'b0}}; token <= 16'd0;
            e_cur <= {(IDX_W+1){1'b0}}; in_header <= 1'b1; pos <= {TOKENS_B{1'b0}}; ebase <= {ADDR_W{1'b0}};
            v1 <= 1'b0; v2 <= 1'b0;
            for (i = 0; i < EXPERTS; i = i + 1) count[i] <= {TOKENS_B{1'b0}};
        end else begin
            if (g_fire) begin
                held <= g_tdata;
                busy <= 1'b1;
                wj <= {KJ_W{1'b0}};
            end
            if (busy) begin
                count[w_e] <= w_pos + 1'b1;
                if (w_last) begin
                    busy <= 1'b0;
                    if (layer_end) begin
                        token <= 16'd0;
                        emitting <= 1'b1;
                    end else token <= token + 16'd1;
                end else wj <= wj + 1'b1;
            end
            if (adv) begin
                v1 <= issue;
                v2 <= v1;
            end
            if (issue) begin
                if (in_header) begin
                    if (e_count != {TOKENS_B{1'b0}}) in_header <= 1'b0;
                    else begin
                        e_cur <= e_cur + 1'b1;
                        ebase <= ebase + MAX_TOKENS[ADDR_W-1:0];
                    end
                    pos <= {TOKENS_B{1'b0}};
                end else begin
                    if (entry_last) begin
                        in_header <= 1'b1;
                        e_cur <= e_cur + 1'b1;
                        ebase <= ebase + MAX_TOKENS[ADDR_W-1:0];
                    end
                    pos <= pos + 1'b1;
                end
                if (issue_done) begin
                    emitting <= 1'b0;
                    e_cur <= {(IDX_W+1){1'b0}};
                    in_header <= 1'b1;
                    ebase <= {ADDR_W{1'b0}};
                    for (i = 0; i < EXPERTS; i = i + 1) count[i] <= {TOKENS_B{1'b0}};
                end
            end
        end
        if (busy) bucket[w_addr] <= {token[TOK_W-1:0], wj[SLOT_W-1:0], w_gate};
        if (adv) begin
            ent1 <= bucket[ebase + {{(ADDR_W-TOK_W){1'b0}}, pos[TOK_W-1:0]}];
            h1 <= in_header;
            e1 <= e_cur[IDX_W-1:0];
            c1 <= e_count;
            if (h1) q2 <= {16'd0, 16'd0, {(16-TOKENS_B){1'b0}}, c1, {(16-IDX_W){1'b0}}, e1, 16'd1};
            else q2 <= {ent1[15:0], {(16-SLOT_W){1'b0}}, ent1[16 +: SLOT_W], {(16-TOK_W){1'b0}},
                        ent1[16+SLOT_W +: TOK_W], {(16-IDX_W){1'b0}}, e1, 16'd0};
        end
    end
    assign q_tdata = q2;
    assign q_tvalid = v2;
endmodule
`default_nettype wire
