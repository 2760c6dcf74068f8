"""Drift-code draw of one device: the inverse-CDF threshold search of contract.device_twin_drift, one
threshold per cycle.

A device aimed at code k whose drift draw is the 16-bit uniform u gets drift code
c = #{j in 1..15 : u >= T[k][j]}. The thresholds are a ROM of (L+1) x 16 words (a block RAM; word 15 of
each row is 2^16, which no u reaches) read one word per cycle, so one comparator serves all of them: a
write is rare, and 16 cycles per device cost nothing next to the LUTs of 15 x (L+1) parallel comparators.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_twin_drift import DRIFT_CODES, UNIFORM_BITS, threshold_table
from aimcgen.spec import DesignSpec


class DriftCodeScanner(wiring.Component):
    """Ports: `start` (strobe: take `aimed` and `uniform`; only while not `busy`), `busy` (high for 16
    cycles after `start`), `code` (the drift code once `busy` falls; held until the next start)."""

    def __init__(self, spec: DesignSpec):
        self.spec = spec
        levels = spec.tile.conductance_levels
        super().__init__({"start": In(1), "aimed": In(range(levels + 1)), "uniform": In(UNIFORM_BITS),
                          "busy": Out(1), "code": Out(range(DRIFT_CODES))})

    def elaborate(self, platform):
        m = Module()
        table = threshold_table(self.spec)
        never = 1 << UNIFORM_BITS
        init = [t for row in table for t in row + [never] * (DRIFT_CODES - len(row))]
        m.submodules.thresholds = rom = Memory(shape=UNIFORM_BITS + 1, depth=len(init), init=init)
        read = rom.read_port(domain="sync")
        aimed, uniform = Signal.like(self.aimed), Signal.like(self.uniform)
        index = Signal(range(DRIFT_CODES))       # the next threshold to read
        scanning = Signal()                      # reading thresholds 0..14
        pending = Signal()                       # the read port holds the last threshold read
        m.d.comb += [read.addr.eq(Cat(index, aimed)), read.en.eq(scanning), self.busy.eq(scanning | pending)]
        with m.If(pending):
            m.d.sync += self.code.eq(self.code + (uniform >= read.data))
        with m.If(self.start):
            m.d.sync += [aimed.eq(self.aimed), uniform.eq(self.uniform), index.eq(0), scanning.eq(1),
                         pending.eq(0), self.code.eq(0)]
        with m.Elif(scanning):
            m.d.sync += [index.eq(index + 1), pending.eq(1)]
            with m.If(index == DRIFT_CODES - 2):
                m.d.sync += scanning.eq(0)
        with m.Elif(pending):
            m.d.sync += pending.eq(0)
        return m
