// hwmoe_recip_lane: reciprocal of an unsigned integer x > 0 as r * 2^-(15 + p) (docs/numerics.md section 4,
// hwmoe.numerics.softmax.reciprocal): p = msb(x), index = the IDX_W bits below the leading one (floor, zero-
// filled when p < IDX_W), r = RECIP[index] (U1.15). x = 0 gives p = 0 and an unspecified r.
// A stream-less pipeline: x is taken at every rising edge where en is high; r and p are the results for the x
// taken two enabled edges earlier (latency 2: leading-one detection and normalisation register, then table
// read register). No reset.
//
// Parameters
//   X_W   : width of x (unsigned), at least 2
//   P_W   : width of p, at least $clog2(X_W)
//   IDX_W : index bits of the table, hwmoe.numerics.tables.RECIP_INDEX_BITS (the generators pass it)
//   TABLE : $readmemh file of the 2^IDX_W RECIP words, 16 bits each (hwmoe.numerics.tables.recip_table)
//
// Ports: clk, en, x [X_W-1:0] in, r [15:0] out (U1.15), p [P_W-1:0] out (leading-one position of x).
`default_nettype none
module hwmoe_recip_lane #(
    parameter integer X_W   = 24,
    parameter integer P_W   = 5,
    parameter integer IDX_W = 10,
    parameter         TABLE = "recip.mem"
) (
    input  wire           clk,
    input  wire           en,
    input  wire [X_W-1:0] x,
    output wire [15:0]    r,
    output wire [P_W-1:0] p
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (X_W < 2 || P_W < $clog2(X_W)) begin
            $error("hwmoe_recip_lane: X_W = %0d, P_W = %0d: need X_W >= 2 and P_W >= $clog2(X_W)", X_W, P_W);
            $finish;
        end
    end
    localparam integer TOP_I = X_W - 1;
    localparam [P_W-1:0] TOP = TOP_I[P_W-1:0];

    (* rom_style = "block" *) reg [15:0] table_rom [0:(1 << IDX_W)-1];
    initial $readmemh(TABLE, table_rom);

    // leading one
    reg [P_W-1:0] lead;
    integer i;
    always @* begin
        lead = {P_W{1'b0}};
        for (i = 0; i < X_W; i = i + 1)
            if (x[i]) lead = i[P_W-1:0];
    end
    // normalise: the leading one moves to bit X_W-1, the IDX_W bits below it index the table
    /* verilator lint_off UNUSEDSIGNAL */
    wire [X_W-1:0] norm = x << (TOP - lead);   // the leading one and bits below the index are dropped
    /* verilator lint_on UNUSEDSIGNAL */
    wire [IDX_W-1:0] index;
    generate
        if (X_W >= IDX_W + 1) begin : g_index_top
            assign index = norm[X_W-2 -: IDX_W];
        end else begin : g_index_fill
            assign index = {norm[X_W-2:0], {(IDX_W+1-X_W){1'b0}}};
        end
    endgenerate

    reg [IDX_W-1:0] index1;
    reg [P_W-1:0] lead1, lead2;
    reg [15:0]    r2;
    always @(posedge clk) begin
        if (en) begin
            index1 <= index;
            lead1  <= lead;
            r2     <= table_rom[index1];
            lead2  <= lead1;
        end
    end
    assign r = r2;
    assign p = lead2;
endmodule
`default_nettype wire
