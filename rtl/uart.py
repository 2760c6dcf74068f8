"""A UART (8N1: one start bit, 8 data bits LSB first, one stop bit, no parity) for the host link.

Both directions count clock cycles per bit: `divisor = round(clk_freq / baud)`, at least MIN_DIVISOR; the
construction fails if the baud rate this gives is off by more than MAX_BAUD_ERROR (a UART tolerates about
2 % between the two ends).

- `UartTx`: `data` is a stream of bytes; `tx` is the line (1 when idle). A byte takes 10 bit times; the
  stream's `ready` is high while the transmitter is idle, and the next byte starts right after the stop
  bit of the last one.
- `UartRx`: `rx` is the line, passed through a two-flip-flop synchronizer. A falling edge starts a byte;
  the start bit is checked again half a bit later (a shorter low pulse is a glitch and ignored), then each
  data bit and the stop bit are sampled in the middle of their bit time. A byte whose stop bit is 0 is
  dropped and pulses `framing_error`; a byte that arrives while the previous one still waits on `data`
  (valid and not ready) replaces it and pulses `overrun`. The receiver looks for the next start bit right
  after the middle of the stop bit, so a sender up to half a bit per byte faster is still received.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

MIN_DIVISOR = 4
MAX_BAUD_ERROR = 0.02


def uart_divisor(clk_freq: float, baud: float) -> int:
    """Clock cycles per bit; ValueError if the baud rate cannot be reached within MAX_BAUD_ERROR."""
    if not clk_freq > 0 or not baud > 0:
        raise ValueError(f"UART: clock {clk_freq!r} Hz and baud rate {baud!r} must be positive")
    divisor = round(clk_freq / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"UART: {baud:g} baud needs at least {MIN_DIVISOR} clock cycles per bit; a "
                         f"{clk_freq / 1e6:g} MHz clock allows at most {clk_freq / MIN_DIVISOR:g} baud")
    error = abs(clk_freq / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(f"UART: {baud:g} baud from a {clk_freq / 1e6:g} MHz clock is off by {error:.1%} "
                         f"(divisor {divisor}); pick a baud rate within {MAX_BAUD_ERROR:.0%} of "
                         f"{clk_freq:g} / N")
    return divisor


class UartTx(wiring.Component):
    """Transmitter: `UartTx(divisor=N)` or `UartTx(clk_freq=..., baud=...)`."""

    def __init__(self, *, divisor: int | None = None, clk_freq: float | None = None, baud: float | None = None):
        self.divisor = _divisor(divisor, clk_freq, baud)
        super().__init__({"data": In(stream.Signature(8)), "tx": Out(1, init=1)})

    def elaborate(self, platform):
        m = Module()
        shift = Signal(10, init=0x3FF)        # stop, data[7:0], start; bit 0 is on the line
        bits_left = Signal(range(11))
        timer = Signal(range(self.divisor))
        m.d.comb += [self.tx.eq(shift[0]), self.data.ready.eq(bits_left == 0)]
        with m.If(bits_left == 0):
            with m.If(self.data.valid):
                m.d.sync += [shift.eq(Cat(0, self.data.payload, 1)), bits_left.eq(10),
                             timer.eq(self.divisor - 1)]
        with m.Elif(timer == 0):
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), bits_left.eq(bits_left - 1), timer.eq(self.divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
        return m


class UartRx(wiring.Component):
    """Receiver: `UartRx(divisor=N)` or `UartRx(clk_freq=..., baud=...)`."""

    def __init__(self, *, divisor: int | None = None, clk_freq: float | None = None, baud: float | None = None):
        self.divisor = _divisor(divisor, clk_freq, baud)
        super().__init__({"rx": In(1, init=1), "data": Out(stream.Signature(8)), "framing_error": Out(1),
                          "overrun": Out(1)})

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, rx, init=1)
        timer = Signal(range(self.divisor))
        bit = Signal(range(9))
        shift = Signal(8)
        m.d.sync += [self.framing_error.eq(0), self.overrun.eq(0)]
        with m.If(self.data.ready):
            m.d.sync += self.data.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(rx):
                    m.next = "IDLE"                         # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [shift.eq(Cat(shift[1:], rx)), bit.eq(bit + 1), timer.eq(self.divisor - 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(rx):
                        m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1),
                                     self.overrun.eq(self.data.valid & ~self.data.ready)]
                    with m.Else():
                        m.d.sync += self.framing_error.eq(1)
                    m.next = "IDLE"
        return m


def _divisor(divisor, clk_freq, baud) -> int:
    if divisor is not None:
        if clk_freq is not None or baud is not None:
            raise TypeError("UART: give either divisor or clk_freq and baud, not both")
        if isinstance(divisor, bool) or not isinstance(divisor, int) or divisor < MIN_DIVISOR:
            raise ValueError(f"UART: divisor {divisor!r}: must be an integer >= {MIN_DIVISOR}")
        return divisor
    if clk_freq is None or baud is None:
        raise TypeError("UART: give divisor, or clk_freq and baud")
    return uart_divisor(clk_freq, baud)
