"""What the board backends share: their vendor module imported only when used (pynq and pyxrt come with the
board's software, never as hwmoe dependencies) and the run's end found by polling AP_CTRL."""
from __future__ import annotations

import importlib
import time

from ..accel import registers as reg
from ..errors import UserError

TIMEOUT_S = 10.0        # a run on a board; the largest model here takes milliseconds


def vendor_module(name: str, install: str):
    """``import name``, or a one-line UserError saying what to install."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise UserError(f"this device needs the Python package {name!r}, which is not installed ({install})") from None


def poll(read_reg, timeout: float = TIMEOUT_S, interval: float = 1e-4) -> int:
    """Read AP_CTRL until ap_done (an aborted run ends with ap_done too); returns that read, which cleared
    ap_done.  A run that does not end within ``timeout`` seconds is refused in one line (the accelerator may
    be hung: reload the bitstream)."""
    end = time.monotonic() + timeout
    while True:
        status = read_reg(reg.AP_CTRL)
        if status & reg.AP_DONE:
            return status
        if time.monotonic() > end:
            raise UserError(f"the accelerator did not finish within {timeout:g} s (AP_CTRL 0x{status:x})")
        time.sleep(interval)


class PollingBackend:
    """A board backend's end of a run: AP_CTRL polled through the backend's own ``read_reg`` (the subclass
    sets ``timeout``)."""
    timeout: float = TIMEOUT_S

    def wait(self) -> int:
        return poll(self.read_reg, self.timeout)


def open_backend(device: str, *, bitstream: str | None = None, xclbin: str | None = None, ip: str | None = None,
                 bank: int = 0):
    """The backend of ``device`` (pynq or xrt) with its bitstream loaded; a missing file or package is one line."""
    from ..inputs import existing_file
    if device == "pynq":
        if not bitstream:
            raise UserError("--device pynq needs --bitstream FILE.bit (its .hwh beside it)")
        from .pynq import PynqBackend
        return PynqBackend(str(existing_file(bitstream, f"--bitstream {bitstream}")), ip)
    if device == "xrt":
        if not xclbin:
            raise UserError("--device xrt needs --xclbin FILE.xclbin")
        from .xrt import XrtBackend
        return XrtBackend(str(existing_file(xclbin, f"--xclbin {xclbin}")), ip, bank)
    raise UserError(f"--device {device}: expected pynq or xrt")
