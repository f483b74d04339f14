// hwmoe_dma_writer: DMA writer of hwmoe_accel, the mirror of hwmoe_dma_reader.  Takes beats of `lanes` words
// (32 bits each, truncated to containers of c bytes, little-endian) and writes the segments of one
// descriptor over the AW/W/B channels of an AXI4 master (hwmoe/accel/dma.py: write_memory() is the model).
//
// Memory side: INCR bursts of full bus words (AWSIZE = log2(BUS_W/8)), at most MAX_BURST beats, never
// crossing 4 KiB; write strobes cover exactly the segment's words*c bytes (unaligned head and tail, and a
// last beat's words past the segment's end, are masked).  AW runs ahead of W by up to QUEUE_DEPTH bursts;
// W follows AW order; BRESP other than OKAY/EXOKAY sets `error` (sticky until the next start); done after
// the last B.  Stream side: one beat in and one bus word out per cycle; a segment change costs one cycle.
//
// Parameters
//   BUS_W       : AXI data width (64, 128, 256, 512)
//   ADDR_W      : byte address width (16..64)
//   LANES_MAX   : words per input beat (the stream is LANES_MAX x 32 bits; lanes >= `lanes` are ignored)
//   MAX_N       : largest n1, n2
//   MAX_WORDS   : largest words per segment
//   MAX_BURST   : longest burst in beats (1..256)
//   QUEUE_DEPTH : segments and bursts queued between address and data side (power of two >= 2)
//   ID_W, ID    : AXI ID width and this writer's AWID
//
// Control (taken on `start` while not busy, registered): base (byte address, multiple of c), n1, stride1,
// n2, stride2, words (n1, n2, words >= 1), lanes (1..LANES_MAX), csize (log2 c: 0, 1, 2), as the reader
// without indexed mode.  busy from start to done; done is a one-cycle pulse after the last B response.
// Stream: x_* in, lane i in bits [32*i +: 32]; each segment is ceil(words/lanes) beats (no tlast needed).
`default_nettype none
module hwmoe_dma_writer #(
    parameter integer BUS_W       = 128,
    parameter integer ADDR_W      = 32,
    parameter integer LANES_MAX   = 4,
    parameter integer MAX_N       = 4096,
    parameter integer MAX_WORDS   = 4096,
    parameter integer MAX_BURST   = 32,
    parameter integer QUEUE_DEPTH = 8,
    parameter integer ID_W        = 1,
    parameter integer ID          = 0,
    parameter integer N_W         = $clog2(MAX_N + 1),
    parameter integer WORDS_W     = $clog2(MAX_WORDS + 1),
    parameter integer LANE_W      = $clog2(LANES_MAX + 1)
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    start,
    input  wire [ADDR_W-1:0]       base,
    input  wire [N_W-1:0]          n1,
    input  wire [ADDR_W-1:0]       stride1,
    input  wire [N_W-1:0]          n2,
    input  wire [ADDR_W-1:0]       stride2,
    input  wire [WORDS_W-1:0]      words,
    input  wire [LANE_W-1:0]       lanes,
    input  wire [1:0]              csize,
    output reg                     busy,
    output wire                    done,
    output reg                     error,
    input  wire [32*LANES_MAX-1:0] x_tdata,
    input  wire                    x_tvalid,
    output wire                    x_tready,
    output wire [ID_W-1:0]         m_axi_awid,
    output wire [ADDR_W-1:0]       m_axi_awaddr,
    output wire [7:0]              m_axi_awlen,
    output wire [2:0]              m_axi_awsize,
    output wire [1:0]              m_axi_awburst,
    output wire                    m_axi_awvalid,
    input  wire                    m_axi_awready,
    output wire [BUS_W-1:0]        m_axi_wdata,
    output wire [BUS_W/8-1:0]      m_axi_wstrb,
    output wire                    m_axi_wlast,
    output wire                    m_axi_wvalid,
    input  wire                    m_axi_wready,
    input  wire [ID_W-1:0]         m_axi_bid,
    input  wire [1:0]              m_axi_bresp,
    input  wire                    m_axi_bvalid,
    output wire                    m_axi_bready
);
    initial begin
        if (LANES_MAX < 1) begin
            $error("hwmoe_dma_writer: LANES_MAX = %0d, need at least one lane", LANES_MAX);
            $finish;
        end
        if (ID_W < 1 || ID < 0 || ID >= (1 << ID_W)) begin
            $error("hwmoe_dma_writer: ID = %0d does not fit ID_W = %0d bits", ID, ID_W);
            $finish;
        end
    end
    localparam integer LB     = $clog2(BUS_W / 8);
    localparam integer BB     = BUS_W / 8;                               // bytes per bus word
    localparam integer OB     = 4 * LANES_MAX;                           // largest beat in bytes
    localparam integer CAP    = (BB > OB ? BB : OB) + BB;               // byte window of the packer
    localparam integer CNT_W  = $clog2(CAP + 1);
    localparam integer NBUS_W = (WORDS_W + 3 - LB > 10) ? WORDS_W + 3 - LB : 10;
    localparam integer OUT_W  = $clog2(QUEUE_DEPTH) + 3;                // bursts awaiting their B

    // ---- address side
    wire [ADDR_W-1:0]  b_addr;
    wire [7:0]         b_len;
    wire               b_first, b_seg_last, b_valid, b_ready, gen_busy;
    wire [LB-1:0]      b_off;
    wire [NBUS_W-1:0]  b_nbus;
    wire [WORDS_W-1:0] words_q;
    wire [1:0]         csize_q;
    wire               idx_tready;
    wire               go = start && !busy;
    hwmoe_dma_addrgen #(
        .BUS_W(BUS_W), .ADDR_W(ADDR_W), .MAX_N(MAX_N), .MAX_WORDS(MAX_WORDS), .IDX_W(1),
        .MAX_BURST(MAX_BURST), .N_W(N_W), .WORDS_W(WORDS_W), .LB(LB), .NBUS_W(NBUS_W)
    ) u_gen (
        .clk(clk), .rst(rst), .start(go), .base(base), .n1(n1), .stride1(stride1), .n2(n2), .stride2(stride2),
        .words(words), .csize(csize), .indexed(1'b0),
        .idx_tdata(1'b0), .idx_tvalid(1'b0), .idx_tready(idx_tready), .idx_tlast(1'b0),
        .b_addr(b_addr), .b_len(b_len), .b_first(b_first), .b_off(b_off), .b_nbus(b_nbus),
        .b_seg_last(b_seg_last), .b_valid(b_valid), .b_ready(b_ready), .words_q(words_q), .csize_q(csize_q),
        .busy(gen_busy)
    );

    reg  [OUT_W-1:0] outstanding;
    wire             meta_ready, len_ready;
    wire             issue_ok = len_ready && (meta_ready || !b_first) && outstanding != {OUT_W{1'b1}};
    assign m_axi_awvalid = b_valid && issue_ok;
    assign b_ready       = m_axi_awready && issue_ok;
    assign m_axi_awid    = ID[ID_W-1:0];
    assign m_axi_awaddr  = b_addr;
    assign m_axi_awlen   = b_len;
    assign m_axi_awsize  = LB[2:0];
    assign m_axi_awburst = 2'b01;               // INCR
    wire aw_fire = m_axi_awvalid && m_axi_awready;

    wire [LB-1:0] m_off;
    wire          m_valid, m_pop;
    hwmoe_dma_fifo #(.WIDTH(LB), .DEPTH(QUEUE_DEPTH)) u_meta (
        .clk(clk), .rst(rst), .in_data(b_off), .in_valid(aw_fire && b_first), .in_ready(meta_ready),
        .out_data(m_off), .out_valid(m_valid), .out_ready(m_pop)
    );
    wire [7:0] l_len;
    wire       l_valid, l_pop;
    hwmoe_dma_fifo #(.WIDTH(8), .DEPTH(QUEUE_DEPTH)) u_len (
        .clk(clk), .rst(rst), .in_data(b_len), .in_valid(aw_fire), .in_ready(len_ready),
        .out_data(l_len), .out_valid(l_valid), .out_ready(l_pop)
    );

    // ---- data side: a byte window (data and strobes) that starts each segment at its offset in the first bus
    // word, filled a beat at a time and emptied a bus word at a time, the segment's tail as a partial word
    reg  [8*CAP-1:0]   window;
    reg  [CAP-1:0]     strobes;
    reg  [CNT_W-1:0]   cnt;                      // bytes in the window, the head offset included
    reg                started;                  // the window holds the head segment (else it starts at m_off)
    reg  [WORDS_W-1:0] words_done;
    reg  [LANE_W-1:0]  lanes_q;
    reg  [7:0]         wbeat;                    // beats of the current burst sent
    wire [CNT_W-1:0]   cnt_eff = started ? cnt : {{(CNT_W - LB){1'b0}}, m_off};
    wire [WORDS_W-1:0] words_left = words_q - words_done;
    wire [LANE_W-1:0]  need_words = (words_left < {{(WORDS_W > LANE_W ? WORDS_W - LANE_W : 0){1'b0}}, lanes_q})
                                    ? words_left[LANE_W-1:0] : lanes_q;
    wire [CNT_W-1:0]   take_bytes = {{(CNT_W - LANE_W){1'b0}}, need_words} << csize_q;
    wire               all_in = words_left == 0;

    assign m_axi_wvalid = m_valid && l_valid && (cnt_eff >= BB[CNT_W-1:0] || (all_in && cnt_eff != 0));
    assign m_axi_wdata  = window[BUS_W-1:0];
    assign m_axi_wstrb  = strobes[BB-1:0];
    assign m_axi_wlast  = wbeat == l_len;
    wire   emit    = m_axi_wvalid && m_axi_wready;
    wire   seg_end = emit && all_in && cnt_eff <= BB[CNT_W-1:0];
    assign m_pop   = seg_end;
    assign l_pop   = emit && m_axi_wlast;

    wire [CNT_W-1:0]   cnt_mid = emit ? cnt_eff - BB[CNT_W-1:0] : cnt_eff;
    assign x_tready = m_valid && !all_in && cnt_mid <= CAP[CNT_W-1:0] - take_bytes;
    wire               push = x_tready && x_tvalid;

    // the beat's words as containers, bytes past take_bytes zero
    wire [8*OB-1:0] containers;
    genvar i;
    generate
        for (i = 0; i < OB; i = i + 1) begin : g_byte
            localparam integer W1 = i, W2 = i / 2;
            wire [7:0] b1 = (W1 < LANES_MAX) ? x_tdata[32*(W1 % LANES_MAX) +: 8] : 8'd0;
            wire [7:0] b2 = (W2 < LANES_MAX) ? x_tdata[32*(W2 % LANES_MAX) + 8*(i % 2) +: 8] : 8'd0;
            wire [7:0] b4 = x_tdata[8*i +: 8];
            assign containers[8*i +: 8] = (i >= take_bytes) ? 8'd0 : csize_q == 2'd0 ? b1 : csize_q == 2'd1 ? b2 : b4;
        end
    endgenerate
    wire [OB-1:0]    take_mask = ~({OB{1'b1}} << take_bytes);
    wire [8*CAP-1:0] window_eff = started ? window : {8*CAP{1'b0}};
    wire [CAP-1:0]   strobes_eff = started ? strobes : {CAP{1'b0}};
    wire [8*CAP-1:0] window_mid = emit ? window_eff >> BUS_W : window_eff;
    wire [CAP-1:0]   strobes_mid = emit ? strobes_eff >> BB : strobes_eff;
    wire [8*CAP-1:0] window_in = push ? {{(8*CAP - 8*OB){1'b0}}, containers} << {cnt_mid, 3'b000} : {8*CAP{1'b0}};
    wire [CAP-1:0]   strobes_in = push ? {{(CAP - OB){1'b0}}, take_mask} << cnt_mid : {CAP{1'b0}};

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            error <= 1'b0;
            started <= 1'b0;
            cnt <= 0;
            window <= 0;
            strobes <= 0;
            words_done <= 0;
            wbeat <= 0;
            outstanding <= 0;
        end else begin
            if (go) begin
                busy <= 1'b1;
                error <= 1'b0;
                lanes_q <= lanes;
            end else if (done) begin
                busy <= 1'b0;
            end
            if (m_axi_bvalid && m_axi_bresp[1]) error <= 1'b1;
            outstanding <= outstanding + {{(OUT_W - 1){1'b0}}, aw_fire} - {{(OUT_W - 1){1'b0}}, m_axi_bvalid};
            if (emit) wbeat <= m_axi_wlast ? 8'd0 : wbeat + 8'd1;
            if (seg_end) begin
                started <= 1'b0;
                cnt <= 0;
                window <= 0;
                strobes <= 0;
                words_done <= 0;
            end else if (m_valid) begin
                started <= 1'b1;
                cnt <= cnt_mid + (push ? take_bytes : {CNT_W{1'b0}});
                window <= window_mid | window_in;
                strobes <= strobes_mid | strobes_in;
                words_done <= words_done + (push ? {{(WORDS_W - LANE_W){1'b0}}, need_words} : {WORDS_W{1'b0}});
            end
        end
    end
    assign m_axi_bready = 1'b1;
    assign done = busy && !gen_busy && outstanding == 0;

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, m_axi_bid, m_axi_bresp[0], b_nbus, b_seg_last, idx_tready};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
