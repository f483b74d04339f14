// hwmoe_recip: the reciprocal unit as a stream, 1/x ~= r * 2^-(15 + p) per word (hwmoe_recip_lane,
// docs/numerics.md section 4, hwmoe.numerics.softmax.reciprocal). The unit the attention and router softmax
// use, with the valid/ready interface that lets it be tested (and reused) alone.
// LANES words per beat, one beat per cycle, 2-cycle latency, stalls as a whole on back-pressure.
//
// Parameters
//   LANES : words per stream beat
//   X_W   : width of x (unsigned, x > 0; x = 0 gives p = 0 and an unspecified r), at least 2
//   P_W   : width of p, at least $clog2(X_W)
//   IDX_W : index bits of the table, hwmoe.numerics.tables.RECIP_INDEX_BITS (passed by hwmoe)
//   TABLE : $readmemh file of the 2^IDX_W RECIP words, 16 bits each (hwmoe.numerics.tables.recip_table)
//
// Streams (AXI4-Stream style): x_* in (LANES x X_W bits: x), y_* out (LANES x (P_W + 16) bits: {p, r}, r in
// the low 16 bits); lane i in bits [i*W +: W].
`default_nettype none
module hwmoe_recip #(
    parameter integer LANES = 1,
    parameter integer X_W   = 24,
    parameter integer P_W   = 5,
    parameter integer IDX_W = 10,
    parameter         TABLE = "recip.mem"
) (
    input  wire                       clk,
    input  wire                       rst,
    input  wire [LANES*X_W-1:0]       x_tdata,
    input  wire                       x_tvalid,
    output wire                       x_tready,
    output wire [LANES*(P_W+16)-1:0]  y_tdata,
    output wire                       y_tvalid,
    input  wire                       y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1) begin
            $error("hwmoe_recip: LANES = %0d, need at least one lane", LANES);
            $finish;
        end
    end

    wire advance;
    hwmoe_pipe_valid #(.LATENCY(2)) u_valid (
        .clk(clk), .rst(rst), .x_tvalid(x_tvalid), .x_tready(x_tready), .y_tvalid(y_tvalid), .y_tready(y_tready),
        .advance(advance)
    );

    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            hwmoe_recip_lane #(.X_W(X_W), .P_W(P_W), .IDX_W(IDX_W), .TABLE(TABLE)) u_lane (
                .clk(clk), .en(advance), .x(x_tdata[i*X_W +: X_W]),
                .r(y_tdata[i*(P_W+16) +: 16]), .p(y_tdata[i*(P_W+16) + 16 +: P_W])
            );
        end
    endgenerate
endmodule
`default_nettype wire
