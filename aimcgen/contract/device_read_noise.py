"""Device read noise in the digital twin: the noise of each ADC sample sized by the column's devices and drive.

Without it the emulated tile adds to every sampled column charge a draw of one fixed sigma (contract.noise,
noise.sigma_lsb): the average read noise of the devices (sim.models.noise_calibration). Real read noise
depends on what is read: PCM 1/f noise grows with the device conductance (a column of weights at 0 is
quiet, one at full scale is loud), RRAM white noise is one constant per device whatever its conductance,
and both grow with the drive that reads the device. With `twin.read_noise = "on"` the emulated tile
(rtl/emulated_tile.py) sizes each sample's noise from a per-column variance accumulated during INTEGRATE,
and the golden model (sim.models.golden) replays it bit for bit. noise.sigma_lsb is then unused (it is the
calibrated average of this same noise: adding both would count it twice); the draws themselves are
contract.noise's, unchanged: same generators, seeds, leaps and sampling order, only the gain differs.

Variance table. Per weight magnitude k = 0..L (L = tile.conductance_levels), in code units squared (one
conductance code for one drive cycle), IEEE float64 exactly as written (Python floats, math.log), from the
device preset (sim.models.physics's per-read noise of a programmed device pair):

    c, e, q_max = device.read_noise_q;  rel = device.read_noise_rel
    total = max(log((0 + drift_t0_s + t_read_s) / (2.0 * t_read_s)), 0.0)        (the 1/f band at t = 0)
    R = min(max(log(READ_WINDOW_S / (2.0 * t_read_s)), 0.0), total)              (its per-read part)
    F(a) = 0.0;  for (z, p) in the 5 nodes below, in order:                       (one device aimed at a)
        d = max(a + s[a] * z, 0.0)                                                (programmed code)
        q = min(c / max((d / L) ** e, 1e-3), q_max)    if c != 0, else 0.0       (PCM: aihwkit's Q(g))
        F(a) = F(a) + p * (d * q) ** 2
    v[k] = (F(k) + F(0)) * R + (rel * L) ** 2                                     (1/f of G+ and G-, white)
    VT[k] = round(v[k] * 2^12)                                                    (Python round, ties to even)

with READ_WINDOW_S = 1e-3 (physics.FLICKER_WINDOW_S), s[a] the programming-noise sigma of code a in
code LSB (contract.device_twin.sigma_lsb_table, whatever twin.programming_error says: the devices have it),
and the 5-point Gauss-Hermite rule of N(0, 1) (nodes z, weights p):

    (0.0, 0.5333333333333333), (1.3556261799742659, 0.2220759220056126),
    (-1.3556261799742659, 0.2220759220056126), (2.8569700138728056, 0.011257411327720691),
    (-2.8569700138728056, 0.011257411327720691)

F(a) is the mean of (d Q(d/L))^2 over the programmed code d (1/f noise is |G| Q(g_prog) per device), so a
device aimed at 0 is not silent: programming leaves it a little above 0, where Q is at its cap. The white
term is two devices of sigma rel L / sqrt(2) each (physics: rel g_max / sqrt(2) in uS). For the PCM preset
R = ln(2000) = 7.6009 at every t (total >= R from t = 0 on), so the table does not depend on the time
since programming. The rest of the 1/f variance factor, S = total - R (at the time t of the drift epoch),
is one draw per device and time point, shared by all reads then: not sample noise, so not here. With
twin.drift "on" the twin adds it to the devices' stored read values at every drift refresh
(contract.device_twin_flicker), whatever twin.read_noise says.

Approximations (stated; the physics model stays the statistical reference): a weight w is read as G+
aimed at |w| (capped at L) and G- aimed at 0, whatever the devices of the pair actually landed at (stuck
ones included); the programmed code's spread is the 5-point rule (about 12 % low on F(0), whose
integrand has a kink at 0); Q is evaluated at the code read (drifted, with twin.drift) instead of the
programmed one, which understates PCM 1/f noise after long drift (Q ~ g^-0.65); the sample's sigma is
that of its variance class (below), within about 3 % of sqrt(V).

Column variance. Every column j keeps an unsigned integer V_j, and the tile counts its INTEGRATE commands:
an INTEGRATE with start sets V_j = 0 and its command number c = 0; each further INTEGRATE has
c = previous c + 1. INTEGRATE number c adds, for every row i it enables (whatever the polarity),

    V_j = V_j + (2c + 1) * VT[min(|w_ij|, L)]          (w_ij the weight the tile stores and integrates)

For the tile controller's commands (rtl/tile_controller.py) that is V_j = sum_i d_i^2 VT[min(|w_ij|, L)]
per drive step, d_i the row's drive of the step (contract.encoding.drive_steps): bit-serial steps are one
INTEGRATE (d_i^2 = |d_i|), a PWM window enables row i in its first |x_i| commands and 1 + 3 + ... +
(2|x_i| - 1) = x_i^2. So V_j / 2^12 is the variance of the column charge when every device reads with
independent noise. V_j is VB = bit_length(rows * D^2 * max(VT)) bits wide (D the largest drive of one
step: input.max_magnitude for PWM, 1 for bit-serial); like the integrators, more commands without start wrap.

Gain. A sample of column j uses the gain G[V_j] in place of contract.noise's M (its draw is
n = (c * G + 2^15) >> 16 with c the centred byte sum of contract.noise), from the variance class of V_j
with P = 4 precision bits:

    s = max(bit_length(V) - 4, 0);  top = V >> s             (top < 16; 8 <= top when s > 0)
    class index = s * 16 + top
    V_rep = top if s == 0 else (2 * top + 1) * 2^(s - 1)      (the middle of the class)
    G = round(sqrt(V_rep / 2^12) / sqrt(21845) * 2^16)        (float64 as written; Python round)

Class indices that no V reaches (s > 0 and top < 8) hold G = 0. Example: the PCM preset with
tile.weight_bits = 4 (L = 7) has VT = [3, 32, 51, 67, 81, 95, 107, 120]; a bit-serial sample whose column
sums 16 driven rows at VT = 120 has V = 1920, s = 7, top = 15, V_rep = 1984 and G = 309 (sigma 0.697 LSB).
The datapath formats (contract.formats) size the noise for the largest G that V_j can reach, that of
V = rows * D^2 * max(VT) (G never falls as V grows).
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.contract.device_twin import sigma_lsb_table
from aimcgen.contract.device_twin_flicker import Q_FLOOR, READ_WINDOW_S
from aimcgen.contract.noise import MULTIPLIER_FRAC_BITS, SIGMA_OF_SUM
from aimcgen.spec import DesignSpec

VAR_FRAC_BITS = 12                # fraction bits of VT and V_j
CLASS_BITS = 4                    # P: precision bits of a variance class
# The 5-point Gauss-Hermite rule of N(0, 1): (node, weight), exact for polynomials up to degree 9.
GAUSS_HERMITE_5 = ((0.0, 0.5333333333333333), (1.3556261799742659, 0.2220759220056126),
                   (-1.3556261799742659, 0.2220759220056126), (2.8569700138728056, 0.011257411327720691),
                   (-2.8569700138728056, 0.011257411327720691))
RAW_GAIN = 1 << MULTIPLIER_FRAC_BITS   # a contract.noise gain that makes its draw n the centred sum c itself
_ROUND = 1 << (MULTIPLIER_FRAC_BITS - 1)


def read_noise_on(spec: DesignSpec) -> bool:
    return spec.twin.read_noise == "on"


def per_read_band(spec: DesignSpec) -> float:
    """R: the per-read part of the 1/f variance factor (the band READ_WINDOW_S .. 2 t_read)."""
    dev = spec.device
    total = max(math.log((0 + dev.drift_t0_s + dev.t_read_s) / (2.0 * dev.t_read_s)), 0.0)
    return min(max(math.log(READ_WINDOW_S / (2.0 * dev.t_read_s)), 0.0), total)


def weight_variances(spec: DesignSpec) -> list[float]:
    """v[k], k = 0..L: read-noise variance of one weight of magnitude k, in code units squared (float64)."""
    levels, dev = spec.tile.conductance_levels, spec.device
    c, e, q_max = dev.read_noise_q
    sigma = sigma_lsb_table(spec)

    def flicker(a: int) -> float:          # F(a): mean (d Q(d/L))^2 over the programmed code d
        total = 0.0
        for z, p in GAUSS_HERMITE_5:
            d = max(a + sigma[a] * z, 0.0)
            q = min(c / max((d / levels) ** e, Q_FLOOR), q_max) if c != 0 else 0.0
            total = total + p * (d * q) ** 2
        return total

    band = per_read_band(spec)
    return [(flicker(k) + flicker(0)) * band + (dev.read_noise_rel * levels) ** 2 for k in range(levels + 1)]


def variance_table(spec: DesignSpec) -> list[int]:
    """VT[k]: v[k] in VAR_FRAC_BITS fixed point."""
    return [round(v * (1 << VAR_FRAC_BITS)) for v in weight_variances(spec)]


def drive_max(spec: DesignSpec) -> int:
    """D: the largest drive of a row in one step."""
    return spec.input.max_magnitude if spec.input.encoding == "pwm" else 1


def variance_bits(spec: DesignSpec) -> int:
    """VB: width of a column variance V_j (at least 1)."""
    return max(variance_max(spec).bit_length(), 1)


def class_count(spec: DesignSpec) -> int:
    """Entries of the gain table: (max s + 1) * 2^P."""
    return (max(variance_bits(spec) - CLASS_BITS, 0) + 1) << CLASS_BITS


def gain_table(spec: DesignSpec) -> list[int]:
    """G per class index s * 16 + top (0 where no V lands)."""
    table = []
    for index in range(class_count(spec)):
        s, top = index >> CLASS_BITS, index & ((1 << CLASS_BITS) - 1)
        if s > 0 and top < 1 << (CLASS_BITS - 1):
            table.append(0)
            continue
        rep = top if s == 0 else (2 * top + 1) << (s - 1)
        table.append(round(math.sqrt(rep / (1 << VAR_FRAC_BITS)) / SIGMA_OF_SUM * (1 << MULTIPLIER_FRAC_BITS)))
    return table


def variance_max(spec: DesignSpec) -> int:
    """The largest V_j of one drive step: rows * D^2 * max(VT)."""
    return spec.tile.rows * drive_max(spec) ** 2 * max(variance_table(spec))


def gain_max(spec: DesignSpec) -> int:
    """The largest gain a sample can get, that of variance_max (G never falls as V grows): contract.formats
    sizes the noise for it; 0 when read_noise is off."""
    if not read_noise_on(spec):
        return 0
    return gain_table(spec)[int(class_index(np.array([variance_max(spec)]))[0])]


def class_index(variance: np.ndarray, bits: int = 63) -> np.ndarray:
    """s * 16 + (V >> s) of unsigned variances V (any shape, int64) below 2^bits."""
    v = np.asarray(variance, dtype=np.int64)
    s = np.zeros(v.shape, dtype=np.int64)
    for b in range(max(bits - CLASS_BITS, 0)):
        s += (v >> (CLASS_BITS + b)) > 0
    return (s << CLASS_BITS) + (v >> s)


def column_variances(spec: DesignSpec, drive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """V per (step, batch, column) for drive (steps, batch, rows) and stored weights (rows, cols).

    float64 BLAS, exact: every V is below 2^VB <= 2^53 (an integer float64 holds exactly)."""
    levels = spec.tile.conductance_levels
    vt = np.asarray(variance_table(spec), dtype=np.float64)
    per_weight = vt[np.minimum(np.abs(np.asarray(weights, dtype=np.int64)), levels)]
    d = np.asarray(drive, dtype=np.float64)
    return (d * d @ per_weight).astype(np.int64)


def scale_draws(raw: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """n = (c * G + 2^15) >> 16 for centred byte sums c (contract.noise with RAW_GAIN) and per-sample gains G."""
    return (np.asarray(raw, dtype=np.int64) * gains + _ROUND) >> MULTIPLIER_FRAC_BITS


def sample_noise(spec: DesignSpec, drive: np.ndarray, weights: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """The read noise of every sample (steps, batch, cols): raw centred sums sized by each column's variance."""
    variances = column_variances(spec, drive, weights)
    gains = np.asarray(gain_table(spec), dtype=np.int64)[class_index(variances, variance_bits(spec))]
    return scale_draws(raw, gains)
