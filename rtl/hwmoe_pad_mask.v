// hwmoe_pad_mask: zero the lanes of a beat that lie past a row's runtime length, so that the padding of a
// row that does not fill its last beat is stored as zero (docs/numerics.md: padding contributes nothing).
// Lane i of the beat holds element offset + i of the row; it passes when offset + i < limit.
// Purely combinational.
//
// Parameters
//   LANES : words per beat
//   W     : bits per word
//   IDX_W : width of offset and limit
`default_nettype none
module hwmoe_pad_mask #(
    parameter integer LANES = 4,
    parameter integer W     = 16,
    parameter integer IDX_W = 10
) (
    input  wire [LANES*W-1:0] din,
    input  wire [IDX_W-1:0]   offset,
    input  wire [IDX_W-1:0]   limit,
    output wire [LANES*W-1:0] dout
);
    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            localparam integer LI = i;
            localparam [IDX_W-1:0] LID = LI[IDX_W-1:0];
            assign dout[i*W +: W] = ((offset + LID) < limit) ? din[i*W +: W] : {W{1'b0}};
        end
    endgenerate
endmodule
`default_nettype wire
