hwmoe_requant.v
hwmoe_requant_runtime.v
hwmoe_gelu_lane.v
hwmoe_linear_biasq.v
hwmoe_pad_mask.v
hwmoe_mul_outer.v
hwmoe_linear_core.v
hwmoe_linear.v
