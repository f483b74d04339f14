hwmoe_ctrl.v
