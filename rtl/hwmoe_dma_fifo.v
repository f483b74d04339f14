// hwmoe_dma_fifo: synchronous first-word-fall-through FIFO of the DMA (bus words, segment and burst records).
// The storage is read into an output register (a block-RAM read port with enable), so out_data is registered
// and the FIFO holds up to DEPTH + 1 entries (DEPTH in the array, one in the output register).
//
// Parameters
//   WIDTH : bits per entry
//   DEPTH : entries of the storage array, a power of two >= 2
//
// Streams (valid/ready): in_* pushes an entry, out_* pops one; in_ready is low only when the array is full.
`default_nettype none
module hwmoe_dma_fifo #(
    parameter integer WIDTH = 32,
    parameter integer DEPTH = 16
) (
    input  wire             clk,
    input  wire             rst,
    input  wire [WIDTH-1:0] in_data,
    input  wire             in_valid,
    output wire             in_ready,
    output reg  [WIDTH-1:0] out_data,
    output reg              out_valid,
    input  wire             out_ready
);
    initial begin
        if (DEPTH < 2 || (DEPTH & (DEPTH - 1)) != 0) begin
            $error("hwmoe_dma_fifo: DEPTH = %0d, must be a power of two >= 2", DEPTH);
            $finish;
        end
        if (WIDTH < 1) begin
            $error("hwmoe_dma_fifo: WIDTH = %0d, need at least one bit", WIDTH);
            $finish;
        end
    end
    localparam integer PTR_W = $clog2(DEPTH);

    reg [WIDTH-1:0] mem [0:DEPTH-1];
    reg [PTR_W:0]   wr_ptr, rd_ptr;
    wire [PTR_W:0]  used = wr_ptr - rd_ptr;
    wire            push = in_valid && in_ready;
    wire            load = (used != 0) && (!out_valid || out_ready);
    assign in_ready = used != DEPTH[PTR_W:0];

    always @(posedge clk) begin
        if (push) mem[wr_ptr[PTR_W-1:0]] <= in_data;
        if (load) out_data <= mem[rd_ptr[PTR_W-1:0]];
    end

    always @(posedge clk) begin
        if (rst) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
            out_valid <= 1'b0;
        end else begin
            if (push) wr_ptr <= wr_ptr + 1'b1;
            if (load) begin
                rd_ptr <= rd_ptr + 1'b1;
                out_valid <= 1'b1;
            end else if (out_ready) begin
                out_valid <= 1'b0;
            end
        end
    end
endmodule
`default_nettype wire
