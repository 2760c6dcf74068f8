"""The time point's shared 1/f noise in the digital twin: a fresh direction per device at every refresh.

PCM 1/f read noise has a slow part: the physics model (sim.models.physics.flicker_log_terms) splits its
variance factor into R, fresh at every read (the twin's ADC-sample noise, contract.device_read_noise), and
S = total - R, one draw per device and time point, shared by every read at that time (aihwkit draws the
accumulated noise once per drift_analog_weights(t)). Shared by the reads, S is a frozen error of the devices
at that time point, like drift: the twin adds it to the devices' stored read values at the drift refresh.
It follows `twin.drift = "on"` (the refresh and its epochs) and needs no switch of its own: a preset with 1/f
noise (device.read_noise_q c != 0: PCM) gets it, one without (RRAM, ideal) builds nothing. It does not
count twice with twin.read_noise "off": noise.sigma_lsb calibrates the per-read part only
(sim.models.noise_calibration). Everything below is integer arithmetic, except the table, float64 as written.

Generator. Each tile owns a second generator, the 32-bit Galois LFSR of contract.noise (as the
programming-noise one, contract.device_twin), seeded for the pseudo-ADC index FLICKER_STREAM = 4094:

    S_0 = initial_state(noise.seed, tile, 4094)       (no ADC's stream has this index: adc.count <= 1024)

and S_(n+1) is S_n leaped 32 single steps. A refresh (contract.device_twin_drift: every change of
DRIFT_EPOCH re-reads the tile; also one back to epoch 0) takes one draw per cell, in its walk order: the
r-th refresh since configuration (r = 0, 1, ...) gives cell (i, j) the state S_n, n = r * rows * cols +
i * cols + j (tile.rows, tile.cols), and its two devices the directions (two bytes each, centred: the
triangular law of contract.device_twin_relaxation, standard deviation Z_SIGMA = sqrt(10922.5) = 104.51):

    zp = (S & 0xFF) + ((S >> 8) & 0xFF) - 255              (G+)
    zm = ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 255     (G-)

A device keeps its direction until the next refresh; a device written since (PROG_WRITE, or a weight set
exactly) and every device before the first refresh has z = 0 (no time point has passed for it).

Spread table. For device code d = 0..L (L = tile.conductance_levels) and epoch e = 0..15, with
c, x, q_max = device.read_noise_q, t0 = device.drift_t0_s, tr = device.t_read_s, t = EPOCH_SECONDS[e]
(contract.device_twin_drift) and READ_WINDOW_S = 1e-3 (as contract.device_read_noise):

    total = max(math.log((t + t0 + tr) / (2.0 * tr)), 0.0)
    R = min(max(math.log(READ_WINDOW_S / (2.0 * tr)), 0.0), total)
    S = total - R  if e > 0, else 0.0                      (epoch 0 is the tile without drift)
    q = min(c / max((d / L) ** x, 1e-3), q_max)            (aihwkit's Q at the programmed code)
    K[d][e] = round(math.sqrt(S) * q / math.sqrt(10922.5) * 2^20)      (left to right; Python round)

K is all zero when c == 0. Example: the PCM preset with L = 15 at 1 day (e = 7) has S = 18.27 and
K[15][7] = 377, K[1][7] = 2194 (K[15][12] at 1 year: 434).

Read. A device of code d (0..L + H, H the headroom of contract.device_twin_drift: ceil(L / 4) with drift)
whose read value at epoch e after drift and relaxation is v (2^-4 code, contract.device_twin_drift and
contract.device_twin_relaxation: 0 <= v <= 16 (L + H)) and whose direction is z reads

    r_e = min(max(v + ((v * z * K[min(d, L)][e] + 2^19) >> 20), 0), 16 (L + H))      (`>>` arithmetic: floor)

so its spread is v Q(d / L) sqrt(S) (physics: |G| Q(g_prog) sqrt(S) z_s, G the drifted device), and the
fine weight is rp_e - rm_e. Approximations (stated; the physics model stays the reference): Q is looked up
at the landed code d, at L's for a device landed above L (physics: the programmed conductance, finer than a
code); the device is clamped to 0..16 (L + H) (physics clamps at 0 only; L + H is about 4 sigmas above the
top level); z is triangular, not normal; a device written at an epoch e > 0 has no shared part until the
next refresh.
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.contract.device_twin_drift import EPOCH_SECONDS, FRACTION_BITS, drift_on
from aimcgen.contract.device_twin_relaxation import Z_SIGMA, two_byte_z
from aimcgen.contract.noise import initial_state, state_sequence
from aimcgen.spec import DesignSpec

FLICKER_STREAM = 4094                   # pseudo-ADC index of a tile's shared 1/f generator
FLICKER_FRAC_BITS = 20
READ_WINDOW_S = 1e-3                    # the per-read 1/f band starts here (sim.models.physics.FLICKER_WINDOW_S)
Q_FLOOR = 1e-3                          # aihwkit's floor of g^x in Q(g)


def shared_band(spec: DesignSpec, t_s: float) -> float:
    """S: the shared part of the 1/f variance factor at t_s seconds (sim.models.physics.flicker_log_terms)."""
    dev = spec.device
    total = max(math.log((t_s + dev.drift_t0_s + dev.t_read_s) / (2.0 * dev.t_read_s)), 0.0)
    per_read = min(max(math.log(READ_WINDOW_S / (2.0 * dev.t_read_s)), 0.0), total)
    return total - per_read


def flicker_table(spec: DesignSpec) -> list[list[int]]:
    """K[d][e] for device code d = 0..L and epoch e."""
    levels = spec.tile.conductance_levels
    c, x, q_max = spec.device.read_noise_q
    bands = [shared_band(spec, float(t)) if e > 0 else 0.0 for e, t in enumerate(EPOCH_SECONDS)]
    table = []
    for d in range(levels + 1):
        q = min(c / max((d / levels) ** x, Q_FLOOR), q_max) if c != 0 else 0.0
        table.append([round(math.sqrt(s) * q / Z_SIGMA * (1 << FLICKER_FRAC_BITS)) for s in bands])
    return table


def flicker_on(spec: DesignSpec) -> bool:
    """The twin adds the shared 1/f part: drift on and some spread in the table."""
    return drift_on(spec) and any(any(row) for row in flicker_table(spec))


def flicker_seed(spec: DesignSpec, tile: int) -> int:
    return initial_state(spec.noise.seed, tile, FLICKER_STREAM)


def flicker_directions(states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(zp, zm) of draw states (any shape): the low two bytes centred for G+, the high two for G-."""
    s = np.asarray(states, dtype=np.int64)
    return two_byte_z(s), two_byte_z(s >> 16)


def refresh_draws(state: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, int]:
    """One refresh from generator state `state`: (zp, zm) per cell, shape (rows, cols), and the next state."""
    states = state_sequence(np.array([state], dtype=np.uint32), rows * cols + 1)[0]
    plus, minus = flicker_directions(states[:-1].reshape(rows, cols))
    return plus, minus, int(states[-1])


def flickered(value, code, z, table: np.ndarray, epoch: int, levels: int, top: int):
    """r_e of devices with read values `value` (2^-4 code), codes `code` (0..top, the table read at
    min(code, L)) and directions `z` (arrays or ints)."""
    v = np.asarray(value, dtype=np.int64)
    k = np.asarray(table, dtype=np.int64)[np.minimum(np.asarray(code), levels), epoch]
    noise = (v * np.asarray(z, dtype=np.int64) * k + (1 << (FLICKER_FRAC_BITS - 1))) >> FLICKER_FRAC_BITS
    return np.clip(v + noise, 0, top << FRACTION_BITS)
