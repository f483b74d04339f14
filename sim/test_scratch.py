"""Testbench of the DMA's on-chip scratchpad (hwmoe_scratch) alone: what the end-to-end runs cannot reach.

Inside hwmoe_dma the readers never hold R back and the writer always takes B, so here every channel is driven
by hand: bursts written under random strobes with random gaps on AW and W and random BREADY, then read back
with random gaps on AR and random RREADY, every beat (data, RID, RLAST) compared with a byte model of the
memory; then, with every channel ready, back-to-back bursts must move one bus word per cycle, the first R beat
two cycles after the first AR handshake."""
from __future__ import annotations

import json
import os
import random
from pathlib import Path

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

PARAMS = {"BUS_W": 64, "ADDR_W": 16, "DEPTH": 64, "ID_W": 2}
BB = PARAMS["BUS_W"] // 8
PATIENCE = 2000         # cycles a handshake or the read-back may take before the testbench gives up


# ----------------------------------------------------------------------------------------------- cocotb side

async def handshake(dut, valid: str, ready: str, fields: dict, rng: random.Random, gap: float) -> int:
    """Drive ``fields`` with ``valid`` after random idle cycles; returns the cycles it waited for ``ready``."""
    while rng.random() < gap:
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
    for name, value in fields.items():
        getattr(dut, name).value = value
    getattr(dut, valid).value = 1
    for cycle in range(PATIENCE):
        await ReadOnly()
        fired = int(getattr(dut, ready).value)
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        if fired:
            getattr(dut, valid).value = 0
            return cycle
    raise AssertionError(f"{ready} stayed low for {PATIENCE} cycles")


async def write_bursts(dut, bursts, rng, gap):
    async def aw():
        for addr, beats, _, _ in bursts:
            await handshake(dut, "s_awvalid", "s_awready", {"s_awaddr": addr * BB, "s_awlen": len(beats) - 1},
                            rng, gap)

    async def w():
        for _, beats, strobes, _ in bursts:
            for k, (data, strb) in enumerate(zip(beats, strobes)):
                await handshake(dut, "s_wvalid", "s_wready",
                                {"s_wdata": data, "s_wstrb": strb, "s_wlast": int(k == len(beats) - 1)}, rng, gap)
    first = cocotb.start_soon(aw())
    await w()
    await first


async def count_b(dut, rng, gap: list, counter: list):
    """Counts B handshakes; BREADY low with probability ``gap[0]`` (changed by the caller)."""
    while True:
        await FallingEdge(dut.clk)
        dut.s_bready.value = int(rng.random() >= gap[0])
        await ReadOnly()
        if int(dut.s_bvalid.value) and int(dut.s_bready.value):
            counter[0] += 1


async def read_bursts(dut, bursts, rng, gap, beats_seen: list):
    async def r():
        while True:
            await FallingEdge(dut.clk)
            dut.s_rready.value = int(rng.random() >= gap)
            await ReadOnly()
            if int(dut.s_rvalid.value) and int(dut.s_rready.value):
                beats_seen.append((int(dut.s_rid.value), int(dut.s_rdata.value), int(dut.s_rlast.value)))
    reader = cocotb.start_soon(r())
    for rid, addr, length in bursts:
        await handshake(dut, "s_arvalid", "s_arready", {"s_arid": rid, "s_araddr": addr * BB, "s_arlen": length - 1},
                        rng, gap)
    total = sum(length for _, _, length in bursts)
    for _ in range(PATIENCE):
        if len(beats_seen) >= total:
            break
        await RisingEdge(dut.clk)
    reader.cancel()


@cocotb.test()
async def run_scratch(dut):
    case = json.loads((Path(os.environ["HWMOE_CASE"]) / "case.json").read_text())
    rng = random.Random(case["seed"])
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name in ("s_arvalid", "s_awvalid", "s_wvalid", "s_rready", "s_bready"):
        getattr(dut, name).value = 0
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
    words = PARAMS["DEPTH"]
    memory = bytearray(rng.getrandbits(8) for _ in range(words * BB))
    failures = []
    # the whole scratchpad written once with full strobes, so the model knows every byte
    full = [(a, [int.from_bytes(memory[(a + k) * BB:(a + k + 1) * BB], "little") for k in range(16)],
             [(1 << BB) - 1] * 16, None) for a in range(0, words, 16)]
    b_count, b_gap = [0], [0.0]
    b_task = cocotb.start_soon(count_b(dut, rng, b_gap, b_count))
    await write_bursts(dut, full, rng, 0.0)
    # random bursts under random strobes and pauses
    gap = case["gap"]
    bursts = []
    for _ in range(12):
        length = rng.randint(1, 9)
        addr = rng.randrange(0, words - length + 1)
        beats = [rng.getrandbits(8 * BB) for _ in range(length)]
        strobes = [rng.getrandbits(BB) for _ in range(length)]
        bursts.append((addr, beats, strobes, None))
        for k, (data, strb) in enumerate(zip(beats, strobes)):
            for byte in range(BB):
                if strb >> byte & 1:
                    memory[(addr + k) * BB + byte] = data >> (8 * byte) & 0xFF
    b_gap[0] = gap
    await write_bursts(dut, bursts, rng, gap)
    for _ in range(200):
        if b_count[0] == len(full) + len(bursts):
            break
        await RisingEdge(dut.clk)
    b_task.cancel()
    if b_count[0] != len(full) + len(bursts):
        failures.append(f"{b_count[0]} write responses for {len(full) + len(bursts)} bursts")
    reads = [(rng.randrange(4), rng.randrange(0, words - 8), rng.randint(1, 8)) for _ in range(16)]
    seen: list = []
    await read_bursts(dut, reads, rng, gap, seen)
    expected = [(rid, int.from_bytes(memory[(addr + k) * BB:(addr + k + 1) * BB], "little"), int(k == length - 1))
                for rid, addr, length in reads for k in range(length)]
    failures += [f"beat {i}: (rid, data, last) {got} expected {want}"
                 for i, (got, want) in enumerate(zip(seen, expected)) if got != want]
    if len(seen) != len(expected):
        failures.append(f"{len(seen)} read beats for {len(expected)}")
    # clean: four back-to-back 8-beat bursts, every channel ready; count cycles from the first AR handshake
    await FallingEdge(dut.clk)
    dut.s_rready.value = 1
    clean = [(k, 8 * k, 8) for k in range(4)]
    cycle, first_ar, first_r, beats, last_r = 0, None, None, 0, None
    queue = list(clean)
    dut.s_arvalid.value = 1
    dut.s_arid.value, dut.s_araddr.value, dut.s_arlen.value = queue[0][0], queue[0][1] * BB, queue[0][2] - 1
    while beats < 32 and cycle < 200:
        await ReadOnly()
        if queue and int(dut.s_arready.value):
            first_ar = cycle if first_ar is None else first_ar
            queue.pop(0)
            ar_next = queue[0] if queue else None
        else:
            ar_next = queue[0] if queue else None
        if int(dut.s_rvalid.value):
            first_r = cycle if first_r is None else first_r
            beats += 1
            last_r = cycle
        await RisingEdge(dut.clk)
        await FallingEdge(dut.clk)
        cycle += 1
        if ar_next:
            dut.s_arid.value, dut.s_araddr.value, dut.s_arlen.value = ar_next[0], ar_next[1] * BB, ar_next[2] - 1
        else:
            dut.s_arvalid.value = 0
    (Path(os.environ["HWMOE_CASE"]) / "result.json").write_text(json.dumps(
        {"failures": failures, "beats": len(seen), "clean": {"first_ar": first_ar, "first_r": first_r,
                                                             "last_r": last_r, "beats": beats}}))


# ----------------------------------------------------------------------------------------------- pytest side

@pytest.mark.rtl
@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_scratch(simulator, sim_work, tmp_path):
    import hashlib

    from hwmoe.backends.rtl.filelist import sources
    from hwmoe.backends.rtl.simulate import build_rtl
    from hwmoe.paths import REPO, SIM_DIR
    key = hashlib.sha1(json.dumps([simulator, PARAMS, [f.read_bytes().hex() for f in sources("hwmoe_scratch")]])
                       .encode()).hexdigest()[:12]
    build_dir = sim_work / f"scratch-{simulator}-{key}"
    build_dir.mkdir(parents=True, exist_ok=True)
    runner = build_rtl("hwmoe_scratch", PARAMS, simulator, build_dir)
    (tmp_path / "case.json").write_text(json.dumps({"seed": 3, "gap": 0.4}))
    runner.test(test_module="test_scratch", testcase="run_scratch", hdl_toplevel="hwmoe_scratch",
                hdl_toplevel_lang="verilog", build_dir=build_dir, test_dir=SIM_DIR, seed=3,
                results_xml=str(tmp_path / "results.xml"), log_file=tmp_path / "sim.log",
                extra_env={"HWMOE_CASE": str(tmp_path), "PYTHONPATH": os.pathsep.join([str(SIM_DIR), str(REPO)])})
    result = json.loads((tmp_path / "result.json").read_text())
    assert not result["failures"], "\n".join(result["failures"][:10])
    assert result["beats"] > 0
    clean = result["clean"]
    # R two cycles after the first AR handshake, then 32 beats in 32 cycles (bursts back to back)
    assert clean["beats"] == 32 and clean["first_r"] == clean["first_ar"] + 2, clean
    assert clean["last_r"] - clean["first_r"] == 31, clean
