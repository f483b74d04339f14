"""The driver's logic, written once as a sequence of backend operations.

Why a sequence: the simulation backend is asynchronous (cocotb: every register access takes clock cycles) and
the board backends are synchronous (pynq, pyxrt).  The driver's steps are generators that yield :class:`Op`s
and receive their results, so one text serves both: :func:`run` carries them out on a synchronous backend,
:func:`drive` on an asynchronous one, and either records every operation into a trace when given one.

A backend has six methods, plain or ``async``:

- ``alloc(size) -> address``: a buffer of ``size`` bytes that the accelerator reaches at bus ``address``;
- ``write_mem(offset, data)`` / ``read_mem(offset, size) -> bytes``: the buffer, as the device sees it;
- ``write_reg(offset, value)`` / ``read_reg(offset) -> int``: a 32-bit AXI4-Lite register;
- ``wait() -> int``: return when the run has ended (the interrupt, or polling AP_CTRL) with the AP_CTRL read
  that shows ap_done (the read clears it).

The registers are the one map of both tops (:mod:`hwmoe.accel.registers`, Vitis's ``ap_ctrl_hs`` layout); the
driver is told which top the device holds (``top``: ``rtl``, the default, or ``hls``) only because the RTL
top alone has the run counters and a readable ID before its first run.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from ..accel import registers as reg
from ..errors import UserError

ERRORS = {1: "an opcode of no built engine", 2: "an AXI read error", 3: "an AXI write error"}


@dataclass(frozen=True)
class Op:
    """One backend call: the method's name and its arguments."""
    name: str
    args: tuple = ()


@dataclass
class Result:
    """What a run left in the registers, and the bytes read after it (one entry per requested read).  The HLS
    top has no counters: ``cycles`` None and ``engines`` empty."""
    status: int             # AP_CTRL as read at the run's end
    error: int
    commands: int
    cycles: int | None
    engines: list[dict] = field(default_factory=list)   # per reg.COUNTERS: {"busy": cycles, "stall": cycles}
    data: list[bytes] = field(default_factory=list)

    def check(self, where: str) -> None:
        """A run that did not end (ap_done) without ERROR is refused in one line naming ``where``."""
        if self.error or not self.status & reg.AP_DONE:
            what = ERRORS.get(self.error, f"error code {self.error}") if self.error else "no ap_done"
            raise UserError(f"{where}: the accelerator stopped with {what} after {self.commands} commands "
                            f"(AP_CTRL 0x{self.status:x}); is the bitstream built from this directory?")


def check_id(ident: int) -> None:
    """The ID register of an hwmoe accelerator, or a one-line refusal."""
    if ident != reg.ID_VALUE:
        raise UserError(f"the device's registers read ID 0x{ident:08x}, not an hwmoe accelerator's "
                        f"0x{reg.ID_VALUE:08x}")


class Driver:
    """One accelerator and its memory image: :meth:`load` once, then :meth:`run` as often as wanted (each
    run starts from the registers and memory the last one left; no reset in between).  ``top``: ``rtl`` or
    ``hls``, the top the device was built from."""

    def __init__(self, image: bytes, program: int, top: str = "rtl"):
        if top not in reg.TOPS:
            raise UserError(f"top {top!r}: expected one of {', '.join(reg.TOPS)}")
        self.image = bytes(image)
        self.program = program
        self.top = top

    def load(self):
        """Allocate the buffer, check the ID (the RTL top's; the HLS top writes its ID in a run, checked after
        each), write the image, point BASE and PROG at it, enable the ap_done interrupt (GIE, IER)."""
        base = yield Op("alloc", (len(self.image),))
        if self.top == "rtl":
            check_id((yield Op("read_reg", (reg.ID,))))
        yield Op("write_mem", (0, self.image))
        yield Op("write_reg", (reg.BASE_LO, base & 0xFFFF_FFFF))
        yield Op("write_reg", (reg.BASE_HI, base >> 32))
        yield Op("write_reg", (reg.PROG, self.program))
        yield Op("write_reg", (reg.GIE, reg.GIE_ENABLE))
        yield Op("write_reg", (reg.IER, reg.IRQ_DONE))

    def run(self, writes=(), reads=()):
        """Write ``writes`` ((offset, bytes) into the image), start, wait (the AP_CTRL read there clears
        ap_done), read ERROR, COMMANDS, ID, the counters (RTL top) and ``reads`` ((offset, size) of the image),
        clear ISR (and so the interrupt); returns the :class:`Result`."""
        for offset, data in writes:
            yield Op("write_mem", (offset, bytes(data)))
        yield Op("write_reg", (reg.AP_CTRL, reg.AP_START))
        status = yield Op("wait")
        error = yield Op("read_reg", (reg.ERROR,))
        commands = yield Op("read_reg", (reg.COMMANDS,))
        check_id((yield Op("read_reg", (reg.ID,))))
        cycles, engines = None, []
        if self.top == "rtl":
            cycles = yield from _read64(reg.CYCLES_LO)
            for e in range(len(reg.COUNTERS)):
                at = reg.ENGINE0 + reg.ENGINE_STRIDE * e
                busy = yield from _read64(at)
                stall = yield from _read64(at + 8)
                engines.append({"busy": busy, "stall": stall})
        data = []
        for offset, size in reads:
            data.append((yield Op("read_mem", (offset, size))))
        isr = yield Op("read_reg", (reg.ISR,))
        yield Op("write_reg", (reg.ISR, isr))      # toggle-on-write: writing back what is set clears it
        return Result(status, error, commands, cycles, engines, data)


def _read64(lo: int):
    """A 64-bit counter: LO, then HI (the LO read holds HI, so the two are one sample)."""
    low = yield Op("read_reg", (lo,))
    high = yield Op("read_reg", (lo + 4,))
    return low | high << 32


async def drive(steps, backend, trace=None):
    """Carry out a driver's ``steps`` (a generator of :class:`Op`) on ``backend``; returns what they return.
    ``trace``: anything with ``record(op, result)``."""
    result = None
    while True:
        try:
            op = steps.send(result)
        except StopIteration as stop:
            return stop.value
        result = getattr(backend, op.name)(*op.args)
        if inspect.isawaitable(result):
            result = await result
        if trace is not None:
            trace.record(op, result)


def run(steps, backend, trace=None):
    """:func:`drive` on a synchronous backend (nothing is ever awaited, so no event loop is needed)."""
    coroutine = drive(steps, backend, trace)
    try:
        coroutine.send(None)
    except StopIteration as stop:
        return stop.value
    coroutine.close()
    raise TypeError(f"{type(backend).__name__} is asynchronous: use hwmoe.driver.core.drive")
