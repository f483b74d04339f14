hwmoe_seq.v
