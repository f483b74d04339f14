hwmoe_requant_rt.v
hwmoe_exp2_lane.v
hwmoe_recip_lane.v
hwmoe_router_softmax.v
hwmoe_router_queues.v
hwmoe_router.v
