// hwmoe_gelu: GELU unit, GELU(x) = ReLU(x) - d(|x|), d(t) = t * Phi(-t) read from a table sampled every
// 2^-STEP_BITS with linear interpolation, exactly ReLU beyond the table (docs/numerics.md section 5).
// LANES words per beat, one beat per cycle, 3-cycle latency, stalls as a whole on back-pressure.
//
// Parameters
//   LANES     : words per stream beat
//   IN_W      : input word width (signed)
//   IN_FRAC   : input fractional bits
//   OUT_W     : output word width (signed)
//   OUT_FRAC  : output fractional bits
//   ENTRIES   : table intervals; the table file holds ENTRIES+1 words of d(i * 2^-STEP_BITS)
//   STEP_BITS : log2 of the table's samples per unit
//   D_W       : table word width (unsigned, D_W fractional bits)
//   TABLE     : $readmemh file written by hwmoe (hwmoe/kernels/tables.py)
//
// Streams (AXI4-Stream style): x_* in, y_* out; lane i in bits [i*W +: W].
`default_nettype none
module hwmoe_gelu #(
    parameter integer LANES     = 1,
    parameter integer IN_W      = 16,
    parameter integer IN_FRAC   = 11,
    parameter integer OUT_W     = 16,
    parameter integer OUT_FRAC  = 11,
    parameter integer ENTRIES   = 149,
    parameter integer STEP_BITS = 5,
    parameter integer D_W       = 16,
    parameter         TABLE     = "gelu.mem"
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire [LANES*IN_W-1:0]  x_tdata,
    input  wire                   x_tvalid,
    output wire                   x_tready,
    output wire [LANES*OUT_W-1:0] y_tdata,
    output wire                   y_tvalid,
    input  wire                   y_tready
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1) begin
            $error("hwmoe_gelu: LANES = %0d, need at least one lane", LANES);
            $finish;
        end
        if (IN_W < 2 || OUT_W < 2) begin
            $error("hwmoe_gelu: IN_W = %0d, OUT_W = %0d: words need at least 2 bits", IN_W, OUT_W);
            $finish;
        end
        if (IN_FRAC < 0 || OUT_FRAC < 0) begin
            $error("hwmoe_gelu: IN_FRAC = %0d, OUT_FRAC = %0d: negative fractional bits", IN_FRAC, OUT_FRAC);
            $finish;
        end
        if (ENTRIES < 1) begin
            $error("hwmoe_gelu: ENTRIES = %0d, the table needs at least one interval", ENTRIES);
            $finish;
        end
    end
    wire advance;
    hwmoe_pipe_valid #(.LATENCY(3)) u_valid (
        .clk(clk), .rst(rst), .x_tvalid(x_tvalid), .x_tready(x_tready), .y_tvalid(y_tvalid), .y_tready(y_tready),
        .advance(advance)
    );

    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            hwmoe_gelu_lane #(
                .IN_W(IN_W), .IN_FRAC(IN_FRAC), .OUT_W(OUT_W), .OUT_FRAC(OUT_FRAC), .ENTRIES(ENTRIES),
                .STEP_BITS(STEP_BITS), .D_W(D_W), .TABLE(TABLE)
            ) u_lane (
                .clk(clk), .en(advance),
                .x(x_tdata[i*IN_W +: IN_W]),
                .y(y_tdata[i*OUT_W +: OUT_W])
            );
        end
    endgenerate
endmodule
`default_nettype wire
