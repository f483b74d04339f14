"""Control registers testbench: hwmoe_ctrl driven through cocotbext-axi's AxiLiteMaster with random ready/valid
pauses on all five AXI4-Lite channels; the accelerator side (busy, done, errors, commands, engine activity) is
driven from the testbench and mirrored in a Python model that every register read is compared with."""
from __future__ import annotations

import os
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiResp

from hwmoe.accel.registers import (AP_CTRL, AP_DONE, AP_IDLE, AP_INTERRUPT, AP_READY, AP_START, BASE_HI, BASE_LO,
                                   COMMANDS, CYCLES_HI, CYCLES_LO, ENGINE0, ENGINE_STRIDE, ERROR, GIE, ID, ID_VALUE, IER,
                                   ISR, PROG, VLD)
MASK32 = (1 << 32) - 1
OUTPUTS = (ERROR, COMMANDS, ID)        # each with its ap_vld word at + VLD


def engine_reg(e: int, stall: bool, hi: bool) -> int:
    return ENGINE0 + ENGINE_STRIDE * e + 8 * stall + 4 * hi


class CtrlTB:
    """Clock, reset, the AXI4-Lite master, the accelerator-side inputs and a monitor of the `start` pulses."""

    def __init__(self, dut, master: bool = True):
        self.dut = dut
        self.engines = int(os.environ["HWMOE_ENGINES"])
        self.addr_w = int(os.environ["HWMOE_ADDR_W"])
        self.rng = random.Random(int(os.environ.get("RANDOM_SEED", "1")))
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        if master:
            self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
            w, r = self.axil.write_if, self.axil.read_if
            for channel in (w.aw_channel, w.w_channel, w.b_channel, r.ar_channel, r.r_channel):
                channel.set_pause_generator(self._pauses())
        for name in ("busy", "done_pulse", "error_valid", "error_code", "command_done", "engine_busy",
                     "engine_moved"):
            getattr(dut, name).value = 0
        if not master:
            for name in ("awvalid", "wvalid", "bready", "arvalid", "rready"):
                getattr(dut, f"s_axil_{name}").value = 0
        self.cycle = 0
        self.start_cycles: list[int] = []

    def _pauses(self):
        while True:
            yield self.rng.random() < 0.3

    async def _monitor(self):
        """Counts cycles (rising edges) and records the cycle of every `start` pulse."""
        while True:
            await RisingEdge(self.dut.clk)
            self.cycle += 1
            if int(self.dut.start.value):
                self.start_cycles.append(self.cycle)

    async def reset(self):
        self.dut.rst.value = 1
        for _ in range(4):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        cocotb.start_soon(self._monitor())
        await FallingEdge(self.dut.clk)

    async def read(self, addr: int) -> int:
        r = await self.axil.read(addr, 4)
        assert r.resp == AxiResp.OKAY, f"read 0x{addr:03x}: {r.resp}"
        return int.from_bytes(r.data, "little")

    async def write(self, addr: int, value: int, nbytes: int = 4):
        r = await self.axil.write(addr, value.to_bytes(nbytes, "little"))
        assert r.resp == AxiResp.OKAY, f"write 0x{addr:03x}: {r.resp}"

    async def read64(self, lo_addr: int) -> int:
        lo = await self.read(lo_addr)
        return (await self.read(lo_addr + 4)) << 32 | lo

    async def pulse(self, name: str, value: int = 1, **others):
        """Drive input `name` (and `others`) for exactly one cycle."""
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = value
        for k, v in others.items():
            getattr(self.dut, k).value = v
        await FallingEdge(self.dut.clk)
        getattr(self.dut, name).value = 0
        for k in others:
            getattr(self.dut, k).value = 0

    async def started(self, runs: int, within: int = 8):
        """Wait until ``runs`` start pulses have been seen (at most ``within`` cycles)."""
        for _ in range(within):
            if len(self.start_cycles) >= runs:
                break
            await FallingEdge(self.dut.clk)
        assert len(self.start_cycles) == runs, (self.start_cycles, runs)

    async def start_run(self):
        """Write ap_start and wait for the start pulse; returns the cycle of the pulse."""
        before = len(self.start_cycles)
        await self.write(AP_CTRL, AP_START)
        while len(self.start_cycles) == before:
            await FallingEdge(self.dut.clk)
        assert len(self.start_cycles) == before + 1
        return self.start_cycles[-1]

    async def drive_engines(self, cycles: int, model: list[list[int]]):
        """Random engine_busy / engine_moved for ``cycles`` cycles, counted into ``model[e] = [busy, stall]``."""
        for _ in range(cycles):
            await FallingEdge(self.dut.clk)
            busy = self.rng.getrandbits(self.engines)
            moved = self.rng.getrandbits(self.engines)
            self.dut.engine_busy.value = busy
            self.dut.engine_moved.value = moved
            for e in range(self.engines):
                if busy >> e & 1:
                    model[e][0] += 1
                    model[e][1] += not (moved >> e & 1)
        await FallingEdge(self.dut.clk)
        self.dut.engine_busy.value = 0
        self.dut.engine_moved.value = 0


@cocotb.test()
async def reset_values(dut):
    """Every register's reset value (ap_idle set, the rest 0 but ID); unmapped and reserved addresses read 0."""
    tb = CtrlTB(dut)
    await tb.reset()
    want = {AP_CTRL: AP_IDLE, GIE: 0, IER: 0, ISR: 0, BASE_LO: 0, BASE_HI: 0, PROG: 0, ID: ID_VALUE,
            CYCLES_LO: 0, CYCLES_HI: 0}
    want.update({a: 0 for out in (ERROR, COMMANDS) for a in (out, out + VLD)})
    want[ID + VLD] = 0
    want.update({engine_reg(e, s, h): 0 for e in range(tb.engines) for s in (0, 1) for h in (0, 1)})
    want.update({a: 0 for a in (0x18, 0x20, 0x3C, 0x48, 0x7C, engine_reg(tb.engines, 0, 0), 0x800, 0xFFC)
                 if a >= engine_reg(tb.engines, 0, 0) or a < ENGINE0})
    for addr, value in want.items():
        assert await tb.read(addr) == value, f"0x{addr:03x}"
    assert not int(dut.irq.value) and not int(dut.start.value)


@cocotb.test()
async def read_write(dut):
    """RW registers keep what is written (byte strobes respected, BASE cut to ADDR_W bits, GIE and IER one bit),
    read-only registers and unmapped addresses ignore writes, AP_CTRL takes nothing but ap_start."""
    tb = CtrlTB(dut)
    await tb.reset()
    base_mask = (1 << tb.addr_w) - 1
    model = {BASE_LO: 0, BASE_HI: 0, PROG: 0}
    for _ in range(40):
        addr = tb.rng.choice(list(model))
        value = tb.rng.getrandbits(32)
        offset = tb.rng.choice([0, 0, 1, 2, 3])           # partial writes: strobes from the byte offset
        nbytes = tb.rng.randint(1, 4 - offset) if offset else 4
        data = value & ((1 << 8 * nbytes) - 1)
        await tb.write(addr + offset, data, nbytes)
        keep = ~(((1 << 8 * nbytes) - 1) << 8 * offset) & MASK32
        model[addr] = model[addr] & keep | data << 8 * offset
        base = (model[BASE_HI] << 32 | model[BASE_LO]) & base_mask
        model[BASE_LO], model[BASE_HI] = base & MASK32, base >> 32
        for a, v in model.items():
            assert await tb.read(a) == v, f"0x{a:03x}"
        assert int(dut.base.value) == base and int(dut.prog.value) == model[PROG]
    read_only = [*OUTPUTS, *(o + VLD for o in OUTPUTS), CYCLES_LO, CYCLES_HI, 0x18, 0x3C, engine_reg(0, 1, 0),
                 engine_reg(tb.engines - 1, 1, 1), 0xFFC]
    for addr in read_only:
        await tb.write(addr, 0xFFFFFFFF)
    assert await tb.read(ID) == ID_VALUE
    for addr in read_only:
        assert await tb.read(addr) == (ID_VALUE if addr == ID else 0), f"0x{addr:03x}"
    for a, v in model.items():
        assert await tb.read(a) == v
    for addr in (GIE, IER):
        await tb.write(addr, 0xFFFFFFFF)
        assert await tb.read(addr) == 1
        await tb.write(addr + 1, 0, 1)                  # strobe of byte 1 only: the bit is in byte 0
        assert await tb.read(addr) == 1
        await tb.write(addr, 0)
        assert await tb.read(addr) == 0
    await tb.write(AP_CTRL, MASK32 & ~AP_START)         # every bit but ap_start: nothing happens
    await tb.write(AP_CTRL + 1, 0xFF, 1)
    assert await tb.read(AP_CTRL) == AP_IDLE and tb.start_cycles == []


async def check_outputs(tb, error: int, commands: int):
    """ERROR, COMMANDS, ID and their ap_vld words after a run: each ap_vld reads 1 once, then 0."""
    for addr, value in zip(OUTPUTS, (error, commands, ID_VALUE)):
        assert await tb.read(addr) == value, f"0x{addr:03x}"
        assert await tb.read(addr + VLD) == 1 and await tb.read(addr + VLD) == 0, f"ap_vld of 0x{addr:03x}"


@cocotb.test()
async def run_sequence(dut):
    """ap_start -> one start pulse, ap_ready (clear on read), ap_idle low, counters cleared; engine activity,
    commands and errors counted; at the end ap_done (clear on read), the ap_vld words, ISR with IER (toggled by
    writing 1), irq = GIE & IER & ISR, shown in AP_CTRL bit 9."""
    tb = CtrlTB(dut)
    await tb.reset()
    await tb.write(GIE, 1)
    for run in range(3):
        await tb.write(IER, int(run < 2))               # run 2: no ap_done interrupt, ISR stays 0
        s = await tb.start_run()
        assert await tb.read(AP_CTRL) == AP_READY and await tb.read(AP_CTRL) == 0, f"run {run}"
        assert not int(dut.irq.value)
        for addr in OUTPUTS:                            # read after the last run: no ap_vld yet
            assert await tb.read(addr + VLD) == 0
        model = [[0, 0] for _ in range(tb.engines)]
        engines = cocotb.start_soon(tb.drive_engines(60 + 20 * run, model))
        commands = tb.rng.randint(1, 6)
        for i in range(commands):
            await tb.pulse("command_done")
            if run == 1 and i == 0:
                await tb.pulse("error_valid", error_code=3)
            if run == 1 and i == 1:
                await tb.pulse("error_valid", error_code=2)      # the first error of a run is kept
        await engines
        assert await tb.read(COMMANDS) == commands
        await tb.pulse("done_pulse")
        d = tb.cycle
        irq = AP_INTERRUPT if run < 2 else 0
        assert int(dut.irq.value) == bool(irq) and await tb.read(ISR) == int(run < 2)
        assert await tb.read(AP_CTRL) == AP_DONE | AP_IDLE | irq
        assert await tb.read(AP_CTRL) == AP_IDLE | irq            # ap_done cleared by the read
        await check_outputs(tb, 3 if run == 1 else 0, commands)
        assert await tb.read64(CYCLES_LO) == d - s
        for e in range(tb.engines):
            assert await tb.read64(engine_reg(e, 0, 0)) == model[e][0], f"engine {e} busy"
            assert await tb.read64(engine_reg(e, 1, 0)) == model[e][1], f"engine {e} stall"
        if run == 0:                                    # ISR toggles on a write of 1; a write of 0 does nothing
            await tb.write(ISR, 0)
            assert int(dut.irq.value)
            await tb.write(ISR, 1)
            assert await tb.read(ISR) == 0 and not int(dut.irq.value)
            await tb.write(ISR, 1)
            assert await tb.read(ISR) == 1 and int(dut.irq.value)
            await tb.write(ISR, 1)
        elif run == 1:                                  # GIE off masks irq, ISR stays
            await tb.write(GIE, 0)
            assert not int(dut.irq.value) and await tb.read(ISR) == 1
            assert await tb.read(AP_CTRL) == AP_IDLE
            await tb.write(ISR, 1)
            await tb.write(GIE, 1)
        assert not int(dut.irq.value) and await tb.read(ISR) == 0
    s = await tb.start_run()                            # a new start clears ERROR, COMMANDS and the counters
    assert await tb.read(ERROR) == 0 and await tb.read(COMMANDS) == 0
    assert 0 < await tb.read64(CYCLES_LO) <= tb.cycle - s
    for e in range(tb.engines):
        assert await tb.read64(engine_reg(e, 0, 0)) == 0


@cocotb.test()
async def start_waits_for_idle(dut):
    """ap_start written during a run stays set (reads 1) and starts the next run when this one ends (Vitis's
    handshake); the sequencer's `busy` holds a start off and shows as ap_idle low."""
    tb = CtrlTB(dut)
    await tb.reset()
    first = await tb.start_run()
    await tb.write(AP_CTRL, AP_START)
    for _ in range(10):
        await FallingEdge(dut.clk)
    assert tb.start_cycles == [first]
    assert await tb.read(AP_CTRL) == AP_START | AP_READY and await tb.read(AP_CTRL) == AP_START
    await tb.pulse("done_pulse")
    await tb.started(2, within=3)                       # the next run starts at once
    assert tb.start_cycles[1] - first > 10
    assert await tb.read(AP_CTRL) == AP_DONE | AP_READY                      # ap_idle low: the new run
    await tb.pulse("done_pulse")
    dut.busy.value = 1                                  # the sequencer still busy: no start, not idle
    await tb.write(AP_CTRL, AP_START)
    for _ in range(10):
        await FallingEdge(dut.clk)
    assert len(tb.start_cycles) == 2 and await tb.read(AP_CTRL) == AP_START | AP_DONE
    dut.busy.value = 0
    await tb.started(3, within=3)
    assert await tb.read(AP_CTRL) == AP_READY


@cocotb.test()
async def set_and_clear_in_one_cycle(dut):
    """done_pulse in the cycle a clearing access is taken: the flag is set (no run end is lost): ap_done
    against a read of AP_CTRL, ISR against a write of 1, an ap_vld against a read of its word.  The accesses
    are driven by hand (no AxiLiteMaster) to place them in that exact cycle."""
    tb = CtrlTB(dut, master=False)
    await tb.reset()

    async def now(also: dict, **axi):
        """One AXI4-Lite access taken at the next rising edge, with the inputs ``also`` in the same cycle;
        a read's data."""
        for k, v in {**axi, **also}.items():
            getattr(dut, k).value = v
        await ReadOnly()
        ready = "s_axil_arready" if "s_axil_arvalid" in axi else "s_axil_awready"
        assert int(getattr(dut, ready).value)
        await FallingEdge(dut.clk)
        for k in (*axi, *also):
            if k.endswith("valid") or k in also:
                getattr(dut, k).value = 0
        return int(dut.s_axil_rdata.value)

    async def write(addr: int, value: int, **also):
        await now(also, s_axil_awaddr=addr, s_axil_wdata=value, s_axil_wstrb=0xF, s_axil_awvalid=1,
                  s_axil_wvalid=1, s_axil_bready=1)

    async def read(addr: int, **also) -> int:
        return await now(also, s_axil_araddr=addr, s_axil_arvalid=1, s_axil_rready=1)

    await write(GIE, 1)
    await write(IER, 1)
    await write(AP_CTRL, AP_START)
    await tb.started(1)
    assert await read(AP_CTRL, done_pulse=1) & AP_DONE == 0    # read before the end: set after it
    assert await read(AP_CTRL) & AP_DONE and not await read(AP_CTRL) & AP_DONE
    assert int(dut.irq.value) and await read(ISR) == 1        # ISR set at the end
    await write(AP_CTRL, AP_START)
    await tb.started(2)
    await write(ISR, 1, done_pulse=1)                         # the toggle meets the end: ISR stays set
    assert int(dut.irq.value) and await read(ISR) == 1
    await write(ISR, 1)
    assert not int(dut.irq.value)
    await write(AP_CTRL, AP_START)
    await tb.started(3)
    assert await read(ERROR + VLD, done_pulse=1) == 1         # ap_vld of the last run, read as the run ends
    assert await read(ERROR + VLD) == 1 and await read(ERROR + VLD) == 0
    assert len(tb.start_cycles) == 3


@cocotb.test()
async def counter_coherence(dut):
    """A LO/HI read pair is one 64-bit sample: counters preloaded just below a 32-bit wrap (through the
    simulator) are read while they cross it; every pair lies between the counter's values at the pair's first
    request and its last response (an incoherent pair is off by 2^32)."""
    tb = CtrlTB(dut)
    await tb.reset()
    await tb.start_run()
    e = tb.engines - 1
    await FallingEdge(dut.clk)
    dut.engine_busy.value = 1 << e
    for wrap in range(1, 4):
        await FallingEdge(dut.clk)
        near = (wrap << 32) - 24
        dut.cycles.value = near
        dut.busy_count.value = near << (64 * e)
        pairs = 0
        while pairs < 8:
            for lo_addr, signal, slot in ((CYCLES_LO, dut.cycles, 0), (engine_reg(e, 0, 0), dut.busy_count, e)):
                before = int(signal.value) >> (64 * slot) & ((1 << 64) - 1)
                value = await tb.read64(lo_addr)
                after = int(signal.value) >> (64 * slot) & ((1 << 64) - 1)
                assert before <= value <= after, f"0x{lo_addr:03x}: {before:#x} <= {value:#x} <= {after:#x}"
                pairs += 1
        # a HI read without its LO read first returns the live HI word
        assert await tb.read(CYCLES_HI) == int(dut.cycles.value) >> 32
    dut.engine_busy.value = 0


# ------------------------------------------------------------------------------------------------ pytest
@pytest.mark.parametrize("simulator,engines,addr_w", [("icarus", 6, 40), ("icarus", 2, 64), ("verilator", 6, 40)],
                         ids=["icarus-6-engines", "icarus-2-engines-addr64", "verilator-6-engines"])
def test_ctrl(simulator, engines, addr_w, sim_work):
    from cocotb_tools.check_results import get_results
    from cocotb_tools.runner import get_runner

    from hwmoe.backends.rtl.filelist import sources
    from hwmoe.backends.rtl.simulate import simulator_path_setup
    from hwmoe.paths import SIM_DIR
    simulator_path_setup()
    runner = get_runner(simulator)
    build_dir = sim_work / f"ctrl-{simulator}-{engines}-{addr_w}"
    runner.build(sources=sources("hwmoe_ctrl"), hdl_toplevel="hwmoe_ctrl", build_dir=build_dir,
                 parameters={"ENGINES": engines, "ADDR_W": addr_w}, always=True, timescale=("1ns", "1ps"),
                 build_args=["--x-assign", "0", "--x-initial", "0"] if simulator == "verilator" else [],
                 log_file=build_dir / "build.log")
    # under pytest a failing cocotb test ends runner.test in SystemExit: the log names the test
    results = runner.test(test_module="test_ctrl", hdl_toplevel="hwmoe_ctrl", build_dir=build_dir,
                          test_dir=SIM_DIR, results_xml=str(build_dir / "results.xml"),
                          extra_env={"HWMOE_ENGINES": str(engines), "HWMOE_ADDR_W": str(addr_w)},
                          log_file=build_dir / "sim.log")
    tests, failed = get_results(results)
    assert (tests, failed) == (6, 0), f"{failed} of {tests} cocotb tests failed; see {build_dir / 'sim.log'}"
