"""One ADC's read-noise generator: the hardware twin of `sim.noise`, so RTL and golden model agree bit for bit.

The 32-bit Galois LFSR leaps 32 single steps per draw. A leap is GF(2)-linear, so it is one XOR network
whose taps come from `sim.noise.leap_columns` at elaboration time: one cycle per draw, no inner loop.
`value` is combinational from the state, so a sampler adds the noise of the current state in the very cycle
it strobes `draw`, and the next draw already sees the leaped state.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.formats import datapath_formats
from aimcgen.sim.noise import (CENTER, LEAP_STEPS, LFSR_BITS, MULTIPLIER_FRAC_BITS, initial_state,
                               leap_columns, noise_multiplier)
from aimcgen.spec import DesignSpec


def _check_index(name: str, value, limit: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value < limit:
        raise ValueError(f"{name} = {value}: must lie in 0..{limit - 1} ({what})")


class NoiseGenerator(wiring.Component):
    """Noise of ADC `adc_index` of tile `tile_index`: replays `TileNoise(spec, tile_index).draw(...)[adc_index]`.

    Ports: `draw` (strobe: leap to the next state at the clock edge), `value` (noise of the current state,
    signed, `datapath_formats(spec).noise` wide). With noise.sigma_lsb so small that the multiplier is 0 the
    value is the constant 0 and no state register is built.
    """

    def __init__(self, spec: DesignSpec, tile_index: int = 0, adc_index: int = 0):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        _check_index("tile_index", tile_index, spec.tiles, f"the spec has {spec.tiles} tiles")
        _check_index("adc_index", adc_index, spec.adc.count, f"a tile has adc.count = {spec.adc.count} ADCs")
        self.spec = spec
        self.tile_index = tile_index
        self.adc_index = adc_index
        self.multiplier = noise_multiplier(spec)
        self.seed_state = initial_state(spec.noise.seed, tile_index, adc_index)
        super().__init__({
            "draw": In(1),
            "value": Out(signed(datapath_formats(spec).noise.bits)),
        })

    def elaborate(self, platform):
        m = Module()
        if self.multiplier == 0:
            m.d.comb += self.value.eq(0)
            return m

        state = Signal(unsigned(LFSR_BITS), init=self.seed_state)
        columns = leap_columns(LEAP_STEPS)
        leaped = Signal(unsigned(LFSR_BITS))
        for k in range(LFSR_BITS):
            taps = sum(1 << i for i, column in enumerate(columns) if column >> k & 1)
            m.d.comb += leaped[k].eq((state & taps).xor())
        with m.If(self.draw):
            m.d.sync += state.eq(leaped)

        # Sum of four uniform bytes, centred: -510..510.
        centred = Signal(signed(11))
        m.d.comb += centred.eq(state[0:8] + state[8:16] + state[16:24] + state[24:32] - CENTER)
        # Fixed-point gain with round half up; `>>` of a signed value is arithmetic, as in sim.noise.
        rounded = (centred * self.multiplier + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS
        m.d.comb += self.value.eq(rounded)
        return m
