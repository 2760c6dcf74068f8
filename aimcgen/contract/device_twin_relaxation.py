"""RRAM relaxation in the digital twin: a lasting per-device direction z and a spread table per (code, epoch).

An RRAM device does not drift by a power law; its conductance relaxes: the spread around the programmed
value grows with time, G = G_prog + relax(g_target) growth(t) z, with a per-device direction z ~ N(0, 1) that
lasts (sim.models.physics, after Wan et al., Nature 2022). With `twin.drift = "on"` and a device preset
whose device.relax_us is not all zero, the emulated tile (rtl/twin_devices.py) and the golden model add it
to every device read at drift epoch e, in the fine units of contract.device_twin_drift (2^-F code,
F = FRACTION_BITS = 4). Everything below is integer arithmetic, except the table, which is float64 as written.

Direction. A write draws the drift code of each device from S = S_(4w+2) (G+) and S_(4w+3) (G-) of the
tile's programming-noise generator (contract.device_twin_drift: u = S & 0xFFFF); the same state's upper
two bytes give its direction, centred (-255..255, the triangular law of two bytes: standard deviation
sqrt(2 (256^2 - 1) / 12) = 104.51, bounded at 2.44 of it where a normal is not):

    z = ((S >> 16) & 0xFF) + ((S >> 24) & 0xFF) - 255

A stuck device and a device preloaded at configuration (no write) have z = 0.

Spread table. For device code d = 0..L (L = tile.conductance_levels) and epoch e = 0..15, with t0 =
device.drift_t0_s, T = device.relax_time_s and t = EPOCH_SECONDS[e] (contract.device_twin_drift):

    g = d / L;  p = 0.0;  for c in reversed(relax_us): p = p * g + c           (Horner's rule)
    growth = min(max(math.log1p(t / t0) / math.log1p(T / t0), 0.0), 1.0)
    R[d][e] = round(max(p, 0.0) * L / g_max_us * 16 * growth / math.sqrt(10922.5) * 65536)
              (left to right as written; Python round, ties to even)

Read. A device of code d with direction z, whose drifted fine value at epoch e is f_e
(contract.device_twin_drift), reads

    r_e = min(max(f_e + ((z * R[min(d, L)][e] + 2^15) >> 16), 0), 16 (L + H))      (`>>` arithmetic: floor)

with H the headroom above the top level (contract.device_twin_drift: H = ceil(L / 4) with drift), and the
fine weight is rp_e - rm_e. Without relaxation (every R = 0, e.g. the PCM preset) r_e = f_e and the RTL
stores no direction. Approximations (stated; the physics model stays the reference): the spread is looked up
at the landed code d (a device landed above L at L's, the nearest target), not at the target; the device is
clamped to 0..L + H codes (physics clamps at 0 only; L + H is about 4 sigmas above the top level); z is
triangular, not normal.
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.contract.device_twin_drift import EPOCH_SECONDS, FRACTION_BITS, drift_on
from aimcgen.devices import spread_polynomial
from aimcgen.spec import DesignSpec

Z_CENTER = 255
Z_SIGMA = math.sqrt(10922.5)           # sqrt(2 * (256^2 - 1) / 12): the two-byte sum's standard deviation
Z_BITS = 9                             # z in -255..255
SPREAD_FRAC_BITS = 16


def two_byte_z(values):
    """The centred sum of the two low bytes of each value (int or integer array): -255..255, triangular."""
    return (values & 0xFF) + ((values >> 8) & 0xFF) - Z_CENTER


def relax_z(state: int) -> int:
    """z of a drift draw's state: its upper two bytes, centred."""
    return two_byte_z(int(state) >> 16)


def spread_table(spec: DesignSpec) -> list[list[int]]:
    """R[d][e] for device code d = 0..L and epoch e."""
    levels, dev = spec.tile.conductance_levels, spec.device
    t0, horizon = dev.drift_t0_s, dev.relax_time_s
    table = []
    for d in range(levels + 1):
        p = spread_polynomial(dev.relax_us, d / levels)
        row = []
        for t in EPOCH_SECONDS:
            growth = min(max(math.log1p(t / t0) / math.log1p(horizon / t0), 0.0), 1.0)
            row.append(round(max(p, 0.0) * levels / dev.g_max_us * 16 * growth / Z_SIGMA * 65536))
        table.append(row)
    return table


def relaxation_on(spec: DesignSpec) -> bool:
    """The twin relaxes its devices: drift on and some spread in the table."""
    return drift_on(spec) and any(any(row) for row in spread_table(spec))


def relaxed(fine, code, z, spreads: np.ndarray, epoch: int, levels: int, top: int):
    """r_e of devices with drifted fine values `fine`, codes `code` (0..top, the table read at min(code, L))
    and directions `z` (arrays or ints)."""
    row = np.minimum(np.asarray(code), levels)
    shift = np.asarray(z, dtype=np.int64) * np.asarray(spreads, dtype=np.int64)[row, epoch]
    moved = np.asarray(fine, dtype=np.int64) + ((shift + (1 << (SPREAD_FRAC_BITS - 1))) >> SPREAD_FRAC_BITS)
    return np.clip(moved, 0, top << FRACTION_BITS)
