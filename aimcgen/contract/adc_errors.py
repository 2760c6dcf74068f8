"""ADC errors: per-ADC gain and offset, SAR capacitor mismatch and ramp INL, as comparator thresholds.

Why: besides the devices, the converters themselves are a large error source of real arrays (per-column gain
and offset of ramp/CCO ADCs, capacitor mismatch and comparator offset of SARs); IBM's HERMES chip calibrates
them per column in its local digital unit. Every error becomes one table per ADC: the charge threshold of
each code, so an ADC with errors converts by the same search as an ideal one (contract.adc), against other
thresholds. Spec fields (all 0 by default = the ideal ADC of contract.adc): adc.gain_sigma,
adc.offset_sigma_lsb, adc.cap_mismatch_sigma (sar only), adc.ramp_inl_lsb (ramp only).

Standard normal draws per ADC (`AdcErrorDraws`): z_gain, z_offset and z_cap[k] for bit k = 0..bits-1. The
physics model draws them from the chip's random stream ("adc_errors"), one chip = one set.

The emulated chip (rtl/emulated_tile.py with rtl/adc_thresholds.py) and the golden model (sim.models.golden)
draw them from the chip seed instead (`chip_draws`), the same seed as the noise and the digital twin
(contract.noise, contract.device_twin): seed = noise.seed, tile = the tile index. Draw d of ADC a (d = 0:
z_gain, d = 1: z_offset, d = 2 + k: z_cap[k]) is an Irwin-Hall sum of twelve uniform 32-bit words, each from
its key alone (unsigned arithmetic modulo 2^32, the mixer of contract.device_twin's stuck devices):
    key = ((tile * 1024 + a) * 32 + d) * 16 + i                              (i = 0..11)
    x = (seed * 0x9E3779B9 + key * 0x85EBCA6B + 0x2545F491) mod 2^32
    x = x ^ (x >> 16);  x = (x * 0x85EBCA6B) mod 2^32;  x = x ^ (x >> 13)
    x = (x * 0xC2B2AE35) mod 2^32;  w_i = x ^ (x >> 16)
    z = (w_0 + ... + w_11) / 2^32 - 6                                        (exact in float64; |z| < 6)
(mean 0, variance 1). `chip_thresholds` turns them into the tables T_q (adcs, N) by the rule below; with
every error field 0 it returns None and the tile is built exactly as without errors.

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
    ramp:   u = the number of u' in 1..N-1 with q >= T(u') (the periphery's ramp controller, rtl/ramp_adc.py,
            climbs the whole ramp and counts every comparator answer 1)
    flash:  u = the number of u' in 1..N-1 with q >= T(u') (a thermometer code, summed)
and the code is u + code_min, which is in range by construction (clipping included). For a non-decreasing
table (every ramp or flash table unless a gain error reaches -100 % or the INL bow is steeper than the ramp)
the count is the number of consecutive u' = 1, 2, ... with q >= T(u'): where the ramp first passes q.

On the emulated tile the comparators compare the integer sample h (charge plus noise) with integer thresholds
    T_c(u) = ceil(T_q(u) / 2^THRESHOLD_FRAC_BITS)      (h * 2^8 >= T_q(u)  <=>  h >= T_c(u) for integer h)
clamped to charge.min .. charge.max + 1 of contract.formats' charge format (the sample's range), which
changes no answer: sar and ramp COMPARE answer resp.comp[a] = h >= T_c[a](u) with u = trial - code_min (the
trial code in offset binary), flash CONVERT answers code_min + the count of u' in 1..N-1 with h >= T_c[a](u').
The golden model converts tile column j with the table of the ADC that serves it (`column_thresholds`, by
contract.adc_columns' assignment); the same answers as the tile's comparators, sample for sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.adc_columns import column_adc
from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import AdcSpec, DesignSpec

#: Fractional bits of the fixed-point thresholds (units of 1/256 charge unit).
THRESHOLD_FRAC_BITS = 8
#: The chip seed's ADC error stream (module docstring): key spans and the salt of the mixer.
ADC_SPAN, DRAW_SPAN, UNIFORM_SPAN = 1024, 32, 16
UNIFORMS_PER_DRAW = 12
ADC_ERROR_SALT = 0x2545F491
_MASK32 = 0xFFFFFFFF


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
    def draw(cls, adc: AdcSpec, adcs: int, rng: np.random.Generator) -> AdcErrorDraws:
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
        # The count of thresholds <= q, whatever their order: a search in each column's sorted table.
        ordered = np.sort(table[:, 1:], axis=-1)
        u = np.empty(q.shape, dtype=np.int64)
        for j in range(q.shape[-1]):
            u[..., j] = np.searchsorted(ordered[j], scaled[..., j], side="right")
    return u.astype(np.int64) + adc.code_min


def chip_draws(spec: DesignSpec, tile: int) -> AdcErrorDraws:
    """The draws of tile `tile`'s ADCs from the chip seed (noise.seed), by the module docstring's rule."""
    adcs, bits = spec.adc.count, spec.adc.bits
    a, d, i = np.meshgrid(np.arange(adcs, dtype=np.uint64), np.arange(2 + bits, dtype=np.uint64),
                          np.arange(UNIFORMS_PER_DRAW, dtype=np.uint64), indexing="ij")
    key = ((np.uint64(tile * ADC_SPAN) + a) * np.uint64(DRAW_SPAN) + d) * np.uint64(UNIFORM_SPAN) + i
    mask = np.uint64(_MASK32)
    x = (np.uint64((spec.noise.seed * 0x9E3779B9) & _MASK32) + (key * np.uint64(0x85EBCA6B) & mask)
         + np.uint64(ADC_ERROR_SALT)) & mask
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & mask
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & mask
    x ^= x >> np.uint64(16)
    z = x.sum(axis=-1).astype(np.float64) / float(1 << 32) - UNIFORMS_PER_DRAW / 2   # (adcs, 2 + bits)
    return AdcErrorDraws(z[:, 0].copy(), z[:, 1].copy(), z[:, 2:].copy())


def chip_thresholds(spec: DesignSpec, tile: int) -> np.ndarray | None:
    """T_q (adcs, N) of tile `tile`'s ADCs on the emulated chip; None when the spec has no ADC errors."""
    if not has_errors(spec.adc):
        return None
    return thresholds(spec.adc, chip_draws(spec, tile))


def column_thresholds(spec: DesignSpec, tile: int) -> np.ndarray | None:
    """Per tile column, the T_q row (cols, N) of the ADC that converts it (contract.adc_columns); None when
    the spec has no ADC errors. The golden model's `convert` table."""
    tables = chip_thresholds(spec, tile)
    if tables is None:
        return None
    return tables[column_adc(spec, np.arange(spec.tile.cols))[0]]


def comparator_thresholds(table: np.ndarray, spec: DesignSpec) -> np.ndarray:
    """T_c = ceil(T_q / 2^8) clamped to the sample's range (module docstring): what the emulated tile's
    comparators compare the integer sample with, same answers as the fixed-point rule."""
    charge = datapath_formats(spec).charge
    ceil = -((-np.asarray(table, dtype=np.int64)) >> THRESHOLD_FRAC_BITS)
    return np.clip(ceil, charge.min, charge.max + 1)
