"""The MVM's measured precision: compute SNR against the exact integer product, and the effective bits.

Why: analog MVMs are said to reach 3-4 effective bits; this says how many a design reaches with its device,
at a time after programming, with or without drift compensation and per-column calibration.

Definitions (per column j of one tile, over a batch of random MVMs):
- ideal      y_j = (x @ W)_j / 2^lsb_shift: the exact integer product in the accumulator's units (ADC LSBs
             of adc.lsb_shift, see contract.adc), before any quantization, clipping or device effect.
- measured   a_j: the accumulator value of the physics model (sim.models.physics PhysicsCrossbar.mvm: devices,
             drift, read noise, IR drop, ADC per drive step, saturating shift-add).
- CSNR_j   = sum_b y_bj^2 / sum_b (a_bj - y_bj)^2, and the tile's CSNR the same sums over all its columns;
             in dB: 10 log10 CSNR.
- effective bits = (CSNR_dB - 1.76) / 6.02, the ENOB of a sine-free uniform-quantizer reading (the usual ADC
  formula applied to the whole MVM, as compute-SNR papers do).
Corrections compared (`CORRECTIONS`):
- "none": the raw output;
- "global": aihwkit-style global drift compensation (one analog gain per tile,
  PhysicsCrossbar.calibrate_drift_compensation on the calibration batch);
- "per_column": global compensation, then a per-column affine correction a' = (a - offset_j) / gain_j fitted
  by least squares of a against y on a separate calibration batch (what the periphery's per-column scale and
  offset registers can apply; here in float, before their fixed-point rounding).
Workload (`random_weights`, `random_inputs`): weights uniform over the integer codes -levels..levels of every device of the
tile; input magnitudes uniform over 0..m, signs uniform, with m the largest value <= input.max_magnitude at
which no drive step's exact column charge of the batch exceeds adc.full_scale (so clipping does not mask the
analog error; a column that clips anyway shows up in the error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.encoding import drive_steps
from aimcgen.sim.models.physics import ChipStreams, PhysicsCrossbar
from aimcgen.spec import DesignSpec

CORRECTIONS = ("none", "global", "per_column")


def csnr(measured: np.ndarray, ideal: np.ndarray, axis=None) -> np.ndarray:
    """Signal power of `ideal` over the power of measured - ideal, summed along `axis` (all by default)."""
    ideal = np.asarray(ideal, dtype=np.float64)
    error = np.asarray(measured, dtype=np.float64) - ideal
    signal = np.sum(ideal ** 2, axis=axis)
    noise = np.sum(error ** 2, axis=axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(noise > 0, signal / np.where(noise > 0, noise, 1.0), np.inf)


def effective_bits(snr) -> np.ndarray:
    """ENOB = (10 log10 snr - 1.76) / 6.02 (infinite for an error-free column)."""
    with np.errstate(divide="ignore"):
        return (10.0 * np.log10(np.asarray(snr, dtype=np.float64)) - 1.76) / 6.02


def fit_column_affine(measured: np.ndarray, ideal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column (gain, offset) of measured ~ gain * ideal + offset, least squares over the batch."""
    y = np.asarray(ideal, dtype=np.float64)
    a = np.asarray(measured, dtype=np.float64)
    y_mean, a_mean = y.mean(axis=0), a.mean(axis=0)
    var = ((y - y_mean) ** 2).sum(axis=0)
    gain = np.where(var > 0, ((y - y_mean) * (a - a_mean)).sum(axis=0) / np.where(var > 0, var, 1.0), 1.0)
    gain = np.where(gain == 0, 1.0, gain)
    return gain, a_mean - gain * y_mean


def ideal_output(spec: DesignSpec, x: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The exact product in accumulator units: (x @ W) / 2^lsb_shift, float."""
    return (np.asarray(x, dtype=np.int64) @ np.asarray(weights, dtype=np.int64)) / float(1 << spec.adc.lsb_shift)


def random_inputs(spec: DesignSpec, weights: np.ndarray, batch: int, rng: np.random.Generator) -> np.ndarray:
    """An input batch (batch, rows) for fixed weights, by the module docstring's rule."""
    rows = spec.tile.rows
    unit, keep = rng.random((batch, rows)), rng.random((batch, rows))
    signs = np.where(rng.random((batch, rows)) < 0.5, -1, 1)

    def fits(x):
        return np.max(np.abs(drive_steps(x, spec.input) @ weights)) <= spec.adc.full_scale

    for m in range(spec.input.max_magnitude, 0, -1):
        x = signs * np.floor(unit * (m + 1)).astype(np.int64)
        if fits(x):
            return x
    density = 0.5
    while True:
        x = signs * (keep < density)
        if fits(x) or density < 1e-6:
            return x
        density /= 2


def random_weights(spec: DesignSpec, rng: np.random.Generator) -> np.ndarray:
    """Integer weights (rows, cols), uniform over -levels..levels."""
    levels = spec.tile.conductance_levels
    return rng.integers(-levels, levels + 1, size=(spec.tile.rows, spec.tile.cols))


@dataclass(frozen=True)
class Precision:
    """CSNR and effective bits of one tile: per column (cols,) and over the whole tile."""
    column_csnr: np.ndarray
    tile_csnr: float

    @property
    def column_bits(self) -> np.ndarray:
        return effective_bits(self.column_csnr)

    @property
    def tile_bits(self) -> float:
        return float(effective_bits(self.tile_csnr))

    @property
    def tile_csnr_db(self) -> float:
        return float(10.0 * np.log10(self.tile_csnr))


def measure_precision(spec: DesignSpec, *, t_s: float, correction: str, seed: int = 0,
                      batch: int = 512) -> Precision:
    """Precision of one programmed tile (chip `seed`) read at t_s, with a correction of CORRECTIONS."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction = {correction!r}: must be one of {', '.join(CORRECTIONS)}")
    rng = np.random.default_rng(seed)
    weights = random_weights(spec, rng)
    x_cal, x_test = random_inputs(spec, weights, batch, rng), random_inputs(spec, weights, batch, rng)
    tile = PhysicsCrossbar(spec, weights, streams=ChipStreams(seed, ("precision",)))
    factor = None if correction == "none" else tile.calibrate_drift_compensation(x_cal, t_s)
    measured = tile.mvm(x_test, t_s, factor)
    ideal = ideal_output(spec, x_test, weights)
    if correction == "per_column":
        gain, offset = fit_column_affine(tile.mvm(x_cal, t_s, factor), ideal_output(spec, x_cal, weights))
        measured = (measured - offset) / gain
    return Precision(csnr(measured, ideal, axis=0), float(csnr(measured, ideal)))
