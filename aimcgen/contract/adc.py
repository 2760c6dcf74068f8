"""ADC quantization and clipping, per ADC kind, for integer (golden) and float (physics) column charges.

All kinds produce signed codes -2^(bits-1)..2^(bits-1)-1 with one code per 2^lsb_shift charge units:
- sar and ramp compare the held charge against thresholds at code * LSB (the SAR keeps the largest code
  whose threshold is <= the charge; the ramp counts steps until it passes the charge), so both floor;
- flash comparators sit half an LSB lower, at (code - 1/2) * LSB, so a flash ADC rounds half up.
Charges beyond the range clip to the end codes, as a saturating comparator search does.
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
