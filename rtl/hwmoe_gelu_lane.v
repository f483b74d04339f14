// hwmoe_gelu_lane: the datapath of one GELU lane (see hwmoe_gelu), three register stages, enable-stalled.
//
// Parameters: as hwmoe_gelu (IN_W, IN_FRAC, OUT_W, OUT_FRAC, ENTRIES, STEP_BITS, D_W, TABLE).
`default_nettype none
module hwmoe_gelu_lane #(
    parameter integer IN_W      = 16,
    parameter integer IN_FRAC   = 11,
    parameter integer OUT_W     = 16,
    parameter integer OUT_FRAC  = 11,
    parameter integer ENTRIES   = 149,
    parameter integer STEP_BITS = 5,
    parameter integer D_W       = 16,
    parameter         TABLE     = "gelu.mem"
) (
    input  wire                    clk,
    input  wire                    en,
    input  wire signed [IN_W-1:0]  x,
    output wire signed [OUT_W-1:0] y
);
    localparam integer SUB   = IN_FRAC - STEP_BITS;        // bits of |x| below the table step
    localparam integer SUBP  = (SUB > 0) ? SUB : 1;         // width of the interpolation fraction
    localparam integer IDX_W = IN_W + ((SUB < 0) ? -SUB : 0);
    localparam integer ADDR_W = $clog2(ENTRIES + 1);
    localparam integer FRAC  = (IN_FRAC > D_W) ? IN_FRAC : D_W;   // fractional bits of ReLU(x) - d
    localparam integer DIFF_W = D_W + 2;                         // signed D[i+1] - D[i]
    localparam integer PROD_W = DIFF_W + SUBP + 1;               // slope * fraction
    localparam integer X_SPAN = IN_W + FRAC - IN_FRAC;
    localparam integer D_SPAN = PROD_W + FRAC - D_W;
    localparam integer SUM_W = ((X_SPAN > D_SPAN) ? X_SPAN : D_SPAN) + 1;
    localparam integer CMP_W = (IDX_W > 32) ? IDX_W : 32;
    localparam [CMP_W-1:0] LIMIT = {{(CMP_W-32){1'b0}}, ENTRIES};   // zero-extended (ENTRIES is 32 bits)

    (* rom_style = "block" *) reg [D_W-1:0] table_lo [0:ENTRIES];
    (* rom_style = "block" *) reg [D_W-1:0] table_hi [0:ENTRIES];
    initial begin
        $readmemh(TABLE, table_lo);
        $readmemh(TABLE, table_hi);
    end

    // stage 0: magnitude, table index, fraction frac_part samples
    wire [IN_W-1:0]  mag = x[IN_W-1] ? (~x + 1'b1) : x;
    wire [IDX_W-1:0] index;
    wire [SUBP-1:0]  frac_part;
    generate
        if (SUB > 0) begin : g_sub
            assign index   = {{(IDX_W-IN_W+SUB){1'b0}}, mag[IN_W-1:SUB]};
            assign frac_part = mag[SUB-1:0];
        end else begin : g_nosub
            assign index   = {{(IDX_W-IN_W){1'b0}}, mag} << (-SUB);
            assign frac_part = {SUBP{1'b0}};
        end
    endgenerate
    wire in_table = {{(CMP_W-IDX_W){1'b0}}, index} < LIMIT;

    reg signed [IN_W-1:0] x1, x2;
    reg [SUBP-1:0] frac_part1;
    reg [ADDR_W-1:0] addr1;
    reg in_table1, in_table2;
    reg [D_W-1:0] d_lo2, d_hi2;
    reg [SUBP-1:0] frac_part2;
    reg signed [OUT_W-1:0] y3;

    always @(posedge clk) begin
        if (en) begin
            x1 <= x;
            addr1 <= in_table ? index[ADDR_W-1:0] : {ADDR_W{1'b0}};
            in_table1 <= in_table;
            frac_part1 <= frac_part;
            // stage 1: table reads
            d_lo2 <= table_lo[addr1];
            d_hi2 <= table_hi[addr1 + 1'b1];
            x2 <= x1;
            in_table2 <= in_table1;
            frac_part2 <= frac_part1;
        end
    end

    // stage 2: interpolate, ReLU(x) - d, round and saturate
    wire signed [DIFF_W-1:0] slope = $signed({2'b00, d_hi2}) - $signed({2'b00, d_lo2});
    wire signed [PROD_W-1:0] prod  = $signed({{(PROD_W-DIFF_W){slope[DIFF_W-1]}}, slope})
                                   * $signed({{(PROD_W-SUBP){1'b0}}, frac_part2});
    wire signed [PROD_W-1:0] d_lo_ext = $signed({{(PROD_W-D_W){1'b0}}, d_lo2});
    wire signed [PROD_W-1:0] step  = prod >>> SUBP;              // floor, as the reference
    wire signed [PROD_W-1:0] d_int = !in_table2 ? $signed({PROD_W{1'b0}}) :
                                     (SUB > 0) ? d_lo_ext + step : d_lo_ext;
    wire signed [SUM_W-1:0] x_ext = {{(SUM_W-IN_W){x2[IN_W-1]}}, x2};
    wire signed [SUM_W-1:0] d_ext = {{(SUM_W-PROD_W){d_int[PROD_W-1]}}, d_int};
    wire signed [SUM_W-1:0] relu  = x2[IN_W-1] ? {SUM_W{1'b0}} : (x_ext <<< (FRAC - IN_FRAC));
    wire signed [SUM_W-1:0] diff  = relu - (d_ext <<< (FRAC - D_W));
    wire signed [OUT_W-1:0] rounded;
    hwmoe_requant #(.IN_W(SUM_W), .SHIFT(FRAC - OUT_FRAC), .OUT_W(OUT_W)) u_requant (.din(diff), .dout(rounded));

    always @(posedge clk) begin
        if (en) y3 <= rounded;
    end
    assign y = y3;
endmodule
`default_nettype wire
