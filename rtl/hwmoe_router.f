hwmoe_requant.v
hwmoe_exp2.v
hwmoe_recip.v
hwmoe_router_softmax.v
hwmoe_router_queues.v
hwmoe_router.v
