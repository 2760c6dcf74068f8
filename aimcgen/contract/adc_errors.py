"""ADC errors: per-ADC gain and offset, SAR capacitor mismatch and ramp INL, as comparator thresholds.

Why: besides the devices, the converters themselves are a large error source of real arrays (per-column gain
and offset of ramp/CCO ADCs, capacitor mismatch and comparator offset of SARs); IBM's HERMES chip calibrates
them per column in its local digital unit. Every error becomes one table per ADC: the charge threshold of
each code, so an ADC with errors converts by the same search as an ideal one (contract.adc), against other
thresholds. Spec fields (all 0 by default = the ideal ADC of contract.adc): adc.gain_sigma,
adc.offset_sigma_lsb, adc.cap_mismatch_sigma (sar only), adc.ramp_inl_lsb (ramp only).

Standard normal draws per ADC (`AdcErrorDraws`): z_gain, z_offset and z_cap[k] for bit k = 0..bits-1. The
physics model draws them from the chip's random stream ("adc_errors"), one chip = one set.

Thresholds (`thresholds`), with N = 2^bits codes, u = 0..N-1 the unsigned code and c = u + code_min the signed
one, LSB = 2^lsb_shift charge units, gain = 1 + gain_sigma z_gain, offset = offset_sigma_lsb z_offset LSB:
    sar:    level(u) = sum over set bits k of u of 2^k (1 + cap_mismatch_sigma z_cap[k] / sqrt(2^k))
            (bit k's capacitor is 2^k unit capacitors of relative spread cap_mismatch_sigma each)
            T(u) = gain (level(u) + code_min) LSB + offset
    ramp:   T(u) = gain (c + inl(u)) LSB + offset,  inl(u) = 4 ramp_inl_lsb (u / (N-1)) (1 - u / (N-1))
            (a bow: 0 at both ends, ramp_inl_lsb at mid-scale)
    flash:  T(u) = gain (c - 1/2) LSB + offset
then rounded to fixed point: T_q(u) = round_half_even(T(u) * 2^THRESHOLD_FRAC_BITS), an integer in units of
2^-THRESHOLD_FRAC_BITS charge units. With every error 0, T_q(u) / 2^8 is contract.adc's threshold of code c.

Conversion of a charge q (integer or float; compared as q * 2^THRESHOLD_FRAC_BITS >= T_q(u)), `convert`:
    sar:    binary search from the most significant bit: u = 0; for k = bits-1 .. 0: if q >= T(u | 2^k) then
            u |= 2^k  (what a SAR's successive comparisons against its DAC do, mismatch included)
    ramp:   u = the number of consecutive u' = 1, 2, ... with q >= T(u') (the ramp climbs until it passes q)
    flash:  u = the number of u' in 1..N-1 with q >= T(u') (a thermometer code, summed)
and the code is u + code_min, which is in range by construction (clipping included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.spec import AdcSpec

#: Fractional bits of the fixed-point thresholds (units of 1/256 charge unit).
THRESHOLD_FRAC_BITS = 8


def has_errors(adc: AdcSpec) -> bool:
    """True when any ADC error field is nonzero (else the ideal rule of contract.adc applies)."""
    return bool(adc.gain_sigma or adc.offset_sigma_lsb or adc.cap_mismatch_sigma or adc.ramp_inl_lsb)


@dataclass(frozen=True)
class AdcErrorDraws:
    """Standard normal draws of ADCs: z_gain (adcs,), z_offset (adcs,), z_cap (adcs, bits)."""
    z_gain: np.ndarray
    z_offset: np.ndarray
    z_cap: np.ndarray

    @classmethod
    def draw(cls, adc: AdcSpec, adcs: int, rng: np.random.Generator) -> "AdcErrorDraws":
        """Draws for `adcs` ADCs, in the order z_gain, z_offset, z_cap (rows by ADC)."""
        return cls(rng.standard_normal(adcs), rng.standard_normal(adcs), rng.standard_normal((adcs, adc.bits)))


def thresholds(adc: AdcSpec, draws: AdcErrorDraws) -> np.ndarray:
    """Fixed-point thresholds T_q (adcs, N) int64 by the module docstring's rule; column u = 0 is unused."""
    n = 1 << adc.bits
    u = np.arange(n)
    lsb = float(1 << adc.lsb_shift)
    gain = 1.0 + adc.gain_sigma * np.asarray(draws.z_gain, dtype=np.float64)[:, None]
    offset = adc.offset_sigma_lsb * np.asarray(draws.z_offset, dtype=np.float64)[:, None] * lsb
    if adc.kind == "sar":
        k = np.arange(adc.bits)
        weights = 2.0 ** k * (1.0 + adc.cap_mismatch_sigma * np.asarray(draws.z_cap, dtype=np.float64)
                              / np.sqrt(2.0 ** k))                                  # (adcs, bits)
        bits = ((u[:, None] >> k) & 1).astype(np.float64)                          # (N, bits)
        level = weights @ bits.T                                                    # (adcs, N)
        t = gain * (level + adc.code_min) * lsb + offset
    elif adc.kind == "ramp":
        frac = u / (n - 1)
        t = gain * (u + adc.code_min + 4.0 * adc.ramp_inl_lsb * frac * (1.0 - frac)) * lsb + offset
    else:
        t = gain * (u + adc.code_min - 0.5) * lsb + offset
    return np.rint(t * (1 << THRESHOLD_FRAC_BITS)).astype(np.int64)


def convert(charge: np.ndarray, table: np.ndarray, adc: AdcSpec) -> np.ndarray:
    """Codes (int64, charge's shape) of charges (..., columns) whose column j has thresholds table[j] (N,)."""
    q = np.asarray(charge)
    scaled = (q.astype(np.int64) << THRESHOLD_FRAC_BITS if np.issubdtype(q.dtype, np.integer)
              else q.astype(np.float64) * float(1 << THRESHOLD_FRAC_BITS))
    table = np.asarray(table)
    if adc.kind == "sar":
        u = np.zeros(q.shape, dtype=np.int64)
        cols = np.arange(q.shape[-1])
        for k in range(adc.bits - 1, -1, -1):
            trial = u | (1 << k)
            u = np.where(scaled >= table[cols, trial], trial, u)
    else:
        passed = scaled[..., None] >= table[:, 1:]                                  # (..., columns, N-1)
        if adc.kind == "ramp":
            u = np.cumprod(passed, axis=-1).sum(axis=-1)
        else:
            u = passed.sum(axis=-1)
    return u.astype(np.int64) + adc.code_min
