// hwmoe_pipe_valid: the valid/ready control of a fixed-latency pipeline that stalls as a whole.
// The datapath registers advance (take their input) when `advance` is high: whenever the last stage is empty
// or its word is taken downstream.  A word accepted on x_* leaves on y_* LATENCY advances later; one word
// per cycle without back-pressure.
//
// Parameters
//   LATENCY : register stages of the datapath (>= 1)
//
// Ports: x_tvalid/x_tready in, y_tvalid/y_tready out (the handshakes of the datapath's streams), advance out
// (the datapath's register enable).
`default_nettype none
module hwmoe_pipe_valid #(
    parameter integer LATENCY = 2
) (
    input  wire clk,
    input  wire rst,
    input  wire x_tvalid,
    output wire x_tready,
    output wire y_tvalid,
    input  wire y_tready,
    output wire advance
);
    // parameter guard: an illegal combination stops simulation at time 0 and fails synthesis
    initial begin
        if (LATENCY < 1) begin
            $error("hwmoe_pipe_valid: LATENCY = %0d, need at least one stage", LATENCY);
            $finish;
        end
    end

    reg [LATENCY-1:0] stage_valid;          // bit i: stage i+1 holds a word
    assign advance  = !stage_valid[LATENCY-1] || y_tready;
    assign x_tready = advance;
    assign y_tvalid = stage_valid[LATENCY-1];

    generate
        if (LATENCY > 1) begin : g_shift
            always @(posedge clk) begin
                if (rst) stage_valid <= {LATENCY{1'b0}};
                else if (advance) stage_valid <= {stage_valid[LATENCY-2:0], x_tvalid};
            end
        end else begin : g_single
            always @(posedge clk) begin
                if (rst) stage_valid <= 1'b0;
                else if (advance) stage_valid <= x_tvalid;
            end
        end
    endgenerate
endmodule
`default_nettype wire
