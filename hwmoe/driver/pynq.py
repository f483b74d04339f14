"""PYNQ backend (Zynq boards): ``pynq.Overlay`` loads the bitstream, the accelerator's registers are the MMIO
of its IP in the overlay, the image lives in one physically contiguous ``pynq.allocate`` buffer (flushed to
the device after each write, invalidated before each read).  The run's end is found by polling AP_CTRL: the
``irq`` output needs an interrupt controller in the block design, which the driver does not assume."""
from __future__ import annotations

import numpy as np

from ..accel import registers as reg
from ..errors import UserError
from .board import TIMEOUT_S, PollingBackend, vendor_module


class PynqBackend(PollingBackend):
    """``bitstream``: the .bit (with its .hwh beside it, as PYNQ wants); ``ip``: the accelerator's instance
    name in the block design (default: the one IP whose type is ``...:hwmoe_accel:...``)."""

    def __init__(self, bitstream: str, ip: str | None = None, timeout: float = TIMEOUT_S):
        self.pynq = vendor_module("pynq", "it comes with the board's PYNQ image: pip install pynq")
        overlay = self.pynq.Overlay(bitstream)
        name = ip or _accelerator(overlay.ip_dict, bitstream)
        if name not in overlay.ip_dict:
            raise UserError(f"{bitstream}: no IP {name!r} in the overlay (it has {', '.join(overlay.ip_dict)})")
        info = overlay.ip_dict[name]
        self.mmio = self.pynq.MMIO(info["phys_addr"], info["addr_range"])
        self.timeout = timeout
        self.buffer = None

    def alloc(self, size: int) -> int:
        self.buffer = self.pynq.allocate(shape=(size,), dtype=np.uint8)
        return int(self.buffer.physical_address)

    def write_mem(self, offset: int, data: bytes) -> None:
        self.buffer[offset:offset + len(data)] = np.frombuffer(data, np.uint8)
        self.buffer.sync_to_device()

    def read_mem(self, offset: int, size: int) -> bytes:
        self.buffer.sync_from_device()
        return bytes(self.buffer[offset:offset + size])

    def read_reg(self, offset: int) -> int:
        return int(self.mmio.read(offset))

    def write_reg(self, offset: int, value: int) -> None:
        self.mmio.write(offset, value)


def _accelerator(ip_dict: dict, bitstream: str) -> str:
    """The instance whose IP type (vendor:library:name:version) is named after the accelerator's top."""
    found = [n for n, info in ip_dict.items() if str(info.get("type", "")).split(":")[2:3] == [reg.TOP]]
    if len(found) != 1:
        raise UserError(f"{bitstream}: {len(found) or 'no'} IPs of type {reg.TOP} in the overlay; "
                        f"name the accelerator's with --ip")
    return found[0]
