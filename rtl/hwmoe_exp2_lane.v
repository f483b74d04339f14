// hwmoe_exp2_lane: e = 2^-d in U1.15 for an unsigned fixed-point d >= 0 (docs/numerics.md section 4,
// hwmoe.numerics.softmax.exp2_neg): n = d >> FRAC, index = the top IDX_W bits of the fraction (floor, zero-
// filled below when FRAC < IDX_W), e = EXP2[index] >> n, and e = 0 once n >= 16 (EXP2[i] <= 2^15).
// A stream-less pipeline: d is taken at every rising edge where en is high; e is the result for the d taken
// two enabled edges earlier (latency 2: table read register, then shift register). No reset.
//
// Parameters
//   D_W   : width of d (unsigned)
//   FRAC  : fractional bits of d, FRAC >= 0 (FRAC > D_W: d < 1, n = 0)
//   IDX_W : index bits of the table, hwmoe.numerics.tables.EXP_INDEX_BITS (the generators pass it)
//   TABLE : $readmemh file of the 2^IDX_W EXP2 words, 16 bits each (hwmoe.numerics.tables.exp2_table)
//
// Ports: clk, en, d [D_W-1:0] in, e [15:0] out (U1.15, at most 2^15 = 1.0).
`default_nettype none
module hwmoe_exp2_lane #(
    parameter integer D_W   = 16,
    parameter integer FRAC  = 10,
    parameter integer IDX_W = 10,
    parameter         TABLE = "exp2.mem"
) (
    input  wire           clk,
    input  wire           en,
    input  wire [D_W-1:0] d,
    output wire [15:0]    e
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (D_W < 1 || FRAC < 0) begin
            $error("hwmoe_exp2_lane: D_W = %0d, FRAC = %0d: need D_W >= 1 and FRAC >= 0", D_W, FRAC);
            $finish;
        end
    end
    localparam integer WHOLE_W = (D_W > FRAC) ? D_W - FRAC : 1;
    localparam integer EXT_W   = (FRAC > D_W) ? FRAC : D_W;   // d zero-extended to hold the whole fraction

    (* rom_style = "block" *) reg [15:0] table_rom [0:(1 << IDX_W)-1];
    initial $readmemh(TABLE, table_rom);

    /* verilator lint_off UNUSEDSIGNAL */
    wire [EXT_W-1:0]   dz = {{(EXT_W-D_W){1'b0}}, d};
    /* verilator lint_on UNUSEDSIGNAL */
    wire [IDX_W-1:0]   index;
    wire [WHOLE_W-1:0] whole;
    generate
        if (FRAC >= IDX_W) begin : g_index_top
            assign index = dz[FRAC-1 -: IDX_W];
        end else if (FRAC > 0) begin : g_index_fill
            assign index = {dz[FRAC-1:0], {(IDX_W-FRAC){1'b0}}};
        end else begin : g_index_zero
            assign index = {IDX_W{1'b0}};
        end
        if (D_W > FRAC) begin : g_whole
            assign whole = d[D_W-1:FRAC];
        end else begin : g_no_whole
            assign whole = 1'b0;
        end
    endgenerate
    // shifts of 16 and more give 0: saturate the shift at 16
    wire [4:0] shift;
    generate
        if (WHOLE_W > 4) begin : g_shift_sat
            assign shift = (|whole[WHOLE_W-1:4]) ? 5'd16 : {1'b0, whole[3:0]};
        end else begin : g_shift_small
            assign shift = {{(5-WHOLE_W){1'b0}}, whole};
        end
    endgenerate

    reg [15:0] mant1;
    reg [4:0]  shift1;
    reg [15:0] e2;
    always @(posedge clk) begin
        if (en) begin
            mant1  <= table_rom[index];
            shift1 <= shift;
            e2     <= mant1 >> shift1;
        end
    end
    assign e = e2;
endmodule
`default_nettype wire
