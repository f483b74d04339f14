// hwmoe_rsqrt: table-based 1/sqrt of a positive integer v (docs/numerics.md section 6, the reference is
// hwmoe.kernels.layernorm.layernorm): top = msb(v), index = the IDX_W bits of v below its leading one (floor,
// zero-filled when top < IDX_W), and r = RSQRT[(top & 1) * 2^IDX_W + index], a U1.15 word with
// r * 2^-15 ~= 1/sqrt(mantissa * 2^(top & 1)), so that 1/sqrt(v) ~= r * 2^-15 * 2^-((top - (top & 1)) / 2).  Free running (no stall), 3-cycle latency;
// a tag travels with each value.
//
// Parameters
//   V_W   : width of the unsigned input v (v must be >= 1)
//   TAG_W : width of the tag carried alongside
//   IDX_W : index bits of the table, hwmoe.numerics.tables.RSQRT_INDEX_BITS (the generators pass it)
//   TABLE : $readmemh file of the 2 * 2^IDX_W 16-bit words of hwmoe.numerics.tables.rsqrt_table()
//
// Ports: in_valid/v/tag_in in, out_valid/r/half/tag_out three cycles later (half = top >> 1).
`default_nettype none
module hwmoe_rsqrt #(
    parameter integer V_W   = 34,
    parameter integer TAG_W = 8,
    parameter integer IDX_W = 10,
    parameter         TABLE = "rsqrt.mem"
) (
    input  wire                    clk,
    input  wire                    rst,
    input  wire                    in_valid,
    input  wire [V_W-1:0]          v,
    input  wire [TAG_W-1:0]        tag_in,
    output wire                    out_valid,
    output wire [15:0]             r,
    output wire [$clog2(V_W)-2:0]  half,
    output wire [TAG_W-1:0]        tag_out
);
    localparam integer TOP_W = $clog2(V_W);
    localparam integer VX_W  = V_W + IDX_W;

    (* rom_style = "block" *) reg [15:0] table_rom [0:(2 << IDX_W)-1];
    initial $readmemh(TABLE, table_rom);

    // index of the leading one (v >= 1)
    function automatic [TOP_W-1:0] lead;
        input [V_W-1:0] value;
        integer i;
        begin
            lead = {TOP_W{1'b0}};
            for (i = 0; i < V_W; i = i + 1)
                if (value[i]) lead = i[TOP_W-1:0];
        end
    endfunction

    reg [2:0] valid;
    reg [V_W-1:0] v1;
    reg [TOP_W-1:0] top1;
    reg [TOP_W-1:1] top2, top3;
    reg [IDX_W:0] addr2;
    reg [15:0] r3;
    reg [TAG_W-1:0] tag1, tag2, tag3;

    // the mantissa bits below the leading one, aligned so that the leading one lands on bit IDX_W
    wire [VX_W-1:0] v_ext = {{IDX_W{1'b0}}, v1};
    /* verilator lint_off UNUSEDSIGNAL */
    wire [VX_W-1:0] aligned = (v_ext << IDX_W) >> top1;   // the leading one on bit IDX_W; the bits below index
    /* verilator lint_on UNUSEDSIGNAL */

    always @(posedge clk) begin
        if (rst) valid <= 3'b000;
        else valid <= {valid[1:0], in_valid};
        v1 <= v;
        top1 <= lead(v);
        tag1 <= tag_in;
        addr2 <= {top1[0], aligned[IDX_W-1:0]};
        top2 <= top1[TOP_W-1:1];
        tag2 <= tag1;
        r3 <= table_rom[addr2];
        top3 <= top2;
        tag3 <= tag2;
    end

    assign out_valid = valid[2];
    assign r = r3;
    assign half = top3;
    assign tag_out = tag3;
endmodule
`default_nettype wire
