// hwmoe_exp2: the exp2 unit as a stream, e = 2^-d in U1.15 per word (hwmoe_exp2_lane, docs/numerics.md
// section 4, hwmoe.numerics.softmax.exp2_neg). The unit the attention and router softmax use, with the
// valid/ready interface that lets it be tested (and reused) alone.
// LANES words per beat, one beat per cycle, 2-cycle latency, stalls as a whole on back-pressure.
//
// Parameters
//   LANES : words per stream beat
//   D_W   : width of d (unsigned)
//   FRAC  : fractional bits of d (>= 0)
//   IDX_W : index bits of the table, hwmoe.numerics.tables.EXP_INDEX_BITS (passed by hwmoe)
//   TABLE : $readmemh file of the 2^IDX_W EXP2 words, 16 bits each (hwmoe.numerics.tables.exp2_table)
//
// Streams (AXI4-Stream style): x_* in (LANES x D_W bits: d), y_* out (LANES x 16 bits: e);
// lane i in bits [i*W +: W].
`default_nettype none
module hwmoe_exp2 #(
    parameter integer LANES = 1,
    parameter integer D_W   = 16,
    parameter integer FRAC  = 10,
    parameter integer IDX_W = 10,
    parameter         TABLE = "exp2.mem"
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire [LANES*D_W-1:0] x_tdata,
    input  wire                 x_tvalid,
    output wire                 x_tready,
    output wire [LANES*16-1:0]  y_tdata,
    output wire                 y_tvalid,
    input  wire                 y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1) begin
            $error("hwmoe_exp2: LANES = %0d, need at least one lane", LANES);
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
            hwmoe_exp2_lane #(.D_W(D_W), .FRAC(FRAC), .IDX_W(IDX_W), .TABLE(TABLE)) u_lane (
                .clk(clk), .en(advance), .d(x_tdata[i*D_W +: D_W]), .e(y_tdata[i*16 +: 16])
            );
        end
    endgenerate
endmodule
`default_nettype wire
