"""When a noise generator's next value is ready: the one rule, built in each generator and copied by the tile.

Why: the emulated tile's ADC front ends, each with its noise generator (rtl/noise.py), sit by their column
adder trees, spread over the FPGA, while the tile's command `ready` is decided next to the periphery. Taking
`ready` from generator 0 put two cross-chip routes on one path (the generator's leap counter to the
acceptance, the acceptance back to every generator's draw): the EVN's worst path at 93.9 MHz. The generators
all draw together, so the tile keeps one more of these small counters beside its command logic, strobed with
the same `draw`; NoiseGenerator's own `ready` is one too, so both are the same rule.

For draws made only while ready, `ready` is low for `leap_cycles - 1 + pipeline + registered_draw` cycles
after a draw and for `pipeline` cycles after reset; it is always high when the generator builds no state (a
zero noise multiplier without twin read noise)."""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_read_noise import read_noise_on
from aimcgen.contract.noise import noise_multiplier
from aimcgen.rtl.leaping_lfsr import check_leap_cycles
from aimcgen.spec import DesignSpec


class NoiseReady(wiring.Component):
    """Ports: `draw` (the strobe every generator of the tile gets), `ready` (theirs, module docstring)."""

    def __init__(self, spec: DesignSpec, *, leap_cycles: int, pipeline: int, registered_draw: int = 0):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        check_leap_cycles(leap_cycles)
        self.stateless = noise_multiplier(spec) == 0 and not read_noise_on(spec)
        self.wait_cycles = leap_cycles - 1 + pipeline + registered_draw
        self.pipeline = pipeline
        super().__init__({"draw": In(1), "ready": Out(1)})

    def elaborate(self, platform):
        m = Module()
        if self.stateless or self.wait_cycles == 0:
            m.d.comb += self.ready.eq(1)
            return m
        left = Signal(range(self.wait_cycles + 1), init=self.pipeline)     # cycles until ready
        m.d.comb += self.ready.eq(left == 0)
        with m.If(self.draw):
            m.d.sync += left.eq(self.wait_cycles)
        with m.Elif(left != 0):
            m.d.sync += left.eq(left - 1)
        return m
