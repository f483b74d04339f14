"""Shared cocotb testbench parts: the kernel streams driven and received by cocotbext-axi, the scoreboard that
compares against the reference's words exactly, and helpers the DMA testbench shares.

From cocotbext-axi: every ``<name>_tdata/_tvalid/_tready[/_tlast]`` stream of a kernel is an ``AxiStreamBus``;
inputs are driven by an ``AxiStreamSource`` (idle input beats from a pause generator), outputs received by an
``AxiStreamSink`` (back-pressure from a pause generator), and an ``AxiStreamMonitor`` on each input gives the
first input handshake.  A stream's lanes are the library's "bytes" (``byte_lanes`` = lanes, so a byte is one
lane of any width, lane 0 in the low bits), frames carry integer words.

Hand-written, because the library does not express it: the control inputs (formats, dims, switches: plain
wires held through reset, not streams), the sign of a lane (the library's lanes are unsigned words; the
scoreboard sign-extends), and ``pack``/``unpack``/``Clocked``, which sim/test_dma.py uses for its side
channels."""
from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Combine, FallingEdge, RisingEdge, SimTimeoutError, with_timeout
from cocotb.utils import get_time_from_sim_steps
from cocotbext.axi import AxiStreamBus, AxiStreamMonitor, AxiStreamSink, AxiStreamSource

PERIOD_NS = 10


def load_case():
    """(meta, inputs, expected) written by hwmoe.backends.rtl.simulate.save_case."""
    run_dir = Path(os.environ["HWMOE_CASE"])
    meta = json.loads((run_dir / "case.json").read_text())
    arrays = np.load(run_dir / "case.npz")
    inputs = {k: arrays[f"in.{k}"] for k in meta["inputs"]}
    expected = {k: arrays[f"exp.{k}"] for k in meta["expected"]}
    return meta, inputs, expected


def pack(words, width: int) -> int:
    """Lanes -> one bus word, lane 0 in the low bits."""
    bits, mask = abs(width), (1 << abs(width)) - 1
    value = 0
    for i, w in enumerate(np.atleast_1d(words)):
        value |= (int(w) & mask) << (i * bits)
    return value


def unpack(value: int, lanes: int, width: int) -> list[int]:
    bits, mask = abs(width), (1 << abs(width)) - 1
    out = []
    for i in range(lanes):
        w = (value >> (i * bits)) & mask
        if width < 0 and w >> (bits - 1):
            w -= 1 << bits
        out.append(w)
    return out


def signed(words: np.ndarray, width: int) -> np.ndarray:
    """Unsigned lane words as the stream's integers: sign-extended when ``width`` < 0 (a signed lane)."""
    if width >= 0:
        return words
    bits = -width
    return np.where(words >> (bits - 1), words - (1 << bits), words)


def pauses(rng: random.Random, p: float):
    """A cocotbext-axi pause generator: pause with probability p each cycle."""
    while True:
        yield rng.random() < p


class Clocked:
    """Counts rising edges; ``cycle`` at a falling edge is the number of the next rising edge."""

    def __init__(self, clk):
        self.clk, self.cycle = clk, 0
        cocotb.start_soon(self._count())

    async def _count(self):
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1


def stream_bus(dut, name: str, lanes: int, width: int) -> AxiStreamBus:
    """The stream ``name`` of the kernel, checked to carry exactly ``lanes`` lanes of ``|width|`` bits."""
    bus = AxiStreamBus.from_prefix(dut, name)
    if len(bus.tdata) != lanes * abs(width):
        raise ValueError(f"{name}_tdata has {len(bus.tdata)} bits, the case {lanes} lanes of {abs(width)}")
    return bus


class TB:
    """Clock, reset, control inputs, a source (and a monitor) per input stream and a sink per output stream.
    A stream with ``tlast`` must end its one packet on its last beat."""

    def __init__(self, dut):
        self.dut = dut
        self.meta, self.inputs, self.expected = load_case()
        self.rng = random.Random(int(os.environ.get("RANDOM_SEED", "1")))
        self.idle = float(os.environ.get("HWMOE_IDLE", 0.2))
        self.stall = float(os.environ.get("HWMOE_STALL", 0.2))
        logging.getLogger(f"cocotb.{dut._name}").setLevel(logging.WARNING)     # the library logs every frame
        cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
        self.beats = {k: [] for k in self.expected}             # output words received, lane by lane
        self.packets = {k: [] for k in self.expected}           # beats per tlast packet
        self.monitors, self.sinks = {}, {}
        self.end = None                                         # sim time (steps) of the last output beat

    async def reset(self):
        """Reset with the control inputs set and the streams idle, then attach the library's drivers."""
        dut, widths = self.dut, self.meta["widths"]
        dut.rst.value = 1
        for name, value in self.meta["config"].items():
            getattr(dut, name).value = int(value)
        for k in self.inputs:
            getattr(dut, f"{k}_tvalid").value = 0
        for k in self.expected:
            getattr(dut, f"{k}_tready").value = 0
        for _ in range(3):
            await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.rst.value = 0
        for k, beats in self.inputs.items():
            bus = stream_bus(dut, k, beats.shape[1], widths[k])
            source = AxiStreamSource(bus, dut.clk, byte_lanes=beats.shape[1])
            if self.idle:
                source.set_pause_generator(pauses(self.rng, self.idle))
            source.send_nowait(beats.reshape(-1).tolist())
            self.monitors[k] = AxiStreamMonitor(bus, dut.clk, byte_lanes=beats.shape[1])
        for k, want in self.expected.items():
            sink = AxiStreamSink(stream_bus(dut, k, want.shape[1], widths[k]), dut.clk, byte_lanes=want.shape[1])
            if self.stall:
                sink.set_pause_generator(pauses(self.rng, self.stall))
            self.sinks[k] = sink

    async def _receive(self, k: str):
        """Frames of output ``k`` (one per beat without tlast) until every expected beat has come."""
        words, lanes = self.expected[k].size, self.expected[k].shape[1]
        while len(self.beats[k]) < words:
            frame = await self.sinks[k].recv(compact=False)
            self.beats[k].extend(frame.tdata)
            self.packets[k].append(len(frame.tdata) // lanes)
            self.end = max(self.end or 0, frame.sim_time_end)

    async def run(self):
        """Stream every input, collect every output, then score and write the result file."""
        await self.reset()
        budget = 20 * max(self.meta["predicted_cycles"], 1000)
        receiving = [cocotb.start_soon(self._receive(k)) for k in self.expected]
        try:
            await with_timeout(Combine(*receiving), budget * PERIOD_NS, "ns")
        except SimTimeoutError:
            self.report(timed_out=True)
            raise AssertionError(f"timeout after {budget} cycles") from None
        return self.report()

    def _first_input(self):
        """Sim time (steps) of the earliest first handshake over the input streams."""
        firsts = [m.recv_nowait().sim_time_start for m in self.monitors.values() if not m.empty()]
        return min(firsts) if firsts else None

    def report(self, timed_out: bool = False) -> dict:
        words = mismatches = 0
        notes, received = [], {}
        for k, want in self.expected.items():
            lanes, has_tlast = want.shape[1], hasattr(self.sinks[k].bus, "tlast")
            flat = np.array(self.beats[k][:want.size], dtype=np.int64)
            got = received[k] = signed(flat, self.meta["widths"][k]).reshape(-1, lanes)
            n = len(got)
            bad = np.argwhere(got != want[:n])
            words += want.size
            mismatches += len(bad) + (len(want) - n) * lanes
            if len(bad):
                b, lane = bad[0]
                notes.append(f"{k} beat {b} lane {lane}: got {got[b, lane]}, expected {want[b, lane]}")
            if n < len(want):
                wait = " (a packet's beats count when its tlast comes)" if has_tlast else ""
                notes.append(f"{k}: {n} of {len(want)} beats received{wait}")
            elif has_tlast and self.packets[k] != ([len(want)] if len(want) else []):    # no beats, no packet
                mismatches += 1
                notes.append(f"{k}: tlast ended packets of {self.packets[k]} beats, expected one of {len(want)}")
        start = self._first_input()
        cycles = round(get_time_from_sim_steps(self.end - start, "ns") / PERIOD_NS) + 1 \
            if start is not None and self.end is not None else 0
        result = {"bit_exact": mismatches == 0 and not timed_out, "words": words, "mismatches": mismatches,
                  "measured_cycles": cycles, "first_mismatch": "; ".join(notes)}
        run_dir = Path(os.environ["HWMOE_CASE"])
        if not result["bit_exact"]:     # keep what came out beside the case (the run directory is kept)
            np.savez(run_dir / "got.npz", **received)
        (run_dir / "result.json").write_text(json.dumps(result))
        return result
