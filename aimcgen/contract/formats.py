"""Fixed-point formats of the tile datapath, written once and used by the RTL and the golden model.

All are two's complement; "holding(lo, hi)" is the narrowest width that holds lo..hi. With
L = tile.conductance_levels = 2^(weight_bits-1) - 1, D = input.max_magnitude for PWM (1 for bit-serial),
M the noise gain (with twin.read_noise on, the largest gain of contract.device_read_noise) and
noise_max = (510 * M + 2^15) >> 16 the largest noise draw (contract.noise), and T = L + H the highest
device code of the twin (H = 0, so T = L, unless twin.drift is on: then H = ceil(L / 4) and the weights the
tile integrates are fine, F = 4 fraction bits; contract.device_twin_drift):

  weight       holding(-L, L)                          (= tile.weight_bits bits)
  fine_weight  holding(-T * 2^F, T * 2^F), F fraction bits  (the stored, integrated weight; = weight
                                                        without drift, tile.weight_bits + 5 bits with it)
  drive        holding(-D, D)
  noise        holding(-noise_max, noise_max)
  charge       holding(-(rows*T*D + noise_max), rows*T*D + noise_max)   (column charge plus noise; the
                                                        integrators hold it with F more bits)
  adc_code     adc.bits             accumulator  accumulator.bits (saturating)
  scale        postproc.scale_bits, scale_frac_bits fraction bits
  offset       postproc.offset_bits, scale_frac_bits fraction bits
  product      max(accumulator.bits + scale_bits, offset_bits) + 1 bits: acc * scale + offset never overflows
  output       postproc.output_bits (saturating)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.spec import DesignSpec
from aimcgen.contract.noise import CENTER, MULTIPLIER_FRAC_BITS, noise_multiplier
from aimcgen.contract.device_read_noise import gain_max, read_noise_on
from aimcgen.contract.device_twin_drift import device_top, fraction_bits


@dataclass(frozen=True)
class SignedFormat:
    """A two's complement integer of `bits` bits with `frac` fraction bits (value = code / 2^frac)."""
    bits: int
    frac: int = 0

    @property
    def min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def max(self) -> int:
        return (1 << (self.bits - 1)) - 1

    def saturate(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values clamped into range, and where clamping happened."""
        clipped = np.clip(values, self.min, self.max)
        return clipped, clipped != values

    def contains(self, values: np.ndarray) -> bool:
        values = np.asarray(values)
        return bool(np.all((values >= self.min) & (values <= self.max)))

    @staticmethod
    def holding(low: int, high: int) -> "SignedFormat":
        """The narrowest format that holds every integer in low..high."""
        bits = 1
        while not (-(1 << (bits - 1)) <= low and high <= (1 << (bits - 1)) - 1):
            bits += 1
        return SignedFormat(bits)


@dataclass(frozen=True)
class DatapathFormats:
    weight: SignedFormat        # differential conductance code G+ - G-
    fine_weight: SignedFormat   # the weight the tile stores and integrates (twin drift: 2^-F code, to L + H)
    drive: SignedFormat         # signed drive of one row in one step (cycles for PWM, +-1/0 bit-serial)
    charge: SignedFormat        # integrated column charge plus emulated noise
    noise: SignedFormat
    adc_code: SignedFormat
    accumulator: SignedFormat
    scale: SignedFormat
    offset: SignedFormat
    product: SignedFormat       # accumulator * scale + offset, before rounding
    output: SignedFormat


def datapath_formats(spec: DesignSpec) -> DatapathFormats:
    tile, inp, post = spec.tile, spec.input, spec.postproc
    levels = tile.conductance_levels
    drive_max = inp.max_magnitude if inp.encoding == "pwm" else 1
    gain = gain_max(spec) if read_noise_on(spec) else noise_multiplier(spec)
    noise_max = (CENTER * gain + (1 << (MULTIPLIER_FRAC_BITS - 1))) >> MULTIPLIER_FRAC_BITS
    top = device_top(spec)              # L, or L + H with twin drift (headroom above the top level)
    fraction = fraction_bits(spec)
    charge_max = tile.rows * top * drive_max + noise_max
    scale = SignedFormat(post.scale_bits, post.scale_frac_bits)
    acc = SignedFormat(spec.accumulator.bits)
    offset = SignedFormat(post.offset_bits, post.scale_frac_bits)
    product_bits = max(acc.bits + scale.bits, offset.bits) + 1    # never overflows, even at the corners
    return DatapathFormats(
        weight=SignedFormat.holding(-levels, levels),
        fine_weight=SignedFormat(SignedFormat.holding(-(top << fraction), top << fraction).bits, fraction),
        drive=SignedFormat.holding(-drive_max, drive_max),
        charge=SignedFormat.holding(-charge_max, charge_max),
        noise=SignedFormat.holding(-noise_max, noise_max),
        adc_code=SignedFormat(spec.adc.bits),
        accumulator=acc,
        scale=scale,
        offset=offset,
        product=SignedFormat(product_bits, post.scale_frac_bits),
        output=SignedFormat(post.output_bits),
    )
