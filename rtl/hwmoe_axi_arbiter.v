// hwmoe_axi_arbiter: shares the read channels of one AXI4 master among N DMA readers (hwmoe_dma_reader).
// AR: round robin over the requesting readers, through a register slice (one AR per cycle, the request held
// stable as AXI requires); ARID = the reader's index.  R: routed back by RID.  Each reader's bursts carry one
// ID, so their data returns in order; the slave may interleave or reorder across IDs (AXI allows that,
// nothing here assumes otherwise).  The writer needs no arbitration (one writer): its AW/W/B channels go to
// the master unchanged.
//
// Parameters
//   N      : readers (>= 1)
//   ADDR_W : byte address width
//   BUS_W  : AXI data width
//   ID_W   : ARID/RID width, enough for N (default ceil(log2 N), at least 1)
//
// Ports: s_* reader side, reader i in slice i of each packed vector (s_araddr[i*ADDR_W +: ADDR_W], ...);
// the R payload (s_rdata, s_rresp, s_rlast) is shared, s_rvalid[i] marks reader i's beats.  m_* the master.
`default_nettype none
module hwmoe_axi_arbiter #(
    parameter integer N      = 3,
    parameter integer ADDR_W = 32,
    parameter integer BUS_W  = 128,
    parameter integer ID_W   = (N > 1) ? $clog2(N) : 1
) (
    input  wire                clk,
    input  wire                rst,
    input  wire [N*ADDR_W-1:0] s_araddr,
    input  wire [N*8-1:0]      s_arlen,
    input  wire [N-1:0]        s_arvalid,
    output reg  [N-1:0]        s_arready,
    output wire [BUS_W-1:0]    s_rdata,
    output wire [1:0]          s_rresp,
    output wire                s_rlast,
    output wire [N-1:0]        s_rvalid,
    input  wire [N-1:0]        s_rready,
    output reg  [ID_W-1:0]     m_axi_arid,
    output reg  [ADDR_W-1:0]   m_axi_araddr,
    output reg  [7:0]          m_axi_arlen,
    output wire [2:0]          m_axi_arsize,
    output wire [1:0]          m_axi_arburst,
    output reg                 m_axi_arvalid,
    input  wire                m_axi_arready,
    input  wire [ID_W-1:0]     m_axi_rid,
    input  wire [BUS_W-1:0]    m_axi_rdata,
    input  wire [1:0]          m_axi_rresp,
    input  wire                m_axi_rlast,
    input  wire                m_axi_rvalid,
    output wire                m_axi_rready
);
    initial begin
        if (N < 1 || (1 << ID_W) < N) begin
            $error("hwmoe_axi_arbiter: N = %0d readers, ID_W = %0d bits cannot number them", N, ID_W);
            $finish;
        end
    end
    // round robin: the first requester after the last grant
    localparam integer LAST_READER = N - 1;
    localparam integer SIZE = $clog2(BUS_W / 8);
    reg [ID_W-1:0] last, pick;
    reg            any;
    integer k;
    /* verilator lint_off UNUSEDSIGNAL */
    integer r;                                     // a reader index: only its low ID_W bits are kept
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        any = 1'b0;
        pick = last;
        for (k = N; k >= 1; k = k - 1) begin       // the lowest k wins: the nearest after `last`
            r = ({{(32 - ID_W){1'b0}}, last} + k) % N;
            if (s_arvalid[r]) begin
                any = 1'b1;
                pick = r[ID_W-1:0];
            end
        end
    end
    wire load = !m_axi_arvalid || m_axi_arready;
    always @* begin
        s_arready = {N{1'b0}};
        s_arready[pick] = load && any;
    end
    always @(posedge clk) begin
        if (rst) begin
            m_axi_arvalid <= 1'b0;
            last <= LAST_READER[ID_W-1:0];
        end else if (load) begin
            m_axi_arvalid <= any;
            if (any) begin
                last <= pick;
                m_axi_arid <= pick;
                m_axi_araddr <= s_araddr[pick*ADDR_W +: ADDR_W];
                m_axi_arlen <= s_arlen[pick*8 +: 8];
            end
        end
    end
    assign m_axi_arsize  = SIZE[2:0];
    assign m_axi_arburst = 2'b01;
    assign s_rdata  = m_axi_rdata;
    assign s_rresp  = m_axi_rresp;
    assign s_rlast  = m_axi_rlast;
    genvar i;
    generate
        for (i = 0; i < N; i = i + 1) begin : g_r
            assign s_rvalid[i] = m_axi_rvalid && m_axi_rid == i;
        end
    endgenerate
    assign m_axi_rready = !m_axi_rvalid || s_rready[m_axi_rid];    // RID only matters with RVALID
endmodule
`default_nettype wire
