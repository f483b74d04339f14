// hwmoe_add: the add engine (residual additions, position embedding),
//   y = requant(align(a, a_frac -> f) + align(b, b_frac -> f), out),  f = max(a_frac, b_frac),
// rounding AP_RND and saturating AP_SAT to a run-time output format (hwmoe/kernels/add.py, docs/numerics.md
// section 3).  The word widths are build-time maxima; the formats and the word count are run-time control
// inputs held for a run (narrower operands arrive sign-extended).  LANES words per beat on a, b and y, one
// beat per cycle, 2-cycle latency; the pipeline stalls as a whole on back-pressure.
//
// Parameters
//   LANES     : words per stream beat
//   A_W, B_W  : widths of the signed operand words (maxima of every run)
//   OUT_W     : width of the signed result words (maximum of every run's out_width)
//   ALIGN_MAX : largest |a_frac - b_frac| a run may use (the alignment shifter's reach)
//   WORDS_W   : bits of the run-time word count
//   FRAC_B    : width of the signed run-time fraction inputs (8: the program's format fields; derived)
//
// Control inputs (held for a run)
//   a_frac, b_frac : fractional bits of a and b (signed), |a_frac - b_frac| <= ALIGN_MAX
//   out_frac       : fractional bits of y (signed)
//   out_width      : width of y's format, 2 .. OUT_W: results saturate to it, sign-extended to OUT_W bits
//   words          : words in the run: y_tlast marks the beat holding word words-1 (then the count restarts)
//
// Streams (AXI4-Stream style): a_*, b_* in (a beat is taken when both are valid), y_* out (with y_tlast);
// lane i in bits [i*W +: W].  Words of the last beat past `words` are computed like the others (0 + 0 = 0
// when padded with zeros).
`default_nettype none
module hwmoe_add #(
    parameter integer LANES     = 2,
    parameter integer A_W       = 32,
    parameter integer B_W       = 32,
    parameter integer OUT_W     = 32,
    parameter integer ALIGN_MAX = 16,
    parameter integer WORDS_W   = 24,
    // derived (do not override)
    parameter integer FRAC_B    = 8
) (
    input  wire                   clk,
    input  wire                   rst,
    input  wire signed [FRAC_B-1:0] a_frac,
    input  wire signed [FRAC_B-1:0] b_frac,
    input  wire signed [FRAC_B-1:0] out_frac,
    input  wire [7:0]             out_width,
    input  wire [WORDS_W-1:0]     words,
    input  wire [LANES*A_W-1:0]   a_tdata,
    input  wire                   a_tvalid,
    output wire                   a_tready,
    input  wire [LANES*B_W-1:0]   b_tdata,
    input  wire                   b_tvalid,
    output wire                   b_tready,
    output wire [LANES*OUT_W-1:0] y_tdata,
    output wire                   y_tvalid,
    input  wire                   y_tready,
    output wire                   y_tlast
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LANES < 1) begin
            $error("hwmoe_add: LANES = %0d, need at least one lane", LANES);
            $finish;
        end
        if (A_W < 2 || B_W < 2 || OUT_W < 2 || A_W > 64 || B_W > 64 || OUT_W > 64) begin
            $error("hwmoe_add: A_W = %0d, B_W = %0d, OUT_W = %0d: words need 2 to 64 bits",
                   A_W, B_W, OUT_W);
            $finish;
        end
        if (ALIGN_MAX < 0 || ALIGN_MAX > 64) begin
            $error("hwmoe_add: ALIGN_MAX = %0d, need 0..64", ALIGN_MAX);
            $finish;
        end
        if (WORDS_W < 1 || WORDS_W > 31) begin
            $error("hwmoe_add: WORDS_W = %0d, need 1..31 bits", WORDS_W);
            $finish;
        end
    end

    localparam integer SH_W    = ALIGN_MAX > 0 ? $clog2(ALIGN_MAX + 1) : 1;
    localparam integer WIDTH_B = $clog2(OUT_W + 1);       // out_width 2 .. OUT_W
    localparam integer SHIFT_B = FRAC_B + 2;              // f - out_frac of FRAC_B-bit fields, with room

    // ---- run-time shifts, shared by the lanes (SHIFT_B-bit signed arithmetic on FRAC_B-bit fields)
    wire signed [SHIFT_B-1:0] fa = {{2{a_frac[FRAC_B-1]}}, a_frac};
    wire signed [SHIFT_B-1:0] fb = {{2{b_frac[FRAC_B-1]}}, b_frac};
    wire signed [SHIFT_B-1:0] fo = {{2{out_frac[FRAC_B-1]}}, out_frac};
    wire signed [SHIFT_B-1:0] f  = (fa > fb) ? fa : fb;
    /* verilator lint_off UNUSEDSIGNAL */
    wire signed [SHIFT_B-1:0] a_align = f - fa;                   // 0 .. ALIGN_MAX for a legal run
    wire signed [SHIFT_B-1:0] b_align = f - fb;
    wire [7:0] out_width_all = out_width;                 // a legal out_width (<= OUT_W) fits WIDTH_B bits
    /* verilator lint_on UNUSEDSIGNAL */
    wire signed [SHIFT_B-1:0] out_shift = f - fo;         // > 0: right (rounding), < 0: left

    // ---- handshakes: a beat is taken when both operands are valid
    wire advance;
    wire both_valid = a_tvalid && b_tvalid;
    wire take_ready;
    assign a_tready = take_ready && b_tvalid;
    assign b_tready = take_ready && a_tvalid;
    hwmoe_pipe_valid #(.LATENCY(2)) u_valid (
        .clk(clk), .rst(rst), .x_tvalid(both_valid), .x_tready(take_ready), .y_tvalid(y_tvalid),
        .y_tready(y_tready), .advance(advance)
    );

    // ---- y_tlast: words sent so far in the run
    reg [WORDS_W:0] sent;
    wire [WORDS_W:0] sent_next = sent + LANES[WORDS_W:0];
    assign y_tlast = sent_next >= {1'b0, words};
    always @(posedge clk) begin
        if (rst) sent <= {(WORDS_W+1){1'b0}};
        else if (y_tvalid && y_tready) sent <= y_tlast ? {(WORDS_W+1){1'b0}} : sent_next;
    end

    genvar i;
    generate
        for (i = 0; i < LANES; i = i + 1) begin : g_lane
            hwmoe_add_lane #(.A_W(A_W), .B_W(B_W), .OUT_W(OUT_W), .ALIGN_MAX(ALIGN_MAX), .SHIFT_B(SHIFT_B))
                u_lane (
                .clk(clk), .en(advance),
                .a(a_tdata[i*A_W +: A_W]), .b(b_tdata[i*B_W +: B_W]),
                .a_shift(a_align[SH_W-1:0]), .b_shift(b_align[SH_W-1:0]),
                .shift(out_shift), .out_width(out_width_all[WIDTH_B-1:0]),
                .y(y_tdata[i*OUT_W +: OUT_W])
            );
        end
    endgenerate
endmodule
`default_nettype wire
