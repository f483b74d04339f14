"""The host driver on its board backends, without a board: stand-ins for ``pynq`` and ``pyxrt`` (put into
sys.modules) replay the session that sim/test_accel.py recorded on the simulated RTL (tests/data/driver/,
checked there to be what the current build produces).  Each access the backend makes must be the recorded
one, in the recorded order, and is answered with the recorded value; the driver's result must be the
simulation's.  The same session without the accesses the HLS top does not have (the ID before the first run,
the counters) is the driver's on the HLS top, which shares the register map.  Also: the errors a user meets
(no package, no file, an accelerator that reports ERROR)."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from hwmoe.accel import registers as reg
from hwmoe.cli import main
from hwmoe.driver.board import open_backend, poll
from hwmoe.driver.build import Build
from hwmoe.driver.core import Op, run
from hwmoe.driver.trace import Trace, entry
from hwmoe.errors import UserError

DATA = Path(__file__).parent / "data" / "driver"
PHYS = 0x4000_0000      # the fake PYNQ overlay's register window


class Mismatch(AssertionError):
    """A replayed access differs from the recorded one."""


class Replay:
    """Answers accesses from a recorded trace, refusing any that differs from the record."""

    def __init__(self, trace: Trace):
        self.entries, self.at = trace.entries, 0

    def __call__(self, name: str, *args):
        got = entry(Op(name, args))
        want = self.entries[self.at] if self.at < len(self.entries) else None
        if want is None or (got["op"], got["args"]) != (want["op"], want["args"]):
            raise Mismatch(f"access {self.at}: {got}, the trace has {want}")
        self.at += 1
        result = want.get("result")
        return bytes.fromhex(result["hex"]) if isinstance(result, dict) else result

    def read_reg(self, offset: int) -> int:
        """A register read; while the trace waits for the run's end, AP_CTRL reads are the backend's polling
        and get the AP_CTRL recorded at the end."""
        if self.at < len(self.entries) and self.entries[self.at]["op"] == "wait":
            assert offset == reg.AP_CTRL, f"access {self.at}: polling reads AP_CTRL, not 0x{offset:x}"
            return self("wait")
        return self("read_reg", offset)


class Memory:
    """A device buffer's host view: writes are the trace's ``write_mem`` and must be flushed before the next
    register access; reads must follow an invalidation (the device wrote the memory)."""

    def __init__(self, replay: Replay, size: int):
        self.replay, self.data = replay, np.zeros(size, np.uint8)
        self.addr = replay("alloc", size)
        self.dirty = self.fresh = False

    def write(self, offset: int, data: bytes) -> None:
        self.replay("write_mem", offset, bytes(data))
        self.data[offset:offset + len(data)] = np.frombuffer(data, np.uint8)
        self.dirty = True

    def read(self, offset: int, size: int) -> bytes:
        assert self.fresh, "buffer read without syncing it from the device"
        self.data[offset:offset + size] = np.frombuffer(self.replay("read_mem", offset, size), np.uint8)
        return self.data[offset:offset + size].tobytes()


def registers(replay: Replay, buffers: list):
    """(read, write) of the IP's registers: no buffer may hold unflushed writes when a register is touched."""
    def check():
        assert not any(b.dirty for b in buffers), "register access before the buffer was synced to the device"

    def read(offset):
        check()
        return replay.read_reg(offset)

    def write(offset, value):
        check()
        for b in buffers:
            b.fresh = False          # the device may write the memory from now on
        replay("write_reg", offset, value)
    return read, write


def fake_pynq(replay: Replay) -> types.ModuleType:
    """What the PYNQ backend uses of ``pynq``: Overlay (ip_dict), MMIO, allocate (a buffer with
    physical_address, slices, sync_to_device, sync_from_device)."""
    m = types.ModuleType("pynq")
    buffers = []
    read, write = registers(replay, buffers)

    class Overlay:
        def __init__(self, path):
            self.ip_dict = {"axi_intc_0": {"type": "xilinx.com:ip:axi_intc:4.1", "phys_addr": 0x4100_0000,
                                           "addr_range": 0x1000},
                            "accel": {"type": f"hwmoe.org:hls:{reg.TOP}:1.0", "phys_addr": PHYS,
                                      "addr_range": 0x1000}}

    class MMIO:
        def __init__(self, base, length):
            assert (base, length) == (PHYS, 0x1000)
            self.read, self.write = read, write

    class Buffer(Memory):
        physical_address = property(lambda self: self.addr)

        def __setitem__(self, key: slice, value):
            self.write(key.start, np.asarray(value, np.uint8).tobytes())

        def __getitem__(self, key: slice):
            return np.frombuffer(self.read(key.start, key.stop - key.start), np.uint8)

        def sync_to_device(self):
            self.dirty = False

        def sync_from_device(self):
            self.fresh = True

    def allocate(shape, dtype):
        assert np.dtype(dtype) == np.uint8 and len(shape) == 1
        buffers.append(Buffer(replay, shape[0]))
        return buffers[-1]

    m.Overlay, m.MMIO, m.allocate = Overlay, MMIO, allocate
    return m


def fake_pyxrt(replay: Replay) -> types.ModuleType:
    """What the XRT backend uses of ``pyxrt``: device (load_xclbin), ip (read/write_register), bo (address,
    write, read, sync) and xclBOSyncDirection."""
    m = types.ModuleType("pyxrt")
    buffers = []
    read, write = registers(replay, buffers)
    to_device, from_device = "XCL_BO_SYNC_BO_TO_DEVICE", "XCL_BO_SYNC_BO_FROM_DEVICE"

    class device:
        def __init__(self, index):
            assert index == 0

        def load_xclbin(self, path):
            return "uuid"

    class ip:
        def __init__(self, dev, uuid, name):
            assert isinstance(dev, device) and uuid == "uuid" and name == reg.KERNEL
            self.read_register, self.write_register = read, write

    class bo(Memory):
        normal = "normal"

        def __init__(self, dev, size, flags, bank):
            assert isinstance(dev, device) and flags == "normal" and bank == 0
            super().__init__(replay, size)
            buffers.append(self)

        def address(self):
            return self.addr

        def sync(self, direction, size, offset):
            assert size > 0 and offset + size <= self.data.size
            if direction == to_device:
                self.dirty = False
            else:
                assert direction == from_device
                self.fresh = True

        def read(self, size, offset):
            return np.frombuffer(Memory.read(self, offset, size), np.int8)

        def write(self, data, offset):
            Memory.write(self, offset, data)

    m.device, m.ip, m.bo = device, ip, bo
    m.xclBOSyncDirection = types.SimpleNamespace(XCL_BO_SYNC_BO_TO_DEVICE=to_device,
                                                 XCL_BO_SYNC_BO_FROM_DEVICE=from_device)
    return m


FAKES = {"pynq": ("pynq", fake_pynq, "--bitstream", "accel.bit"), "xrt": ("pyxrt", fake_pyxrt, "--xclbin", "a.xclbin")}


@pytest.fixture
def recorded():
    """The recorded session: build, input, trace, and the simulation's result."""
    return (Build.load(DATA), np.load(DATA / "input.npy"), Trace.load(DATA / "trace.json"),
            json.loads((DATA / "result.json").read_text()))


def board(monkeypatch, tmp_path, device: str, trace: Trace):
    """Install the stand-in of ``device``'s package replaying ``trace``; returns (replay, CLI arguments)."""
    module, fake, option, name = FAKES[device]
    replay = Replay(trace)
    monkeypatch.setitem(sys.modules, module, fake(replay))
    (tmp_path / name).write_bytes(b"")
    return replay, ["--device", device, option, str(tmp_path / name)]


def hls_session(trace: Trace) -> Trace:
    """The recorded RTL session as the HLS top has it: no ID read before the first run (its ID is an output
    the run writes), no counter reads (C code has no clock)."""
    first_id = index(trace, "read_reg", reg.ID)
    return Trace([e for n, e in enumerate(trace.entries) if n != first_id and not (
        e["op"] == "read_reg" and e["args"][0] >= reg.CYCLES_LO)])


@pytest.mark.parametrize("device", FAKES)
@pytest.mark.parametrize("top", reg.TOPS)
def test_replay_equals_the_simulation(recorded, device, top, monkeypatch, tmp_path):
    """The board backend makes exactly the simulation's accesses; the output words and every counter the
    driver returns are the simulation's (on the HLS top: the same accesses but the counters', no counters)."""
    build, x, trace, sim = recorded
    trace = hls_session(trace) if top == "hls" else trace
    replay, _ = board(monkeypatch, tmp_path, device, trace)
    backend = open_backend(device, bitstream=str(tmp_path / "accel.bit"), xclbin=str(tmp_path / "a.xclbin"))
    driver = build.driver(top)
    run(driver.load(), backend)
    raw, result = run(build.infer(driver, x), backend)
    assert replay.at == len(trace.entries)
    assert raw.tolist() == sim["output"]
    counters = (sim["cycles"], sim["engines"]) if top == "rtl" else (None, [])
    assert (result.status, result.error, result.commands, result.cycles, result.engines) == \
        (sim["status"], sim["error"], sim["commands"], *counters)


def test_the_session_follows_the_register_map(recorded):
    """The recorded session against registers.py: start by ap_start, the end seen with ap_done (its read
    cleared it), ERROR, COMMANDS and ID read, the interrupt enabled and its ISR bit cleared by writing back
    what was read."""
    _, _, trace, sim = recorded
    ops = [(e["op"], *e["args"][:2]) for e in trace.entries if e["op"] in ("read_reg", "write_reg", "wait")]
    start = ops.index(("write_reg", reg.AP_CTRL, reg.AP_START))
    assert {("write_reg", reg.GIE, reg.GIE_ENABLE), ("write_reg", reg.IER, reg.IRQ_DONE)} <= set(ops[:start])
    assert ops[start + 1:start + 5] == [("wait",), ("read_reg", reg.ERROR), ("read_reg", reg.COMMANDS),
                                        ("read_reg", reg.ID)]
    assert ops[-2:] == [("read_reg", reg.ISR), ("write_reg", reg.ISR, reg.IRQ_DONE)]
    assert sim["status"] & reg.AP_DONE and not sim["status"] & reg.AP_START


@pytest.mark.parametrize("device", FAKES)
def test_run_board_command(recorded, device, monkeypatch, tmp_path, capsys):
    """``hwmoe run-board`` through the stand-in: the dequantised output, as ``hwmoe run`` would write it."""
    build, x, trace, sim = recorded
    np.save(tmp_path / "x.npy", x)
    replay, args = board(monkeypatch, tmp_path, device, trace)
    assert main(["run-board", str(DATA), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                 *args]) == 0
    assert replay.at == len(trace.entries)
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, build.dequantize(np.array(sim["output"]))[None])
    assert f"{sim['commands']} commands, {sim['cycles']} cycles" in capsys.readouterr().out


def test_run_board_on_the_hls_top(recorded, monkeypatch, tmp_path, capsys):
    """``run-board --top hls``: the HLS top's session, the output, the commands and no cycles printed."""
    build, x, trace, sim = recorded
    np.save(tmp_path / "x.npy", x)
    replay, args = board(monkeypatch, tmp_path, "pynq", hls_session(trace))
    assert main(["run-board", str(DATA), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"),
                 "--top", "hls", *args]) == 0
    assert replay.at == len(replay.entries)
    assert np.array_equal(np.load(tmp_path / "y.npy"), build.dequantize(np.array(sim["output"]))[None])
    assert f"image 0: {sim['commands']} commands\n" in capsys.readouterr().out


def altered(trace: Trace, n: int, **change) -> Trace:
    """The trace with entry ``n`` changed."""
    entries = [dict(e) for e in trace.entries]
    entries[n].update(change)
    return Trace(entries)


def index(trace: Trace, op: str, *args) -> int:
    return next(n for n, e in enumerate(trace.entries) if e["op"] == op and e["args"][:len(args)] == list(args))


def test_a_different_access_is_caught(recorded, monkeypatch, tmp_path):
    """The stand-ins can fail: a recorded PROG other than the build's is a mismatch at that access."""
    build, x, trace, _ = recorded
    n = index(trace, "write_reg", reg.PROG)
    board(monkeypatch, tmp_path, "pynq", altered(trace, n, args=[reg.PROG, build.program + 256]))
    backend = open_backend("pynq", bitstream=str(tmp_path / "accel.bit"))
    with pytest.raises(Mismatch, match=f"access {n}"):
        run(build.driver().load(), backend)


def one_error_line(capsys, code: int, needle: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], (code, err)


def test_accelerator_error_is_one_line(recorded, monkeypatch, tmp_path, capsys):
    """A run ending in ERROR (an AXI read error, say) is reported in one line and no output is written."""
    build, x, trace, _ = recorded
    np.save(tmp_path / "x.npy", x)
    bad = altered(trace, index(trace, "read_reg", reg.ERROR), result=2)
    _, args = board(monkeypatch, tmp_path, "xrt", bad)
    one_error_line(capsys, main(["run-board", str(DATA), "--input", str(tmp_path / "x.npy"),
                                 "-o", str(tmp_path / "y.npy"), *args]), "AXI read error")
    assert not (tmp_path / "y.npy").exists()


def test_not_an_accelerator(recorded, monkeypatch, tmp_path):
    build, _, trace, _ = recorded
    board(monkeypatch, tmp_path, "pynq", altered(trace, index(trace, "read_reg", reg.ID), result=0xDEADBEEF))
    with pytest.raises(UserError, match="ID 0xdeadbeef"):
        run(build.driver().load(), open_backend("pynq", bitstream=str(tmp_path / "accel.bit")))


def test_not_an_accelerator_after_the_run(recorded, monkeypatch, tmp_path):
    """The HLS top's ID is known only after a run: a run that leaves another ID is refused in one line."""
    build, x, trace, _ = recorded
    session = hls_session(trace)
    board(monkeypatch, tmp_path, "pynq", altered(session, index(session, "read_reg", reg.ID), result=0))
    backend = open_backend("pynq", bitstream=str(tmp_path / "accel.bit"))
    driver = build.driver("hls")
    run(driver.load(), backend)
    with pytest.raises(UserError, match="ID 0x00000000, not an hwmoe accelerator's"):
        run(build.infer(driver, x), backend)


def test_user_mistakes_are_one_line(monkeypatch, tmp_path, capsys):
    """No package, no bitstream, no build, a wrong input: one line each, exit 2, nothing written."""
    x = tmp_path / "x.npy"
    np.save(x, np.load(DATA / "input.npy"))
    y = str(tmp_path / "y.npy")
    (tmp_path / "a.bit").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "pynq", None)        # import pynq fails
    monkeypatch.setitem(sys.modules, "pyxrt", None)
    for argv, needle in (
            ([str(DATA), "--input", str(x), "--device", "pynq", "--bitstream", str(tmp_path / "a.bit")], "'pynq'"),
            ([str(DATA), "--input", str(x), "--device", "xrt", "--xclbin", str(tmp_path / "a.bit")], "'pyxrt'"),
            ([str(DATA), "--input", str(x), "--device", "pynq"], "needs --bitstream"),
            ([str(DATA), "--input", str(x), "--device", "xrt", "--xclbin", str(tmp_path / "no.xclbin")],
             "no.xclbin: no such file"),
            ([str(tmp_path / "nobuild"), "--input", str(x), "--device", "pynq"], "no such build directory"),
            ([str(tmp_path), "--input", str(x), "--device", "pynq"], "not a readable build"),
            ([str(DATA), "--input", str(DATA / "trace.json"), "--device", "pynq"], "not a readable .npy"),
            ([str(DATA), "--input", str(DATA / "input.npy")[:-4] + "x.npy", "--device", "pynq"], "no such file")):
        one_error_line(capsys, main(["run-board", *argv, "-o", y]), needle)
        assert not Path(y).exists()
    np.save(x, np.zeros((2, 3, 16, 16)))
    one_error_line(capsys, main(["run-board", str(DATA), "--input", str(x), "--device", "pynq", "-o", y]),
                   "does not match the model's input")
    np.save(x, np.load(DATA / "input.npy"))
    one_error_line(capsys, main(["run-board", str(DATA), "--input", str(x), "--device", "pynq", "--top", "vhdl",
                                 "--bitstream", str(tmp_path / "a.bit"), "-o", y]), "top 'vhdl': expected one of")
    assert not Path(y).exists()


def test_polling_gives_up():
    """A board run that never ends is refused after the timeout, naming AP_CTRL."""
    with pytest.raises(UserError, match="did not finish within 0.01 s .AP_CTRL 0x1."):
        poll(lambda offset: reg.AP_START, timeout=0.01)


def test_synchronous_runner_refuses_an_async_backend():
    """A backend that really suspends (as cocotb's does) cannot be run without an event loop."""
    class Async:
        async def alloc(self, size):
            await asyncio.sleep(0)
            return 0

    def steps():
        yield Op("alloc", (64,))
    with pytest.raises(TypeError, match="asynchronous"):
        run(steps(), Async())


def test_the_driver_needs_no_flow_dependencies():
    """On a board only NumPy, PyYAML and the vendor package are at hand: the driver and run-board's path
    through the CLI import nothing of the flow's (torch, ONNX, Optuna) or the simulation's (cocotb, pyverilog)."""
    code = ("import sys, hwmoe.cli; hwmoe.cli.build_parser(); import hwmoe.driver.build, hwmoe.driver.board, "
            "hwmoe.driver.pynq, hwmoe.driver.xrt, hwmoe.inputs; print(sorted(m for m in ('torch', 'onnx', "
            "'onnxruntime', 'optuna', 'cocotb', 'cocotbext', 'pyverilog', 'hls4ml') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"
