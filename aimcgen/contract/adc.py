"""ADC quantization and clipping, per ADC kind, for integer (golden) and float (physics) column charges.

All kinds produce signed codes -2^(bits-1)..2^(bits-1)-1 with one code per 2^lsb_shift charge units, where

    lsb_shift = log2(adc.full_scale) - (adc.bits - 1)

(`AdcSpec.lsb_shift` computes it as `full_scale.bit_length() - 1 - (bits - 1)`, the same number because the
spec requires full_scale to be a power of two >= 2^(bits-1), so lsb_shift >= 0; the register ADC.lsb_shift
holds it). Charge units: one conductance code driven for one cycle. So the top code 2^(bits-1)-1 sits one
LSB below full_scale, e.g. bits 8, full_scale 512: lsb_shift = 9 - 7 = 2, four charge units per code.
The charge an ADC sees is the integer column charge plus the emulated tile's noise draw (contract.noise).
- sar and ramp compare the held charge against thresholds at code * LSB (the SAR keeps the largest code
  whose threshold is <= the charge; the ramp counts steps until it passes the charge), so both floor;
- flash comparators sit half an LSB lower, at (code - 1/2) * LSB, so a flash ADC rounds half up.
Charges beyond the range clip to the end codes, as a saturating comparator search does. On an integer
charge q (arithmetic `>>`, s = lsb_shift):

    sar, ramp:  code = clamp(q >> s, -2^(bits-1), 2^(bits-1)-1)
    flash:      code = clamp((q + 2^(s-1)) >> s, ...)      (s > 0; with s = 0 the code is q, clamped)

`adc_code` returns the codes as int16 (CODE_DTYPE: the spec allows at most 14 ADC bits).
"""

from __future__ import annotations

import numpy as np

from aimcgen.spec import AdcSpec


CODE_DTYPE = np.int16                       # holds every code: the spec allows adc.bits <= 14
_CHUNK = 1 << 15                            # charges per pass: the scratch array stays in a core's L2 cache


def adc_code(charge: np.ndarray, adc: AdcSpec) -> np.ndarray:
    """Codes (CODE_DTYPE, the shape of charge) for integer charges (exact) or float charges (same thresholds).

    Worked through in chunks with one scratch array, so that the only new memory is the int16 result; an
    integer-valued float64 charge (exact below 2^53) gets the code of the same integer charge.
    """
    charge = np.asarray(charge)
    integer = np.issubdtype(charge.dtype, np.integer)
    flat = (charge.astype(np.int64, copy=False) if integer else charge).reshape(-1)
    codes = np.empty(flat.shape, dtype=CODE_DTYPE)
    scratch = np.empty(min(_CHUNK, flat.size), dtype=flat.dtype)
    quantize = _integer_codes if integer else _float_codes
    for i in range(0, flat.size, _CHUNK):
        part = scratch[:min(_CHUNK, flat.size - i)]
        quantize(flat[i:i + _CHUNK], adc, part, codes[i:i + _CHUNK])
    return codes.reshape(charge.shape)


def _integer_codes(q: np.ndarray, adc: AdcSpec, scratch: np.ndarray, codes: np.ndarray) -> None:
    """clamp((q + rounding) >> s) as clamp-then-shift: q is clamped to the lowest charge of code_min's step
    and the highest of code_max's, which gives the same codes (floor is monotonic) in one pass fewer."""
    s = adc.lsb_shift
    half = (1 << (s - 1)) if adc.kind == "flash" and s > 0 else 0
    np.clip(q, (adc.code_min << s) - half, (adc.code_max << s) + (1 << s) - 1 - half, out=scratch)
    if half:
        scratch += half
    np.right_shift(scratch, s, out=codes, casting="unsafe")      # in range after the clamp


def _float_codes(charge: np.ndarray, adc: AdcSpec, scratch: np.ndarray, codes: np.ndarray) -> None:
    """clamp(floor(charge / LSB + offset)), offset 1/2 for flash, in the charge's own float type."""
    np.divide(charge, float(1 << adc.lsb_shift), out=scratch)
    if adc.kind == "flash":
        scratch += 0.5
    np.floor(scratch, out=scratch)
    np.clip(scratch, adc.code_min, adc.code_max, out=codes, casting="unsafe")   # whole numbers in range


def comparator_threshold_x2(code: int, adc: AdcSpec) -> int:
    """Twice the charge threshold of a trial code: the comparator answers 2q >= this (keeps flash exact)."""
    lsb = 1 << adc.lsb_shift
    return 2 * code * lsb - (lsb if adc.kind == "flash" else 0)


def conversion_cycles(adc: AdcSpec) -> int:
    """Comparator decisions of one conversion: SAR one per bit, ramp one per threshold it climbs past
    (2^bits - 1), flash one for all comparators at once. One decision takes one clock cycle."""
    return {"sar": adc.bits, "ramp": (1 << adc.bits) - 1, "flash": 1}[adc.kind]
