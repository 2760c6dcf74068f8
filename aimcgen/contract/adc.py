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
"""

from __future__ import annotations

import numpy as np

from aimcgen.spec import AdcSpec


def adc_code(charge: np.ndarray, adc: AdcSpec) -> np.ndarray:
    """Codes for integer charges (exact, int64 shifts) or float charges (same thresholds)."""
    charge = np.asarray(charge)
    s = adc.lsb_shift
    if np.issubdtype(charge.dtype, np.integer):
        q = charge.astype(np.int64)
        if adc.kind == "flash" and s > 0:
            q = q + (1 << (s - 1))
        code = q >> s
    else:
        lsb = float(1 << s)
        offset = 0.5 if adc.kind == "flash" else 0.0
        code = np.floor(charge / lsb + offset)
    return np.clip(code, adc.code_min, adc.code_max).astype(np.int64)


def comparator_threshold_x2(code: int, adc: AdcSpec) -> int:
    """Twice the charge threshold of a trial code: the comparator answers 2q >= this (keeps flash exact)."""
    lsb = 1 << adc.lsb_shift
    return 2 * code * lsb - (lsb if adc.kind == "flash" else 0)


def conversion_cycles(adc: AdcSpec) -> int:
    """Comparator decisions of one conversion: SAR one per bit, ramp one per threshold it climbs past
    (2^bits - 1), flash one for all comparators at once. One decision takes one clock cycle."""
    return {"sar": adc.bits, "ramp": (1 << adc.bits) - 1, "flash": 1}[adc.kind]
