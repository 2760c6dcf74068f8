"""One ADC's read-noise generator: the hardware twin of `contract.noise`, so RTL and golden model agree bit for bit.

The 32-bit Galois LFSR leaps 32 single steps per draw, in `leap_cycles` cycles (rtl/leaping_lfsr.py).
`value` is the noise of the current state, so a sampler adds it in the very cycle it strobes `draw`; the
next draw sees the leaped state. It comes from the state through `value_pipeline(spec)` registers:
- 2 where a conversion takes at least 3 cycles: the centred byte sum, then the scaled value, each in a
  register, so the multiplier is off the sampler's path (a sample is charge plus value into a comparator in
  one cycle). The gain is the constant M, or with the twin's device read noise (contract.device_read_noise)
  and a parallel twin.integrate layout the `gain` port, one gain per column position of the ADC: the
  generator then scales the draw by each position's gain, in registers (`positions` of them), and a sample
  picks its column's value. The emulated tile drives each position's gain from a register of its column's
  variance class (rtl/read_noise_variance.py, PositionGains);
- 0 (combinational) for a one- or two-cycle conversion, and with device read noise and the serial layout,
  where the `gain` port is the sampled column's gain, looked up in the cycle it samples.
An ADC samples at most once per conversion, so `leap_cycles(spec)` picks the largest power of two k <= 32
with k + value_pipeline(spec) within one conversion of the spec's ADC (contract.adc.conversion_cycles):
neither the leap nor the pipeline ever delays a conversion. `ready` is high once both are done.
Where one more cycle still fits in the conversion (`draw_register(spec)`: 1 with the value pipeline and
k + 2 + 1 <= conversion cycles, else 0; tile64's 8-cycle SAR: 1, the default preset's 6: 0) the strobe
`draw` is first registered and the leap starts a cycle later: the sampler's handshake then reaches only a
register here, not every state bit's enable (an FPGA places the generators far apart).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.data import ArrayLayout
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.noise import CENTER, LEAP_STEPS, MULTIPLIER_FRAC_BITS, initial_state, noise_multiplier
from aimcgen.contract.device_read_noise import gain_max, read_noise_on
from aimcgen.rtl.leaping_lfsr import LeapingLfsr, check_leap_cycles
from aimcgen.rtl.noise_ready import NoiseReady
from aimcgen.spec import DesignSpec


def _check_index(name: str, value, limit: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value < limit:
        raise ValueError(f"{name} = {value}: must lie in 0..{limit - 1} ({what})")


def value_pipeline(spec: DesignSpec) -> int:
    """Registers between the LFSR state and `value` (module docstring): 2, or 0 for a one- or two-cycle
    conversion or device read noise with the serial layout."""
    serial_gain = read_noise_on(spec) and spec.twin.integrate == "serial"
    return 2 if conversion_cycles(spec.adc) >= 3 and not serial_gain else 0


def position_gains(spec: DesignSpec) -> bool:
    """Whether device read noise goes through the value pipeline (module docstring): one gain and one scaled
    value per column position of an ADC, in registers."""
    return read_noise_on(spec) and value_pipeline(spec) == 2


def position_gain_wait(spec: DesignSpec) -> int:
    """Cycles a position's scaled noise lags its charge with position gains (its gain register, then its value
    register), which a sample of it waits for; 0 without position gains."""
    return 2 if position_gains(spec) else 0


def noise_positions(spec: DesignSpec) -> int:
    """Values each generator scales: columns_per_adc with position gains (`gain` and `value` are then arrays
    of that many, even of one), else 0 (plain signals)."""
    return spec.columns_per_adc if position_gains(spec) else 0


def draw_register(spec: DesignSpec) -> int:
    """1 where a registered `draw` (module docstring) still fits in one conversion with the leap and the value
    pipeline, else 0."""
    if value_pipeline(spec) != 2:
        return 0
    return 1 if leap_cycles(spec) + value_pipeline(spec) + 1 <= conversion_cycles(spec.adc) else 0


def leap_cycles(spec: DesignSpec) -> int:
    """Cycles per leap for the spec's ADC: the largest power of two (at most 32) that, with the value
    pipeline, fits in one conversion."""
    interval = min(conversion_cycles(spec.adc) - value_pipeline(spec), LEAP_STEPS)
    return 1 << (interval.bit_length() - 1)


class NoiseGenerator(wiring.Component):
    """Noise of ADC `adc_index` of tile `tile_index`: replays `TileNoise(spec, tile_index).draw(...)[adc_index]`.

    Ports: `draw` (strobe: start the leap to the next state at the clock edge, or at the next one with
    `registered_draw`; only while `ready`), `value` (noise of the current state, signed,
    `datapath_formats(spec).noise` wide), `ready` (the leap of the last draw and the `pipeline` registers
    after it are done: low for `leap_cycles` - 1 + `pipeline` + `registered_draw` cycles after a draw, and
    for `pipeline` cycles after reset). `registered_draw` (0 or 1) needs the pipeline. With noise.sigma_lsb
    so small that the multiplier is 0 the value is the constant 0, `ready` is 1 and no state register is
    built.
    With twin.read_noise on, `gain` (In, up to contract.device_read_noise.gain_max) replaces M and the
    generator is always built; with `positions` >= 1 (noise_positions(spec), needs the pipeline) `gain` and
    `value` are arrays of that many, value[p] scaled by gain[p]; with 0 they are plain signals.
    """

    def __init__(self, spec: DesignSpec, tile_index: int = 0, adc_index: int = 0, *, leap_cycles: int = 1,
                 pipeline: int = 0, registered_draw: int = 0, positions: int = 0):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        _check_index("tile_index", tile_index, spec.tiles, f"the spec has {spec.tiles} tiles")
        _check_index("adc_index", adc_index, spec.adc.count, f"a tile has adc.count = {spec.adc.count} ADCs")
        check_leap_cycles(leap_cycles)
        if pipeline not in (0, 2):
            raise ValueError(f"pipeline = {pipeline}: must be 0 or 2")
        if isinstance(positions, bool) or not isinstance(positions, int) or positions < 0 or (
                positions and (not read_noise_on(spec) or not pipeline)):
            raise ValueError(f"positions = {positions}: must be 0, or 1 or more only with twin.read_noise on "
                             f"and pipeline = 2")
        if registered_draw not in (0, 1) or (registered_draw and not pipeline):
            raise ValueError(f"registered_draw = {registered_draw}: must be 0 or 1 (1 only with pipeline = 2)")
        self.pipeline = pipeline
        self.positions = positions
        self.registered_draw = registered_draw
        self.spec = spec
        self.tile_index = tile_index
        self.adc_index = adc_index
        self.leap_cycles = leap_cycles
        self.variable_gain = read_noise_on(spec)
        self.multiplier = noise_multiplier(spec)
        self.seed_state = initial_state(spec.noise.seed, tile_index, adc_index)
        value_shape, gain_shape = signed(datapath_formats(spec).noise.bits), range(gain_max(spec) + 1)
        if positions:
            value_shape, gain_shape = ArrayLayout(value_shape, positions), ArrayLayout(gain_shape, positions)
        ports = {"draw": In(1), "value": Out(value_shape), "ready": Out(1)}
        if self.variable_gain:
            ports["gain"] = In(gain_shape)
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        if self.multiplier == 0 and not self.variable_gain:
            m.d.comb += [self.value.eq(0), self.ready.eq(1)]
            return m

        m.submodules.lfsr = lfsr = LeapingLfsr(self.seed_state, leap_cycles=self.leap_cycles)
        # `ready` is the one readiness rule of rtl/noise_ready.py, the same the emulated tile keeps a copy of.
        m.submodules.readiness = readiness = NoiseReady(self.spec, leap_cycles=self.leap_cycles,
                                                        pipeline=self.pipeline,
                                                        registered_draw=self.registered_draw)
        m.d.comb += [readiness.draw.eq(self.draw), self.ready.eq(readiness.ready)]
        drawn = Signal()            # the strobe the leap starts on: `draw`, or `draw` a cycle later
        if self.registered_draw:
            m.d.sync += drawn.eq(self.draw)
        else:
            m.d.comb += drawn.eq(self.draw)
        m.d.comb += lfsr.draw.eq(drawn)
        state = lfsr.state

        # Sum of four uniform bytes, centred: -510..510.
        centred = Signal(signed(11))
        sum_now = state[0:8] + state[8:16] + state[16:24] + state[24:32] - CENTER
        # Fixed-point gain with round half up; `>>` of a signed value is arithmetic, as in contract.noise.
        def scaled(gain):
            return (centred * gain + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS

        if self.positions:
            values = [self.value[p].eq(scaled(self.gain[p])) for p in range(self.positions)]
        else:
            values = [self.value.eq(scaled(self.gain if self.variable_gain else self.multiplier))]
        if self.pipeline:
            # Each register follows the one before; `ready` waits until both hold the final state's.
            m.d.sync += [centred.eq(sum_now)] + values
        else:
            m.d.comb += [centred.eq(sum_now)] + values
        return m
