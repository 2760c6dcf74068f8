"""A mapped network on golden chips with ADC errors, before and after the per-column calibration.

Why: ADC gain and offset spread (contract.adc_errors) shifts and scales every column of a chip; the
post-processor's per-column SCALE/OFFSET registers can undo it once measured. This measures what that buys
on the arithmetic of the emulated hardware (the golden model is the RTL's arithmetic bit for bit, ADC errors
included), for the shipped digits MLP or any network mapping:

- chip c = the mapping's layer specs with noise.seed = c (the emulated read noise and the ADC error draws,
  contract.adc_errors.chip_draws, both come from it), so "no ADC errors" and "ADC errors" on chip c share
  their read-noise draws; every layer is a GoldenAccelerator of its own grid (sim.eval.backends.GoldenBackend);
- calibration: for every layer, a host driver routine (sim.host.calibration: "plain" is calibrate_columns,
  the C driver's aimc_calibrate_columns; "centred" is calibrate_columns_centred, the C driver's
  aimc_calibrate_columns_centred; both rules of contract.calibration) through `GoldenChipHost`, with
  contract.calibration.calibration_vectors(layer spec, weight codes, n, seed = vector_seed + layer index),
  against the target SCALE codes of the mapping and the target OFFSET codes less the mapping's ADC floor-bias
  correction (round(scale * floor bias * row tiles), sim.eval.mapping.adc_floor_bias): the fit maps each
  column onto the exact product, which already has no floor loss to correct;
- "tiles" (a layer whose spec has trims: accumulator.tile_gain_bits > 0 and more than one row tile) is
  calibrate_tile_gains (the C driver's aimc_calibrate_tile_gains, contract.tile_gain_calibration): the row
  tiles' gain trims, measured with per-tile vectors (contract.tile_gain_calibration.tile_vectors, the same
  n and seed as the layer's calibration vectors), then the centred calibration; a layer without trims gets
  the centred calibration alone.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aimcgen.contract.adc_errors import has_errors
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.calibration import CalibrationError, calibration_vectors
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.mapping import LayerMapping, NetworkMapping, adc_floor_bias
from aimcgen.contract.tile_gain import tile_gain_on
from aimcgen.contract.tile_gain_calibration import tile_vectors
from aimcgen.sim.host.calibration import (ColumnCalibration, calibrate_columns, calibrate_columns_centred,
                                          calibrate_tile_gains)
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import AdcSpec, DesignSpec

ERROR_FIELDS = ("gain_sigma", "offset_sigma_lsb", "cap_mismatch_sigma", "ramp_inl_lsb")


def adc_errors_for(adc: AdcSpec, gain_sigma: float, offset_sigma_lsb: float, cap_mismatch_sigma: float,
                   ramp_inl_lsb: float) -> dict:
    """The error fields that apply to the ADC's kind (capacitor mismatch: sar; INL: ramp), others 0."""
    return {"gain_sigma": gain_sigma, "offset_sigma_lsb": offset_sigma_lsb,
            "cap_mismatch_sigma": cap_mismatch_sigma if adc.kind == "sar" else 0.0,
            "ramp_inl_lsb": ramp_inl_lsb if adc.kind == "ramp" else 0.0}


def chip_mapping(mapping: NetworkMapping, seed: int, adc_errors: dict | None = None) -> NetworkMapping:
    """The mapping on chip `seed` (noise.seed), with the ADC error fields `adc_errors` (None: error-free)."""
    errors = adc_errors if adc_errors is not None else {name: 0.0 for name in ERROR_FIELDS}

    def chip(spec: DesignSpec) -> DesignSpec:
        return spec.replace(adc=errors, noise={"seed": int(seed)})

    layers = [dataclasses.replace(layer, spec=chip(layer.spec)) for layer in mapping.layers]
    return dataclasses.replace(mapping, spec=chip(mapping.spec), layers=layers)


class GoldenChipHost:
    """The host driver's interface (sim.host.driver.AimcHost: regmap, set_layers, load_coefficients, run) on
    a golden accelerator, so that the host's calibration routine runs unchanged on the bit-exact model."""

    def __init__(self, accel: GoldenAccelerator):
        self.accel = accel
        self.regmap = aimc_register_map(accel.spec)
        self.layer: tuple[int, int] | None = None

    def set_layers(self, descriptors) -> None:
        """One layer descriptor (start, count; count 0: up to the last column), as calibration sets it."""
        descriptors = list(descriptors)
        if len(descriptors) != 1:
            raise CalibrationError(f"golden chip host: one layer descriptor, got {len(descriptors)}")
        start, count = (int(v) for v in descriptors[0])
        self.layer = None if (start, count) == (0, 0) else (start, count or self.accel.spec.logical_cols - start)

    def load_coefficients(self, scale=None, offset=None) -> None:
        self.accel.set_coefficients(self.accel.scale if scale is None else scale,
                                    self.accel.offset if offset is None else offset)

    def load_tile_gains(self, gains) -> None:
        """The TILE_GAIN window (contract.tile_gain)."""
        self.accel.set_tile_gains(gains)

    def run(self, xs) -> np.ndarray:
        return self.accel.run(np.atleast_2d(np.asarray(xs, dtype=np.int64)), self.layer).outputs


def calibration_targets(layer: LayerMapping) -> tuple[np.ndarray, np.ndarray]:
    """Target SCALE codes and OFFSET codes of a layer for the calibration fit (module docstring)."""
    floor = adc_floor_bias(layer.spec) * layer.row_tiles
    offset = layer.offset - np.round(layer.scale.astype(np.float64) * floor).astype(np.int64)
    return layer.scale, offset


def calibrate_tiles(host, spec: DesignSpec, weights, xs, target_scale, target_offset, seed: int = 0
                    ) -> ColumnCalibration:
    """The "tiles" method (module docstring): trims from per-tile vectors of `seed`, then centred."""
    if not tile_gain_on(spec):
        return calibrate_columns_centred(host, spec, weights, xs, target_scale, target_offset)
    tile_xs = [tile_vectors(spec, weights, len(xs), seed, r) for r in range(spec.array.row_tiles)]
    return calibrate_tile_gains(host, spec, weights, xs, target_scale, target_offset, tile_xs).columns


CALIBRATIONS = {"plain": calibrate_columns, "centred": calibrate_columns_centred, "tiles": calibrate_tiles}
SEEDED = ("tiles",)         # the routines that draw their own (per-tile) vectors from the layer's vector seed


def calibrate_chip(backend: GoldenBackend, vectors: int, method: str = "centred",
                   vector_seed: int = 1000) -> list[ColumnCalibration]:
    """Calibrate every layer's accelerator of a golden backend in place with a routine of CALIBRATIONS
    (sim.host.calibration); the per-layer results."""
    if method not in CALIBRATIONS:
        raise CalibrationError(f"calibration method {method!r}: choose one of {', '.join(CALIBRATIONS)}")
    done = []
    for layer, accel in zip(backend.mapping.layers, backend.accels):
        seed = vector_seed + layer.index
        xs = calibration_vectors(layer.spec, layer.weight_codes, vectors, seed=seed)
        scale, offset = calibration_targets(layer)
        extra = {"seed": seed} if method in SEEDED else {}
        done.append(CALIBRATIONS[method](GoldenChipHost(accel), layer.spec, layer.weight_codes, xs, scale,
                                         offset, **extra))
    return done


def chip_correct(mapping: NetworkMapping, x, y, seed: int, *, adc_errors: dict | None, calibrate: str | None,
                 vectors: int = 256) -> np.ndarray:
    """Per test sample, whether chip `seed` (with `adc_errors`; calibrated by the CALIBRATIONS routine
    `calibrate`, or not when None) classifies it right."""
    chip = chip_mapping(mapping, seed, adc_errors)
    if adc_errors is not None and not has_errors(chip.spec.adc):
        raise CalibrationError("adc_errors: every error field is 0; pass None for the error-free chip")
    backend = GoldenBackend(chip)
    if calibrate is not None:
        calibrate_chip(backend, vectors, calibrate)
    return backend.predict(x) == np.asarray(y)
