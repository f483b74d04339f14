// hwmoe_dma: the memory side of hwmoe_accel: N_READERS hwmoe_dma_reader and one hwmoe_dma_writer on one AXI4
// master.  Reads share AR/R through hwmoe_axi_arbiter (reader i uses ARID i); the writer owns AW/W/B (AWID 0).
// With SCRATCH_BYTES > 0, an on-chip scratchpad (hwmoe_scratch) beside the master: a transfer started with
// rd_scratch[i] (wr_scratch) high addresses it instead (its base an offset in the scratchpad), the readers'
// bursts through a second arbiter, so image and scratchpad answer side by side, each one bus word per cycle.
//
// Parameters
//   N_READERS                  : readers (>= 1)
//   BUS_W, ADDR_W, LANES_MAX,
//   MAX_N, MAX_WORDS, MAX_BURST: as hwmoe_dma_reader / hwmoe_dma_writer (shared by all engines)
//   IDX_W                      : index width of the readers' indexed mode
//   FIFO_DEPTH, QUEUE_DEPTH    : each reader's data FIFO (bus words); segments/bursts queued per engine
//   SCRATCH_BYTES              : the scratchpad's bytes, a multiple of BUS_W/8 (0: none, the *_scratch unused)
//
// Ports: rd_* reader i in slice i of each packed vector (rd_base[i*ADDR_W +: ADDR_W], rd_y_tdata[i*32*LANES_MAX
// +: 32*LANES_MAX], ...), the fields and streams of hwmoe_dma_reader; wr_* those of hwmoe_dma_writer;
// rd_scratch/wr_scratch: taken with the start, the transfer's memory (1: the scratchpad); m_axi_* the AXI4
// master (ID width ID_W).
`default_nettype none
module hwmoe_dma #(
    parameter integer N_READERS   = 3,
    parameter integer BUS_W       = 128,
    parameter integer ADDR_W      = 32,
    parameter integer LANES_MAX   = 4,
    parameter integer MAX_N       = 4096,
    parameter integer MAX_WORDS   = 4096,
    parameter integer MAX_BURST   = 32,
    parameter integer IDX_W       = 8,
    parameter integer FIFO_DEPTH  = 64,
    parameter integer QUEUE_DEPTH = 8,
    parameter integer SCRATCH_BYTES = 0,
    parameter integer N_W         = $clog2(MAX_N + 1),
    parameter integer WORDS_W     = $clog2(MAX_WORDS + 1),
    parameter integer LANE_W      = $clog2(LANES_MAX + 1),
    parameter integer ID_W        = (N_READERS > 1) ? $clog2(N_READERS) : 1
) (
    input  wire                              clk,
    input  wire                              rst,
    input  wire [N_READERS-1:0]              rd_start,
    input  wire [N_READERS*ADDR_W-1:0]       rd_base,
    input  wire [N_READERS*N_W-1:0]          rd_n1,
    input  wire [N_READERS*ADDR_W-1:0]       rd_stride1,
    input  wire [N_READERS*N_W-1:0]          rd_n2,
    input  wire [N_READERS*ADDR_W-1:0]       rd_stride2,
    input  wire [N_READERS*WORDS_W-1:0]      rd_words,
    input  wire [N_READERS*LANE_W-1:0]       rd_lanes,
    input  wire [N_READERS*2-1:0]            rd_csize,
    input  wire [N_READERS-1:0]              rd_indexed,
    input  wire [N_READERS-1:0]              rd_scratch,
    output wire [N_READERS-1:0]              rd_busy,
    output wire [N_READERS-1:0]              rd_done,
    output wire [N_READERS-1:0]              rd_error,
    input  wire [N_READERS*IDX_W-1:0]        rd_idx_tdata,
    input  wire [N_READERS-1:0]              rd_idx_tvalid,
    output wire [N_READERS-1:0]              rd_idx_tready,
    input  wire [N_READERS-1:0]              rd_idx_tlast,
    output wire [N_READERS*32*LANES_MAX-1:0] rd_y_tdata,
    output wire [N_READERS-1:0]              rd_y_tvalid,
    input  wire [N_READERS-1:0]              rd_y_tready,
    output wire [N_READERS-1:0]              rd_y_tlast,
    input  wire                              wr_start,
    input  wire [ADDR_W-1:0]                 wr_base,
    input  wire [N_W-1:0]                    wr_n1,
    input  wire [ADDR_W-1:0]                 wr_stride1,
    input  wire [N_W-1:0]                    wr_n2,
    input  wire [ADDR_W-1:0]                 wr_stride2,
    input  wire [WORDS_W-1:0]                wr_words,
    input  wire [LANE_W-1:0]                 wr_lanes,
    input  wire [1:0]                        wr_csize,
    input  wire                              wr_scratch,
    output wire                              wr_busy,
    output wire                              wr_done,
    output wire                              wr_error,
    input  wire [32*LANES_MAX-1:0]           wr_x_tdata,
    input  wire                              wr_x_tvalid,
    output wire                              wr_x_tready,
    output wire [ID_W-1:0]                   m_axi_arid,
    output wire [ADDR_W-1:0]                 m_axi_araddr,
    output wire [7:0]                        m_axi_arlen,
    output wire [2:0]                        m_axi_arsize,
    output wire [1:0]                        m_axi_arburst,
    output wire                              m_axi_arvalid,
    input  wire                              m_axi_arready,
    input  wire [ID_W-1:0]                   m_axi_rid,
    input  wire [BUS_W-1:0]                  m_axi_rdata,
    input  wire [1:0]                        m_axi_rresp,
    input  wire                              m_axi_rlast,
    input  wire                              m_axi_rvalid,
    output wire                              m_axi_rready,
    output wire [ID_W-1:0]                   m_axi_awid,
    output wire [ADDR_W-1:0]                 m_axi_awaddr,
    output wire [7:0]                        m_axi_awlen,
    output wire [2:0]                        m_axi_awsize,
    output wire [1:0]                        m_axi_awburst,
    output wire                              m_axi_awvalid,
    input  wire                              m_axi_awready,
    output wire [BUS_W-1:0]                  m_axi_wdata,
    output wire [BUS_W/8-1:0]                m_axi_wstrb,
    output wire                              m_axi_wlast,
    output wire                              m_axi_wvalid,
    input  wire                              m_axi_wready,
    input  wire [ID_W-1:0]                   m_axi_bid,
    input  wire [1:0]                        m_axi_bresp,
    input  wire                              m_axi_bvalid,
    output wire                              m_axi_bready
);
    initial begin
        if (N_READERS < 1) begin
            $error("hwmoe_dma: N_READERS = %0d, need at least one reader", N_READERS);
            $finish;
        end
    end
    wire [N_READERS*ADDR_W-1:0] s_araddr;
    wire [N_READERS*8-1:0]      s_arlen;
    wire [N_READERS-1:0]        s_arvalid, s_arready, s_rvalid, s_rready;
    wire [BUS_W-1:0]            s_rdata;
    wire [1:0]                  s_rresp;
    wire                        s_rlast;
    // the scratchpad side: readers on it (held from their start), its arbiter's reader ports and R
    reg  [N_READERS-1:0]        on_chip;
    wire [N_READERS-1:0]        x_arready, x_rvalid;
    wire [BUS_W-1:0]            x_rdata;
    wire                        x_rlast;
    wire [N_READERS-1:0]        m_arvalid = s_arvalid & ~on_chip;      // reader i to the image
    wire [N_READERS-1:0]        m_arready, m_rvalid;

    genvar i;
    generate
        for (i = 0; i < N_READERS; i = i + 1) begin : g_reader
            wire [ID_W-1:0] arid_unused;
            wire [2:0]      arsize_unused;
            wire [1:0]      arburst_unused;
            hwmoe_dma_reader #(
                .BUS_W(BUS_W), .ADDR_W(ADDR_W), .LANES_MAX(LANES_MAX), .MAX_N(MAX_N), .MAX_WORDS(MAX_WORDS),
                .IDX_W(IDX_W), .MAX_BURST(MAX_BURST), .FIFO_DEPTH(FIFO_DEPTH), .META_DEPTH(QUEUE_DEPTH),
                .ID_W(ID_W), .ID(i), .N_W(N_W), .WORDS_W(WORDS_W), .LANE_W(LANE_W)
            ) u_reader (
                .clk(clk), .rst(rst), .start(rd_start[i]), .base(rd_base[i*ADDR_W +: ADDR_W]),
                .n1(rd_n1[i*N_W +: N_W]), .stride1(rd_stride1[i*ADDR_W +: ADDR_W]), .n2(rd_n2[i*N_W +: N_W]),
                .stride2(rd_stride2[i*ADDR_W +: ADDR_W]), .words(rd_words[i*WORDS_W +: WORDS_W]),
                .lanes(rd_lanes[i*LANE_W +: LANE_W]), .csize(rd_csize[2*i +: 2]), .indexed(rd_indexed[i]),
                .busy(rd_busy[i]), .done(rd_done[i]), .error(rd_error[i]),
                .idx_tdata(rd_idx_tdata[i*IDX_W +: IDX_W]), .idx_tvalid(rd_idx_tvalid[i]),
                .idx_tready(rd_idx_tready[i]), .idx_tlast(rd_idx_tlast[i]),
                .y_tdata(rd_y_tdata[i*32*LANES_MAX +: 32*LANES_MAX]), .y_tvalid(rd_y_tvalid[i]),
                .y_tready(rd_y_tready[i]), .y_tlast(rd_y_tlast[i]),
                .m_axi_arid(arid_unused), .m_axi_araddr(s_araddr[i*ADDR_W +: ADDR_W]),
                .m_axi_arlen(s_arlen[8*i +: 8]), .m_axi_arsize(arsize_unused), .m_axi_arburst(arburst_unused),
                .m_axi_arvalid(s_arvalid[i]), .m_axi_arready(s_arready[i]),
                .m_axi_rid(m_axi_rid), .m_axi_rdata(on_chip[i] ? x_rdata : s_rdata),
                .m_axi_rresp(on_chip[i] ? 2'b00 : s_rresp), .m_axi_rlast(on_chip[i] ? x_rlast : s_rlast),
                .m_axi_rvalid(s_rvalid[i]), .m_axi_rready(s_rready[i])
            );
            assign s_arready[i] = on_chip[i] ? x_arready[i] : m_arready[i];
            assign s_rvalid[i]  = on_chip[i] ? x_rvalid[i] : m_rvalid[i];
            always @(posedge clk) begin
                if (rst) on_chip[i] <= 1'b0;
                else if (rd_start[i] && !rd_busy[i]) on_chip[i] <= SCRATCH_BYTES > 0 && rd_scratch[i];
            end
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused = &{1'b0, arid_unused, arsize_unused, arburst_unused};   // the arbiter sets them
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate

    hwmoe_axi_arbiter #(.N(N_READERS), .ADDR_W(ADDR_W), .BUS_W(BUS_W), .ID_W(ID_W)) u_arbiter (
        .clk(clk), .rst(rst), .s_araddr(s_araddr), .s_arlen(s_arlen), .s_arvalid(m_arvalid),
        .s_arready(m_arready), .s_rdata(s_rdata), .s_rresp(s_rresp), .s_rlast(s_rlast), .s_rvalid(m_rvalid),
        .s_rready(s_rready), .m_axi_arid(m_axi_arid), .m_axi_araddr(m_axi_araddr), .m_axi_arlen(m_axi_arlen),
        .m_axi_arsize(m_axi_arsize), .m_axi_arburst(m_axi_arburst), .m_axi_arvalid(m_axi_arvalid),
        .m_axi_arready(m_axi_arready), .m_axi_rid(m_axi_rid), .m_axi_rdata(m_axi_rdata),
        .m_axi_rresp(m_axi_rresp), .m_axi_rlast(m_axi_rlast), .m_axi_rvalid(m_axi_rvalid),
        .m_axi_rready(m_axi_rready)
    );

    // the writer on the image or on the scratchpad (held from its start)
    reg                wr_on_chip;
    wire [ID_W-1:0]    w_awid;
    wire [ADDR_W-1:0]  w_awaddr;
    wire [7:0]         w_awlen;
    wire               w_awvalid, w_wvalid, w_wlast, x_awready, x_wready, x_bvalid;
    wire [BUS_W-1:0]   w_wdata;
    wire [BUS_W/8-1:0] w_wstrb;
    always @(posedge clk) begin
        if (rst) wr_on_chip <= 1'b0;
        else if (wr_start && !wr_busy) wr_on_chip <= SCRATCH_BYTES > 0 && wr_scratch;
    end
    assign m_axi_awid    = w_awid;
    assign m_axi_awaddr  = w_awaddr;
    assign m_axi_awlen   = w_awlen;
    assign m_axi_awvalid = w_awvalid && !wr_on_chip;
    assign m_axi_wdata   = w_wdata;
    assign m_axi_wstrb   = w_wstrb;
    assign m_axi_wlast   = w_wlast;
    assign m_axi_wvalid  = w_wvalid && !wr_on_chip;
    wire   w_bready;
    assign m_axi_bready  = w_bready && !wr_on_chip;

    hwmoe_dma_writer #(
        .BUS_W(BUS_W), .ADDR_W(ADDR_W), .LANES_MAX(LANES_MAX), .MAX_N(MAX_N), .MAX_WORDS(MAX_WORDS),
        .MAX_BURST(MAX_BURST), .QUEUE_DEPTH(QUEUE_DEPTH), .ID_W(ID_W), .ID(0), .N_W(N_W), .WORDS_W(WORDS_W),
        .LANE_W(LANE_W)
    ) u_writer (
        .clk(clk), .rst(rst), .start(wr_start), .base(wr_base), .n1(wr_n1), .stride1(wr_stride1), .n2(wr_n2),
        .stride2(wr_stride2), .words(wr_words), .lanes(wr_lanes), .csize(wr_csize), .busy(wr_busy),
        .done(wr_done), .error(wr_error), .x_tdata(wr_x_tdata), .x_tvalid(wr_x_tvalid), .x_tready(wr_x_tready),
        .m_axi_awid(w_awid), .m_axi_awaddr(w_awaddr), .m_axi_awlen(w_awlen),
        .m_axi_awsize(m_axi_awsize), .m_axi_awburst(m_axi_awburst), .m_axi_awvalid(w_awvalid),
        .m_axi_awready(wr_on_chip ? x_awready : m_axi_awready), .m_axi_wdata(w_wdata), .m_axi_wstrb(w_wstrb),
        .m_axi_wlast(w_wlast), .m_axi_wvalid(w_wvalid), .m_axi_wready(wr_on_chip ? x_wready : m_axi_wready),
        .m_axi_bid(m_axi_bid), .m_axi_bresp(wr_on_chip ? 2'b00 : m_axi_bresp),
        .m_axi_bvalid(wr_on_chip ? x_bvalid : m_axi_bvalid), .m_axi_bready(w_bready)
    );

    generate
        if (SCRATCH_BYTES > 0) begin : g_scratch
            localparam integer DEPTH = SCRATCH_BYTES / (BUS_W / 8);
            wire [ID_W-1:0]   x_arid, x_rid;
            wire [ADDR_W-1:0] x_araddr;
            wire [7:0]        x_arlen;
            wire              x_arvalid, x_arready_m, x_rvalid_m, x_rready;
            wire [2:0]        x_arsize_unused;
            wire [1:0]        x_arburst_unused, x_rresp_unused;
            wire              x_rlast_s;
            wire [BUS_W-1:0]  x_rdata_s;
            hwmoe_axi_arbiter #(.N(N_READERS), .ADDR_W(ADDR_W), .BUS_W(BUS_W), .ID_W(ID_W)) u_arbiter (
                .clk(clk), .rst(rst), .s_araddr(s_araddr), .s_arlen(s_arlen), .s_arvalid(s_arvalid & on_chip),
                .s_arready(x_arready), .s_rdata(x_rdata), .s_rresp(x_rresp_unused), .s_rlast(x_rlast),
                .s_rvalid(x_rvalid), .s_rready(s_rready), .m_axi_arid(x_arid), .m_axi_araddr(x_araddr),
                .m_axi_arlen(x_arlen), .m_axi_arsize(x_arsize_unused), .m_axi_arburst(x_arburst_unused),
                .m_axi_arvalid(x_arvalid), .m_axi_arready(x_arready_m), .m_axi_rid(x_rid),
                .m_axi_rdata(x_rdata_s), .m_axi_rresp(2'b00), .m_axi_rlast(x_rlast_s), .m_axi_rvalid(x_rvalid_m),
                .m_axi_rready(x_rready)
            );
            hwmoe_scratch #(.BUS_W(BUS_W), .ADDR_W(ADDR_W), .DEPTH(DEPTH), .ID_W(ID_W)) u_scratch (
                .clk(clk), .rst(rst), .s_arid(x_arid), .s_araddr(x_araddr), .s_arlen(x_arlen),
                .s_arvalid(x_arvalid), .s_arready(x_arready_m), .s_rid(x_rid), .s_rdata(x_rdata_s),
                .s_rlast(x_rlast_s), .s_rvalid(x_rvalid_m), .s_rready(x_rready), .s_awaddr(w_awaddr),
                .s_awlen(w_awlen), .s_awvalid(w_awvalid && wr_on_chip), .s_awready(x_awready),
                .s_wdata(w_wdata), .s_wstrb(w_wstrb), .s_wlast(w_wlast), .s_wvalid(w_wvalid && wr_on_chip),
                .s_wready(x_wready), .s_bvalid(x_bvalid), .s_bready(w_bready && wr_on_chip)
            );
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused = &{1'b0, x_arsize_unused, x_arburst_unused, x_rresp_unused};   // always INCR, OKAY
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_no_scratch
            assign x_arready = {N_READERS{1'b0}};
            assign x_rvalid  = {N_READERS{1'b0}};
            assign x_rdata   = {BUS_W{1'b0}};
            assign x_rlast   = 1'b0;
            assign {x_awready, x_wready, x_bvalid} = 3'b000;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused = &{1'b0, rd_scratch, wr_scratch};
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate
endmodule
`default_nettype wire
