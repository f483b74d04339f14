"""The whole-model accelerator hwmoe_accel: its DMA address model (and, from the lead, the program compiler)."""
