// hwmoe_ctrl: the accelerator's control registers, an AXI4-Lite slave (32-bit data, 12-bit byte address),
// and the run counters.  The map is Vitis HLS's for an ap_ctrl_hs function on s_axilite, the HLS top's map
// (hwmoe/accel/registers.py is the one definition; docs/accelerator.md):
//
//   offset      name          access  meaning
//   0x00        AP_CTRL       RW      bit0 ap_start (write 1: start a run; reads 1 until the run has started; writing
//                                     0 does nothing), bit1 ap_done (set when a run ends, cleared by reading 0x00),
//                                     bit2 ap_idle (no run), bit3 ap_ready (set when a run starts, cleared by
//                                     reading 0x00), bit9 the interrupt (read only)
//   0x04        GIE           RW      bit0 global interrupt enable
//   0x08        IER           RW      bit0 ap_done interrupt enable
//   0x0C        ISR           R/TOW   bit0 ap_done interrupt status: set when a run ends while IER bit0 is set;
//                                     writing 1 toggles it
//   0x10/0x14   BASE_LO/HI    RW      byte address of the memory image (bits at and above ADDR_W read 0); 0x18 reserved
//   0x1C        PROG          RW      offset of the program in the image; 0x20 reserved
//   0x24/0x28   ERROR, ap_vld RO      first error code of the run (0 none), cleared by a start; ap_vld word (bit0)
//   0x2C/0x30   COMMANDS, vld RO      commands completed in the run (command_done pulses), cleared by a start
//   0x34/0x38   ID, ap_vld    RO      0x484D4F45 ("HMOE")
//   0x40/0x44   CYCLES_LO/HI  RO      cycles from the start to the end of the last run
//   0x80+16*e   ENGINE[e]     RO      +0/+4 BUSY_LO/HI: cycles with engine_busy[e]; +8/+C STALL_LO/HI: of those,
//                                     cycles without engine_moved[e]; e < ENGINES
//   irq = GIE & IER[0] & ISR[0].  An ap_vld word reads 1 from the end of a run until it is read (clear on read),
//   as Vitis's output registers.  Unmapped addresses read 0 and answer OKAY; writes to read-only registers
//   (and the read-only bits of AP_CTRL) are ignored.  Write strobes select the bytes written.  When a flag's
//   setting event and its clearing access meet in one cycle, the flag is set (no run end is lost).
//
// A run: ap_start stays set from its write until the accelerator is idle; then `start` pulses for one cycle,
// clearing ap_start, ERROR, COMMANDS, CYCLES and every engine counter and setting ap_ready.  So ap_start
// written during a run starts the next run when this one ends (Vitis's handshake).  The run lasts until
// `done_pulse` (which sets ap_done, the ap_vld words and, with IER bit0, ISR bit0); the sequencer must end an
// aborted run with `done_pulse` too.  ap_idle is low from the start pulse until `done_pulse`, and whenever the
// `busy` input is.  CYCLES counts the cycles after the `start` cycle up to and including the `done_pulse` cycle.
//
// 64-bit counters read LO then HI: a read of a counter's LO word copies that counter's HI word, taken in the
// same cycle, into a holding register; a read of the HI word of the counter whose LO word was read last
// returns the holding register, so the LO/HI pair is one 64-bit sample although the counter keeps running.
// A HI word read without its LO word first returns the live HI word.
//
// AXI4-Lite: a write is taken when AW and W are both valid (and no unaccepted B response is pending), a read
// when AR is valid (and no unaccepted R response is pending); one transfer per cycle each way; responses are
// always OKAY.  awaddr/araddr bits [1:0] are ignored (word registers).
//
// Parameters
//   ENGINES : engines with BUSY/STALL counters (1..248: their registers must fit the 4 KiB map)
//   ADDR_W  : bits of the memory image's base address kept in BASE and driven on `base` (1..64)
//
// Ports (besides the AXI4-Lite slave s_axil_*)
//   clk, rst        : clock, synchronous active-high reset
//   start           : out, one-cycle pulse: run the program at `prog` of the image at `base`
//   base, prog      : out, BASE (ADDR_W bits) and PROG
//   irq             : out, GIE & IER[0] & ISR[0]
//   busy            : in, the sequencer is working (ap_idle low)
//   done_pulse      : in, one-cycle pulse: the run ended
//   error_valid     : in, one-cycle pulse with error_code: an error happened (the first one of a run is kept)
//   error_code      : in, 8-bit error code (1 an opcode of no built engine, 2 AXI read error, 3 AXI write error)
//   command_done    : in, one-cycle pulse per completed command (counted in COMMANDS)
//   engine_busy[e]  : in, engine e has a command running this cycle
//   engine_moved[e] : in, a beat moved on one of engine e's streams this cycle
`default_nettype none
module hwmoe_ctrl #(
    parameter integer ENGINES = 6,
    parameter integer ADDR_W  = 40
) (
    input  wire               clk,
    input  wire               rst,
    // AXI4-Lite slave
    input  wire [11:0]        s_axil_awaddr,
    input  wire               s_axil_awvalid,
    output wire               s_axil_awready,
    input  wire [31:0]        s_axil_wdata,
    input  wire [3:0]         s_axil_wstrb,
    input  wire               s_axil_wvalid,
    output wire               s_axil_wready,
    output wire [1:0]         s_axil_bresp,
    output reg                s_axil_bvalid,
    input  wire               s_axil_bready,
    input  wire [11:0]        s_axil_araddr,
    input  wire               s_axil_arvalid,
    output wire               s_axil_arready,
    output reg  [31:0]        s_axil_rdata,
    output wire [1:0]         s_axil_rresp,
    output reg                s_axil_rvalid,
    input  wire               s_axil_rready,
    // toward the accelerator
    output reg                start,
    output wire [ADDR_W-1:0]  base,
    output wire [31:0]        prog,
    output wire               irq,
    input  wire               busy,
    input  wire               done_pulse,
    input  wire               error_valid,
    input  wire [7:0]         error_code,
    input  wire               command_done,
    input  wire [ENGINES-1:0] engine_busy,
    input  wire [ENGINES-1:0] engine_moved
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (ENGINES < 1 || ENGINES > 248) begin
            $error("hwmoe_ctrl: ENGINES = %0d, need 1..248 (engine registers end below 0x1000)", ENGINES);
            $finish;
        end
        if (ADDR_W < 1 || ADDR_W > 64) begin
            $error("hwmoe_ctrl: ADDR_W = %0d, need 1..64 address bits", ADDR_W);
            $finish;
        end
    end

    localparam [31:0] ID = 32'h484D4F45;
    // word addresses (byte offset / 4)
    localparam [9:0] A_AP_CTRL = 10'h000, A_GIE = 10'h001, A_IER = 10'h002, A_ISR = 10'h003,
                     A_BASE_LO = 10'h004, A_BASE_HI = 10'h005, A_PROG = 10'h007,
                     A_ERROR = 10'h009, A_ERROR_VLD = 10'h00A, A_COMMANDS = 10'h00B, A_COMMANDS_VLD = 10'h00C,
                     A_ID = 10'h00D, A_ID_VLD = 10'h00E,
                     A_CYCLES_LO = 10'h010, A_CYCLES_HI = 10'h011, A_ENGINE0 = 10'h020;
    // 64-bit counters: 0 CYCLES, 1 + 2e BUSY of engine e, 2 + 2e STALL of engine e
    localparam integer COUNTERS = 2 * ENGINES + 1;
    localparam integer CNT_W    = $clog2(COUNTERS);
    localparam integer ENGINE_END = 32 + 4 * ENGINES;           // first word address after the engines

    // ---- registers
    reg               ap_start, ap_done, ap_ready, running, gie, ier, isr;
    reg  [2:0]        vld;                                      // ap_vld of ERROR, COMMANDS, ID
    reg  [7:0]        error;
    reg  [63:0]       base_reg;
    reg  [31:0]       prog_reg, commands;
    wire              ap_idle = !(start || running || busy);

    // ---- counters, flattened: counter k in counter_values[64*k +: 64]
    reg  [63:0]       cycles;
    reg  [64*ENGINES-1:0] busy_count, stall_count;
    wire [64*COUNTERS-1:0] counter_values;
    assign counter_values[63:0] = cycles;
    genvar e;
    generate
        for (e = 0; e < ENGINES; e = e + 1) begin : g_engine
            assign counter_values[64*(1+2*e) +: 64] = busy_count[64*e +: 64];
            assign counter_values[64*(2+2*e) +: 64] = stall_count[64*e +: 64];
            always @(posedge clk) begin
                if (rst || start) begin
                    busy_count[64*e +: 64]  <= 64'd0;
                    stall_count[64*e +: 64] <= 64'd0;
                end else if (engine_busy[e]) begin
                    busy_count[64*e +: 64] <= busy_count[64*e +: 64] + 64'd1;
                    if (!engine_moved[e]) stall_count[64*e +: 64] <= stall_count[64*e +: 64] + 64'd1;
                end
            end
        end
    endgenerate

    // ---- AXI4-Lite write channel
    wire       wr_take = s_axil_awvalid && s_axil_wvalid && (!s_axil_bvalid || s_axil_bready);
    wire [9:0] wr_word = s_axil_awaddr[11:2];
    assign s_axil_awready = wr_take;
    assign s_axil_wready  = wr_take;
    assign s_axil_bresp   = 2'b00;

    // the 32-bit register `old` with the strobed bytes of the write data replaced
    function [31:0] merged(input [31:0] old, input [31:0] data, input [3:0] strobe);
        integer i;
        begin
            for (i = 0; i < 4; i = i + 1) merged[8*i +: 8] = strobe[i] ? data[8*i +: 8] : old[8*i +: 8];
        end
    endfunction

    // writes of bit 0 (byte 0 strobed) of the control words
    wire wr_bit0  = wr_take && s_axil_wstrb[0];
    wire wr_start = wr_bit0 && wr_word == A_AP_CTRL && s_axil_wdata[0];
    wire wr_isr   = wr_bit0 && wr_word == A_ISR && s_axil_wdata[0];
    wire [63:0] base_written = {wr_word == A_BASE_HI ? merged(base_reg[63:32], s_axil_wdata, s_axil_wstrb)
                                                     : base_reg[63:32],
                                wr_word == A_BASE_LO ? merged(base_reg[31:0], s_axil_wdata, s_axil_wstrb)
                                                     : base_reg[31:0]};
    // BASE keeps ADDR_W bits: the others stay 0
    wire [63:0] base_mask = (ADDR_W == 64) ? {64{1'b1}} : ((64'd1 << ADDR_W) - 64'd1);

    always @(posedge clk) begin
        if (rst) begin
            s_axil_bvalid <= 1'b0;
            gie           <= 1'b0;
            ier           <= 1'b0;
            base_reg      <= 64'd0;
            prog_reg      <= 32'd0;
        end else begin
            if (wr_take) s_axil_bvalid <= 1'b1;
            else if (s_axil_bready) s_axil_bvalid <= 1'b0;
            if (wr_bit0 && wr_word == A_GIE) gie <= s_axil_wdata[0];
            if (wr_bit0 && wr_word == A_IER) ier <= s_axil_wdata[0];
            if (wr_take && (wr_word == A_BASE_LO || wr_word == A_BASE_HI)) base_reg <= base_written & base_mask;
            if (wr_take && wr_word == A_PROG) prog_reg <= merged(prog_reg, s_axil_wdata, s_axil_wstrb);
        end
    end
    assign base = base_reg[ADDR_W-1:0];
    assign prog = prog_reg;

    // reads that clear flags: AP_CTRL (ap_done, ap_ready) and the ap_vld words
    wire       rd_take = s_axil_arvalid && (!s_axil_rvalid || s_axil_rready);
    wire [9:0] rd_word = s_axil_araddr[11:2];
    wire       rd_ctrl = rd_take && rd_word == A_AP_CTRL;
    wire [2:0] rd_vld  = {3{rd_take}} & {rd_word == A_ID_VLD, rd_word == A_COMMANDS_VLD, rd_word == A_ERROR_VLD};

    // ---- runs: ap_start, ap_done, ap_ready, ISR, ap_vld, ERROR, COMMANDS, CYCLES
    always @(posedge clk) begin
        if (rst) begin
            ap_start <= 1'b0;
            start    <= 1'b0;
            running  <= 1'b0;
            ap_done  <= 1'b0;
            ap_ready <= 1'b0;
            isr      <= 1'b0;
            vld      <= 3'b000;
            error    <= 8'd0;
            commands <= 32'd0;
            cycles   <= 64'd0;
        end else begin
            start <= ap_start && !start && !running && !busy;
            if (wr_start) ap_start <= 1'b1;
            else if (start) ap_start <= 1'b0;
            if (start) ap_ready <= 1'b1;
            else if (rd_ctrl) ap_ready <= 1'b0;
            if (done_pulse && !start) ap_done <= 1'b1;
            else if (rd_ctrl) ap_done <= 1'b0;
            if (done_pulse && !start && ier) isr <= 1'b1;
            else if (wr_isr) isr <= !isr;
            vld <= (done_pulse && !start) ? 3'b111 : vld & ~rd_vld;
            if (start) begin
                running  <= 1'b1;
                error    <= 8'd0;
                commands <= 32'd0;
                cycles   <= 64'd0;
            end else begin
                if (running) cycles <= cycles + 64'd1;
                if (done_pulse) running <= 1'b0;
                if (error_valid && error == 8'd0) error <= error_code;
                if (command_done) commands <= commands + 32'd1;
            end
        end
    end
    assign irq = gie && ier && isr;

    // ---- AXI4-Lite read channel
    assign s_axil_arready = rd_take;
    assign s_axil_rresp   = 2'b00;

    // which 64-bit counter the read address names, and which half
    reg              rd_counter_hit;
    reg  [CNT_W-1:0] rd_counter;
    wire [9:0]       engine_word = rd_word - A_ENGINE0;       // 4 words per engine: BUSY_LO/HI, STALL_LO/HI
    /* verilator lint_off UNUSEDSIGNAL */
    wire [10:0]      engine_counter = {2'b00, engine_word[9:1]} + 11'd1;   // <= 2 * ENGINES when used
    /* verilator lint_on UNUSEDSIGNAL */
    always @* begin
        rd_counter_hit = 1'b0;
        rd_counter     = {CNT_W{1'b0}};
        if (rd_word == A_CYCLES_LO || rd_word == A_CYCLES_HI) begin
            rd_counter_hit = 1'b1;
        end else if (rd_word >= A_ENGINE0 && {22'd0, rd_word} < ENGINE_END) begin
            rd_counter_hit = 1'b1;
            rd_counter     = engine_counter[CNT_W-1:0];
        end
    end
    wire        rd_hi_half  = rd_word[0];
    wire        unused = &{1'b0, s_axil_awaddr[1:0], s_axil_araddr[1:0], engine_word[0]};   // byte offsets
    wire [63:0] rd_counter_value = counter_values[64*rd_counter +: 64];

    // HI word of the counter whose LO word was read last, sampled with it
    reg  [31:0]      hi_hold;
    reg  [CNT_W-1:0] hi_hold_counter;
    reg              hi_hold_valid;

    reg [31:0] rd_value;
    always @* begin
        rd_value = 32'd0;
        if (rd_counter_hit) begin
            if (!rd_hi_half) rd_value = rd_counter_value[31:0];
            else if (hi_hold_valid && hi_hold_counter == rd_counter) rd_value = hi_hold;
            else rd_value = rd_counter_value[63:32];
        end else begin
            case (rd_word)
                A_AP_CTRL:      rd_value = {22'd0, irq, 5'd0, ap_ready, ap_idle, ap_done, ap_start};
                A_GIE:          rd_value = {31'd0, gie};
                A_IER:          rd_value = {31'd0, ier};
                A_ISR:          rd_value = {31'd0, isr};
                A_BASE_LO:      rd_value = base_reg[31:0];
                A_BASE_HI:      rd_value = base_reg[63:32];
                A_PROG:         rd_value = prog_reg;
                A_ERROR:        rd_value = {24'd0, error};
                A_ERROR_VLD:    rd_value = {31'd0, vld[0]};
                A_COMMANDS:     rd_value = commands;
                A_COMMANDS_VLD: rd_value = {31'd0, vld[1]};
                A_ID:           rd_value = ID;
                A_ID_VLD:       rd_value = {31'd0, vld[2]};
                default:        rd_value = 32'd0;
            endcase
        end
    end

    always @(posedge clk) begin
        if (rst) begin
            s_axil_rvalid   <= 1'b0;
            s_axil_rdata    <= 32'd0;
            hi_hold         <= 32'd0;
            hi_hold_counter <= {CNT_W{1'b0}};
            hi_hold_valid   <= 1'b0;
        end else begin
            if (rd_take) begin
                s_axil_rvalid <= 1'b1;
                s_axil_rdata  <= rd_value;
                if (rd_counter_hit && !rd_hi_half) begin
                    hi_hold         <= rd_counter_value[63:32];
                    hi_hold_counter <= rd_counter;
                    hi_hold_valid   <= 1'b1;
                end
            end else if (s_axil_rready) begin
                s_axil_rvalid <= 1'b0;
            end
        end
    end
endmodule
`default_nettype wire
