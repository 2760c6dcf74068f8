"""The golden-model report of `aimcgen generate`: what the default design computes on random vectors."""

from __future__ import annotations

import json
import time

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.adc import conversion_cycles
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.contract.noise import noise_multiplier
from aimcgen.spec import DesignSpec


def calibrated_scale(spec: DesignSpec, acc: np.ndarray) -> np.ndarray:
    """Per-column scale codes that map 4 standard deviations of the accumulator onto the output range,
    the kind of affine correction a calibration run would load."""
    fmt = datapath_formats(spec)
    std = np.maximum(acc.std(axis=0), 1.0)
    scale = np.round(fmt.output.max / (4 * std) * (1 << spec.postproc.scale_frac_bits))
    return np.clip(scale, 1, fmt.scale.max).astype(np.int64)


def golden_run(spec: DesignSpec, batch: int, seed: int) -> dict:
    """Random weights and inputs through the golden model; statistics a designer checks first."""
    rng = np.random.default_rng(seed)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    x = rng.integers(-m, m + 1, (batch, spec.logical_rows))
    calibration = GoldenAccelerator(spec, w).run(x)
    model = GoldenAccelerator(spec, w, scale=calibrated_scale(spec, calibration.accumulator))
    start = time.perf_counter()
    result = model.run(x)
    seconds = time.perf_counter() - start
    exact = x @ w                                   # the ideal MVM in charge units
    lsb = 1 << spec.adc.lsb_shift
    codes = np.concatenate([t.codes.ravel() for t in result.tiles])
    fmt = datapath_formats(spec)
    error = result.accumulator * lsb - exact
    return {
        "batch": batch,
        "seed": seed,
        "golden_seconds": seconds,
        "golden_mvm_per_second": batch / seconds if seconds else None,
        "accumulator_error_rms_charge": float(np.sqrt(np.mean(error.astype(float) ** 2))),
        "ideal_charge_rms": float(np.sqrt(np.mean(exact.astype(float) ** 2))),
        "adc_codes_used": int(np.unique(codes).size),
        "adc_codes_available": 1 << spec.adc.bits,
        "adc_clipped_fraction": float(np.mean((codes == spec.adc.code_min) | (codes == spec.adc.code_max))),
        "accumulator_overflow_fraction": float(result.overflow.mean()),
        "output_saturated_fraction": float(result.output_saturated.mean()),
        "noise_multiplier": noise_multiplier(spec),
        "formats_bits": {k: getattr(fmt, k).bits for k in fmt.__dataclass_fields__},
        "analog_cycles_per_step": conversion_cycles(spec.adc) * spec.columns_per_adc,
        "first_outputs": result.outputs[0, :8].tolist(),
    }


def markdown(spec: DesignSpec, run: dict) -> str:
    lines = [
        f"# aimcgen report: {spec.name}",
        "",
        f"- tiles: {spec.array.row_tiles} x {spec.array.col_tiles} of {spec.tile.rows} x {spec.tile.cols}, "
        f"{spec.tile.weight_bits}-bit weights, {spec.input.bits}-bit {spec.input.encoding} inputs",
        f"- ADC: {spec.adc.count} x {spec.adc.bits}-bit {spec.adc.kind} per tile, "
        f"full scale {spec.adc.full_scale} charge units (LSB {1 << spec.adc.lsb_shift})",
        f"- device: {spec.device.model}; emulated read noise sigma {spec.noise.sigma_lsb} charge units",
        "",
        f"## Golden model on {run['batch']} random vectors (seed {run['seed']})",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for key, value in run.items():
        if key not in ("batch", "seed"):
            lines.append(f"| {key} | {json.dumps(value)} |")
    return "\n".join(lines) + "\n"
