"""The 32-bit Galois LFSR of contract.noise that leaps 32 single steps per draw, in `leap_cycles` cycles.

Both of the emulated tile's deterministic generators are built on it: the read noise of each ADC
(rtl/noise.py) and the programming noise of each tile (rtl/programming_noise.py). A leap is GF(2)-linear,
so it is an XOR network whose taps come from `contract.noise.leap_columns` at elaboration time. The network
for all 32 steps is large (about 170 LUT4s); the leap of 32/k steps is much sparser (8 steps: about 25), so
with `leap_cycles = k` the state leaps in k cycles, 32/k steps each, and `ready` rises k cycles after a draw.
`state` is the current state: a user reads its draw from it in the very cycle it strobes `draw`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.noise import LEAP_STEPS, LFSR_BITS, leap_columns


def check_leap_cycles(leap_cycles) -> None:
    if leap_cycles not in {1 << i for i in range(LEAP_STEPS.bit_length())}:
        raise ValueError(f"leap_cycles = {leap_cycles!r}: must be a power of two dividing {LEAP_STEPS}")


class LeapingLfsr(wiring.Component):
    """Ports: `draw` (strobe: start the leap to the next state at the clock edge; only while `ready`),
    `state` (the current state, starting at `seed_state`), `ready` (the last leap is done: low for
    `leap_cycles` - 1 cycles after a draw)."""

    def __init__(self, seed_state: int, *, leap_cycles: int = 1):
        check_leap_cycles(leap_cycles)
        if isinstance(seed_state, bool) or not isinstance(seed_state, int) or not 0 < seed_state < 1 << LFSR_BITS:
            raise ValueError(f"seed_state = {seed_state!r}: must be a non-zero {LFSR_BITS}-bit integer")
        self.seed_state = seed_state
        self.leap_cycles = leap_cycles
        super().__init__({"draw": In(1), "state": Out(unsigned(LFSR_BITS)), "ready": Out(1)})

    def elaborate(self, platform):
        m = Module()
        state = Signal(unsigned(LFSR_BITS), init=self.seed_state)
        columns = leap_columns(LEAP_STEPS // self.leap_cycles)
        leaped = Signal(unsigned(LFSR_BITS))
        for k in range(LFSR_BITS):
            taps = sum(1 << i for i, column in enumerate(columns) if column >> k & 1)
            m.d.comb += leaped[k].eq((state & taps).xor())
        m.d.comb += self.state.eq(state)
        if self.leap_cycles == 1:
            m.d.comb += self.ready.eq(1)
            with m.If(self.draw):
                m.d.sync += state.eq(leaped)
        else:
            left = Signal(range(self.leap_cycles))      # partial leaps still to go
            m.d.comb += self.ready.eq(left == 0)
            with m.If(left != 0):
                m.d.sync += [state.eq(leaped), left.eq(left - 1)]
            with m.Elif(self.draw):
                m.d.sync += [state.eq(leaped), left.eq(self.leap_cycles - 1)]
        return m
