hwmoe_recip_lane.v
hwmoe_pipe_valid.v
hwmoe_recip.v
