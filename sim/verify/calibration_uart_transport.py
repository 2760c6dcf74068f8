"""A host-link transport into a cocotb simulation: the host driver (sim.host.driver.AimcHost) runs unchanged
against generated Verilog that has the UART bridge (sim.verify.calibration_uart_top), bit by bit on its pins.

The host driver is blocking Python; run it in a cocotb `bridge` thread and give it `transport.blocking()`,
whose write/read/idle/reset_input_buffer are `resume`-wrapped coroutines: the simulation advances only
while the host waits for bytes, as sim.verify.uart_sim_transport does in Amaranth's simulator. Two
background coroutines are the host's UART: one shifts queued bytes onto `rx` (start bit, 8 data bits LSB
first, stop bit; `divisor` clock cycles each), one samples `tx` in the middle of each bit.
"""

from __future__ import annotations

from collections import deque

import cocotb
from cocotb.task import resume
from cocotb.triggers import ClockCycles, Event, FallingEdge

from aimcgen.contract import uart_protocol as proto
from aimcgen.sim.host.driver import TransportTimeout


class _Blocking:
    """The Transport protocol for code in a bridge thread."""

    def __init__(self, link: "CocotbUartTransport"):
        self.write = resume(link.write)
        self.read = resume(link.read)
        self.idle = resume(link.idle)
        self.reset_input_buffer = resume(link.reset_input_buffer)


class CocotbUartTransport:
    """The UART pins `rx`/`tx` of `dut` (clock `clk`) as a host link."""

    def __init__(self, dut, *, divisor: int, timeout_cycles: int = 400_000):
        self.dut, self.divisor, self.timeout_cycles = dut, divisor, timeout_cycles
        self._to_dut: deque[int] = deque()
        self._from_dut = bytearray()
        self._queued = Event()
        self.framing_errors = 0
        self.cycles = 0                 # clock cycles the host spent waiting for bytes
        dut.rx.value = 1

    def start(self) -> None:
        cocotb.start_soon(self._drive_rx())
        cocotb.start_soon(self._sample_tx())

    def blocking(self) -> _Blocking:
        return _Blocking(self)

    async def _drive_rx(self):
        clk = self.dut.clk
        while True:
            if not self._to_dut:
                self._queued.clear()
                await self._queued.wait()
                continue
            byte = self._to_dut.popleft()
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                self.dut.rx.value = bit
                await ClockCycles(clk, self.divisor)

    async def _sample_tx(self):
        clk, tx, d = self.dut.clk, self.dut.tx, self.divisor
        while True:
            await FallingEdge(tx)
            await ClockCycles(clk, d + d // 2)          # middle of data bit 0
            byte = 0
            for i in range(8):
                byte |= int(tx.value) << i
                await ClockCycles(clk, d)
            if int(tx.value):                           # middle of the stop bit
                self._from_dut.append(byte)
            else:
                self.framing_errors += 1

    async def write(self, data: bytes) -> None:
        self._to_dut.extend(data)
        self._queued.set()

    async def read(self, n: int) -> bytes:
        waited, step = 0, 10 * self.divisor
        while len(self._from_dut) < n:
            if waited >= self.timeout_cycles:
                got = bytes(self._from_dut)
                self._from_dut.clear()
                raise TransportTimeout(f"simulated chip: {len(got)} of {n} bytes after {waited} cycles ({got.hex()})")
            await ClockCycles(self.dut.clk, step)
            waited += step
            self.cycles += step
        data = bytes(self._from_dut[:n])
        del self._from_dut[:n]
        return data

    async def idle(self) -> None:
        """Wait out the bridge's frame timeout."""
        await ClockCycles(self.dut.clk, proto.FRAME_TIMEOUT_BYTES * 10 * self.divisor + 16 * self.divisor)

    async def reset_input_buffer(self) -> None:
        self._from_dut.clear()
