hwmoe_exp2_lane.v
hwmoe_pipe_valid.v
hwmoe_exp2.v
