hwmoe_rsqrt.v
hwmoe_requant_rt.v
hwmoe_layernorm_lane.v
hwmoe_layernorm.v
