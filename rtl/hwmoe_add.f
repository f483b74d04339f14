hwmoe_pipe_valid.v
hwmoe_requant_runtime.v
hwmoe_add_lane.v
hwmoe_add.v
