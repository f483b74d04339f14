// hwmoe_dma_reader: DMA reader of hwmoe_accel.  Reads the segments of one descriptor over the AR/R channels of
// an AXI4 master and streams their words, each a little-endian container of c bytes sign-extended to 32 bits,
// as beats of `lanes` words (hwmoe/accel/dma.py: read_beats() is the model, cycles() the clean timing).
//
// Memory side: INCR bursts of full bus words (ARSIZE = log2(BUS_W/8)), at most MAX_BURST beats, never
// crossing 4 KiB; a segment may start and end at any multiple of c (the bus words that cover it are read,
// the bytes outside it dropped).  Several bursts are outstanding: a burst is issued only when the data FIFO
// has room reserved for all of its beats, so R is never back-pressured for lack of space (m_axi_rready
// stays high); bursts return in order (one ID; hwmoe_axi_arbiter gives each reader its own).  RRESP other
// than OKAY/EXOKAY sets `error` (sticky until the next start); the data is still delivered.
// Stream side: one beat out and one bus word in per cycle (a word is taken in the cycle a beat makes room
// for it: y_tready reaches the data FIFO's read combinationally); a segment change costs one cycle.
//
// Parameters
//   BUS_W      : AXI data width (64, 128, 256, 512)
//   ADDR_W     : byte address width (16..64)
//   LANES_MAX  : words per output beat (the stream is LANES_MAX x 32 bits; lanes >= `lanes` are 0)
//   MAX_N      : largest n1, n2
//   MAX_WORDS  : largest words per segment
//   IDX_W      : index value width (indexed mode)
//   MAX_BURST  : longest burst in beats (1..256, <= FIFO_DEPTH)
//   FIFO_DEPTH : bus words of read data buffered (power of two >= 2); bounds the beats outstanding
//   META_DEPTH : segments in flight between address and data side (power of two >= 2)
//   ID_W, ID   : AXI ID width and this reader's ARID (hwmoe_axi_arbiter routes R back by RID; unused here)
//
// Control (taken on `start` while not busy, registered): base (byte address, multiple of c), n1 (segments per
// group), stride1 (bytes between them), n2 (groups), stride2 (bytes between groups), words (per segment),
// lanes (1..LANES_MAX, words per beat), csize (log2 c: 0, 1, 2), indexed (group g at base + e_g*stride2,
// e_g from idx_*, at most n2 groups, none after idx_tlast); n1, n2, words >= 1.  busy from start to done;
// done is a one-cycle pulse with the last beat's handshake.
// Streams: idx_* (index values, one per group, indexed mode); y_* out, lane i in bits [32*i +: 32], y_tlast on
// the transfer's last beat; each segment's last beat carries its remaining words, zero-padded.
`default_nettype none
module hwmoe_dma_reader #(
    parameter integer BUS_W      = 128,
    parameter integer ADDR_W     = 32,
    parameter integer LANES_MAX  = 4,
    parameter integer MAX_N      = 4096,
    parameter integer MAX_WORDS  = 4096,
    parameter integer IDX_W      = 8,
    parameter integer MAX_BURST  = 32,
    parameter integer FIFO_DEPTH = 64,
    parameter integer META_DEPTH = 8,
    parameter integer ID_W       = 1,
    parameter integer ID         = 0,
    parameter integer N_W        = $clog2(MAX_N + 1),
    parameter integer WORDS_W    = $clog2(MAX_WORDS + 1),
    parameter integer LANE_W     = $clog2(LANES_MAX + 1)
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
    input  wire                    indexed,
    output reg                     busy,
    output wire                    done,
    output reg                     error,
    input  wire [IDX_W-1:0]        idx_tdata,
    input  wire                    idx_tvalid,
    output wire                    idx_tready,
    input  wire                    idx_tlast,
    output wire [32*LANES_MAX-1:0] y_tdata,
    output wire                    y_tvalid,
    input  wire                    y_tready,
    output wire                    y_tlast,
    output wire [ID_W-1:0]         m_axi_arid,
    output wire [ADDR_W-1:0]       m_axi_araddr,
    output wire [7:0]              m_axi_arlen,
    output wire [2:0]              m_axi_arsize,
    output wire [1:0]              m_axi_arburst,
    output wire                    m_axi_arvalid,
    input  wire                    m_axi_arready,
    input  wire [ID_W-1:0]         m_axi_rid,
    input  wire [BUS_W-1:0]        m_axi_rdata,
    input  wire [1:0]              m_axi_rresp,
    input  wire                    m_axi_rlast,
    input  wire                    m_axi_rvalid,
    output wire                    m_axi_rready
);
    initial begin
        if (LANES_MAX < 1) begin
            $error("hwmoe_dma_reader: LANES_MAX = %0d, need at least one lane", LANES_MAX);
            $finish;
        end
        if (ID_W < 1 || ID < 0 || ID >= (1 << ID_W)) begin
            $error("hwmoe_dma_reader: ID = %0d does not fit ID_W = %0d bits", ID, ID_W);
            $finish;
        end
        if (FIFO_DEPTH < MAX_BURST) begin
            $error("hwmoe_dma_reader: MAX_BURST = %0d exceeds FIFO_DEPTH = %0d: such a burst could never be issued",
                   MAX_BURST, FIFO_DEPTH);
            $finish;
        end
    end
    localparam integer LB     = $clog2(BUS_W / 8);
    localparam integer BB     = BUS_W / 8;                               // bytes per bus word
    localparam integer OB     = 4 * LANES_MAX;                           // largest beat in bytes
    localparam integer CAP    = (BB > OB ? BB : OB) + BB;               // byte window of the unpacker
    localparam integer CNT_W  = $clog2(CAP + 1);
    localparam integer NBUS_W = (WORDS_W + 3 - LB > 10) ? WORDS_W + 3 - LB : 10;
    localparam integer RES_W  = $clog2(FIFO_DEPTH + 257) + 1;
    localparam integer META_W = LB + NBUS_W + 1;

    // ---- address side: bursts, with the data FIFO space reserved at issue
    wire [ADDR_W-1:0]  b_addr;
    wire [7:0]         b_len;
    wire               b_first, b_seg_last, b_valid, b_ready, gen_busy;
    wire [LB-1:0]      b_off;
    wire [NBUS_W-1:0]  b_nbus;
    wire [WORDS_W-1:0] words_q;
    wire [1:0]         csize_q;
    wire               go = start && !busy;
    hwmoe_dma_addrgen #(
        .BUS_W(BUS_W), .ADDR_W(ADDR_W), .MAX_N(MAX_N), .MAX_WORDS(MAX_WORDS), .IDX_W(IDX_W),
        .MAX_BURST(MAX_BURST), .N_W(N_W), .WORDS_W(WORDS_W), .LB(LB), .NBUS_W(NBUS_W)
    ) u_gen (
        .clk(clk), .rst(rst), .start(go), .base(base), .n1(n1), .stride1(stride1), .n2(n2), .stride2(stride2),
        .words(words), .csize(csize), .indexed(indexed),
        .idx_tdata(idx_tdata), .idx_tvalid(idx_tvalid), .idx_tready(idx_tready), .idx_tlast(idx_tlast),
        .b_addr(b_addr), .b_len(b_len), .b_first(b_first), .b_off(b_off), .b_nbus(b_nbus),
        .b_seg_last(b_seg_last), .b_valid(b_valid), .b_ready(b_ready), .words_q(words_q), .csize_q(csize_q),
        .busy(gen_busy)
    );

    reg  [RES_W-1:0]  reserved;                 // beats issued and not yet taken out of the data FIFO
    wire [RES_W-1:0]  burst_beats = {{(RES_W - 8){1'b0}}, b_len} + 1'b1;
    wire              room = reserved + burst_beats <= FIFO_DEPTH[RES_W-1:0];
    wire              meta_ready;
    wire              issue_ok = room && (meta_ready || !b_first);
    assign m_axi_arvalid = b_valid && issue_ok;
    assign b_ready       = m_axi_arready && issue_ok;
    assign m_axi_arid    = ID[ID_W-1:0];
    assign m_axi_araddr  = b_addr;
    assign m_axi_arlen   = b_len;
    assign m_axi_arsize  = LB[2:0];
    assign m_axi_arburst = 2'b01;               // INCR
    wire ar_fire = m_axi_arvalid && m_axi_arready;

    wire [LB-1:0]     m_off;
    wire [NBUS_W-1:0] m_nbus;
    wire              m_last, m_valid, m_pop;
    hwmoe_dma_fifo #(.WIDTH(META_W), .DEPTH(META_DEPTH)) u_meta (
        .clk(clk), .rst(rst), .in_data({b_off, b_nbus, b_seg_last}), .in_valid(ar_fire && b_first),
        .in_ready(meta_ready), .out_data({m_off, m_nbus, m_last}), .out_valid(m_valid), .out_ready(m_pop)
    );

    wire [BUS_W-1:0] d_data;
    wire             d_valid, d_pop;
    hwmoe_dma_fifo #(.WIDTH(BUS_W), .DEPTH(FIFO_DEPTH)) u_data (
        .clk(clk), .rst(rst), .in_data(m_axi_rdata), .in_valid(m_axi_rvalid), .in_ready(m_axi_rready),
        .out_data(d_data), .out_valid(d_valid), .out_ready(d_pop)
    );

    always @(posedge clk) begin
        if (rst) reserved <= 0;
        else reserved <= reserved + (ar_fire ? burst_beats : {RES_W{1'b0}}) - {{(RES_W - 1){1'b0}}, d_pop && d_valid};
    end

    // ---- data side: a byte window filled a bus word at a time (the first one shifted by the segment's
    // offset) and emptied a beat at a time; cleared at the end of each segment (its tail bytes dropped)
    reg  [8*CAP-1:0]   window;
    reg  [CNT_W-1:0]   cnt;                      // valid bytes in the window
    reg  [WORDS_W-1:0] words_done;
    reg  [NBUS_W-1:0]  bus_done;
    reg  [LANE_W-1:0]  lanes_q;
    wire [WORDS_W-1:0] words_left = words_q - words_done;
    wire [LANE_W-1:0]  need_words = (words_left < {{(WORDS_W > LANE_W ? WORDS_W - LANE_W : 0){1'b0}}, lanes_q})
                                    ? words_left[LANE_W-1:0] : lanes_q;
    wire [CNT_W-1:0]   need_bytes = {{(CNT_W - LANE_W){1'b0}}, need_words} << csize_q;
    wire               seg_tail = words_left == {{(WORDS_W > LANE_W ? WORDS_W - LANE_W : 0){1'b0}}, need_words};
    assign y_tvalid = m_valid && cnt >= need_bytes;
    assign y_tlast  = m_last && seg_tail;
    wire   emit     = y_tvalid && y_tready;
    wire   seg_end  = emit && seg_tail;
    assign m_pop    = seg_end;
    assign done     = emit && y_tlast;

    wire [CNT_W-1:0]   emit_bytes = emit ? need_bytes : {CNT_W{1'b0}};
    wire [CNT_W-1:0]   cnt_mid = cnt - emit_bytes;     // bytes left after this cycle's beat
    wire               first_word = bus_done == 0;
    wire               take_ok = m_valid && bus_done != m_nbus && cnt_mid <= CAP[CNT_W-1:0] - BB[CNT_W-1:0];
    assign d_pop = take_ok;
    wire               push = take_ok && d_valid;
    wire [CNT_W-1:0]   push_bytes = first_word ? BB[CNT_W-1:0] - {{(CNT_W - LB){1'b0}}, m_off} : BB[CNT_W-1:0];
    wire [BUS_W-1:0]   push_word = first_word ? d_data >> {m_off, 3'b000} : d_data;
    wire [8*CAP-1:0]   window_mid = window >> {emit_bytes, 3'b000};
    wire [8*CAP-1:0]   pushed = push ? {{(8*CAP - BUS_W){1'b0}}, push_word} << {cnt_mid, 3'b000} : {8*CAP{1'b0}};

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            error <= 1'b0;
            window <= 0;
            cnt <= 0;
            words_done <= 0;
            bus_done <= 0;
        end else begin
            if (go) begin
                busy <= 1'b1;
                error <= 1'b0;
                lanes_q <= lanes;
            end else if (done) begin
                busy <= 1'b0;
            end
            if (m_axi_rvalid && m_axi_rready && m_axi_rresp[1]) error <= 1'b1;
            if (seg_end) begin
                window <= 0;
                cnt <= 0;
                words_done <= 0;
                bus_done <= 0;
            end else begin
                window <= window_mid | pushed;
                cnt <= cnt_mid + (push ? push_bytes : {CNT_W{1'b0}});
                words_done <= words_done + (emit ? {{(WORDS_W - LANE_W){1'b0}}, need_words} : {WORDS_W{1'b0}});
                bus_done <= bus_done + {{(NBUS_W - 1){1'b0}}, push};
            end
        end
    end

    // lanes: containers sign-extended, lanes past the beat's words 0
    genvar i;
    generate
        for (i = 0; i < LANES_MAX; i = i + 1) begin : g_lane
            wire [31:0] b8  = {{24{window[8*i + 7]}}, window[8*i +: 8]};
            wire [31:0] b16 = {{16{window[16*i + 15]}}, window[16*i +: 16]};
            wire [31:0] b32 = window[32*i +: 32];
            assign y_tdata[32*i +: 32] = (i >= need_words) ? 32'd0 : csize_q == 2'd0 ? b8 : csize_q == 2'd1 ? b16 : b32;
        end
    endgenerate

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, m_axi_rlast, m_axi_rid, gen_busy, m_axi_rresp[0]};
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
