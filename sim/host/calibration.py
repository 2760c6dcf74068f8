"""Per-column calibration and drift compensation through the host driver (AimcHost), over any transport.

The same routine as the C driver's aimc_calibrate_columns (firmware/aimc_calibrate.h) and the same integer
rules (aimcgen.contract.calibration), so a board calibrated from the host and one calibrated by its own
firmware end with the same SCALE/OFFSET codes for the same read-outs:

1. one whole-grid layer (LAYER_COUNT = 1, LAYER_0 = 0/0); SCALE = 2^f and OFFSET = M * 2^f in every
   logical column (the measurement window, contract.calibration.measurement_window);
2. the calibration vectors as MVMs (INPUT, CTRL.start, OUTPUT), outputs read as they are;
3. each column fitted against the exact product with the weights the host programmed
   (contract.calibration.fit_columns) and its SCALE / OFFSET written.

`calibrate_columns_centred` (host only; the C driver has no counterpart yet) is the same measurement and fit
for columns whose offset puts their read-outs outside the measurement window (a bit-serial column multiplies
an ADC's offset by 2^steps - 1: 1 LSB of offset is 127 accumulator LSBs for 8-bit inputs, the whole window of
an 8-bit output). It first centres each column j on the window by a per-column trim c_j:
    c_j = 0; in each of `rounds` rounds: OFFSET_j = (M - c_j) 2^f, SCALE = 2^f, run xs; with y_out the
    read-outs of column j and k_in, k_hi, k_lo the numbers inside (low, high), >= high and <= low:
        k_in >= n / 2:  c_j += round_half_even(mean over the samples inside of (y_out - M))
        else:           c_j += (high - low) // 2 if k_hi >= k_lo else -((high - low) // 2)
then measures once more with the last OFFSET_j: y_out + c_j is the column's acc + M, counted inside its own
window (low + c_j, high + c_j) and fitted by contract.calibration.fit_columns as in calibrate_columns.

Drift compensation (global or per column, after aihwkit) rescales the scales from read-outs of the same
vectors taken right after programming (`drift_readouts`) and now (`compensate_drift`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract import calibration as rule
from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.contract.postproc import unity_scale
from aimcgen.spec import DesignSpec

DRIFT_MODES = ("global", "per_column")


@dataclass(frozen=True)
class ColumnCalibration:
    """What one calibration measured and loaded, per logical column."""
    scale: np.ndarray           # SCALE codes loaded
    offset: np.ndarray          # OFFSET codes loaded
    status: np.ndarray          # contract.calibration status codes (OK = 0)
    samples: np.ndarray         # samples inside the measurement window
    gain: np.ndarray            # fitted acc / ideal accumulator (float summary, contract.calibration.column_model)
    offset_lsb: np.ndarray      # fitted accumulator offset in LSBs (float summary)

    @property
    def failed(self) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.status != rule.OK)]


def _check_spec(host, spec: DesignSpec) -> None:
    built = host.regmap.register("SPEC_HASH").field("hash").reset
    if built != spec_hash(spec):
        raise rule.CalibrationError(f"calibration: spec {spec.name!r} (hash {spec_hash(spec):#010x}) is not the "
                                    f"design of this register map (hash {built:#010x})")


def calibrate_columns(host, spec: DesignSpec, weights, xs, target_scale, target_offset) -> ColumnCalibration:
    """Measure every logical column with the vectors xs (n x logical_rows) against the programmed weights
    (logical_rows x logical_cols target codes) and load SCALE/OFFSET that map it onto the target codes."""
    _check_spec(host, spec)
    cols = spec.logical_cols
    w = np.asarray(weights, dtype=np.int64)
    xs = np.atleast_2d(np.asarray(xs, dtype=np.int64))
    if w.shape != (spec.logical_rows, cols):
        raise rule.CalibrationError(f"calibration weights: expected shape {(spec.logical_rows, cols)}, "
                                    f"got {w.shape}")
    window = rule.measurement_window(spec)
    host.set_layers([(0, 0)])
    measuring = window.offset << spec.postproc.scale_frac_bits
    host.load_coefficients(np.full(cols, unity_scale(spec)), np.full(cols, measuring))
    y_out = host.run(xs)
    sums = rule.column_sums(rule.ideal_products(xs, w), y_out, window)
    scale, offset, status = rule.fit_columns(sums, target_scale, target_offset, spec)
    host.load_coefficients(scale, offset)
    model = np.array([rule.column_model(c, spec) for c in sums]).reshape(cols, 2)
    return ColumnCalibration(scale, offset, status, np.array([c.n for c in sums]), model[:, 0], model[:, 1])


def calibrate_columns_centred(host, spec: DesignSpec, weights, xs, target_scale, target_offset,
                              rounds: int = 6) -> ColumnCalibration:
    """calibrate_columns with each column first centred on the measurement window (module docstring)."""
    _check_spec(host, spec)
    cols = spec.logical_cols
    w = np.asarray(weights, dtype=np.int64)
    xs = np.atleast_2d(np.asarray(xs, dtype=np.int64))
    if w.shape != (spec.logical_rows, cols):
        raise rule.CalibrationError(f"calibration weights: expected shape {(spec.logical_rows, cols)}, "
                                    f"got {w.shape}")
    if not isinstance(rounds, int) or rounds < 0:
        raise rule.CalibrationError(f"calibration rounds = {rounds!r}: must be an integer >= 0")
    window = rule.measurement_window(spec)
    f = spec.postproc.scale_frac_bits
    half = (window.high - window.low) // 2
    trim = np.zeros(cols, dtype=np.int64)
    host.set_layers([(0, 0)])

    def measure() -> np.ndarray:
        host.load_coefficients(np.full(cols, unity_scale(spec)), (window.offset - trim) << f)
        return np.asarray(host.run(xs), dtype=np.int64)

    for _ in range(rounds):
        y_out = measure()
        inside = (y_out > window.low) & (y_out < window.high)
        k_in, k_hi, k_lo = inside.sum(0), (y_out >= window.high).sum(0), (y_out <= window.low).sum(0)
        mean_in = np.where(inside, y_out - window.offset, 0).sum(0) / np.maximum(k_in, 1)
        step = np.where(2 * k_in >= len(xs), np.rint(mean_in).astype(np.int64),
                        np.where(k_hi >= k_lo, half, -half))
        trim += step
    y_out = measure()
    q = rule.ideal_products(xs, w)
    sums = [rule.column_sums(q[:, [j]], y_out[:, [j]] + trim[j],
                             rule.MeasurementWindow(window.offset, window.low + int(trim[j]),
                                                    window.high + int(trim[j])))[0] for j in range(cols)]
    scale, offset, status = rule.fit_columns(sums, target_scale, target_offset, spec)
    host.load_coefficients(scale, offset)
    model = np.array([rule.column_model(c, spec) for c in sums]).reshape(cols, 2)
    return ColumnCalibration(scale, offset, status, np.array([c.n for c in sums]), model[:, 0], model[:, 1])


def drift_readouts(host, cal_xs, base_scale) -> np.ndarray:
    """Per-column read-outs R_j = sum |output| of cal_xs with base_scale and zero offsets (the reference
    right after programming, or the read-out now); leaves those coefficients loaded."""
    cols = len(np.ravel(base_scale))
    host.set_layers([(0, 0)])
    host.load_coefficients(base_scale, np.zeros(cols, dtype=np.int64))
    return rule.drift_readouts(host.run(cal_xs))


def compensate_drift(host, spec: DesignSpec, mode: str, cal_xs, reference, base_scale, base_offset=None) -> np.ndarray:
    """Drift compensation as an option: "global" (one factor, the C driver's aimc_gdc_* rule on the summed
    read-outs) or "per_column" (aihwkit's PerColumnDriftCompensation). Loads and returns the new scales;
    offsets are base_offset (zero when None)."""
    if mode not in DRIFT_MODES:
        raise rule.CalibrationError(f"drift compensation mode {mode!r}: choose one of {', '.join(DRIFT_MODES)}")
    _check_spec(host, spec)
    reference = np.asarray(reference, dtype=np.int64)
    now = drift_readouts(host, cal_xs, base_scale)
    if mode == "global":
        scale = rule.global_rescale(base_scale, int(reference.sum()), int(now.sum()), spec)
    else:
        scale = rule.per_column_rescale(base_scale, reference, now, spec)
    host.load_coefficients(scale, np.zeros(len(scale), dtype=np.int64) if base_offset is None else base_offset)
    return scale
