// hwmoe_seq: the sequencer of hwmoe_accel. On `start` it fetches the program at base + prog one command at a
// time through DMA reader 0, and runs each command: the command's engine is taken out of reset (`exec` high,
// `op` its opcode, `ctl` its control inputs), every used descriptor slot starts its DMA reader (slots
// 0..READERS-1) or the writer (slot READERS) at base + the slot's base (a slot flagged on chip, flags bit 4: at
// the slot's base in the scratchpad, rd_scratch/wr_scratch high), and the command ends when every
// started transfer is done. Opcode 0 ends the program. Command format: hwmoe/accel/program.py and
// docs/accelerator.md ("Program").
//
// Errors end the run (`done_pulse`) with `error_valid` and a code: 1 an opcode of no built engine
// (ENGINE_MASK), 2 an AXI read error (any reader, the fetch included), 3 an AXI write error.
//
// Parameters
//   ADDR_W, N_W, WORDS_W, LANE_W : address and descriptor field widths (as hwmoe_dma)
//   LANES_MAX    : words per reader beat (the fetch reads LANES_MAX command words per beat)
//   READERS      : DMA readers (descriptor slots before the writer's)
//   CMD_WORDS, CONTROL_WORDS, DESC_WORDS : the command format (hwmoe.accel.program)
//   ENGINES      : opcodes 1..ENGINES name engines;  ENGINE_MASK : bit e-1 set when engine e is built
//
// Ports
//   start, base, prog : from hwmoe_ctrl;  busy, done_pulse, error_valid, error_code, command_done : to it
//   exec, op, ctl  : the running command (exec high from its launch to its end; ctl = CONTROL_WORDS words)
//   rd_*, wr_*     : descriptors and starts of the DMA readers (slot i in slice i) and the writer
//   fetching       : reader 0 streams the program to f_* (the top routes its y stream here)
`default_nettype none
module hwmoe_seq #(
    parameter integer ADDR_W        = 32,
    parameter integer N_W           = 13,
    parameter integer WORDS_W       = 13,
    parameter integer LANE_W        = 4,
    parameter integer LANES_MAX     = 8,
    parameter integer READERS       = 4,
    parameter integer CMD_WORDS     = 64,
    parameter integer CONTROL_WORDS = 16,
    parameter integer DESC_WORDS    = 8,
    parameter integer ENGINES       = 6,
    parameter integer ENGINE_MASK   = 63
) (
    input  wire                         clk,
    input  wire                         rst,
    input  wire                         start,
    input  wire [ADDR_W-1:0]            base,
    input  wire [31:0]                  prog,
    output wire                         busy,
    output reg                          done_pulse,
    output reg                          error_valid,
    output reg  [7:0]                   error_code,
    output reg                          command_done,
    output wire                         exec,
    output wire [7:0]                   op,
    output wire [CONTROL_WORDS*32-1:0]  ctl,
    output wire                         fetching,
    input  wire [32*LANES_MAX-1:0]      f_tdata,
    input  wire                         f_tvalid,
    output wire                         f_tready,
    output reg  [READERS-1:0]           rd_start,
    output wire [READERS*ADDR_W-1:0]    rd_base,
    output wire [READERS*N_W-1:0]       rd_n1,
    output wire [READERS*ADDR_W-1:0]    rd_stride1,
    output wire [READERS*N_W-1:0]       rd_n2,
    output wire [READERS*ADDR_W-1:0]    rd_stride2,
    output wire [READERS*WORDS_W-1:0]   rd_words,
    output wire [READERS*LANE_W-1:0]    rd_lanes,
    output wire [READERS*2-1:0]         rd_csize,
    output wire [READERS-1:0]           rd_indexed,
    output wire [READERS-1:0]           rd_scratch,
    input  wire [READERS-1:0]           rd_done,
    input  wire [READERS-1:0]           rd_error,
    output reg                          wr_start,
    output wire [ADDR_W-1:0]            wr_base,
    output wire [N_W-1:0]               wr_n1,
    output wire [ADDR_W-1:0]            wr_stride1,
    output wire [N_W-1:0]               wr_n2,
    output wire [ADDR_W-1:0]            wr_stride2,
    output wire [WORDS_W-1:0]           wr_words,
    output wire [LANE_W-1:0]            wr_lanes,
    output wire [1:0]                   wr_csize,
    output wire                         wr_scratch,
    input  wire                         wr_done,
    input  wire                         wr_error
);
    localparam integer SLOTS  = READERS + 1;
    localparam integer USED   = 1 + CONTROL_WORDS + SLOTS * DESC_WORDS;   // words of a command kept
    localparam integer BEATS  = (CMD_WORDS + LANES_MAX - 1) / LANES_MAX;  // fetch beats per command
    localparam integer BEAT_B = (BEATS > 1) ? $clog2(BEATS + 1) : 1;
    localparam integer D0     = 1 + CONTROL_WORDS;                        // first descriptor word
    initial begin
        if (DESC_WORDS < 8 || USED > CMD_WORDS || READERS < 1 || LANES_MAX < 1) begin
            $error("hwmoe_seq: DESC_WORDS = %0d, %0d of CMD_WORDS = %0d used, READERS = %0d, LANES_MAX = %0d: need DESC_WORDS >= 8, a command that fits, at least one reader and lane",
                   DESC_WORDS, USED, CMD_WORDS, READERS, LANES_MAX);
            $finish;
        end
        if (ENGINES < 1 || ENGINES > 32) begin
            $error("hwmoe_seq: ENGINES = %0d, need 1..32", ENGINES);
            $finish;
        end
    end

    localparam [2:0] S_IDLE = 3'd0, S_FETCH0 = 3'd1, S_FETCH = 3'd2, S_DECODE = 3'd3, S_LAUNCH = 3'd4,
                     S_RUN = 3'd5, S_END = 3'd6;
    reg  [2:0]  state;
    reg  [31:0] pc;
    reg  [31:0] cmd [0:USED-1];
    reg  [BEAT_B-1:0] beat;
    reg  [SLOTS-1:0]  pending;
    reg         rd_err_seen;

    assign busy     = state != S_IDLE;
    assign exec     = state == S_LAUNCH || state == S_RUN;
    assign op       = cmd[0][7:0];
    assign fetching = state == S_FETCH;
    assign f_tready = fetching;

    genvar gc;
    generate
        for (gc = 0; gc < CONTROL_WORDS; gc = gc + 1) begin : g_ctl
            assign ctl[gc*32 +: 32] = cmd[1 + gc];
        end
    endgenerate

    // a 32-bit command field (an offset or a stride into the image: never negative) as an ADDR_W-bit
    // address: zero-extended for a wider bus address, its low bits for a narrower one
    localparam integer PAD_W = ADDR_W > 32 ? ADDR_W - 32 : 1;
    function [ADDR_W-1:0] offset;
        input [31:0] f;
        /* verilator lint_off UNUSEDSIGNAL */
        reg [PAD_W+31:0] wide;                 // bits above ADDR_W are dropped
        /* verilator lint_on UNUSEDSIGNAL */
        begin
            wide = {{PAD_W{1'b0}}, f};
            offset = wide[ADDR_W-1:0];
        end
    endfunction

    // descriptor fields of a slot: base, n1, stride1, n2, stride2, words, lanes, flags
    wire [SLOTS-1:0] used;
    genvar gs;
    generate
        for (gs = 0; gs < SLOTS; gs = gs + 1) begin : g_used
            assign used[gs] = cmd[D0 + gs*DESC_WORDS + 7][0];
        end
        for (gs = 0; gs < READERS; gs = gs + 1) begin : g_rd
            wire [31:0] f_base = cmd[D0 + gs*DESC_WORDS + 0], f_n1 = cmd[D0 + gs*DESC_WORDS + 1],
                        f_s1 = cmd[D0 + gs*DESC_WORDS + 2], f_n2 = cmd[D0 + gs*DESC_WORDS + 3],
                        f_s2 = cmd[D0 + gs*DESC_WORDS + 4], f_words = cmd[D0 + gs*DESC_WORDS + 5],
                        f_lanes = cmd[D0 + gs*DESC_WORDS + 6], f_flags = cmd[D0 + gs*DESC_WORDS + 7];
            wire fetch_slot = (gs == 0) && (state == S_FETCH0 || state == S_FETCH);
            // the fetch descriptor: CMD_WORDS 4-byte words at base + pc, LANES_MAX per beat
            assign rd_scratch[gs]                  = !fetch_slot && f_flags[4];
            assign rd_base[gs*ADDR_W +: ADDR_W]    = fetch_slot ? base + offset(pc)
                                                     : (f_flags[4] ? {ADDR_W{1'b0}} : base) + offset(f_base);
            assign rd_n1[gs*N_W +: N_W]            = fetch_slot ? {{(N_W-1){1'b0}}, 1'b1} : f_n1[N_W-1:0];
            assign rd_stride1[gs*ADDR_W +: ADDR_W] = fetch_slot ? {ADDR_W{1'b0}} : offset(f_s1);
            assign rd_n2[gs*N_W +: N_W]            = fetch_slot ? {{(N_W-1){1'b0}}, 1'b1} : f_n2[N_W-1:0];
            assign rd_stride2[gs*ADDR_W +: ADDR_W] = fetch_slot ? {ADDR_W{1'b0}} : offset(f_s2);
            assign rd_words[gs*WORDS_W +: WORDS_W] = fetch_slot ? CMD_WORDS[WORDS_W-1:0] : f_words[WORDS_W-1:0];
            assign rd_lanes[gs*LANE_W +: LANE_W]   = fetch_slot ? LANES_MAX[LANE_W-1:0] : f_lanes[LANE_W-1:0];
            assign rd_csize[gs*2 +: 2]             = fetch_slot ? 2'd2 : f_flags[2:1];
            assign rd_indexed[gs]                  = !fetch_slot && f_flags[3];
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_fields = &{1'b0, f_base, f_n1, f_s1, f_n2, f_s2, f_words, f_lanes, f_flags};
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate
    wire [31:0] w_base = cmd[D0 + READERS*DESC_WORDS + 0], w_n1 = cmd[D0 + READERS*DESC_WORDS + 1],
                w_s1 = cmd[D0 + READERS*DESC_WORDS + 2], w_n2 = cmd[D0 + READERS*DESC_WORDS + 3],
                w_s2 = cmd[D0 + READERS*DESC_WORDS + 4], w_words = cmd[D0 + READERS*DESC_WORDS + 5],
                w_lanes = cmd[D0 + READERS*DESC_WORDS + 6], w_flags = cmd[D0 + READERS*DESC_WORDS + 7];
    assign wr_scratch = w_flags[4];
    assign wr_base    = (wr_scratch ? {ADDR_W{1'b0}} : base) + offset(w_base);
    assign wr_n1      = w_n1[N_W-1:0];
    assign wr_stride1 = offset(w_s1);
    assign wr_n2      = w_n2[N_W-1:0];
    assign wr_stride2 = offset(w_s2);
    assign wr_words   = w_words[WORDS_W-1:0];
    assign wr_lanes   = w_lanes[LANE_W-1:0];
    assign wr_csize   = w_flags[2:1];
    /* verilator lint_off UNUSEDSIGNAL */
    wire unused_w = &{1'b0, w_base, w_n1, w_s1, w_n2, w_s2, w_words, w_lanes, w_flags};
    /* verilator lint_on UNUSEDSIGNAL */

    localparam [31:0] MASK = ENGINE_MASK;
    /* verilator lint_off UNUSEDSIGNAL */
    wire [7:0] op_1 = op - 8'd1;
    wire built = (op != 8'd0) && (op <= ENGINES[7:0]) && MASK[op_1[4:0]];      // op_1 < ENGINES <= 32
    /* verilator lint_on UNUSEDSIGNAL */
    wire [SLOTS-1:0] done_now = {wr_done, rd_done};
    wire [SLOTS-1:0] left     = pending & ~done_now;
    reg  [READERS-1:0] launched;                // readers started by this command (their error counts)
    wire rd_err = |(rd_error & launched);
    integer i;

    always @(posedge clk) begin
        rd_start <= {READERS{1'b0}};
        wr_start <= 1'b0;
        done_pulse <= 1'b0;
        error_valid <= 1'b0;
        command_done <= 1'b0;
        if (rst) begin
            state <= S_IDLE; pc <= 32'd0; beat <= {BEAT_B{1'b0}}; pending <= {SLOTS{1'b0}};
            launched <= {READERS{1'b0}};
            error_code <= 8'd0; rd_err_seen <= 1'b0;
            cmd[0] <= 32'd0;
        end else begin
            case (state)
                S_IDLE: if (start) begin
                    pc <= prog; state <= S_FETCH0;
                end
                S_FETCH0: begin                         // start reader 0 on the command at pc
                    rd_start[0] <= 1'b1; beat <= {BEAT_B{1'b0}}; state <= S_FETCH;
                end
                S_FETCH: begin
                    if (f_tvalid) begin
                        for (i = 0; i < LANES_MAX; i = i + 1)
                            if (beat * LANES_MAX + i < USED) cmd[beat * LANES_MAX + i] <= f_tdata[i*32 +: 32];
                        beat <= beat + 1'b1;
                    end
                    if (rd_done[0]) state <= rd_error[0] ? S_END : S_DECODE;
                    if (rd_done[0] && rd_error[0]) begin
                        error_valid <= 1'b1; error_code <= 8'd2;
                    end
                end
                S_DECODE: begin
                    if (op == 8'd0) state <= S_END;
                    else if (!built) begin
                        error_valid <= 1'b1; error_code <= 8'd1; state <= S_END;
                    end else state <= S_LAUNCH;
                end
                S_LAUNCH: begin                         // the engine is out of reset from this cycle on
                    rd_start <= used[READERS-1:0];
                    wr_start <= used[READERS];
                    pending <= used;
                    launched <= used[READERS-1:0];
                    rd_err_seen <= 1'b0;
                    state <= S_RUN;
                end
                S_RUN: begin
                    pending <= left;
                    if (rd_err) rd_err_seen <= 1'b1;
                    if (left == {SLOTS{1'b0}}) begin
                        if (rd_err_seen || rd_err || (wr_done && wr_error)) begin
                            error_valid <= 1'b1;
                            error_code <= (rd_err_seen || rd_err) ? 8'd2 : 8'd3;
                            state <= S_END;
                        end else begin
                            command_done <= 1'b1;
                            pc <= pc + CMD_WORDS * 4;
                            state <= S_FETCH0;
                        end
                    end
                end
                default: begin                          // S_END
                    done_pulse <= 1'b1; state <= S_IDLE;
                end
            endcase
        end
    end
endmodule
`default_nettype wire
