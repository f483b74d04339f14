"""The accelerator's AXI4-Lite register map (rtl/hwmoe_ctrl.v; docs/accelerator.md): byte offsets of the 32-bit
registers, the order of the per-engine counters and the top's (the IP's) name, for the generator, testbenches and
drivers.  Free of the generator's dependencies, so a driver on a board imports it."""
from .engines import ENGINES

TOP = "hwmoe_accel"

CTRL, STATUS, ERROR, ID, BASE_LO, BASE_HI, PROG, COMMANDS, CYCLES_LO, CYCLES_HI = range(0, 0x28, 4)
ENGINE0 = 0x40              # ENGINE[e] at ENGINE0 + ENGINE_STRIDE * e: BUSY_LO/HI, STALL_LO/HI
ENGINE_STRIDE = 16
COUNTERS = (*ENGINES, "dma")  # ENGINE[e]: the engines in opcode order, then the DMA
ID_VALUE = 0x484D4F45       # "HMOE"

CTRL_START, CTRL_IRQ_EN = 0b01, 0b10
STATUS_BUSY, STATUS_DONE, STATUS_ERROR = 0b001, 0b010, 0b100
