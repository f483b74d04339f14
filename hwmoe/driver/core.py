"""The driver's logic, written once as a sequence of backend operations.

Why a sequence: the simulation backend is asynchronous (cocotb: every register access takes clock cycles) and
the board backends are synchronous (pynq, pyxrt).  The driver's steps are generators that yield :class:`Op`s
and receive their results, so one text serves both: :func:`run` carries them out on a synchronous backend,
:func:`drive` on an asynchronous one, and either records every operation into a trace when given one.

A backend has six methods, plain or ``async``:

- ``alloc(size) -> address``: a buffer of ``size`` bytes that the accelerator reaches at bus ``address``;
- ``write_mem(offset, data)`` / ``read_mem(offset, size) -> bytes``: the buffer, as the device sees it;
- ``write_reg(offset, value)`` / ``read_reg(offset) -> int``: a 32-bit AXI4-Lite register;
- ``wait() -> int``: return when the run has ended (the interrupt, or polling STATUS) with STATUS then.
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
    """What a run left in the registers, and the bytes read after it (one entry per requested read)."""
    status: int
    error: int
    commands: int
    cycles: int
    engines: list[dict] = field(default_factory=list)   # per reg.COUNTERS: {"busy": cycles, "stall": cycles}
    data: list[bytes] = field(default_factory=list)

    def check(self, where: str) -> None:
        """A run that did not end in DONE without ERROR is refused in one line naming ``where``."""
        if self.error or self.status & (reg.STATUS_DONE | reg.STATUS_ERROR) != reg.STATUS_DONE:
            what = ERRORS.get(self.error, f"error code {self.error}") if self.error else "no DONE"
            raise UserError(f"{where}: the accelerator stopped with {what} after {self.commands} commands "
                            f"(STATUS 0x{self.status:x}); is the bitstream built from this directory?")


class Driver:
    """One accelerator and its memory image: :meth:`load` once, then :meth:`run` as often as wanted (each
    run starts from the registers and memory the last one left; no reset in between)."""

    def __init__(self, image: bytes, program: int):
        self.image = bytes(image)
        self.program = program

    def load(self):
        """Allocate the buffer, check the accelerator's ID, write the image, point BASE and PROG at it."""
        base = yield Op("alloc", (len(self.image),))
        ident = yield Op("read_reg", (reg.ID,))
        if ident != reg.ID_VALUE:
            raise UserError(f"the device's registers read ID 0x{ident:08x}, not an hwmoe accelerator's "
                            f"0x{reg.ID_VALUE:08x}")
        yield Op("write_mem", (0, self.image))
        yield Op("write_reg", (reg.BASE_LO, base & 0xFFFF_FFFF))
        yield Op("write_reg", (reg.BASE_HI, base >> 32))
        yield Op("write_reg", (reg.PROG, self.program))

    def run(self, writes=(), reads=()):
        """Write ``writes`` ((offset, bytes) into the image), start, wait, read the registers and ``reads``
        ((offset, size) of the image), clear DONE (and so the interrupt); returns the :class:`Result`."""
        for offset, data in writes:
            yield Op("write_mem", (offset, bytes(data)))
        yield Op("write_reg", (reg.CTRL, reg.CTRL_START | reg.CTRL_IRQ_EN))
        status = yield Op("wait")
        error = yield Op("read_reg", (reg.ERROR,))
        commands = yield Op("read_reg", (reg.COMMANDS,))
        cycles = yield from _read64(reg.CYCLES_LO)
        engines = []
        for e in range(len(reg.COUNTERS)):
            at = reg.ENGINE0 + reg.ENGINE_STRIDE * e
            busy = yield from _read64(at)
            stall = yield from _read64(at + 8)
            engines.append({"busy": busy, "stall": stall})
        data = []
        for offset, size in reads:
            data.append((yield Op("read_mem", (offset, size))))
        yield Op("write_reg", (reg.STATUS, reg.STATUS_DONE))
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
