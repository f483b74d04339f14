hwmoe_scratch.v
