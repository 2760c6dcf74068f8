"""The host-link transport of sim.verify.uart_sim_transport on the Tiny Tapeout pins (flows.tinytapeout).

`TtSimTransport(spec)` simulates `TinyTapeoutTop(spec)` as TT's frame drives it: `clk` toggled from the
testbench (the wrapper derives its sync domain from that pin, so there is no domain clock to add), `rst_n`
held low for RESET_CYCLES and `ena` high; the host's bytes go onto ui_in[3] and come back from uo_out[4]
through the same bit-level UART ends as UartSimTransport, whose read/idle/close it inherits.
"""

from __future__ import annotations

from aimcgen.boards.tinytapeout import RX_PIN, TX_PIN, TinyTapeoutTop
from aimcgen.sim.verify.uart_sim_transport import CLOCK_PERIOD, UartSimTransport
from aimcgen.spec import DesignSpec

RESET_CYCLES = 8


class _UartPins:
    """What UartSimTransport's UART ends use of their device: the line pins and the frame timeout."""

    def __init__(self, top: TinyTapeoutTop):
        self.rx, self.tx = top.ui_in[RX_PIN], top.uo_out[TX_PIN]
        self.frame_timeout = top.frame_timeout


class TtSimTransport(UartSimTransport):
    """Transport (see sim.host.driver) to a `TinyTapeoutTop` in Amaranth's simulator, through its pins."""

    def __init__(self, spec: DesignSpec, *, divisor: int = 4, timeout_cycles: int = 2_000_000,
                 heartbeat_bits: int = 4, init_weights=None, vcd: str | None = None):
        self.top = TinyTapeoutTop(spec, divisor=divisor, heartbeat_bits=heartbeat_bits, init_weights=init_weights)
        self._start(spec, _UartPins(self.top), self.top, divisor=divisor, timeout_cycles=timeout_cycles)
        self.uo_ever_high = self.uo_ever_low = self.uio_ever_driven = 0
        self._resets = 0
        self.sim.add_process(self._clock)
        self.sim.add_testbench(self._reset, background=True)
        self.sim.add_process(self._watch)
        self._open_vcd(vcd)
        self.pulse_reset()                   # out of reset (and through the synchronizer) before any byte

    async def _clock(self, ctx):
        clk, half = self.top.clk, CLOCK_PERIOD / 2
        await ctx.delay(half)                # first rising edge at one period, as Simulator.add_clock
        while True:
            ctx.set(clk, 1)
            await ctx.delay(half)
            ctx.set(clk, 0)
            await ctx.delay(half)

    async def _reset(self, ctx):
        ctx.set(self.top.ena, 1)
        while True:
            if self._resets:
                self._resets -= 1
                ctx.set(self.top.rst_n, 0)
                await ctx.delay(RESET_CYCLES * CLOCK_PERIOD)
                ctx.set(self.top.rst_n, 1)
            await ctx.delay(RESET_CYCLES * CLOCK_PERIOD)

    def pulse_reset(self) -> None:
        """Hold rst_n low for RESET_CYCLES, as TT's frame does when the project is selected."""
        self._resets += 1
        self.idle(3 * RESET_CYCLES + 4)

    async def _watch(self, ctx):
        """Which uo_out bits were ever 1 and ever 0, and whether uio was ever driven (status pin checks)."""
        top = self.top
        async for uo, uio_out, uio_oe in ctx.changed(top.uo_out, top.uio_out, top.uio_oe):
            self.uo_ever_high |= uo
            self.uo_ever_low |= ~uo & 0xFF
            self.uio_ever_driven |= uio_oe | uio_out
