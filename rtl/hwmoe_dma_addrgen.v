// hwmoe_dma_addrgen: the DMA's address generator, shared by hwmoe_dma_reader and hwmoe_dma_writer.
// Walks the segments of one descriptor (hwmoe/accel/dma.py is the model: segments(), bursts()) and emits
// one record per AXI INCR burst: bus-aligned address and length, at most MAX_BURST beats, never crossing a
// 4 KiB boundary; the first burst of a segment also carries the segment's shape for the data side.
// One burst record per cycle, also across segment changes (indexed mode: one cycle per index beat).
//
// Parameters
//   BUS_W     : AXI data width (64, 128, 256, 512); bursts are in whole bus words
//   ADDR_W    : byte address width
//   MAX_N     : largest n1 and n2
//   MAX_WORDS : largest words per segment
//   IDX_W     : width of an index value (indexed mode)
//   MAX_BURST : longest burst in beats (1..256)
//
// Descriptor (registered on start, taken only when idle): base (byte address, a multiple of c), n1 segments
// per group at stride1 bytes, n2 groups at stride2 bytes (indexed: group g at base + e_g*stride2, e_g the
// g-th index beat, at most n2 groups and none after an index beat with idx_tlast), words per segment
// (n1, n2, words >= 1), csize = log2 of the container bytes c (0, 1, 2).
// Burst stream b_*: b_addr (bus-aligned byte address), b_len (beats - 1, AXI AxLEN), b_first (first burst of
// a segment), b_off (byte offset of the segment in its first bus word), b_nbus (bus words of the segment),
// b_seg_last (the segment is the transfer's last). words_q, csize_q: the registered descriptor fields.
`default_nettype none
module hwmoe_dma_addrgen #(
    parameter integer BUS_W     = 128,
    parameter integer ADDR_W    = 32,
    parameter integer MAX_N     = 4096,
    parameter integer MAX_WORDS = 4096,
    parameter integer IDX_W     = 8,
    parameter integer MAX_BURST = 64,
    parameter integer N_W       = $clog2(MAX_N + 1),
    parameter integer WORDS_W   = $clog2(MAX_WORDS + 1),
    parameter integer LB        = $clog2(BUS_W / 8),
    parameter integer NBUS_W    = (WORDS_W + 3 - LB > 10) ? WORDS_W + 3 - LB : 10
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               start,
    input  wire [ADDR_W-1:0]  base,
    input  wire [N_W-1:0]     n1,
    input  wire [ADDR_W-1:0]  stride1,
    input  wire [N_W-1:0]     n2,
    input  wire [ADDR_W-1:0]  stride2,
    input  wire [WORDS_W-1:0] words,
    input  wire [1:0]         csize,
    input  wire               indexed,
    input  wire [IDX_W-1:0]   idx_tdata,
    input  wire               idx_tvalid,
    output wire               idx_tready,
    input  wire               idx_tlast,
    output wire [ADDR_W-1:0]  b_addr,
    output wire [7:0]         b_len,
    output wire               b_first,
    output wire [LB-1:0]      b_off,
    output wire [NBUS_W-1:0]  b_nbus,
    output wire               b_seg_last,
    output wire               b_valid,
    input  wire               b_ready,
    output reg  [WORDS_W-1:0] words_q,
    output reg  [1:0]         csize_q,
    output wire               busy
);
    initial begin
        if (BUS_W != 64 && BUS_W != 128 && BUS_W != 256 && BUS_W != 512) begin
            $error("hwmoe_dma_addrgen: BUS_W = %0d, must be 64, 128, 256 or 512", BUS_W);
            $finish;
        end
        if (MAX_BURST < 1 || MAX_BURST > 256) begin
            $error("hwmoe_dma_addrgen: MAX_BURST = %0d, AXI4 INCR bursts are 1..256 beats", MAX_BURST);
            $finish;
        end
        if (ADDR_W < 16 || ADDR_W > 64 || IDX_W < 1 || IDX_W > ADDR_W) begin
            $error("hwmoe_dma_addrgen: ADDR_W = %0d, IDX_W = %0d: need 16 <= ADDR_W <= 64, 1 <= IDX_W <= ADDR_W",
                   ADDR_W, IDX_W);
            $finish;
        end
        if (MAX_N < 1 || MAX_WORDS < 1) begin
            $error("hwmoe_dma_addrgen: MAX_N = %0d, MAX_WORDS = %0d: each must be >= 1", MAX_N, MAX_WORDS);
            $finish;
        end
    end
    localparam integer PG_W   = 12 - LB;                  // bus-word index bits inside a 4 KiB page
    localparam integer SUM_W  = NBUS_W + LB;              // off + words*c + BB - 1
    localparam integer WA_W   = ADDR_W - LB;              // bus-word address bits
    localparam [1:0] S_IDLE = 2'd0, S_INDEX = 2'd1, S_BURST = 2'd2;

    reg [1:0]         state;
    reg [ADDR_W-1:0]  base_q, s1_q, s2_q, row, seg;
    reg [N_W-1:0]     n1_q, n2_q, i1, i2;
    reg               indexed_q, idx_last_q;
    reg [WA_W-1:0]    cur;                                 // bus-word address of the next burst
    reg [NBUS_W-1:0]  left, nbus_q;                        // bus words of the segment: to issue, in all
    reg [LB-1:0]      off_q;
    reg               first_q, seg_last_q;

    // bus words covering a segment that starts off bytes into a bus word (the low LB bits of span unused)
    /* verilator lint_off UNUSEDSIGNAL */
    function automatic [NBUS_W-1:0] bus_words(input [LB-1:0] off, input [WORDS_W-1:0] w, input [1:0] cs);
        reg [SUM_W-1:0] span;
        begin
            span = {{(SUM_W - LB){1'b0}}, off} + ({{(SUM_W - WORDS_W){1'b0}}, w} << cs)
                   + {{(SUM_W - LB){1'b0}}, {LB{1'b1}}};
            bus_words = span[SUM_W-1:LB];
        end
    endfunction
    /* verilator lint_on UNUSEDSIGNAL */

    // this burst: min(left, MAX_BURST, beats to the 4 KiB boundary)
    localparam [12:0] BURST_CAP = MAX_BURST[12:0];
    wire [12:0]     page_left = (13'd4096 >> LB) - {{(13 - PG_W){1'b0}}, cur[PG_W-1:0]};
    wire [8:0]      cap_burst = (page_left > BURST_CAP) ? BURST_CAP[8:0] : page_left[8:0];
    wire [8:0]      len = (left > {{(NBUS_W - 9){1'b0}}, cap_burst}) ? cap_burst : left[8:0];
    wire            fire = b_valid && b_ready;
    wire            seg_done = left == {{(NBUS_W - 9){1'b0}}, len};
    wire            last_i1 = i1 == n1_q - 1'b1;
    wire            last_i2 = (i2 == n2_q - 1'b1) || (indexed_q && idx_last_q);

    assign b_valid    = state == S_BURST;
    assign b_addr     = {cur, {LB{1'b0}}};
    assign b_len      = len[7:0] - 8'd1;
    assign b_first    = first_q;
    assign b_off      = off_q;
    assign b_nbus     = nbus_q;
    assign b_seg_last = seg_last_q;
    assign busy       = state != S_IDLE;
    assign idx_tready = state == S_INDEX;

    wire [ADDR_W-1:0] idx_row = base_q + s2_q * {{(ADDR_W - IDX_W){1'b0}}, idx_tdata};
    wire [ADDR_W-1:0] next_seg = last_i1 ? row + s2_q : seg + s1_q;

    task automatic load_segment(input [ADDR_W-1:0] addr, input [WORDS_W-1:0] w, input [1:0] cs,
                                input last_segment);
        begin
            seg        <= addr;
            cur        <= addr[ADDR_W-1:LB];
            off_q      <= addr[LB-1:0];
            left       <= bus_words(addr[LB-1:0], w, cs);
            nbus_q     <= bus_words(addr[LB-1:0], w, cs);
            first_q    <= 1'b1;
            seg_last_q <= last_segment;
        end
    endtask

    always @(posedge clk) begin
        if (rst) begin
            state <= S_IDLE;
        end else begin
            case (state)
            S_IDLE: if (start) begin
                base_q <= base; s1_q <= stride1; s2_q <= stride2; n1_q <= n1; n2_q <= n2;
                words_q <= words; csize_q <= csize; indexed_q <= indexed; idx_last_q <= 1'b0;
                i1 <= 0; i2 <= 0; row <= base;
                if (indexed) begin
                    state <= S_INDEX;
                end else begin
                    state <= S_BURST;
                    load_segment(base, words, csize, n1 == 1 && n2 == 1);
                end
            end
            S_INDEX: if (idx_tvalid) begin
                row <= idx_row;
                i1 <= 0;
                idx_last_q <= idx_tlast;
                state <= S_BURST;
                load_segment(idx_row, words_q, csize_q, n1_q == 1 && (idx_tlast || i2 == n2_q - 1'b1));
            end
            default: if (fire) begin
                first_q <= 1'b0;
                cur     <= cur + {{(WA_W - 9){1'b0}}, len};
                left    <= left - {{(NBUS_W - 9){1'b0}}, len};
                if (seg_done) begin
                    if (!last_i1) begin
                        i1 <= i1 + 1'b1;
                        load_segment(next_seg, words_q, csize_q, i1 + 1'b1 == n1_q - 1'b1 && last_i2);
                    end else if (last_i2) begin
                        state <= S_IDLE;
                    end else if (indexed_q) begin
                        i2 <= i2 + 1'b1;
                        state <= S_INDEX;
                    end else begin
                        i1 <= 0;
                        i2 <= i2 + 1'b1;
                        row <= next_seg;
                        load_segment(next_seg, words_q, csize_q, n1_q == 1 && i2 + 1'b1 == n2_q - 1'b1);
                    end
                end
            end
            endcase
        end
    end
endmodule
`default_nettype wire
