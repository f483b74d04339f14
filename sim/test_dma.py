"""DMA testbenches (hwmoe_dma_reader, hwmoe_dma_writer, hwmoe_dma with its AXI arbiter) against the address
model hwmoe/accel/dma.py, with a cocotbext-axi AxiRam as the memory.

Each descriptor runs twice: stressed (random pauses on every AXI channel, random idle index beats and stream
back-pressure), every stream word and every memory byte compared with the model, including the bytes a writer
must leave alone; then clean, its cycles from the start edge to the done edge against dma.cycles() (within 2%),
with the memory's first-word latency measured on the bus.  One simulator build per parameter set, reused."""
from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hwmoe.accel import dma
from tb import Clocked, pack, pauses, unpack

MEM_SIZE = 1 << 16
BAD_FROM = MEM_SIZE - 4096          # the error tests' memory answers SLVERR from here on


# ----------------------------------------------------------------------------------------------- cocotb side

def load_case() -> dict:
    return json.loads((Path(os.environ["HWMOE_CASE"]) / "case.json").read_text())


def write_result(result: dict) -> None:
    (Path(os.environ["HWMOE_CASE"]) / "result.json").write_text(json.dumps(result))


def descriptor(fields: dict) -> dma.Descriptor:
    fields = dict(fields)
    if fields.get("indices") is not None:
        fields["indices"] = tuple(fields["indices"])
    return dma.Descriptor(**fields)


def initial_memory(seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, MEM_SIZE, dtype=np.uint8).tobytes()


def faulty(cls):
    """An AxiRam channel whose accesses at BAD_FROM and above fail (SLVERR), like a decode error."""
    class Faulty(cls):
        async def _read(self, address, length):
            if address >= BAD_FROM:
                raise ValueError("fault")
            return await super()._read(address, length)

        async def _write(self, address, data):
            if address >= BAD_FROM:
                raise ValueError("fault")
            return await super()._write(address, data)
    return Faulty


class Port:
    """One DMA engine's control and stream signals, named ``<prefix>base`` ... in the DUT."""

    def __init__(self, dut, prefix: str, counter: Clocked, rng: random.Random, lanes_max: int):
        self.dut, self.p, self.counter, self.rng, self.lanes_max = dut, prefix, counter, rng, lanes_max

    def sig(self, name):
        return getattr(self.dut, self.p + name)

    def load(self, d: dma.Descriptor, indexed: bool):
        values = {"base": d.base, "n1": d.n1, "stride1": d.stride1, "n2": d.n2, "stride2": d.stride2,
                  "words": d.words, "lanes": d.lanes, "csize": d.log2_c}
        if indexed:
            values["indexed"] = int(d.indices is not None)
        for name, value in values.items():
            self.sig(name).value = value

    async def pulse_start(self) -> int:
        """Assert start for one cycle; the rising edge that takes it."""
        await FallingEdge(self.counter.clk)
        self.sig("start").value = 1
        edge = self.counter.cycle + 1
        await FallingEdge(self.counter.clk)
        self.sig("start").value = 0
        return edge

    async def wait_done(self, budget: int) -> int:
        """The rising edge at which done is high (sampled before it)."""
        while True:
            await FallingEdge(self.counter.clk)
            await ReadOnly()
            if int(self.sig("done").value):
                edge = self.counter.cycle + 1
                await RisingEdge(self.counter.clk)
                return edge
            if self.counter.cycle > budget:
                raise AssertionError(f"{self.p or 'dut'}: no done within {budget} cycles")

    async def receive(self, stall: float) -> list[list[int]]:
        """y beats until y_tlast, with back-pressure probability ``stall``."""
        beats = []
        while True:
            await FallingEdge(self.counter.clk)
            self.sig("y_tready").value = int(self.rng.random() >= stall)
            await ReadOnly()
            if int(self.sig("y_tready").value) and int(self.sig("y_tvalid").value):
                beats.append(unpack(int(self.sig("y_tdata").value), self.lanes_max, -32))
                if int(self.sig("y_tlast").value):
                    break
        await FallingEdge(self.counter.clk)
        self.sig("y_tready").value = 0
        return beats

    async def send(self, stream: str, beats, width: int, idle: float, last: bool):
        """Drive ``stream`` with beats (tlast on the final one if ``last``) until all are taken."""
        data, valid, ready = (self.sig(f"{stream}_t{s}") for s in ("data", "valid", "ready"))
        i = 0
        while i < len(beats):
            await FallingEdge(self.counter.clk)
            if self.rng.random() < idle:
                valid.value = 0
                continue
            data.value = pack(beats[i], width)
            valid.value = 1
            if last:
                self.sig(f"{stream}_tlast").value = int(i == len(beats) - 1)
            await ReadOnly()
            if int(ready.value):
                i += 1
        await FallingEdge(self.counter.clk)
        valid.value = 0


class Bench:
    """Clock, reset, the memory (reader, writer or both channels of one AXI master) and a latency monitor."""

    def __init__(self, dut, ram_kind: str, faults: bool):
        from cocotbext.axi import AxiBus, AxiRam, AxiRamRead, AxiRamWrite, AxiReadBus, AxiWriteBus
        self.dut, self.case = dut, load_case()
        self.rng = random.Random(self.case["seed"])
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.counter = Clocked(dut.clk)
        if ram_kind == "read":
            self.ram = (faulty(AxiRamRead) if faults else AxiRamRead)(
                AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=MEM_SIZE)
            self.channels = [self.ram.ar_channel, self.ram.r_channel]
        elif ram_kind == "write":
            self.ram = (faulty(AxiRamWrite) if faults else AxiRamWrite)(
                AxiWriteBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=MEM_SIZE)
            self.channels = [self.ram.aw_channel, self.ram.w_channel, self.ram.b_channel]
        else:                           # "both"
            self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=MEM_SIZE)
            self.channels = [self.ram.read_if.ar_channel, self.ram.read_if.r_channel, self.ram.write_if.aw_channel,
                             self.ram.write_if.w_channel, self.ram.write_if.b_channel]
        self.ram.write(0, initial_memory(self.case["seed"]))
        for part in (self.ram.read_if, self.ram.write_if) if ram_kind == "both" else (self.ram,):
            part.log.setLevel("WARNING")    # one line per burst otherwise
        self.latency = None
        cocotb.start_soon(self._first_word_latency() if ram_kind != "write" else self._write_response_latency())

    def stress(self, p: float):
        for ch in self.channels:
            ch.set_pause_generator(pauses(self.rng, p) if p else None)
            ch.pause = False            # a removed generator leaves the channel as it was

    async def reset(self):
        self.dut.rst.value = 1
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def _first_word_latency(self):
        """Edges from the first AR handshake of a transfer to its first R handshake (the memory's latency);
        ``latency = None`` re-arms the measurement for the next transfer."""
        ar_edge = None
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            edge = self.counter.cycle + 1
            if self.latency is not None:
                ar_edge = None
                continue
            if ar_edge is not None and int(self.dut.m_axi_rvalid.value) and int(self.dut.m_axi_rready.value):
                self.latency = edge - ar_edge
            if ar_edge is None and int(self.dut.m_axi_arvalid.value) and int(self.dut.m_axi_arready.value):
                ar_edge = edge

    async def _write_response_latency(self):
        """Edges from the W beat that ends a burst to the next B handshake (the memory's write latency)."""
        w_edge = None
        while True:
            await FallingEdge(self.dut.clk)
            await ReadOnly()
            edge = self.counter.cycle + 1
            if w_edge is not None and int(self.dut.m_axi_bvalid.value) and int(self.dut.m_axi_bready.value):
                self.latency, w_edge = edge - w_edge, None
            if int(self.dut.m_axi_wvalid.value) and int(self.dut.m_axi_wready.value) \
                    and int(self.dut.m_axi_wlast.value):
                w_edge = edge

    def memory(self) -> bytes:
        return bytes(self.ram.read(0, MEM_SIZE))


async def read_transfer(bench: Bench, port: Port, d: dma.Descriptor, stress: float) -> dict:
    """One reader transfer: beats received, edges from start to done, error flag."""
    port.load(d, indexed=True)
    bench.stress(stress)
    bench.latency = None
    receiver = cocotb.start_soon(port.receive(stress))
    sender = cocotb.start_soon(port.send("idx", list(d.indices), 32, stress, last=True)) \
        if d.indices is not None else None
    start = await port.pulse_start()
    end = await port.wait_done(start + 50 * dma.cycles(d, 64, 0) + 2000)
    beats = await receiver
    if sender is not None:              # indices past n2 are never taken
        sender.cancel()
        port.sig("idx_tvalid").value = 0
    return {"beats": beats, "cycles": end - start, "error": int(port.sig("error").value)}


def stream_words(d: dma.Descriptor, lanes_max: int, seed: int) -> np.ndarray:
    """Writer input: random 32-bit words on every lane (lanes past ``lanes`` must be ignored)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-2**31, 2**31, (dma.stream_beats(d), lanes_max), dtype=np.int64)


async def write_transfer(bench: Bench, port: Port, d: dma.Descriptor, beats: np.ndarray, stress: float) -> dict:
    port.load(d, indexed=False)
    bench.stress(stress)
    cocotb.start_soon(port.send("x", list(beats), 32, stress, last=False))
    start = await port.pulse_start()
    end = await port.wait_done(start + 50 * dma.cycles(d, 64, 0) + 2000)
    return {"cycles": end - start, "error": int(port.sig("error").value)}


def check(label: str, ok: bool, failures: list[str], message: str) -> None:
    if not ok:
        failures.append(f"{label}: {message}")


@cocotb.test()
async def run_reader(dut):
    bench = Bench(dut, "read", faults=bench_faults())
    case = bench.case
    port = Port(dut, "", bench.counter, bench.rng, case["lanes_max"])
    dut.start.value = 0
    dut.y_tready.value = 0
    dut.idx_tvalid.value = 0
    await bench.reset()
    failures, timings = [], []
    memory = initial_memory(case["seed"])
    if bench_faults():                  # a failed read returns zeros
        memory = memory[:BAD_FROM] + bytes(MEM_SIZE - BAD_FROM)
    for n, fields in enumerate(case["descriptors"]):
        d = descriptor(fields)
        want = dma.read_beats(d, memory, case["lanes_max"])
        for stress in (0.3, 0.0):
            got = await read_transfer(bench, port, d, stress)
            label = f"descriptor {n} stress {stress}"
            got_beats = np.array(got["beats"], np.int64).reshape(-1, case["lanes_max"])
            check(label, got_beats.shape == want.shape, failures, f"{len(got_beats)} beats, expected {len(want)}")
            if got_beats.shape == want.shape and (got_beats != want).any():
                b, lane = np.argwhere(got_beats != want)[0]
                failures.append(f"{label}: beat {b} lane {lane}: got {got_beats[b, lane]}, expected {want[b, lane]}")
            faulted = any(a + nb * case["bus_bytes"] > BAD_FROM for a, nb in dma.bursts(d, case["bus_bytes"]))
            check(label, got["error"] == int(bench_faults() and faulted), failures, f"error = {got['error']}")
            if stress == 0.0:
                timings.append({"descriptor": n, "measured": got["cycles"],
                                "predicted": dma.cycles(d, case["bus_bytes"], bench.latency)})
    write_result({"failures": failures, "timings": timings})


def bench_faults() -> bool:
    return bool(load_case().get("faults"))


@cocotb.test()
async def run_writer(dut):
    bench = Bench(dut, "write", faults=bench_faults())
    case = bench.case
    port = Port(dut, "", bench.counter, bench.rng, case["lanes_max"])
    dut.start.value = 0
    dut.x_tvalid.value = 0
    await bench.reset()
    failures, timings = [], []
    memory = initial_memory(case["seed"])
    for n, fields in enumerate(case["descriptors"]):
        d = descriptor(fields)
        for k, stress in enumerate((0.3, 0.0)):
            beats = stream_words(d, case["lanes_max"], 1000 * n + k)
            want = dma.write_memory(d, beats, memory)
            got = await write_transfer(bench, port, d, beats, stress)
            label = f"descriptor {n} stress {stress}"
            image = bench.memory()
            faulted = any(a + nb * case["bus_bytes"] > BAD_FROM for a, nb in dma.bursts(d, case["bus_bytes"]))
            check(label, got["error"] == int(bench_faults() and faulted), failures, f"error = {got['error']}")
            compared = BAD_FROM if bench_faults() else MEM_SIZE      # the faulty region holds what it can
            if image[:compared] != want[:compared]:
                at = next(i for i in range(compared) if image[i] != want[i])
                failures.append(f"{label}: byte 0x{at:x}: got 0x{image[at]:02x}, expected 0x{want[at]:02x}")
            memory = image
            if stress == 0.0:
                timings.append({"descriptor": n, "measured": got["cycles"],
                                "predicted": dma.write_cycles(d, case["bus_bytes"], bench.latency)})
    write_result({"failures": failures, "timings": timings})


# ----------------------------------------------------------------------------------------------- pytest side

def simulate(top: str, testcase: str, parameters: dict, case: dict, simulator: str, work: Path) -> dict:
    """Build ``top`` (once per parameter set) and run one cocotb test of this file on ``case``."""
    from hwmoe.backends.rtl.filelist import sources
    from hwmoe.backends.rtl.simulate import build_rtl
    from hwmoe.paths import REPO, SIM_DIR
    key = hashlib.sha1(json.dumps([top, simulator, sorted(parameters.items()),
                                   [hashlib.sha1(f.read_bytes()).hexdigest() for f in sources(top)]])
                       .encode()).hexdigest()[:12]
    build_dir = work / f"dma-{top}-{simulator}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = build_rtl(top, parameters, simulator, build_dir)
    run_dir = build_dir / f"run-{os.getpid()}-{testcase}-{hashlib.sha1(json.dumps(case).encode()).hexdigest()[:8]}"
    run_dir.mkdir(exist_ok=True)
    (run_dir / "case.json").write_text(json.dumps(case))
    (run_dir / "result.json").unlink(missing_ok=True)
    runner.test(test_module="test_dma", testcase=testcase, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=SIM_DIR, seed=case["seed"], results_xml=str(run_dir / "results.xml"),
                extra_env={"HWMOE_CASE": str(run_dir), "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)])},
                log_file=run_dir / "sim.log")
    result_file = run_dir / "result.json"
    assert result_file.exists(), f"the testbench wrote no result; see {run_dir / 'sim.log'}"
    return json.loads(result_file.read_text()) | {"descriptors": case["descriptors"]}


def assert_result(result: dict, timed: list[int]) -> None:
    """No mismatch; the clean cycles of the long transfers (descriptor numbers ``timed``) within 2%."""
    assert not result["failures"], "\n".join(result["failures"][:10])
    for t in result["timings"]:
        if t["descriptor"] in timed:
            d = descriptor(result["descriptors"][t["descriptor"]])
            measured, predicted = dma.words_per_cycle(d, t["measured"]), dma.words_per_cycle(d, t["predicted"])
            assert abs(measured - predicted) <= 0.02 * predicted, f"words per cycle {measured:.3f}, " \
                f"predicted {predicted:.3f} ({t['measured']} vs {t['predicted']} cycles)"


# reader shapes: plain 2-level, unaligned c = 1 across 4 KiB, c = 4 starting 4 bytes before a 4 KiB boundary,
# lanes not dividing words, indexed (count-limited and ended by the index stream's last), a long clean run
READ_SHAPES = [
    dict(base=64, n1=3, stride1=400, n2=2, stride2=2000, words=37, lanes=4, c=2),
    dict(base=4091, n1=2, stride1=4097, n2=1, stride2=0, words=50, lanes=3, c=1),
    dict(base=8188, n1=2, stride1=36, n2=3, stride2=1000, words=13, lanes=4, c=4),
    dict(base=100, n1=2, stride1=130, n2=3, stride2=512, words=33, lanes=2, c=2, indices=(3, 0, 5, 1)),
    dict(base=6, n1=1, stride1=0, n2=5, stride2=1024, words=9, lanes=1, c=2, indices=(2, 7)),
    dict(base=12288 + 40, n1=1, stride1=0, n2=1, stride2=0, words=1100, lanes=4, c=4),
]
READER_BUILDS = {
    "bus64": dict(BUS_W=64, LANES_MAX=4, MAX_BURST=16, FIFO_DEPTH=32),
    "bus256": dict(BUS_W=256, LANES_MAX=8, MAX_BURST=32, FIFO_DEPTH=64),
}


def reader_case(build: dict, shapes: list[dict], seed: int, faults: bool = False) -> dict:
    descriptors = [dict(s, indices=list(s["indices"])) if "indices" in s else s for s in shapes]
    for d in descriptors:
        descriptor(d).check(build["LANES_MAX"])
    return {"lanes_max": build["LANES_MAX"], "bus_bytes": build["BUS_W"] // 8, "seed": seed,
            "descriptors": descriptors, "faults": faults}


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("build", sorted(READER_BUILDS))
def test_dma_reader(build, simulator, sim_work):
    params = READER_BUILDS[build]
    result = simulate("hwmoe_dma_reader", "run_reader", params, reader_case(params, READ_SHAPES, 1),
                      simulator, sim_work)
    assert_result(result, timed=[len(READ_SHAPES) - 1])
    print(result["timings"])


WRITE_SHAPES = [shape for shape in READ_SHAPES if "indices" not in shape]
WRITER_BUILDS = {
    "bus64": dict(BUS_W=64, LANES_MAX=4, MAX_BURST=16),
    "bus256": dict(BUS_W=256, LANES_MAX=8, MAX_BURST=32),
}


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize("build", sorted(WRITER_BUILDS))
def test_dma_writer(build, simulator, sim_work):
    """Every byte of memory compared with the model after each transfer: written bytes and untouched ones."""
    params = WRITER_BUILDS[build]
    result = simulate("hwmoe_dma_writer", "run_writer", params, reader_case(params, WRITE_SHAPES, 2),
                      simulator, sim_work)
    assert_result(result, timed=[len(WRITE_SHAPES) - 1])
    print(result["timings"])


# the error tests: one transfer entirely below the faulty region (no error), one reaching into it (SLVERR)
FAULT_SHAPES = [dict(base=256, n1=2, stride1=300, n2=1, stride2=0, words=20, lanes=4, c=2),
                dict(base=BAD_FROM - 40, n1=1, stride1=0, n2=2, stride2=64, words=24, lanes=4, c=4)]


@pytest.mark.rtl
@pytest.mark.parametrize("top,testcase", [("hwmoe_dma_reader", "run_reader"), ("hwmoe_dma_writer", "run_writer")])
def test_dma_slverr_sets_error(top, testcase, sim_work):
    params = READER_BUILDS["bus64"] if top == "hwmoe_dma_reader" else WRITER_BUILDS["bus64"]
    result = simulate(top, testcase, params, reader_case(params, FAULT_SHAPES, 3, faults=True), "icarus", sim_work)
    assert_result(result, timed=[])


def pack_fields(values: list[int], width: int) -> int:
    return sum((v & ((1 << width) - 1)) << (i * width) for i, v in enumerate(values))


@cocotb.test()
async def run_system(dut):
    """Readers and the writer of hwmoe_dma started together on one AxiRam (random pauses, back-pressure)."""
    bench = Bench(dut, "both", faults=False)
    case = bench.case
    lanes_max, readers = case["lanes_max"], len(case["descriptors"]) - 1
    reads = [descriptor(f) for f in case["descriptors"][:readers]]
    write = descriptor(case["descriptors"][-1])
    widths = {k: len(getattr(dut, f"rd_{k}")) // readers for k in ("base", "n1", "stride1", "n2", "stride2",
                                                                      "words", "lanes", "csize")}
    for k, w in widths.items():
        getattr(dut, f"rd_{k}").value = pack_fields([d.log2_c if k == "csize" else getattr(d, k) for d in reads], w)
    for s in ("start", "indexed", "idx_tvalid", "idx_tlast", "y_tready"):
        getattr(dut, f"rd_{s}").value = 0
    writer = Port(dut, "wr_", bench.counter, bench.rng, lanes_max)
    writer.load(write, indexed=False)
    dut.wr_start.value = 0
    dut.wr_x_tvalid.value = 0
    await bench.reset()
    memory = initial_memory(case["seed"])
    beats = stream_words(write, lanes_max, 7)
    bench.stress(0.3)
    got = [[] for _ in reads]

    async def receive_all():
        ends = 0
        while ends < readers:
            await FallingEdge(dut.clk)
            ready = sum(int(bench.rng.random() >= 0.3) << i for i in range(readers))
            dut.rd_y_tready.value = ready
            await ReadOnly()
            taken = ready & int(dut.rd_y_tvalid.value)
            if not taken:
                continue
            last, data = str(dut.rd_y_tlast.value)[::-1], int(dut.rd_y_tdata.value)   # last[i]: reader i
            for i in range(readers):
                if (taken >> i) & 1:
                    got[i].append(unpack(data >> (32 * lanes_max * i), lanes_max, -32))
                    ends += last[i] == "1"
        await FallingEdge(dut.clk)
        dut.rd_y_tready.value = 0

    receiver = cocotb.start_soon(receive_all())
    cocotb.start_soon(writer.send("x", list(beats), 32, 0.3, last=False))
    await FallingEdge(dut.clk)
    dut.rd_start.value = (1 << readers) - 1
    dut.wr_start.value = 1
    await FallingEdge(dut.clk)
    dut.rd_start.value = 0
    dut.wr_start.value = 0
    await writer.wait_done(bench.counter.cycle + 20000)
    await receiver
    failures = []
    for i, d in enumerate(reads):
        want = dma.read_beats(d, memory, lanes_max)
        mine = np.array(got[i], np.int64).reshape(-1, lanes_max)
        if mine.shape != want.shape or (mine != want).any():
            failures.append(f"reader {i}: {len(mine)} beats, expected {len(want)}, "
                            f"{int((mine != want).sum()) if mine.shape == want.shape else 'shape'} words differ")
    if int(dut.rd_error.value) or int(dut.wr_error.value):
        failures.append("error flag set")
    image, want = bench.memory(), dma.write_memory(write, beats, memory)
    if image != want:
        at = next(i for i in range(MEM_SIZE) if image[i] != want[i])
        failures.append(f"writer: byte 0x{at:x}: got 0x{image[at]:02x}, expected 0x{want[at]:02x}")
    write_result({"failures": failures, "timings": []})


# three readers (reads below 0x8000) and the writer (at and above 0x8000) at once
SYSTEM_SHAPES = [
    dict(base=4000, n1=3, stride1=700, n2=2, stride2=3000, words=45, lanes=4, c=2),
    dict(base=8190, n1=1, stride1=0, n2=4, stride2=1030, words=77, lanes=3, c=1),
    dict(base=20004, n1=2, stride1=2048, n2=1, stride2=0, words=200, lanes=4, c=4),
    dict(base=0x8000 + 4090, n1=3, stride1=1500, n2=2, stride2=5000, words=61, lanes=3, c=2),
]


@pytest.mark.rtl
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_dma_three_readers_one_writer(simulator, sim_work):
    params = dict(N_READERS=3, BUS_W=128, LANES_MAX=4, MAX_BURST=16, FIFO_DEPTH=32)
    case = reader_case(params, SYSTEM_SHAPES, 4)
    assert_result(simulate("hwmoe_dma", "run_system", params, case, simulator, sim_work), timed=[])
