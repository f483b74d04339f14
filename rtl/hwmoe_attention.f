hwmoe_requant.v
hwmoe_exp2.v
hwmoe_recip.v
hwmoe_attention_lane.v
hwmoe_attention_norm.v
hwmoe_attention_row.v
hwmoe_attention.v
