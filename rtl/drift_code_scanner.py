"""Drift-code draw of one device: the inverse-CDF threshold search of contract.device_twin_drift, as a binary
search over the device's threshold row, one threshold per cycle.

A device aimed at code k whose drift draw is the 16-bit uniform u gets drift code
c = #{j in 1..63 : u >= T[k][j]}. T[k][j] never falls as j grows, so c is the largest j with T[k][j] <= u
(j = 0 when none): a binary search settles one bit of c per threshold read, most significant first. The
thresholds are a ROM of (L+1) x 64 words of 17 bits (a block RAM; word 0 of each row is never read; a
threshold of 2^16 is one no u reaches) read one word per cycle, so one comparator serves all of them:
6 reads and the last comparison, 7 cycles per device, where a linear scan would take 64, and far fewer LUTs
than 63 x (L+1) parallel comparators.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_twin_drift import DRIFT_CODES, UNIFORM_BITS, threshold_table
from aimcgen.spec import DesignSpec

CODE_BITS = (DRIFT_CODES - 1).bit_length()


class DriftCodeScanner(wiring.Component):
    """Ports: `start` (strobe: take `aimed` and `uniform`; only while not `busy`), `busy` (high for
    CODE_BITS + 1 = 7 cycles after `start`), `code` (the drift code once `busy` falls; held until the next
    start)."""

    def __init__(self, spec: DesignSpec):
        if DRIFT_CODES != 1 << CODE_BITS:
            raise ValueError(f"DRIFT_CODES = {DRIFT_CODES}: the binary search needs a power of two")
        self.spec = spec
        levels = spec.tile.conductance_levels
        super().__init__({"start": In(1), "aimed": In(range(levels + 1)), "uniform": In(UNIFORM_BITS),
                          "busy": Out(1), "code": Out(range(DRIFT_CODES))})

    def elaborate(self, platform):
        m = Module()
        table = threshold_table(self.spec)
        init = [t for row in table for t in [0] + row]
        m.submodules.thresholds = rom = Memory(shape=UNIFORM_BITS + 1, depth=len(init), init=init)
        read = rom.read_port(domain="sync")
        aimed, uniform = Signal.like(self.aimed), Signal.like(self.uniform)
        probe = Signal(CODE_BITS)                # one-hot: the bit of c the next read decides; 0 when done
        last = Signal(CODE_BITS)                 # the bit the read port's threshold decides
        pending = Signal()                       # the read port holds a threshold to compare
        # The code with the pending comparison applied: the next read's address depends on it.
        resolved = Signal.like(self.code)
        m.d.comb += [resolved.eq(Mux(pending & (uniform >= read.data), self.code | last, self.code)),
                     read.addr.eq(Cat(resolved | probe, aimed)), read.en.eq(probe != 0),
                     self.busy.eq((probe != 0) | pending)]
        with m.If(self.start):
            m.d.sync += [aimed.eq(self.aimed), uniform.eq(self.uniform), probe.eq(1 << (CODE_BITS - 1)),
                         pending.eq(0), self.code.eq(0)]
        with m.Elif(probe != 0):
            m.d.sync += [self.code.eq(resolved), last.eq(probe), probe.eq(probe >> 1), pending.eq(1)]
        with m.Elif(pending):
            m.d.sync += [self.code.eq(resolved), pending.eq(0)]
        return m
