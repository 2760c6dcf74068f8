"""A tile's programming-noise generator: where a device aimed at a code lands (contract.device_twin).

The hardware twin of `contract.device_twin.DeviceTwin`'s draws: the leaping LFSR of contract.noise
(rtl/leaping_lfsr.py), seeded for the tile's programming stream. A weight write is rare and may take a few
cycles, so the generator leaps in `leap_cycles` = 4 cycles of 8 steps (the sparse network, about 25 LUT4s)
and is ready again 4 cycles after a draw. `landed` is combinational from the state and `code`, so the
write logic takes the landed code of the current state in the very cycle it strobes `draw`.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_twin import programming_seed, sigma_multipliers
from aimcgen.contract.device_twin_drift import UNIFORM_BITS, device_top, drift_on
from aimcgen.contract.device_twin_relaxation import Z_BITS, Z_CENTER
from aimcgen.contract.noise import CENTER, MULTIPLIER_FRAC_BITS
from aimcgen.rtl.leaping_lfsr import LeapingLfsr, check_leap_cycles
from aimcgen.spec import DesignSpec, check_tile_index


class ProgrammingNoiseGenerator(wiring.Component):
    """Landed device code of tile `tile_index`'s next programming draw for a device aimed at `code`.

    Ports: `code` (the aimed device code 0..L), `landed` (min(max(code + e, 0), L + H) for the current state,
    contract.device_twin; H the headroom of contract.device_twin_drift, 0 without drift), `draw` (strobe:
    leap to the next state; only while `ready`), `ready` (low for `leap_cycles` - 1 cycles after a draw),
    `uniform` (the state's low 16 bits: the drift draw of contract.device_twin_drift), `relax_z` (its upper
    two bytes centred: the relaxation direction of contract.device_twin_relaxation). With every sigma
    multiplier 0 (programming error off) `landed` is `code`; without drift as well, `ready` is 1 and no state
    register is built.
    """

    def __init__(self, spec: DesignSpec, tile_index: int = 0, *, leap_cycles: int = 4):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        check_tile_index(spec, tile_index)
        check_leap_cycles(leap_cycles)
        self.spec = spec
        self.leap_cycles = leap_cycles
        self.multipliers = sigma_multipliers(spec)
        self.seed_state = programming_seed(spec, tile_index)
        levels = spec.tile.conductance_levels
        super().__init__({
            "code": In(range(levels + 1)),
            "landed": Out(range(device_top(spec) + 1)),     # with drift up to L + H (the headroom)
            "draw": In(1),
            "ready": Out(1),
            "uniform": Out(UNIFORM_BITS),
            "relax_z": Out(signed(Z_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        top = device_top(self.spec)
        if not any(self.multipliers) and not drift_on(self.spec):
            m.d.comb += [self.landed.eq(self.code), self.ready.eq(1)]
            return m

        m.submodules.lfsr = lfsr = LeapingLfsr(self.seed_state, leap_cycles=self.leap_cycles)
        m.d.comb += [lfsr.draw.eq(self.draw), self.ready.eq(lfsr.ready)]
        state = lfsr.state
        m.d.comb += [self.uniform.eq(state[:UNIFORM_BITS]),
                     self.relax_z.eq(state[16:24] + state[24:32] - Z_CENTER)]
        if not any(self.multipliers):
            m.d.comb += self.landed.eq(self.code)
            return m

        # The sigma table is a constant per aimed code: a small ROM in LUTs ahead of one multiplier.
        gain = Signal(range(max(self.multipliers) + 1))
        with m.Switch(self.code):
            for k, mult in enumerate(self.multipliers):
                with m.Case(k):
                    m.d.comb += gain.eq(mult)
        centred = Signal(signed(11))
        m.d.comb += centred.eq(state[0:8] + state[8:16] + state[16:24] + state[24:32] - CENTER)
        # |e| <= (510 * gain + 2^15) / 2^16 < 2^(len(gain) - 6) + 1: a few bits to spare.
        error = Signal(signed(max(len(gain) - 3, 4)))
        m.d.comb += error.eq((centred * gain + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS)
        aimed = Signal(signed(len(error) + len(self.code) + 1))
        m.d.comb += aimed.eq(self.code + error)
        with m.If(aimed < 0):
            m.d.comb += self.landed.eq(0)
        with m.Elif(aimed > top):
            m.d.comb += self.landed.eq(top)
        with m.Else():
            m.d.comb += self.landed.eq(aimed)
        return m
