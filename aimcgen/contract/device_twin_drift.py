"""Conductance drift in the digital twin: per-device drift-exponent codes, a factor table per epoch, and
the fraction bits that keep a drifted device finer than one code.

PCM devices lose conductance after programming as G(t) = G_prog ((t + t0)/t0)^-nu, with a per-device
exponent nu = |mu(g) + sigma(g) N(0,1)| (sim.models.physics, after aihwkit). With `twin.drift = "on"` the
emulated tile (rtl/emulated_tile.py) and the golden model (sim.models.golden) keep, for every device, its
landed code d (contract.device_twin) and a drift code c (0..63), and every read of the tile (INTEGRATE and
PROG_READ) sees each device at the chip's drift epoch e (the emulation's DRIFT_EPOCH register, 0..15), in
units of 2^-4 code (FRACTION_BITS = 4: rounding a drifted device to a whole code moved a weight of 1 by up
to half its size, a bias the physics model does not have):

    f_e = (d * F[c][e] + 2^7) >> 8                (fine device: 2^-4 code; round half up;
                                                   F[c][0] = F[0][e] = 2^12, so f_e = 16 d)
    fine = fp_e - fm_e                            (the fine weight: G+ minus G-, 2^-4 code; a preset
                                                   that relaxes or has 1/f noise reads each f_e relaxed
                                                   and moved by its shared 1/f part first, below)

The fine weight is what every INTEGRATE adds: each column integrator sums drive * fine (2^-4 code x
cycle), and the charge handed to the column's ADC sample (contract.noise, contract.adc, after it) is
rounded once, when sampled:

    charge = (fine_sum + 8) >> 4                  (`>>` arithmetic: floor, so round half up)

so the ADC thresholds, the noise draws and everything after the integrators are unchanged. The whole weight,
which PROG_READ returns (and program-and-verify compares with its target) and which sizes the device read
noise (contract.device_read_noise: VT[min(|w|, L)] with w the whole weight), rounds half away from zero
and is capped at L (see Headroom below):

    w = sign(fine) * min((|fine| + 8) >> 4, L)

With twin.drift "off" there are no fraction bits (FRACTION_BITS applies only with drift; the charge is the
plain sum of the whole weights, as without the twin).

Headroom above the top level. A device aimed at the top code L lands above it about half the time (its
programming error, RRAM relaxation, the shared 1/f part), as in the physics model, which clamps at 0 only.
With drift on (the twin stores fine values) a device therefore holds up to L + H codes:

    H = ceil(L / HEADROOM_DIVISOR) = (L + 3) // 4     with twin.drift "on"     (HEADROOM_DIVISOR = 4)
    H = 0                                             with twin.drift "off"    (no change at all)

so a landed code is min(max(k + e, 0), L + H) (contract.device_twin) and every fine device value is
clamped to 0..16 (L + H) (contract.device_twin_relaxation, contract.device_twin_flicker). Why L / 4: the
widest top-level spread of the shipped presets is about L / 15 (RRAM at 1 year on L = 15: 1.0 code), so
L / 4 is about 4 of its sigmas; and any H <= L + 1 costs the fine weight the same single bit
(16 (L + H) < 2^(b + 4) with L = 2^(b-1) - 1), so a tighter rule would save nothing. A drifted device
f_e = (d * F[c][e] + 2^7) >> 8 stays within 0..16 (L + H) (F <= 2^12), and the fine weight has
fine_weight_bits(spec) = bit_length(16 (L + H)) + 1 bits (tile.weight_bits + 5 with drift); the
integrators and the sampled charge are sized for L + H (contract.formats). The whole weight PROG_READ
returns stays a code in -L..L (the boundary's read data has tile.weight_bits bits):

    w = sign(fine) * min((|fine| + 8) >> 4, L)

Epochs. Epoch e stands for t = EPOCH_SECONDS[e] seconds since programming (roughly log-spaced, with the
points an accuracy study asks for):

    EPOCH_SECONDS = (0, 1, 10, 60, 600, 3600, 21600, 86400, 259200, 604800, 2592000, 8640000,
                     31536000, 94608000, 315360000, 946080000)
    (0, 1 s, 10 s, 1 min, 10 min, 1 h, 6 h, 1 day, 3 days, 1 week, 30 days, 100 days, 1 year (365 days),
     3 years, 10 years, 30 years)

Factor table. Drift code c stands for nu_c = c * 0.00390625 (NU_STEP = 1/256; codes 0..63 cover
0..0.246, a factor step of about 5 % at 1 year). In IEEE float64 (Python), with t0 = device.drift_t0_s:

    F[c][e] = round(((EPOCH_SECONDS[e] + t0) / t0) ** (-(c * 0.00390625)) * 4096)  (Python round, ties to even)

computed as written: the sum, the division, then `**` with the exponent -(c * 0.00390625) (the product
first).

Drift codes. A write of a device aimed at code k draws a 16-bit uniform u (below) and takes the code nearest
to a draw of nu by the inverse of nu's distribution, from a threshold table: with g = max(k / L, 1e-7)
(L = tile.conductance_levels), [a, b, lo, hi] = device.drift_mu and [a', b', lo', hi'] = device.drift_sigma,

    mu = min(max(a * log(g) + b, lo), hi);   sigma = min(max(a' * log(g) + b', lo'), hi')     (math.log)
    for j = 1..63:  x_j = (j - 0.5) * 0.00390625
        P_j = Phi((x_j - mu) / sigma) - Phi((-x_j - mu) / sigma)   if sigma > 0  (the law of |mu + sigma Z|)
        P_j = 1.0 if mu < x_j else 0.0                             if sigma == 0
        with Phi(z) = 0.5 * (1 + math.erf(z / math.sqrt(2)))
        T[k][j] = round(P_j * 65536)
    c = the number of j in 1..63 with u >= T[k][j]   (T[k][j] never falls as j grows: a binary search
                                                      finds c, rtl/drift_code_scanner.py)

The draws come from the tile's programming-noise generator (contract.device_twin): with drift on every
accepted PROG_WRITE takes FOUR draws, n = 4w .. 4w+3 for the w-th write: G+ error, G- error (as without
drift), then G+'s drift u = S_(4w+2) & 0xFFFF (k = kp) and G-'s drift u = S_(4w+3) & 0xFFFF (k = km).
A stuck device holds its stuck code at every epoch (its drift code is 0). A device preloaded at
configuration (no write) takes the code of u = 32768 (the median exponent of its code).

Relaxation. A preset whose device.relax_us is not all zero (RRAM) also relaxes each device, read after its
drift: contract.device_twin_relaxation.

Shared 1/f noise. A preset with 1/f noise (device.read_noise_q c != 0: PCM) also moves each device, read
after its drift and relaxation, by the time point's shared 1/f part, whose directions every refresh draws
anew: contract.device_twin_flicker.

What is stored. Every write stores the weight of the new devices at the current epoch; changing DRIFT_EPOCH
re-reads every device of the tile (a refresh that walks the cells, two cycles each; the tile answers no
command meanwhile). Write DRIFT_EPOCH while the accelerator is idle: a change between the steps of an MVM
would give its later steps other weights. DRIFT_EPOCH = 0 (its reset value) is the tile without drift.
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.spec import DesignSpec

DRIFT_CODES = 64
NU_STEP = 0.00390625                    # 1/256: exact in binary
FACTOR_FRAC_BITS = 12
FRACTION_BITS = 4                       # fine weights: 2^-4 code
UNIFORM_BITS = 16
MEDIAN_UNIFORM = 1 << (UNIFORM_BITS - 1)
EPOCH_SECONDS = (0, 1, 10, 60, 600, 3600, 21600, 86400, 259200, 604800, 2592000, 8640000,
                 31536000, 94608000, 315360000, 946080000)
EPOCH_BITS = 4
HEADROOM_DIVISOR = 4                    # H = ceil(L / 4) codes above the top level, with drift only
DRAWS_PER_WRITE_WITH_DRIFT = 4
_G_FLOOR = 1e-7


def drift_on(spec: DesignSpec) -> bool:
    return spec.twin.drift == "on"


def fraction_bits(spec: DesignSpec) -> int:
    """Fraction bits of the stored weights and the integrators: FRACTION_BITS with drift, else 0."""
    return FRACTION_BITS if drift_on(spec) else 0


def headroom_codes(spec: DesignSpec) -> int:
    """H: the codes a device may hold above L, ceil(L / HEADROOM_DIVISOR) with drift, else 0."""
    levels = spec.tile.conductance_levels
    return -(-levels // HEADROOM_DIVISOR) if drift_on(spec) else 0


def device_top(spec: DesignSpec) -> int:
    """L + H: the highest code a device of the twin holds (L without drift)."""
    return spec.tile.conductance_levels + headroom_codes(spec)


def fine_weight_bits(spec: DesignSpec) -> int:
    """Bits of the fine weight G+ - G- in -16 (L + H)..16 (L + H) (tile.weight_bits without drift)."""
    return (device_top(spec) << fraction_bits(spec)).bit_length() + 1


def factor_table(spec: DesignSpec) -> list[list[int]]:
    """F[c][e]: the drift factor of code c at epoch e, FACTOR_FRAC_BITS fraction bits."""
    t0 = spec.device.drift_t0_s
    return [[round(((t + t0) / t0) ** (-(c * NU_STEP)) * (1 << FACTOR_FRAC_BITS)) for t in EPOCH_SECONDS]
            for c in range(DRIFT_CODES)]


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def threshold_table(spec: DesignSpec) -> list[list[int]]:
    """T[k][j - 1] for aimed code k = 0..L and j = 1..63: the inverse-CDF thresholds of the drift code."""
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


def drifted(code, drift, factors: np.ndarray, epoch: int, fraction: int = FRACTION_BITS):
    """f_e of device codes `code` with drift codes `drift` at `epoch` (numpy arrays or ints), in units of
    2^-fraction code."""
    f = np.asarray(factors, dtype=np.int64)[np.asarray(drift), epoch]
    shift = FACTOR_FRAC_BITS - fraction
    return (np.asarray(code, dtype=np.int64) * f + (1 << (shift - 1))) >> shift


def whole_weight(fine, fraction: int, levels: int):
    """w = sign(fine) * min((|fine| + 2^(F-1)) >> F, L): the whole weight PROG_READ returns (F = 0: fine
    itself)."""
    fine = np.asarray(fine, dtype=np.int64)
    if fraction == 0:
        return fine
    return np.sign(fine) * np.minimum((np.abs(fine) + (1 << (fraction - 1))) >> fraction, levels)


def sampled_charge(fine_sum, fraction: int):
    """charge = (fine_sum + 2^(F-1)) >> F: the column charge an ADC samples (F = 0: the sum itself)."""
    fine_sum = np.asarray(fine_sum, dtype=np.int64)
    if fraction == 0:
        return fine_sum
    return (fine_sum + (1 << (fraction - 1))) >> fraction
