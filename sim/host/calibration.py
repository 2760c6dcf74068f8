"""Per-column calibration and drift compensation through the host driver (AimcHost), over any transport.

The same routine as the C driver's aimc_calibrate_columns (firmware/aimc_calibrate.h) and the same integer
rules (aimcgen.contract.calibration), so a board calibrated from the host and one calibrated by its own
firmware end with the same SCALE/OFFSET codes for the same read-outs:

1. one whole-grid layer (LAYER_COUNT = 1, LAYER_0 = 0/0); SCALE = 2^f and OFFSET = M * 2^f in every
   logical column (the measurement window, contract.calibration.measurement_window);
2. the calibration vectors as MVMs (INPUT, CTRL.start, OUTPUT), outputs read as they are;
3. each column fitted against the exact product with the weights the host programmed
   (contract.calibration.fit_columns) and its SCALE / OFFSET written.

`calibrate_columns_centred` (the C driver's aimc_calibrate_columns_centred) is the same measurement and fit
after each column is centred on the measurement window by a per-column OFFSET trim (contract.calibration's
centring rule: passes of all vectors, the trim moved by the mean read-out inside the window or by half a
window, until no trim moves or after `rounds` passes); the pass that ends it is the measurement. A
bit-serial column multiplies its ADC's offset by 2^steps - 1, so without the trim its read-outs clamp.

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
    trim: np.ndarray            # centring trim c_j of each column (0 without centring)

    @property
    def failed(self) -> list[int]:
        return [int(j) for j in np.flatnonzero(self.status != rule.OK)]


def _check_spec(host, spec: DesignSpec) -> None:
    built = host.regmap.register("SPEC_HASH").field("hash").reset
    if built != spec_hash(spec):
        raise rule.CalibrationError(f"calibration: spec {spec.name!r} (hash {spec_hash(spec):#010x}) is not the "
                                    f"design of this register map (hash {built:#010x})")


def _checked(spec: DesignSpec, weights, xs) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(weights, dtype=np.int64)
    xs = np.atleast_2d(np.asarray(xs, dtype=np.int64))
    if w.shape != (spec.logical_rows, spec.logical_cols):
        raise rule.CalibrationError(f"calibration weights: expected shape {(spec.logical_rows, spec.logical_cols)}, "
                                    f"got {w.shape}")
    return w, xs


def _fit_and_load(host, spec: DesignSpec, sums, trim, target_scale, target_offset) -> ColumnCalibration:
    scale, offset, status = rule.fit_columns(sums, target_scale, target_offset, spec)
    host.load_coefficients(scale, offset)
    model = np.array([rule.column_model(c, spec) for c in sums]).reshape(len(sums), 2)
    return ColumnCalibration(scale, offset, status, np.array([c.n for c in sums]), model[:, 0], model[:, 1],
                             np.asarray(trim, dtype=np.int64))


def calibrate_columns(host, spec: DesignSpec, weights, xs, target_scale, target_offset) -> ColumnCalibration:
    """Measure every logical column with the vectors xs (n x logical_rows) against the programmed weights
    (logical_rows x logical_cols target codes) and load SCALE/OFFSET that map it onto the target codes."""
    return calibrate_columns_centred(host, spec, weights, xs, target_scale, target_offset, rounds=0)


def calibrate_columns_centred(host, spec: DesignSpec, weights, xs, target_scale, target_offset,
                              rounds: int = rule.CENTRING_ROUNDS) -> ColumnCalibration:
    """calibrate_columns with each column first centred on the measurement window (contract.calibration's
    centring rule); rounds = 0 is calibrate_columns."""
    _check_spec(host, spec)
    w, xs = _checked(spec, weights, xs)
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise rule.CalibrationError(f"calibration rounds = {rounds!r}: must be an integer >= 0")
    window = rule.measurement_window(spec)
    cols, f = spec.logical_cols, spec.postproc.scale_frac_bits
    trim = [0] * cols
    host.set_layers([(0, 0)])
    for done in range(int(rounds) + 1):
        host.load_coefficients(np.full(cols, unity_scale(spec)),
                               np.array([(window.offset - c) << f for c in trim], dtype=np.int64))
        y_out = np.asarray(host.run(xs), dtype=np.int64)
        if done == rounds:
            break
        moved = rule.next_trims(trim, rule.centring_counts(y_out, window), window, spec)
        if moved == trim:
            break
        trim = moved
    sums = rule.column_sums(rule.ideal_products(xs, w), y_out, window, trim)
    return _fit_and_load(host, spec, sums, trim, target_scale, target_offset)


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
