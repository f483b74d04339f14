hwmoe_requant.v
hwmoe_gelu_lane.v
hwmoe_pipe_valid.v
hwmoe_gelu.v
