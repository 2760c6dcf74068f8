"""The emulated tile as the devices' digital twin: programming error and stuck devices, bit by bit.

A real PCM or RRAM device lands near, not on, the conductance it is programmed to, and a few devices are
stuck at g_max (stuck-at-set) or at 0 (stuck-at-reset) whatever is written. The emulated tile reproduces
both in hardware (rtl/emulated_tile.py, rtl/programming_noise.py) and the golden model replays them
(sim.models.golden), so program-and-verify (rtl/program_verify.py) sees its verifying reads miss and
retries as on silicon. Everything below is integer arithmetic that a reader can reimplement from this text.

Devices. A weight code w (tile.weight_bits = b, L = 2^(b-1) - 1 = tile.conductance_levels) is the
difference of two devices, G+ and G-, each holding a device code 0..L (0..L + H with drift, the headroom
above the top level of contract.device_twin_drift). A write of target w (a target
-2^(b-1) is first replaced by -L, as without the twin) aims G+ at kp = max(w, 0) and G- at km = max(-w, 0);
the stored weight, the one PROG_READ returns and every INTEGRATE sums, is dp - dm with dp, dm the device
codes that actually landed (with drift: each device drifted, and relaxed where the preset relaxes, to the
epoch, plus the time point's shared 1/f noise where the preset has 1/f noise, in 2^-4 code, which
INTEGRATE sums, and PROG_READ returns the whole weight; contract.device_twin_drift,
contract.device_twin_relaxation, contract.device_twin_flicker).

Switches. `twin.programming_error = "on"` draws the programming error below; `twin.stuck = "on"` applies
the stuck devices at device.stuck_set_fraction / device.stuck_reset_fraction; `twin.drift = "on"` adds
drift (contract.device_twin_drift, which also changes the draws per write to four). All "off" (the
default) leave the emulated tile exactly as it is without the twin: dp = kp, dm = km, and the RTL builds
none of it.

Sigma table. From the device preset's programming noise sigma(g) = c0 + c1 g + c2 g^2 + ... in uS
(device.prog_noise_us, at device.g_max_us), for each device code k = 0..L, in IEEE float64 exactly as
written (Python floats):

    g = k / L
    p = 0.0;  for c in reversed(prog_noise_us): p = p * g + c          (Horner's rule)
    s = max(p, 0.0) * L / g_max_us                                      (sigma in device-code LSB, left
                                                                         to right: (max(p, 0.0) * L) / g_max_us)
    s = min(s, L)                                                       (cap: the error of a whole range)
    M[k] = round(s / sqrt(21845) * 2^16)                                (Python round: ties to even)

With programming_error "off", M[k] = 0 for every k. Example: the PCM preset with tile.weight_bits = 4
(L = 7) gives M = [33, 65, 91, 111, 125, 133, 135, 131] (sigma 0.074 LSB at k = 0, at most 0.304 at k = 6).

Generator. Each tile owns one programming-noise generator: the 32-bit Galois LFSR of contract.noise
(polynomial x^32 + x^22 + x^2 + x + 1, single step out = S & 1; S = S >> 1; if out: S = S ^ 0x80200003),
with the initial state of contract.noise's seeding for the pseudo-ADC index PROG_STREAM = 4095:

    S_0 = initial_state(noise.seed, tile, 4095)

(x = (seed * 0x9E3779B9 + (tile * 4096 + 4096) * 0x85EBCA6B) mod 2^32, then murmur3's fmix32, then 0 -> 1;
no ADC's stream has this index: adc.count <= 1024). Draw n (n = 0, 1, ...) uses S_n and S_(n+1) is S_n
leaped 32 single steps; the draw is the centred sum of the state's four bytes and its error in device-code
LSB for a device aimed at code k:

    c = (S & 0xFF) + ((S >> 8) & 0xFF) + ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 510     (-510..510)
    e = (c * M[k] + 2^15) >> 16           (`>>` arithmetic: floor(x / 2^16), round half up)
    d = min(max(k + e, 0), L + H)         (the device code that landed, clamped to the code range; H = 0
                                           without drift, ceil(L / 4) with it: contract.device_twin_drift)

Every accepted PROG_WRITE takes exactly two draws, whatever its target and address (also a device that is
stuck, or an address beyond the tile): draw n for G+ (k = kp), draw n+1 for G- (k = km). The n-th write
of a tile (counting every PROG_WRITE since configuration) therefore uses draws 2n and 2n+1 (with drift:
4n and 4n+1, and 4n+2, 4n+3 for the drift codes and relaxation directions).

Stuck devices. Device (tile, row, col, polarity), polarity 0 for G+ and 1 for G-, draws one uniform
32-bit word from its address alone (unsigned arithmetic modulo 2^32):

    key = ((tile * 1024 + row) * 1024 + col) * 2 + polarity
    x = (seed * 0x9E3779B9 + key * 0x85EBCA6B + 0x632BE5AB) mod 2^32        (seed = noise.seed)
    x = x ^ (x >> 16);  x = (x * 0x85EBCA6B) mod 2^32;  x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) mod 2^32;  u = x ^ (x >> 16)
    T_set = int(stuck_set_fraction * 2^32);  T_reset = int(stuck_reset_fraction * 2^32)     (truncated)
    stuck at set (d = L)    if u < T_set
    stuck at reset (d = 0)  if T_set <= u < T_set + T_reset

With stuck "off" no device is stuck. A stuck device's code replaces d on every write and also in the
weights the tile holds at configuration (rtl EmulatedCrossbar init_weights, GoldenTile's weights): a
preloaded weight w is stored as dp - dm with dp = kp, dm = km (no programming error) unless stuck.

Program-and-verify (rtl/program_verify.py; PROG_CTRL.tolerance = t and PROG_CTRL.max_retries = R, whose
reset values are program_verify.tolerance and program_verify.max_retries): attempt a = 1, 2, ... writes the
target (two draws) and reads back the stored weight r; the weight passes at attempt a if
|r - target| <= min(t, 2^b - 1); otherwise, if a = R + 1 it fails (reported with its address, attempts
R + 1), else attempt a + 1 follows. The analog yield of a programming run is the share of weights that
passed: 1 - failures / weights (registers PROG_STATUS.failures and PROG_COUNT).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.device_twin_drift import (DRAWS_PER_WRITE_WITH_DRIFT, MEDIAN_UNIFORM, device_top, drift_code,
                                               drift_on, drifted, factor_table, fraction_bits, sampled_charge,
                                               threshold_table, whole_weight)
from aimcgen.contract.device_twin_flicker import flicker_on, flicker_seed, flicker_table, flickered, refresh_draws
from aimcgen.contract.device_twin_relaxation import relax_z, relaxation_on, relaxed, spread_table
from aimcgen.contract.noise import CENTER, MULTIPLIER_FRAC_BITS, SIGMA_OF_SUM, initial_state, state_sequence
from aimcgen.devices import spread_polynomial
from aimcgen.spec import DesignSpec

PROG_STREAM = 4095                      # pseudo-ADC index of a tile's programming-noise stream
DRAWS_PER_WRITE = 2                     # G+ then G-
STUCK_SALT = 0x632BE5AB
ROW_SPAN = 1024                         # tile.rows and tile.cols are at most 1024: keys never collide
COL_SPAN = 1024
_MASK32 = 0xFFFFFFFF
_FRACTION_ONE = 1 << 32


def programming_error_on(spec: DesignSpec) -> bool:
    return spec.twin.programming_error == "on"


def stuck_on(spec: DesignSpec) -> bool:
    return spec.twin.stuck == "on" and (spec.device.stuck_set_fraction > 0 or spec.device.stuck_reset_fraction > 0)


def twin_active(spec: DesignSpec) -> bool:
    """The emulated tile builds its twin logic: some effect can change what a write or a read sees."""
    return stuck_on(spec) or any(sigma_multipliers(spec)) or spec.twin.drift == "on"


def sigma_lsb_table(spec: DesignSpec) -> list[float]:
    """Programming-noise sigma per device code 0..L in device-code LSB (capped at L), float64."""
    levels, dev = spec.tile.conductance_levels, spec.device
    table = []
    for k in range(levels + 1):
        p = spread_polynomial(dev.prog_noise_us, k / levels)
        table.append(min(max(p, 0.0) * levels / dev.g_max_us, float(levels)))
    return table


def sigma_multipliers(spec: DesignSpec) -> list[int]:
    """M[k] for k = 0..L: the fixed-point gain from the centred byte sum to device-code LSB."""
    if not programming_error_on(spec):
        return [0] * (spec.tile.conductance_levels + 1)
    return [round(s / SIGMA_OF_SUM * (1 << MULTIPLIER_FRAC_BITS)) for s in sigma_lsb_table(spec)]


def programming_seed(spec: DesignSpec, tile: int) -> int:
    return initial_state(spec.noise.seed, tile, PROG_STREAM)


def landed_code(state: int, k: int, multipliers: list[int], top: int) -> int:
    """The device code that lands for a device aimed at code k, drawn from LFSR state `state`, clamped to
    0..top (L + H: contract.device_twin_drift.device_top)."""
    s = int(state)
    c = (s & 0xFF) + ((s >> 8) & 0xFF) + ((s >> 16) & 0xFF) + ((s >> 24) & 0xFF) - CENTER
    e = (c * multipliers[k] + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS
    return min(max(k + e, 0), top)


def device_uniform(seed: int, tile: int, row: int, col: int, polarity: int) -> int:
    """The uniform 32-bit word of one device's address that decides whether it is stuck."""
    key = ((tile * ROW_SPAN + row) * COL_SPAN + col) * 2 + polarity
    x = (seed * 0x9E3779B9 + key * 0x85EBCA6B + STUCK_SALT) & _MASK32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x >> 16)


def stuck_thresholds(spec: DesignSpec) -> tuple[int, int]:
    dev = spec.device
    return int(dev.stuck_set_fraction * _FRACTION_ONE), int(dev.stuck_reset_fraction * _FRACTION_ONE)


def stuck_map(spec: DesignSpec, tile: int) -> np.ndarray:
    """Stuck codes of the tile's devices, shape (rows, cols, 2) (polarity 0 = G+, 1 = G-): -1 where the
    device is not stuck, L where stuck at set, 0 where stuck at reset."""
    rows, cols, levels = spec.tile.rows, spec.tile.cols, spec.tile.conductance_levels
    stuck = np.full((rows, cols, 2), -1, dtype=np.int64)
    if not stuck_on(spec):
        return stuck
    t_set, t_reset = stuck_thresholds(spec)
    seed = spec.noise.seed
    for i in range(rows):
        for j in range(cols):
            for p in range(2):
                u = device_uniform(seed, tile, i, j, p)
                if u < t_set:
                    stuck[i, j, p] = levels
                elif u < t_set + t_reset:
                    stuck[i, j, p] = 0
    return stuck


def split_target(target: int, levels: int) -> tuple[int, int]:
    """Device targets (kp, km) of a weight target; -2^(b-1) counts as -L."""
    w = max(int(target), -levels)
    return max(w, 0), max(-w, 0)


@dataclass
class DeviceState:
    """Per-device state of a tile, arrays of shape (rows, cols): landed codes of G+ and G-, their drift
    codes (contract.device_twin_drift; all 0 without drift) and relaxation directions
    (contract.device_twin_relaxation; all 0 without relaxation)."""
    plus: np.ndarray
    minus: np.ndarray
    plus_drift: np.ndarray
    minus_drift: np.ndarray
    plus_relax: np.ndarray
    minus_relax: np.ndarray


def preload_devices(spec: DesignSpec, weights: np.ndarray, stuck: np.ndarray) -> DeviceState:
    """The devices a tile holds at configuration: each at its target unless stuck (no programming error);
    with drift, each not stuck takes the drift code of the median uniform for its code."""
    w = np.asarray(weights, dtype=np.int64)
    plus = np.where(stuck[..., 0] >= 0, stuck[..., 0], np.maximum(w, 0))
    minus = np.where(stuck[..., 1] >= 0, stuck[..., 1], np.maximum(-w, 0))
    drift = [np.zeros(w.shape, dtype=np.int64), np.zeros(w.shape, dtype=np.int64)]
    if drift_on(spec):
        median = np.array([drift_code(MEDIAN_UNIFORM, row) for row in threshold_table(spec)], dtype=np.int64)
        for p, aimed in enumerate((np.maximum(w, 0), np.maximum(-w, 0))):
            drift[p] = np.where(stuck[..., p] >= 0, 0, median[aimed])
    return DeviceState(plus, minus, drift[0], drift[1], np.zeros(w.shape, dtype=np.int64),
                       np.zeros(w.shape, dtype=np.int64))


def preload(weights: np.ndarray, stuck: np.ndarray) -> np.ndarray:
    """The weights a tile holds at configuration (at drift epoch 0): each device at its target unless stuck."""
    w = np.asarray(weights, dtype=np.int64)
    dp = np.where(stuck[..., 0] >= 0, stuck[..., 0], np.maximum(w, 0))
    dm = np.where(stuck[..., 1] >= 0, stuck[..., 1], np.maximum(-w, 0))
    return dp - dm


class DeviceTwin:
    """One tile's device state for the golden model: the stuck map, the programming-noise generator and,
    with drift, every device's landed and drift codes and the chip's drift epoch."""

    def __init__(self, spec: DesignSpec, tile: int, weights: np.ndarray):
        self.spec = spec
        self.levels = spec.tile.conductance_levels
        self.top = device_top(spec)         # L + H: the highest code a device lands at
        self.multipliers = sigma_multipliers(spec)
        self.stuck = stuck_map(spec, tile)
        self.state = programming_seed(spec, tile)
        self.writes = 0                     # PROG_WRITEs since configuration
        self.drift = drift_on(spec)
        self.draws = DRAWS_PER_WRITE_WITH_DRIFT if self.drift else DRAWS_PER_WRITE
        self.thresholds = threshold_table(spec) if self.drift else None
        self.factors = np.array(factor_table(spec), dtype=np.int64) if self.drift else None
        self.spreads = np.array(spread_table(spec), dtype=np.int64) if relaxation_on(spec) else None
        # The time point's shared 1/f noise (contract.device_twin_flicker): its generator and the directions
        # (zp, zm) per cell of the last refresh, 0 for devices written since.
        self.flicker = np.array(flicker_table(spec), dtype=np.int64) if flicker_on(spec) else None
        self.flicker_state = flicker_seed(spec, tile)
        self.flicker_z = np.zeros((2,) + np.shape(weights), dtype=np.int64)
        self.epoch = 0
        self.fraction_bits = fraction_bits(spec)
        self.devices = preload_devices(spec, weights, self.stuck)
        self.weights()                      # sets `fine`, which weights() and weight() keep current

    def weights(self) -> np.ndarray:
        """The whole weights PROG_READ sees now (G+ minus G-, each drifted to the current epoch); also
        refreshes `fine`, the weights INTEGRATE sums (2^-fraction_bits code), from the devices and epoch."""
        d = self.devices
        if not self.drift:
            self.fine = d.plus - d.minus
        else:
            self.fine = (self.read_device(d.plus, d.plus_drift, d.plus_relax, self.flicker_z[0])
                         - self.read_device(d.minus, d.minus_drift, d.minus_relax, self.flicker_z[1]))
        self._fine_f64 = self.fine.astype(np.float64)
        return whole_weight(self.fine, self.fraction_bits, self.levels)

    def weight(self, row: int, col: int) -> int:
        """The whole weight of one cell; refreshes its fine weight."""
        d = self.devices
        if not self.drift:
            fine = int(d.plus[row, col] - d.minus[row, col])
        else:
            fz = self.flicker_z[:, row, col]
            fine = int(self.read_device(d.plus[row, col], d.plus_drift[row, col], d.plus_relax[row, col], fz[0])
                       - self.read_device(d.minus[row, col], d.minus_drift[row, col], d.minus_relax[row, col],
                                          fz[1]))
        self.fine[row, col] = fine
        self._fine_f64[row, col] = fine
        return int(whole_weight(fine, self.fraction_bits, self.levels))

    def read_device(self, code, drift, z, flicker_z=0):
        """A device read at the epoch in fine units: drifted, then relaxed (contract.device_twin_relaxation),
        then moved by the shared 1/f noise of direction flicker_z (contract.device_twin_flicker)."""
        fine = drifted(code, drift, self.factors, self.epoch, self.fraction_bits)
        if self.spreads is not None:
            fine = relaxed(fine, code, z, self.spreads, self.epoch, self.levels, self.top)
        if self.flicker is not None:
            fine = flickered(fine, code, flicker_z, self.flicker, self.epoch, self.levels, self.top)
        return fine

    def set_epoch(self, epoch: int) -> None:
        """DRIFT_EPOCH: a change re-reads the tile (a refresh), which draws every cell's shared 1/f
        directions (contract.device_twin_flicker); the same epoch again changes nothing."""
        if epoch == self.epoch:
            return
        self.epoch = int(epoch)
        if self.flicker is not None:        # without the table the directions change nothing: skip the draws
            rows, cols = self.flicker_z.shape[1:]
            plus, minus, self.flicker_state = refresh_draws(self.flicker_state, rows, cols)
            self.flicker_z = np.stack([plus, minus])
        self.weights()

    def charges(self, drive: np.ndarray) -> np.ndarray:
        """The charges the ADCs sample for drive (..., rows): the fine weights summed, rounded once
        (contract.device_twin_drift). float64 BLAS, exact: every partial sum is an integer below 2^53."""
        fine_sum = (np.asarray(drive, dtype=np.float64) @ self._fine_f64).astype(np.int64)
        return sampled_charge(fine_sum, self.fraction_bits)

    def write(self, row: int, col: int, target: int) -> int:
        """One PROG_WRITE: two draws (G+, G-; four with drift), stuck devices override; returns the stored
        weight (at the current epoch)."""
        kp, km = split_target(target, self.levels)
        states = state_sequence(np.array([self.state], dtype=np.uint32), self.draws + 1)[0]
        self.state = int(states[-1])
        self.writes += 1
        sp, sm = self.stuck[row, col]
        d = self.devices
        self.flicker_z[:, row, col] = 0
        d.plus[row, col] = sp if sp >= 0 else landed_code(states[0], kp, self.multipliers, self.top)
        d.minus[row, col] = sm if sm >= 0 else landed_code(states[1], km, self.multipliers, self.top)
        if self.drift:
            u_plus, u_minus = int(states[2]) & 0xFFFF, int(states[3]) & 0xFFFF
            d.plus_drift[row, col] = 0 if sp >= 0 else drift_code(u_plus, self.thresholds[kp])
            d.minus_drift[row, col] = 0 if sm >= 0 else drift_code(u_minus, self.thresholds[km])
            if self.spreads is not None:
                d.plus_relax[row, col] = 0 if sp >= 0 else relax_z(states[2])
                d.minus_relax[row, col] = 0 if sm >= 0 else relax_z(states[3])
        return self.weight(row, col)

    def set(self, row: int, col: int, target: int) -> int:
        """An exact write (no draw): the devices at their targets unless stuck, as at configuration."""
        one = preload_devices(self.spec, np.array([[target]]), self.stuck[row:row + 1, col:col + 1])
        d = self.devices
        d.plus[row, col], d.minus[row, col] = one.plus[0, 0], one.minus[0, 0]
        d.plus_drift[row, col], d.minus_drift[row, col] = one.plus_drift[0, 0], one.minus_drift[0, 0]
        d.plus_relax[row, col], d.minus_relax[row, col] = 0, 0
        self.flicker_z[:, row, col] = 0
        return self.weight(row, col)


def verify_passes(read_back: int, target: int, tolerance: int, weight_bits: int) -> bool:
    """Program-and-verify's acceptance: |read back - target| <= min(tolerance, 2^b - 1)."""
    return abs(read_back - target) <= min(tolerance, (1 << weight_bits) - 1)


def analog_yield(weights: int, failures: int) -> float:
    """Share of programmed weights within tolerance; 1.0 when nothing was programmed."""
    return 1.0 if weights == 0 else 1.0 - failures / weights

