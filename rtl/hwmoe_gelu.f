hwmoe_requant.v
hwmoe_gelu_lane.v
hwmoe_gelu.v
