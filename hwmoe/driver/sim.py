"""Simulation backend (cocotb): the generated top's AXI4-Lite slave driven by cocotbext-axi's ``AxiLiteMaster``,
its AXI4 master answered by an ``AxiRam`` holding the buffer at :func:`buffer_address`, the run's end seen on ``irq``.
Its methods are coroutines; :func:`hwmoe.driver.core.drive` runs the driver on it inside a cocotb test."""
from __future__ import annotations

from cocotb.triggers import RisingEdge

from ..accel import registers as reg

def buffer_address(addr_w: int) -> int:
    """Where the buffer sits on the bus: not 0, so BASE_LO is exercised, and above 4 GiB when the master has
    more than 32 address bits, so BASE_HI and the upper address bits are too."""
    return 0x3000 + (1 << 32 if addr_w > 32 else 0)


class CocotbBackend:
    """``dut``: the top (clk, rst, s_axil_*, m_axi_*, irq); ``size``: the largest buffer; ``timeout``: cycles
    a run may take before :meth:`wait` gives up."""

    def __init__(self, dut, size: int, timeout: int):
        from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
        self.dut, self.size, self.timeout = dut, size, timeout
        self.base = buffer_address(len(dut.m_axi_araddr))
        self.ram = AxiRam(AxiBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=self.base + size + 4096)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        for part in (self.ram.read_if, self.ram.write_if, self.axil.read_if, self.axil.write_if):
            part.log.setLevel("WARNING")

    async def alloc(self, size: int) -> int:
        if size > self.size:
            raise ValueError(f"a buffer of {size} bytes, the simulated memory holds {self.size}")
        return self.base

    async def write_mem(self, offset: int, data: bytes) -> None:
        self.ram.write(self.base + offset, data)

    async def read_mem(self, offset: int, size: int) -> bytes:
        return self.ram.read(self.base + offset, size)

    async def read_reg(self, offset: int) -> int:
        return int.from_bytes((await self.axil.read(offset, 4)).data, "little")

    async def write_reg(self, offset: int, value: int) -> None:
        await self.axil.write(offset, value.to_bytes(4, "little"))

    async def wait(self) -> int:
        waited = 0
        while not int(self.dut.irq.value):
            await RisingEdge(self.dut.clk)
            waited += 1
            if waited > self.timeout:
                raise TimeoutError(f"no interrupt within {self.timeout} cycles")
        return await self.read_reg(reg.AP_CTRL)
