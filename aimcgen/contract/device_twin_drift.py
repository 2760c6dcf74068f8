"""Conductance drift in the digital twin: per-device drift-exponent codes and a factor table per epoch.

PCM devices lose conductance after programming as G(t) = G_prog ((t + t0)/t0)^-nu, with a per-device
exponent nu = |mu(g) + sigma(g) N(0,1)| (sim.models.physics, after aihwkit). With `twin.drift = "on"` the
emulated tile (rtl/emulated_tile.py) and the golden model (sim.models.golden) keep, for every device, its
landed code d (contract.device_twin) and a drift code c (0..15), and every read of the tile (INTEGRATE and
PROG_READ) sees each device at the chip's drift epoch e (the emulation's DRIFT_EPOCH register, 0..15):

    d_e = (d * F[c][e] + 2^11) >> 12              (round half up; F[c][0] = F[0][e] = 2^12, so d_e = d)
    weight = dp_e - dm_e                          (G+ minus G-)

Epochs. Epoch e stands for t = EPOCH_SECONDS[e] seconds since programming (roughly log-spaced, with the
points an accuracy study asks for):

    EPOCH_SECONDS = (0, 1, 10, 60, 600, 3600, 21600, 86400, 259200, 604800, 2592000, 8640000,
                     31536000, 94608000, 315360000, 946080000)
    (0, 1 s, 10 s, 1 min, 10 min, 1 h, 6 h, 1 day, 3 days, 1 week, 30 days, 100 days, 1 year (365 days),
     3 years, 10 years, 30 years)

Factor table. Drift code c stands for nu_c = c * 0.0125 (NU_STEP = 1/80; codes 0..15 cover 0..0.1875). In
IEEE float64 (Python), with t0 = device.drift_t0_s:

    F[c][e] = round(((EPOCH_SECONDS[e] + t0) / t0) ** (-(c * 0.0125)) * 4096)      (Python round, ties to even)

computed as written: the sum, the division, then `**` with the exponent -(c * 0.0125) (c * 0.0125 first).

Drift codes. A write of a device aimed at code k draws a 16-bit uniform u (below) and takes the code nearest
to a draw of nu by the inverse of nu's distribution, from a threshold table: with g = max(k / L, 1e-7)
(L = tile.conductance_levels), [a, b, lo, hi] = device.drift_mu and [a', b', lo', hi'] = device.drift_sigma,

    mu = min(max(a * log(g) + b, lo), hi);   sigma = min(max(a' * log(g) + b', lo'), hi')     (math.log)
    for j = 1..15:  x_j = (j - 0.5) * 0.0125
        P_j = Phi((x_j - mu) / sigma) - Phi((-x_j - mu) / sigma)   if sigma > 0  (the law of |mu + sigma Z|)
        P_j = 1.0 if mu < x_j else 0.0                             if sigma == 0
        with Phi(z) = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        T[k][j] = round(P_j * 65536)
    c = the number of j in 1..15 with u >= T[k][j]

The draws come from the tile's programming-noise generator (contract.device_twin): with drift on every
accepted PROG_WRITE takes FOUR draws, n = 4w .. 4w+3 for the w-th write: G+ error, G- error (as without
drift), then G+'s drift u = S_(4w+2) & 0xFFFF (k = kp) and G-'s drift u = S_(4w+3) & 0xFFFF (k = km).
A stuck device holds its stuck code at every epoch (its drift code is 0). A device preloaded at
configuration (no write) takes the code of u = 32768 (the median exponent of its code).

What is stored. Every write stores the weight of the new devices at the current epoch; changing DRIFT_EPOCH
re-reads every device of the tile (a refresh that walks the cells, two cycles each; the tile answers no
command meanwhile). Write DRIFT_EPOCH while the accelerator is idle: a change between the steps of an MVM
would give its later steps other weights. DRIFT_EPOCH = 0 (its reset value) is the tile without drift.
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.spec import DesignSpec

DRIFT_CODES = 16
NU_STEP = 0.0125
FACTOR_FRAC_BITS = 12
UNIFORM_BITS = 16
MEDIAN_UNIFORM = 1 << (UNIFORM_BITS - 1)
EPOCH_SECONDS = (0, 1, 10, 60, 600, 3600, 21600, 86400, 259200, 604800, 2592000, 8640000,
                 31536000, 94608000, 315360000, 946080000)
EPOCH_BITS = 4
DRAWS_PER_WRITE_WITH_DRIFT = 4
_G_FLOOR = 1e-7


def drift_on(spec: DesignSpec) -> bool:
    return spec.twin.drift == "on"


def factor_table(spec: DesignSpec) -> list[list[int]]:
    """F[c][e]: the drift factor of code c at epoch e, FACTOR_FRAC_BITS fraction bits."""
    t0 = spec.device.drift_t0_s
    return [[round(((t + t0) / t0) ** (-(c * NU_STEP)) * (1 << FACTOR_FRAC_BITS)) for t in EPOCH_SECONDS]
            for c in range(DRIFT_CODES)]


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def threshold_table(spec: DesignSpec) -> list[list[int]]:
    """T[k][j - 1] for aimed code k = 0..L and j = 1..15: the inverse-CDF thresholds of the drift code."""
    levels, dev = spec.tile.conductance_levels, spec.device
    table = []
    for k in range(levels + 1):
        g = max(k / levels, _G_FLOOR)
        a, b, lo, hi = dev.drift_mu
        mu = min(max(a * math.log(g) + b, lo), hi)
        a, b, lo, hi = dev.drift_sigma
        sigma = min(max(a * math.log(g) + b, lo), hi)
        row = []
        for j in range(1, DRIFT_CODES):
            x = (j - 0.5) * NU_STEP
            p = (_phi((x - mu) / sigma) - _phi((-x - mu) / sigma)) if sigma > 0 else (1.0 if mu < x else 0.0)
            row.append(round(p * (1 << UNIFORM_BITS)))
        table.append(row)
    return table


def drift_code(u: int, thresholds: list[int]) -> int:
    return sum(1 for t in thresholds if u >= t)


def drifted(code, drift, factors: np.ndarray, epoch: int):
    """d_e of device codes `code` with drift codes `drift` at `epoch` (numpy arrays or ints)."""
    f = np.asarray(factors, dtype=np.int64)[np.asarray(drift), epoch]
    return (np.asarray(code, dtype=np.int64) * f + (1 << (FACTOR_FRAC_BITS - 1))) >> FACTOR_FRAC_BITS
