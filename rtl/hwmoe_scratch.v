// hwmoe_scratch: the on-chip scratchpad of hwmoe_dma, where a layer's intermediate tensors stay when they fit
// (hwmoe/accel/scratch.py places them).  One simple-dual-port RAM of DEPTH bus words (block RAM): a read side
// and a write side, each the AXI4 subset the DMA's readers and writer use (INCR bursts of whole bus words,
// addresses in bytes from 0), with valid/ready on every channel and no AXI latency: one bus word per cycle on
// each side, bursts back to back.
//
// Read: AR taken when idle or with the last beat of the burst in progress; each beat reads the RAM into the R
// register (RID, RLAST with it) when R is empty or taken: RVALID two cycles after the AR handshake's
// (sim/test_scratch.py; dma.SCRATCH_READ_LATENCY is the end-to-end figure, checked by sim/test_accel.py).  Write: AW taken when idle or with the burst's
// last W beat; W written under its strobes; one B (OKAY) per burst, the cycle after its last beat, queued
// while BREADY is low.  Addresses wrap at DEPTH words (the compiler keeps every tensor inside).
//
// Parameters
//   BUS_W  : data width (64..512)
//   ADDR_W : byte address width of AR/AW
//   DEPTH  : bus words (>= 2)
//   ID_W   : ARID/RID width (the arbiter's reader numbers)
`default_nettype none
module hwmoe_scratch #(
    parameter integer BUS_W  = 128,
    parameter integer ADDR_W = 32,
    parameter integer DEPTH  = 256,
    parameter integer ID_W   = 2
) (
    input  wire               clk,
    input  wire               rst,
    input  wire [ID_W-1:0]    s_arid,
    input  wire [ADDR_W-1:0]  s_araddr,
    input  wire [7:0]         s_arlen,
    input  wire               s_arvalid,
    output wire               s_arready,
    output reg  [ID_W-1:0]    s_rid,
    output reg  [BUS_W-1:0]   s_rdata,
    output reg                s_rlast,
    output reg                s_rvalid,
    input  wire               s_rready,
    input  wire [ADDR_W-1:0]  s_awaddr,
    input  wire [7:0]         s_awlen,
    input  wire               s_awvalid,
    output wire               s_awready,
    input  wire [BUS_W-1:0]   s_wdata,
    input  wire [BUS_W/8-1:0] s_wstrb,
    input  wire               s_wlast,
    input  wire               s_wvalid,
    output wire               s_wready,
    output wire               s_bvalid,
    input  wire               s_bready
);
    localparam integer BB   = BUS_W / 8;
    localparam integer LB   = $clog2(BB);
    localparam integer AW   = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    localparam integer WIDE = LB + AW;            // byte address bits that select a word
    initial begin
        if (DEPTH < 2 || ADDR_W < WIDE) begin
            $error("hwmoe_scratch: DEPTH = %0d words need DEPTH >= 2 and ADDR_W = %0d >= %0d", DEPTH, ADDR_W, WIDE);
            $finish;
        end
    end

    reg [BUS_W-1:0] mem [0:DEPTH-1];

    // read side
    reg          r_active;
    reg [AW-1:0] r_addr;
    reg [7:0]    r_left;                           // beats after the current one
    reg [ID_W-1:0] r_id;
    wire issue    = r_active && (!s_rvalid || s_rready);
    wire r_final  = issue && r_left == 8'd0;
    assign s_arready = !r_active || r_final;
    wire ar_fire  = s_arvalid && s_arready;
    always @(posedge clk) begin
        if (issue) s_rdata <= mem[r_addr];
    end
    always @(posedge clk) begin
        if (rst) begin
            r_active <= 1'b0;
            s_rvalid <= 1'b0;
        end else begin
            if (issue) begin
                s_rvalid <= 1'b1;
                s_rlast  <= r_left == 8'd0;
                s_rid    <= r_id;
                r_addr   <= r_addr + 1'b1;
                r_left   <= r_left - 8'd1;
            end else if (s_rready) begin
                s_rvalid <= 1'b0;
            end
            if (ar_fire) begin
                r_active <= 1'b1;
                r_addr   <= s_araddr[LB +: AW];
                r_left   <= s_arlen;
                r_id     <= s_arid;
            end else if (r_final) begin
                r_active <= 1'b0;
            end
        end
    end

    // write side
    reg          w_active;
    reg [AW-1:0] w_addr;
    reg [8:0]    b_count;                          // bursts written, responses not yet taken
    wire w_fire   = s_wvalid && w_active;
    assign s_wready  = w_active;
    assign s_awready = !w_active || (w_fire && s_wlast);
    wire aw_fire  = s_awvalid && s_awready;
    assign s_bvalid  = b_count != 9'd0;
    integer b;
    always @(posedge clk) begin
        if (w_fire) begin
            for (b = 0; b < BB; b = b + 1)
                if (s_wstrb[b]) mem[w_addr][8*b +: 8] <= s_wdata[8*b +: 8];
        end
    end
    always @(posedge clk) begin
        if (rst) begin
            w_active <= 1'b0;
            b_count  <= 9'd0;
        end else begin
            if (w_fire) w_addr <= w_addr + 1'b1;
            if (aw_fire) begin
                w_active <= 1'b1;
                w_addr   <= s_awaddr[LB +: AW];
            end else if (w_fire && s_wlast) begin
                w_active <= 1'b0;
            end
            b_count <= b_count + {8'd0, w_fire && s_wlast} - {8'd0, s_bvalid && s_bready};
        end
    end

    /* verilator lint_off UNUSEDSIGNAL */
    wire unused = &{1'b0, s_araddr, s_awaddr, s_awlen};  // bursts end with WLAST; high address bits wrap
    /* verilator lint_on UNUSEDSIGNAL */
endmodule
`default_nettype wire
