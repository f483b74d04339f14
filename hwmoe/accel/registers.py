"""The accelerator's AXI4-Lite register map, one for both tops (rtl/hwmoe_ctrl.v and the HLS top's pragmas,
hwmoe/backends/hls/accel.py; docs/accelerator.md): byte offsets of the 32-bit registers, their bits, the order
of the RTL top's per-engine counters, the top's (the IP's) name and the name of the Vitis RTL kernel around it.

Why this layout: it is what Vitis HLS gives an ``ap_ctrl_hs`` function on ``s_axilite`` (AP_CTRL, GIE, IER, ISR at
0x00-0x0C; each argument from 0x10 on, one 32-bit word per 32 data bits plus one word for its port protocol: an
input's reserved word, an output's ap_vld word), so XRT, PYNQ and Vitis's generated drivers understand both
tops and one host driver drives either.  The arguments sit where Vitis itself would put them in this order; the
HLS top pins them there (``offset=``), the RTL decodes the same offsets.  The RTL top's run counters (C code has
no clock: the HLS top has none) lie above every offset of the shared part.
Free of the generator's dependencies, so a driver on a board imports it."""
from .engines import ENGINES

TOP = "hwmoe_accel"
KERNEL = "hwmoe_kernel"      # the top under a Vitis RTL kernel's interface names (hwmoe.accel.vendor)
TOPS = ("rtl", "hls")        # which top a bitstream holds: the RTL top has the counters, the HLS top not

# block-level control (Vitis ap_ctrl_hs)
AP_CTRL, GIE, IER, ISR = 0x00, 0x04, 0x08, 0x0C
AP_START, AP_DONE, AP_IDLE, AP_READY = 0x1, 0x2, 0x4, 0x8     # AP_CTRL bits; ap_done/ap_ready clear on read
AP_INTERRUPT = 0x200         # AP_CTRL bit 9: the interrupt line (read only)
GIE_ENABLE = 0x1
IRQ_DONE = 0x1               # IER / ISR bit 0: the ap_done interrupt (ISR toggles on a write of 1)

# the function's arguments: inputs (BASE a 64-bit pointer, PROG), then the outputs, each output's word followed
# by its ap_vld word (bit 0 set when the run wrote it, cleared by reading that word)
ARGUMENTS = {"base": (0x10, 64, "in"), "prog": (0x1C, 32, "in"),
             "error": (0x24, 32, "out"), "commands": (0x2C, 32, "out"), "id": (0x34, 32, "out")}
BASE_LO = ARGUMENTS["base"][0]
BASE_HI = BASE_LO + 4
PROG, ERROR, COMMANDS, ID = (ARGUMENTS[a][0] for a in ("prog", "error", "commands", "id"))
VLD = 4                      # an output's ap_vld word: at its data word + VLD

# RTL top only, above the arguments: 64-bit run counters (LO then HI)
CYCLES_LO, CYCLES_HI = 0x40, 0x44
ENGINE0 = 0x80               # ENGINE[e] at ENGINE0 + ENGINE_STRIDE * e: BUSY_LO/HI, STALL_LO/HI
ENGINE_STRIDE = 16
COUNTERS = (*ENGINES, "dma")  # ENGINE[e]: the engines in opcode order, then the DMA
ID_VALUE = 0x484D4F45       # "HMOE"
