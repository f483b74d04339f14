// hwmoe_stream_fork: one AXI4-Stream beat to N consumers, each taking it in its own cycle: a beat leaves the
// input once every output has taken it (an output that has taken the current beat shows no valid until the
// next). No storage beyond one flag per output; zero latency.
//
// Parameters
//   N : consumers (>= 1);  W : data bits (tdata and tlast are broadcast)
`default_nettype none
module hwmoe_stream_fork #(
    parameter integer N = 2,
    parameter integer W = 8
) (
    input  wire           clk,
    input  wire           rst,
    input  wire [W-1:0]   s_tdata,
    input  wire           s_tvalid,
    output wire           s_tready,
    input  wire           s_tlast,
    output wire [N*W-1:0] m_tdata,
    output wire [N-1:0]   m_tvalid,
    input  wire [N-1:0]   m_tready,
    output wire [N-1:0]   m_tlast
);
    initial begin
        if (N < 1 || W < 1) begin
            $error("hwmoe_stream_fork: N = %0d, W = %0d: each must be at least 1", N, W);
            $finish;
        end
    end
    reg  [N-1:0] taken;                          // outputs that have taken the current beat
    wire [N-1:0] fire = m_tvalid & m_tready;
    assign m_tvalid = {N{s_tvalid}} & ~taken;
    assign s_tready = &(taken | m_tready);
    assign m_tdata  = {N{s_tdata}};
    assign m_tlast  = {N{s_tlast}};
    always @(posedge clk) begin
        if (rst || (s_tvalid && s_tready)) taken <= {N{1'b0}};
        else taken <= taken | fire;
    end
endmodule
`default_nettype wire
