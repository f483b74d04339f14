"""XRT backend (Alveo cards): ``pyxrt`` loads the xclbin on the device, the accelerator is a user-managed
kernel (``pyxrt.ip``: its AXI4-Lite registers, which follow ap_ctrl_hs, but XRT does not schedule it), the
image one buffer object in the memory bank the accelerator's AXI master is connected to (``bo.write`` + sync
to the device, sync from the device + ``bo.read``).  The run's end is found by polling AP_CTRL."""
from __future__ import annotations

from ..accel import registers as reg
from .board import TIMEOUT_S, PollingBackend, vendor_module


class XrtBackend(PollingBackend):
    """``xclbin``: the container built with the accelerator as a user-managed RTL kernel; ``ip``: its name
    in the xclbin (``hwmoe_kernel``, the kernel ``hwmoe build`` packages, or ``hwmoe_kernel:{instance}`` when
    there are several); ``bank``: the memory bank (group) index of its AXI master's connection; ``device``: the
    card's index."""

    def __init__(self, xclbin: str, ip: str | None = None, bank: int = 0, device: int = 0,
                 timeout: float = TIMEOUT_S):
        self.pyxrt = vendor_module("pyxrt", "it comes with XRT: source /opt/xilinx/xrt/setup.sh")
        self.device = self.pyxrt.device(device)
        uuid = self.device.load_xclbin(xclbin)
        self.ip = self.pyxrt.ip(self.device, uuid, ip or reg.KERNEL)
        self.bank, self.timeout = bank, timeout
        self.bo = None

    def alloc(self, size: int) -> int:
        self.bo = self.pyxrt.bo(self.device, size, self.pyxrt.bo.normal, self.bank)
        return int(self.bo.address())

    def write_mem(self, offset: int, data: bytes) -> None:
        self.bo.write(data, offset)
        self.bo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_TO_DEVICE, len(data), offset)

    def read_mem(self, offset: int, size: int) -> bytes:
        self.bo.sync(self.pyxrt.xclBOSyncDirection.XCL_BO_SYNC_BO_FROM_DEVICE, size, offset)
        return bytes(self.bo.read(size, offset))

    def read_reg(self, offset: int) -> int:
        return int(self.ip.read_register(offset))

    def write_reg(self, offset: int, value: int) -> None:
        self.ip.write_register(offset, value)
