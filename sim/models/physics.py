"""Float64 device physics of one analog tile: what the weights become once they live in real devices.

The golden model (sim.models.golden) is bit-exact to the RTL with an emulated, idealised tile; this model is the
accuracy study's ground truth instead. It maps weights to differential conductance pairs G+ - G- and
applies the device statistics of a `DeviceSpec` (sources in aimcgen.devices): programming noise, stuck
devices, power-law drift, RRAM relaxation, accumulated 1/f and white read noise. `PhysicsCrossbar` then
drives the tile like the periphery does (PWM or bit-serial steps, ADC, shift-add) so the accuracy of a
design can be measured in the same integer units as the golden model, and the emulated tile's noise can be
checked against device physics.

Conductances are in microsiemens; g = G / g_max is the normalized conductance and t the time since
programming ended, in seconds. All randomness comes from a `numpy.random.Generator` passed in, or, for a
`PhysicsCrossbar` given `streams=ChipStreams(seed, key)`, from one generator per named stream of the chip
(programming, stuck, drift, relaxation, and one read stream per purpose), each seeded from (chip seed, tile
key, stream name) alone: switching one source off, or reading at another time or without calibration
reads, leaves every other draw of the chip as it was (common random numbers for paired comparisons).

Rules of a read at time t (conductance_at), in this order:
- stuck devices (stuck map from draw_stuck: STUCK_SET at g_max, STUCK_RESET at 0) hold that value at every
  t: they neither drift nor relax. Read noise still applies to them as to any device of that conductance.
- healthy devices drift, G = G_prog ((t + t0)/t0)^-nu, and relax (RRAM), G += relax(g_target) growth(t) z.
- accumulated 1/f noise (PCM; aihwkit pcm.py): G += |G| Q(g_prog) (sqrt(S) z_s + sqrt(R) z_r), then G is
  clamped at 0, with S + R = ln((t + t0 + t_read) / (2 t_read)) aihwkit's total, split at the frequency
  1/FLICKER_WINDOW_S: R = ln(FLICKER_WINDOW_S / (2 t_read)) (capped to [0, total]) is the band fresh at every
  read (z_r a new N(0, 1) per read), S = total - R the slower band, common to all reads of one time point:
  z_s is drawn once per (chip, t) (PhysicsCrossbar.flicker_z: stream ("flicker", t) of the chip). One read
  alone has exactly aihwkit's distribution; two reads at the same t correlate by S / (S + R); reads at
  different time points draw independent z_s, as aihwkit's one draw per drift_analog_weights(t).
- white read noise (RRAM): G += read_noise_rel g_max / sqrt(2) z per device per read, not clamped (it is
  noise of the read current, and clamping it would bias devices at 0): the G+ - G- pair, one weight, gets
  read_noise_rel g_max, aihwkit's forward.w_noise of the weight range (aimcgen.devices cites the choice).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
from numpy.polynomial import polynomial

from aimcgen.contract.adc import adc_code
from aimcgen.contract.adc_columns import column_adc
from aimcgen.contract.adc_errors import AdcErrorDraws, convert, has_errors, thresholds
from aimcgen.contract.encoding import check_inputs, drive_steps, step_weights
from aimcgen.contract.weight_codes import check_weights
from aimcgen.sim.models.golden import shift_add
from aimcgen.sim.models.ir_drop import block_sense_segments, tile_wires
from aimcgen.spec import DesignSpec, DeviceSpec

# aihwkit pcm.py (_ZERO_CLIP): floor of the normalized conductance before taking its logarithm.
_G_FLOOR = 1e-7

# Span of the reads that make up one time point (one inference run: thousands of MVMs of microseconds
# each). 1/f noise slower than 1/FLICKER_WINDOW_S does not change between these reads; the band from it up to
# 1/(2 t_read) does. 1 ms makes the per-read 1/f spread sqrt(ln(1e-3 / 5e-7) / ln(21 / 5e-7)) = 0.66 of the
# whole at 1 s, 0.54 at 1 day and 0.49 at 1 year (PCM preset: t0 = 20 s, t_read = 250 ns).
FLICKER_WINDOW_S = 1e-3

# The stuck map: per device 0 (healthy), STUCK_SET (held at g_max) or STUCK_RESET (held at 0).
STUCK_SET, STUCK_RESET = 1, -1


def _seed_word(part) -> int:
    """A non-negative integer of a stream key: ints as they are, anything else a stable 64-bit hash of its
    text (the same in every process, unlike hash())."""
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool) and part >= 0:
        return int(part)
    return int.from_bytes(hashlib.blake2b(repr(part).encode(), digest_size=8).digest(), "little")


def stream_rng(seed: int, *key) -> np.random.Generator:
    """The generator of the random stream (seed, *key): a function of these values only."""
    return np.random.default_rng(np.random.SeedSequence([_seed_word(seed), *(_seed_word(k) for k in key)]))


@dataclass(frozen=True)
class ChipStreams:
    """The random streams of one tile of one chip: stream `name` is stream_rng(seed, *key, name)."""
    seed: int
    key: tuple = ()

    def rng(self, *name) -> np.random.Generator:
        return stream_rng(self.seed, *self.key, *name)


def weights_to_conductances(weights, device: DeviceSpec, w_max=None) -> tuple[np.ndarray, np.ndarray]:
    """Float weights to a differential pair (G+, G-) in uS; |w| = w_max (default max |w|) maps to g_max."""
    w = np.asarray(weights, dtype=np.float64)
    if w_max is None:
        w_max = float(np.max(np.abs(w))) if w.size else 0.0
    scale = device.g_max_us / (w_max if w_max > 0 else 1.0)   # all-zero weights: any scale is exact
    return np.maximum(w, 0.0) * scale, np.maximum(-w, 0.0) * scale


def codes_to_conductances(codes_plus, codes_minus, levels: int, device: DeviceSpec):
    """Integer conductance codes 0..levels to target conductances (G+, G-) in uS."""
    unit = device.g_max_us / levels
    return np.asarray(codes_plus, dtype=np.float64) * unit, np.asarray(codes_minus, dtype=np.float64) * unit


def _poly_us(coeffs, g_target_us, device: DeviceSpec) -> np.ndarray:
    """A spread polynomial c0 + c1 g + ... (uS) in the normalized target, clamped at 0."""
    g = np.asarray(g_target_us, dtype=np.float64) / device.g_max_us
    return np.maximum(polynomial.polyval(g, coeffs), 0.0)


def programming_noise_sigma(g_target_us, device: DeviceSpec) -> np.ndarray:
    """Programming noise sigma in uS: the polynomial device.prog_noise_us in g = g_target / g_max.

    The coefficients are in uS at the preset's own g_max and are not rescaled (aihwkit multiplies them by
    g_max / 25 uS when a PCM model runs at another g_max; here a changed g_max needs refitted coefficients).
    """
    return _poly_us(device.prog_noise_us, g_target_us, device)


def draw_stuck(shape, device: DeviceSpec, rng: np.random.Generator) -> np.ndarray:
    """The stuck map (int8: 0, STUCK_SET or STUCK_RESET per device) at the spec's fractions; no draw when both
    fractions are 0. One uniform per device makes the two faults disjoint with exactly the given rates."""
    f_set, f_reset = device.stuck_set_fraction, device.stuck_reset_fraction
    if not (f_set or f_reset):
        return np.zeros(shape, dtype=np.int8)
    u = rng.random(shape)
    return np.where(u < f_set, STUCK_SET, np.where(u < f_set + f_reset, STUCK_RESET, 0)).astype(np.int8)


def hold_stuck(g_us, stuck, device: DeviceSpec) -> np.ndarray:
    """g with every stuck device at its stuck value (g_max or 0); stuck None: g unchanged."""
    g = np.asarray(g_us, dtype=np.float64)
    if stuck is None:
        return g
    return np.where(stuck == STUCK_SET, device.g_max_us, np.where(stuck == STUCK_RESET, 0.0, g))


def program(g_target_us, device: DeviceSpec, rng: np.random.Generator,
            stuck_rng: np.random.Generator | None = None, *, stuck=None) -> np.ndarray:
    """Programmed conductances: Gaussian programming noise, clamped at 0, then stuck devices: the stuck map
    `stuck` when given, else one drawn (draw_stuck) from stuck_rng, or from rng after the programming noise.
    Pass the same map to conductance_at so that the stuck devices hold their value at every time."""
    g_target = np.asarray(g_target_us, dtype=np.float64)
    sigma = programming_noise_sigma(g_target, device)
    # aihwkit pcm.py apply_programming_noise_to_conductance: G + sigma N(0,1), clamped at 0 only.
    g = np.maximum(g_target + sigma * rng.standard_normal(g_target.shape), 0.0)
    if stuck is None:
        stuck = draw_stuck(g.shape, device, rng if stuck_rng is None else stuck_rng)
    return hold_stuck(g, stuck, device)


def drift_exponents(g_target_us, device: DeviceSpec, rng: np.random.Generator) -> np.ndarray:
    """Per-device drift exponents nu = |mu + sigma N(0,1)| (aihwkit pcm.py generate_drift_coefficients)."""
    g = np.maximum(np.abs(np.asarray(g_target_us, dtype=np.float64)) / device.g_max_us, _G_FLOOR)
    a, b, lo, hi = device.drift_mu
    mu = np.clip(a * np.log(g) + b, lo, hi)
    a, b, lo, hi = device.drift_sigma
    sigma = np.clip(a * np.log(g) + b, lo, hi)
    if not np.any(sigma):
        return np.abs(mu)
    return np.abs(mu + sigma * rng.standard_normal(g.shape))


def flicker_log_terms(t_s: float, device: DeviceSpec, window_s: float = FLICKER_WINDOW_S) -> tuple[float, float]:
    """(S, R): the shared and per-read parts of the 1/f variance factor ln((t + t0 + t_read) / (2 t_read)).

    R = ln(window_s / (2 t_read)) capped to [0, total] is the band 1/window_s .. 1/(2 t_read), fresh per
    read; S = total - R the slower band, one draw per time point (module docstring). S + R = total exactly.
    """
    total = max(math.log((t_s + device.drift_t0_s + device.t_read_s) / (2.0 * device.t_read_s)), 0.0)
    per_read = min(max(math.log(window_s / (2.0 * device.t_read_s)), 0.0), total)
    return total - per_read, per_read


def white_read_sigma_us(device: DeviceSpec) -> float:
    """Per-device sigma (uS) of the white read noise: read_noise_rel g_max / sqrt(2), so that one weight (a
    G+/G- pair) reads with read_noise_rel g_max, aihwkit's ADDITIVE_CONSTANT w_noise on the weight range."""
    return device.read_noise_rel * device.g_max_us / math.sqrt(2.0)


def conductance_at(g_prog, g_target, nu, t_s: float, device: DeviceSpec, rng: np.random.Generator,
                   relax_z=None, *, stuck=None, flicker_z=None, window_s: float = FLICKER_WINDOW_S) -> np.ndarray:
    """Conductances (uS) read t_s seconds after programming: drift, relaxation, 1/f and white read noise
    (rules in the module docstring).

    relax_z is each device's standard-normal relaxation direction; pass the same array on every call to
    make relaxation a lasting property of the device (PhysicsCrossbar does), or None for a fresh draw.
    stuck: the stuck map (draw_stuck) whose devices hold g_max / 0; None: no device is held.
    flicker_z: the N(0, 1) draws of the time point's shared 1/f part (broadcast to g_prog's shape); pass the
    same array for every read at t_s (PhysicsCrossbar.flicker_z), or None for a fresh draw: one read alone.
    An ideal device (all statistics zero) returns g_prog unchanged.
    """
    if not t_s >= 0:
        raise ValueError(f"t_s = {t_s}: time since programming must be >= 0 s")
    g_prog = hold_stuck(g_prog, stuck, device)
    g_target = np.asarray(g_target, dtype=np.float64)
    t0 = device.drift_t0_s
    # PCM drift, aihwkit pcm.py after Nandakumar ICECS 2019: G(t) = G_prog ((t + t0)/t0)^-nu.
    g = g_prog * ((t_s + t0) / t0) ** -np.asarray(nu, dtype=np.float64)
    # RRAM relaxation (Wan Nature 2022): the extra spread grows as ln(1 + t/t0) until relax_time_s. We take
    # its time constant to be drift_t0_s, the first read-out after programming (1 s in Wan 2022).
    # All-zero coefficients (PCM) skip the polynomial over every device: the result would be all zeros.
    relax = _poly_us(device.relax_us, g_target, device) if any(device.relax_us) else None
    if relax is not None and np.any(relax):
        growth = np.clip(np.log1p(t_s / t0) / np.log1p(device.relax_time_s / t0), 0.0, 1.0)
        z = rng.standard_normal(g.shape) if relax_z is None else relax_z
        g = g + relax * growth * z
    # Stuck devices hold their value: the drift and relaxation statistics describe programmed states, not faults.
    g = hold_stuck(g, stuck, device)
    # Accumulated 1/f read noise, aihwkit pcm.py apply_drift_noise_to_conductance: Q is evaluated at the
    # normalized programmed conductance |G_prog| / g_max (aihwkit's choice), applied as G + |G| sigma N(0,1).
    c, e, q_max = device.read_noise_q
    if c:
        g_norm = np.abs(g_prog) / device.g_max_us
        q = np.minimum(c / np.maximum(g_norm ** e, 1e-3), q_max)
        shared, per_read = flicker_log_terms(t_s, device, window_s)
        z_shared = rng.standard_normal(g.shape) if flicker_z is None else flicker_z
        z = math.sqrt(shared) * z_shared + math.sqrt(per_read) * rng.standard_normal(g.shape)
        g = g + np.abs(g) * q * z
    g = np.maximum(g, 0.0)
    if device.read_noise_rel:
        g = g + white_read_sigma_us(device) * rng.standard_normal(g.shape)
    return g


def _readout(output: np.ndarray) -> float:
    """aihwkit GlobalDriftCompensation's read-out: the mean absolute output."""
    return float(np.mean(np.abs(output)))


def _check_active(active, weights: np.ndarray) -> tuple[int, int]:
    rows, cols = weights.shape
    if active is None:
        return rows, cols
    a_rows, a_cols = (int(n) for n in active)
    if not (1 <= a_rows <= rows and 1 <= a_cols <= cols):
        raise ValueError(f"active = {active}: need 1..{rows} rows and 1..{cols} columns")
    if np.any(weights[a_rows:]) or np.any(weights[:, a_cols:]):
        raise ValueError(f"active = {active}: weights outside the active block must be 0 (unprogrammed)")
    return a_rows, a_cols


class PhysicsCrossbar:
    """One analog tile of integer weights (G+ code - G- code) programmed into devices with `spec.device`.

    Construction programs every device (programming noise, stuck map `stuck`) and draws its drift exponent
    and relaxation direction, so one instance is one physical tile; every later read adds read noise: the
    shared 1/f part of its time point and fresh per-read noise (module docstring).
    Charges and outputs are in the golden model's units (conductance code x drive cycle).

    active = (rows, cols) models only that leading block of the tile, the one a mapping uses (sim.eval pads
    layers at the end): its inputs on the other rows must be 0 and their weights 0, and the other columns'
    outputs are not produced. Those devices then contribute nothing a caller keeps, except to the global
    drift compensation read-out, which averages over the active columns only (as aihwkit's layer-sized
    tile does). Default: the whole tile (g_prog, nu, ... are (2, rows, cols)); active arrays are smaller.
    """

    def __init__(self, spec: DesignSpec, weights, rng: np.random.Generator | int | None = None, active=None,
                 *, streams: ChipStreams | None = None):
        """rng: one generator for every draw, in order (programming, stuck, drift, relaxation, the seed of
        the 1/f time-point stream, then reads).
        streams instead: one generator per named stream (module docstring), so that chips of the same
        seed compared with one source switched off or at another time share all their other draws."""
        self.spec = spec
        if streams is not None and rng is not None:
            raise ValueError("PhysicsCrossbar: give rng or streams, not both")
        self.streams = streams
        self.rng = np.random.default_rng(rng) if streams is None else None
        self._read_rngs: dict[str, np.random.Generator] = {}
        self.weights = check_weights(weights, spec, (spec.tile.rows, spec.tile.cols))
        self.active = _check_active(active, self.weights)
        # A view: the whole array by default, so writes to self.weights (PROG_WRITE) are seen here.
        self._active_weights = self.weights[:self.active[0], :self.active[1]]
        dev, levels = spec.device, spec.tile.conductance_levels
        w = self._active_weights
        codes = np.stack([np.maximum(w, 0), np.maximum(-w, 0)])        # (2, active rows, active cols)
        self.g_target = np.stack(codes_to_conductances(codes[0], codes[1], levels, dev))
        shape = self.g_target.shape
        if streams is None:
            healthy = program(self.g_target, dev, self.rng, stuck=np.zeros(shape, dtype=np.int8))
            self.stuck = draw_stuck(shape, dev, self.rng)
            self.nu = drift_exponents(self.g_target, dev, self.rng)
            self.relax_z = self.rng.standard_normal(shape)
            # The time points' 1/f draws get a stream of their own, so they depend on (chip, t) only.
            self._flicker_streams = ChipStreams(int(self.rng.integers(1 << 63)))
        else:
            healthy = program(self.g_target, dev, streams.rng("programming"), stuck=np.zeros(shape, dtype=np.int8))
            self.stuck = draw_stuck(shape, dev, streams.rng("stuck"))
            self.nu = drift_exponents(self.g_target, dev, streams.rng("drift"))
            self.relax_z = streams.rng("relaxation").standard_normal(shape)
            self._flicker_streams = streams
        self.g_prog = hold_stuck(healthy, self.stuck, dev)
        self._adc_table = self._adc_thresholds()
        self._flicker: tuple[float, np.ndarray] | None = None
        self._code_unit_us = dev.g_max_us / levels

    def _adc_thresholds(self) -> np.ndarray | None:
        """Per active column, the thresholds (contract.adc_errors) of the ADC that converts it; None for ideal
        ADCs (no draw then, so chips without ADC errors keep every other draw)."""
        adc = self.spec.adc
        if not has_errors(adc):
            return None
        rng = self.rng if self.streams is None else self.streams.rng("adc_errors")
        table = thresholds(adc, AdcErrorDraws.draw(adc, adc.count, rng))
        return table[column_adc(self.spec, np.arange(self.active[1]))[0]]   # contract.adc_columns

    def adc_codes(self, charges: np.ndarray) -> np.ndarray:
        """ADC codes of charges (..., active cols): the ideal rule (contract.adc) or, with the spec's ADC
        errors, this tile's ADCs (contract.adc_errors; which ADC converts a column: contract.adc_columns)."""
        if self._adc_table is None:
            return adc_code(charges, self.spec.adc)
        return convert(charges, self._adc_table, self.spec.adc)

    def _to_codes(self, g_us: np.ndarray) -> np.ndarray:
        # Integer weight plus the devices' deviation from target: exact for an ideal device, which a plain
        # G * levels / g_max round trip is not (and a 1-ulp error flips a floor ADC at a threshold).
        deviation = (g_us[0] - self.g_target[0]) - (g_us[1] - self.g_target[1])
        return self._active_weights + deviation / self._code_unit_us

    def _inputs(self, x) -> np.ndarray:
        """Checked integer inputs (batch, tile rows) cut to the active rows."""
        x = check_inputs(x, self.spec.input, self.spec.tile.rows)
        rows = self.active[0]
        if rows < x.shape[1]:
            if np.any(x[:, rows:]):
                raise ValueError(f"inputs on rows {rows}.. outside the active block must be 0")
            x = x[:, :rows]
        return x

    def read_rng(self, purpose: str = "read") -> np.random.Generator:
        """The generator of read noise: self.rng, or with streams the chip's stream ("read", purpose), so
        that calibration reads (purpose "calibration") do not shift the draws of the reads that follow."""
        if self.streams is None:
            return self.rng
        if purpose not in self._read_rngs:
            self._read_rngs[purpose] = self.streams.rng("read", purpose)
        return self._read_rngs[purpose]

    def flicker_z(self, t_s: float) -> np.ndarray | None:
        """The N(0, 1) draws (one per device) of the shared 1/f part at time point t_s: the chip's stream
        ("flicker", t_s), a function of (chip, t_s) only; None if the device has no 1/f noise."""
        if not self.spec.device.read_noise_q[0]:
            return None
        t_s = float(t_s)
        if self._flicker is None or self._flicker[0] != t_s:     # the last time point is kept: reads cluster
            z = self._flicker_streams.rng("flicker", t_s).standard_normal(self.g_target.shape)
            self._flicker = (t_s, z)
        return self._flicker[1]

    def read_devices(self, t_s: float = 0.0, purpose: str = "read") -> np.ndarray:
        """One read of every device at t_s, in uS, (2, active rows, active cols) as g_prog: the time point's
        shared 1/f part, fresh per-read noise (from read_rng(purpose)); stuck devices hold their value."""
        return conductance_at(self.g_prog, self.g_target, self.nu, t_s, self.spec.device, self.read_rng(purpose),
                              relax_z=self.relax_z, stuck=self.stuck, flicker_z=self.flicker_z(t_s))

    def wired(self, g_us: np.ndarray) -> np.ndarray:
        """Devices (2, active rows, active cols) in uS as the periphery sees them through the tile's wires:
        with device.wire_r_ohm > 0 the effective conductances of sim.models.ir_drop of the whole tile
        (devices outside the active block are unprogrammed, 0 uS), solved exactly on the active block: with
        device.sense_amplifiers = "last_row" the wire segments of the rows below it still carry the current
        to the sense amplifiers, tile.rows - active rows + 1 segments in series; with "first_row" the block
        is next to them, 1 segment (ir_drop.block_sense_segments); g_us itself otherwise."""
        dev = self.spec.device
        if dev.wire_r_ohm == 0:
            return g_us
        segments = block_sense_segments(self.spec.tile.rows, self.active[0], dev.sense_amplifiers)
        plus, minus = tile_wires(g_us[0], g_us[1], dev.wire_r_ohm, sense_segments=segments,
                                 sense_amplifiers=dev.sense_amplifiers)
        return np.stack([plus, minus])

    def conductances(self, t_s: float = 0.0, purpose: str = "read") -> np.ndarray:
        """Effective differential conductance (active rows, active cols) at t_s, in code units, of one read
        (read_devices) through the wires (wired)."""
        return self._to_codes(self.wired(self.read_devices(t_s, purpose)))

    def column_charges(self, x, t_s: float = 0.0, purpose: str = "read") -> np.ndarray:
        """Float column charge per drive step, (steps, batch, active cols), for integer inputs x (batch,
        rows).

        One conductance read (one read-noise draw) serves all steps and the whole batch of this call: the
        1/f noise is slow against one MVM, and the white read noise is then correlated across the batch.
        """
        return drive_steps(self._inputs(x), self.spec.input, dtype=np.float64) @ self.conductances(t_s, purpose)

    def mvm(self, x, t_s: float = 0.0, compensation: float | None = None) -> np.ndarray:
        """The periphery's result (batch, active cols), int64: ADC codes per step, shift-added, no
        post-processing.

        The shift-add is the saturating accumulator of sim.models.golden, so results compare with
        GoldenTile.run(x).accumulator. A drift compensation factor scales the charges before the ADC (an
        analog gain: longer integration or a lower ADC reference), which keeps the drifted signal spread over
        the ADC's codes; aihwkit scales the digital outputs instead, which would waste ADC resolution and
        make the integer accumulator result fractional.
        """
        charges = self.column_charges(x, t_s)
        if compensation is not None:
            charges = charges * float(compensation)
        return shift_add(self.adc_codes(charges), step_weights(self.spec.input), self.spec)[0]

    def calibrate_drift_compensation(self, x_cal, t_s: float) -> float:
        """Global drift compensation factor (aihwkit GlobalDriftCompensation) for reads at t_s.

        Reference: mean |x_cal @ G| of the programmed devices, no drift and no read noise, as aihwkit reads it
        right after programming (it is a fixed function of the programmed state, so it needs no storing); read
        through the wires, as the chip reads it (IR drop is static, so compensation does not undo it).
        Factor = reference / the same read-out at t_s, which includes drift and one read-noise draw.
        """
        x = self._inputs(x_cal)
        reference = _readout(x @ self._to_codes(self.wired(self.g_prog)))
        now = _readout(x @ self.conductances(t_s, "calibration"))
        if reference == 0.0:
            return 1.0                  # nothing to compensate: zero weights or zero calibration input
        if now == 0.0:
            raise ValueError("drift compensation: the calibration read-out is zero at this time")
        return reference / now
