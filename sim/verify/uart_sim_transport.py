"""A host-link transport into a simulated emulation core: the host driver runs unchanged against RTL.

`UartSimTransport(spec)` builds `EmulationCore(spec)` (aimcgen.boards: the accelerator with emulated
tiles, the UART and the UART-to-Wishbone bridge; the board's PLL and pins are left out) in Amaranth's
simulator and talks to it through its UART pins, bit by bit: a background testbench shifts the host's
bytes onto `rx` at the core's bit time and another decodes the bytes the core sends on `tx`. `write`
queues bytes; `read(n)` advances the simulation until n bytes have come back (TransportTimeout after
`timeout_cycles` clock cycles without them). The simulation only runs inside `read`, which is when the
host waits for the board anyway. `inject(bytes)` puts bytes in front of what the board sent, as a response
that comes late would be (the host driver must drop it by its TAG).

Why Amaranth's simulator and not cocotb + Verilator: the driver is plain blocking Python and here it calls
the simulator in-process, one `run_until` per wait, with no build step (a Verilator build of the
accelerator takes longer than the whole test) and no thread bridging into cocotb's scheduler. Keep the
UART fast in simulation (`divisor` = 4 clock cycles per bit: 40 cycles per byte).
"""

from __future__ import annotations

from collections import deque

from amaranth.sim import Simulator

from aimcgen.boards.emulation import EmulationCore
from aimcgen.sim.host.driver import TransportTimeout
from aimcgen.spec import DesignSpec

CLOCK_PERIOD = 1e-8
MIN_STEP_CYCLES = 64


class UartSimTransport:
    """Transport (see sim.host.driver) to an `EmulationCore` in Amaranth's simulator."""

    def __init__(self, spec: DesignSpec, *, divisor: int = 4, timeout_cycles: int = 2_000_000,
                 init_weights=None, vcd: str | None = None):
        core = EmulationCore(spec, divisor=divisor, init_weights=init_weights)
        self._start(spec, core, core, divisor=divisor, timeout_cycles=timeout_cycles)
        self.sim.add_clock(CLOCK_PERIOD)
        self._open_vcd(vcd)

    def _start(self, spec: DesignSpec, device, top, *, divisor: int, timeout_cycles: int) -> None:
        """State of every transport: `device` has the UART pins (rx, tx) and frame_timeout, `top` is simulated
        (it carries the register map); the simulator gets the two UART ends."""
        self.spec, self.dut, self.regmap = spec, device, top.regmap
        self.divisor = divisor
        self.timeout_cycles = timeout_cycles
        self.cycles = 0
        self._to_dut: deque[int] = deque()
        self._from_dut = bytearray()
        self.framing_errors = 0
        self.sim = Simulator(top)
        self.sim.add_testbench(self._drive_rx, background=True)
        self.sim.add_testbench(self._sample_tx, background=True)

    def _open_vcd(self, vcd: str | None) -> None:
        self._vcd = None
        if vcd is not None:
            self._vcd = self.sim.write_vcd(vcd)
            self._vcd.__enter__()

    # The two UART ends --------------------------------------------------------------------------------

    # (Plain delays of whole bit times rather than `ctx.tick().repeat()`: the same timing, fewer wake-ups,
    # and no async generators left open when the simulation is dropped.)

    async def _drive_rx(self, ctx):
        rx, bit_time = self.dut.rx, self.divisor * CLOCK_PERIOD
        ctx.set(rx, 1)
        while True:
            if not self._to_dut:
                await ctx.delay(bit_time)
                continue
            byte = self._to_dut.popleft()
            for bit in [0] + [byte >> i & 1 for i in range(8)] + [1]:
                ctx.set(rx, bit)
                await ctx.delay(bit_time)

    async def _sample_tx(self, ctx):
        tx, bit_time = self.dut.tx, self.divisor * CLOCK_PERIOD
        while True:
            await ctx.negedge(tx)
            await ctx.delay(1.5 * bit_time)                # middle of data bit 0
            byte = 0
            for i in range(8):
                byte |= ctx.get(tx) << i
                await ctx.delay(bit_time)
            if ctx.get(tx):                                # middle of the stop bit
                self._from_dut.append(byte)
            else:
                self.framing_errors += 1

    # Transport ----------------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self._to_dut.extend(data)

    def read(self, n: int) -> bytes:
        waited = 0
        while len(self._from_dut) < n:
            if waited >= self.timeout_cycles:
                got = bytes(self._from_dut)
                self._from_dut.clear()
                raise TransportTimeout(f"simulated board: {len(got)} of {n} bytes after {waited} cycles "
                                       f"({got.hex()})")
            # Run about as long as the queued request and the missing response bytes take on the line.
            step = max(MIN_STEP_CYCLES, (len(self._to_dut) + n - len(self._from_dut)) * 10 * self.divisor)
            self.cycles += step
            waited += step
            self.sim.run_until(self.cycles * CLOCK_PERIOD)
        data = bytes(self._from_dut[:n])
        del self._from_dut[:n]
        return data

    def inject(self, data: bytes) -> None:
        """Bytes as if the board had sent them already (e.g. a late response frame), read before the rest."""
        self._from_dut[:0] = data

    def reset_input_buffer(self) -> None:
        """Drop bytes already received (the host resynchronizes after an error)."""
        self._from_dut.clear()

    def idle(self, cycles: int | None = None) -> None:
        """Let the simulation run `cycles` (default: past the bridge's frame timeout)."""
        self.cycles += self.dut.frame_timeout + 16 * self.divisor if cycles is None else cycles
        self.sim.run_until(self.cycles * CLOCK_PERIOD)

    def close(self) -> None:
        if self._vcd is not None:
            self._vcd.__exit__(None, None, None)
            self._vcd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
