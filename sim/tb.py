"""Shared cocotb testbench parts: valid/ready stream drivers and monitors with idle and back-pressure
generators, a cycle counter, and the scoreboard that compares against the reference's words exactly.

Signals are driven on the falling clock edge and sampled in the ReadOnly phase of that same edge, so a
handshake seen there happens at the next rising edge (robust on Icarus and Verilator alike)."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import numpy as np
import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


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


def pauses(rng: random.Random, p: float):
    """A cocotbext-axi pause generator: pause with probability p each cycle."""
    while True:
        yield rng.random() < p


async def check_tlast(dut, stream: str, beats: int, errors: list) -> None:
    """``<stream>_tlast`` must be high exactly on the stream's beat ``beats - 1`` (counted over the handshakes);
    a wrong beat is appended to ``errors``."""
    valid, ready, last = (getattr(dut, f"{stream}_t{s}") for s in ("valid", "ready", "last"))
    taken = 0
    while True:
        await FallingEdge(dut.clk)
        await ReadOnly()
        if int(valid.value) and int(ready.value):
            if int(last.value) != (taken == beats - 1):
                errors.append(f"{stream} beat {taken}: tlast {int(last.value)}")
            taken += 1


class Clocked:
    """Counts rising edges; ``cycle`` at a falling edge is the number of the next rising edge."""

    def __init__(self, clk):
        self.clk, self.cycle = clk, 0
        cocotb.start_soon(self._count())

    async def _count(self):
        while True:
            await RisingEdge(self.clk)
            self.cycle += 1


class StreamSource:
    """Drives ``<prefix>_tdata/_tvalid`` (+ ``_tlast`` on the last beat if present) against ``_tready``."""

    def __init__(self, dut, prefix: str, counter: Clocked, width: int, idle: float, rng: random.Random):
        self.data = getattr(dut, f"{prefix}_tdata")
        self.valid = getattr(dut, f"{prefix}_tvalid")
        self.ready = getattr(dut, f"{prefix}_tready")
        self.last = getattr(dut, f"{prefix}_tlast", None)
        self.counter, self.width, self.idle, self.rng = counter, width, idle, rng
        self.first_cycle = None
        self.valid.value = 0

    async def send(self, beats: np.ndarray):
        clk = self.counter.clk
        n = len(beats)
        i = 0
        while i < n:
            await FallingEdge(clk)
            if self.rng.random() < self.idle:
                self.valid.value = 0
                continue
            self.data.value = pack(beats[i], self.width)
            self.valid.value = 1
            if self.last is not None:
                self.last.value = int(i == n - 1)
            await ReadOnly()
            if int(self.ready.value):
                if self.first_cycle is None:
                    self.first_cycle = self.counter.cycle + 1
                i += 1
        await FallingEdge(clk)
        self.valid.value = 0


class StreamSink:
    """Accepts ``<prefix>_tdata`` beats with random back-pressure on ``_tready``."""

    def __init__(self, dut, prefix: str, counter: Clocked, width: int, lanes: int, stall: float,
                 rng: random.Random):
        self.data = getattr(dut, f"{prefix}_tdata")
        self.valid = getattr(dut, f"{prefix}_tvalid")
        self.ready = getattr(dut, f"{prefix}_tready")
        self.counter, self.width, self.lanes, self.stall, self.rng = counter, width, lanes, stall, rng
        self.beats: list[list[int]] = []
        self.last_cycle = None
        self.ready.value = 0

    async def receive(self, count: int):
        clk = self.counter.clk
        while len(self.beats) < count:
            await FallingEdge(clk)
            self.ready.value = int(self.rng.random() >= self.stall)
            await ReadOnly()
            if int(self.ready.value) and int(self.valid.value):
                self.beats.append(unpack(int(self.data.value), self.lanes, self.width))
                self.last_cycle = self.counter.cycle + 1
        await FallingEdge(clk)
        self.ready.value = 0


class TB:
    """Clock, reset, control inputs, one source per input stream and one sink per output stream."""

    def __init__(self, dut, idle: float | None = None, stall: float | None = None):
        self.dut = dut
        self.meta, self.inputs, self.expected = load_case()
        seed = int(os.environ.get("RANDOM_SEED", "1"))
        self.rng = random.Random(seed)
        idle = float(os.environ.get("HWMOE_IDLE", 0.2)) if idle is None else idle
        stall = float(os.environ.get("HWMOE_STALL", 0.2)) if stall is None else stall
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.counter = Clocked(dut.clk)
        widths = self.meta["widths"]
        self.sources = {k: StreamSource(dut, k, self.counter, widths[k], idle, self.rng) for k in self.inputs}
        self.sinks = {k: StreamSink(dut, k, self.counter, widths[k], v.shape[1], stall, self.rng)
                      for k, v in self.expected.items()}

    async def reset(self):
        self.dut.rst.value = 1
        for name, value in self.meta["config"].items():
            getattr(self.dut, name).value = int(value)
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def run(self, timeout_cycles: int | None = None):
        """Stream every input, collect every output, then score and write the result file."""
        await self.reset()
        budget = timeout_cycles or 20 * max(self.meta["predicted_cycles"], 1000)
        sinks = [cocotb.start_soon(s.receive(len(self.expected[k]))) for k, s in self.sinks.items()]
        for k, s in self.sources.items():
            cocotb.start_soon(s.send(self.inputs[k]))
        for task in sinks:
            while not task.done():
                await FallingEdge(self.dut.clk)
                if self.counter.cycle > budget:
                    self.report(timed_out=True)
                    raise AssertionError(f"timeout after {budget} cycles")
        return self.report()

    def report(self, timed_out: bool = False) -> dict:
        words = mismatches = 0
        first = ""
        for k, want in self.expected.items():
            got = np.array(self.sinks[k].beats, dtype=np.int64).reshape(-1, want.shape[1]) \
                if self.sinks[k].beats else np.zeros((0, want.shape[1]), np.int64)
            n = min(len(got), len(want))
            bad = np.argwhere(got[:n] != want[:n])
            words += want.size
            mismatches += len(bad) + (len(want) - n) * want.shape[1]
            if len(bad) and not first:
                b, lane = bad[0]
                first = f"{k} beat {b} lane {lane}: got {got[b, lane]}, expected {want[b, lane]}"
        starts = [s.first_cycle for s in self.sources.values() if s.first_cycle is not None]
        ends = [s.last_cycle for s in self.sinks.values() if s.last_cycle is not None]
        cycles = (max(ends) - min(starts) + 1) if starts and ends else 0
        result = {"bit_exact": mismatches == 0 and not timed_out, "words": words, "mismatches": mismatches,
                  "measured_cycles": cycles, "first_mismatch": first}
        run_dir = Path(os.environ["HWMOE_CASE"])
        if not result["bit_exact"]:     # keep what came out beside the case (the run directory is kept)
            np.savez(run_dir / "got.npz", **{k: np.array(s.beats, dtype=np.int64) for k, s in self.sinks.items()})
        (run_dir / "result.json").write_text(json.dumps(result))
        return result
