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

`calibrate_tile_gains` (the C driver's aimc_calibrate_tile_gains) first matches the gains of the row tiles
of every column (contract.tile_gain_calibration: all trims at unity, each row tile measured alone by the
centred measurement on vectors masked to its rows, TILE_GAIN = the ratio of tile 0's fitted slope to tile
r's), then runs calibrate_columns_centred on the full vectors. The host object needs `load_tile_gains`.

Drift compensation (global or per column, after aihwkit) rescales the scales from read-outs of the same
vectors taken right after programming (`drift_readouts`) and now (`compensate_drift`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract import calibration as rule
from aimcgen.contract import tile_gain_calibration as tile_rule
from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain import tile_gain_on, unity_gains
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
    sums, trim = measure_columns_centred(host, spec, w, xs, rounds)
    return _fit_and_load(host, spec, sums, trim, target_scale, target_offset)


def measure_columns_centred(host, spec: DesignSpec, weights, xs, rounds: int = rule.CENTRING_ROUNDS
                            ) -> tuple[list[rule.ColumnSums], list[int]]:
    """The centred measurement alone (contract.calibration's centring passes, then the measurement pass):
    (per-column sums, per-column trims); leaves the measurement coefficients loaded."""
    if isinstance(rounds, bool) or not isinstance(rounds, (int, np.integer)) or rounds < 0:
        raise rule.CalibrationError(f"calibration rounds = {rounds!r}: must be an integer >= 0")
    w, xs = _checked(spec, weights, xs)
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
    return rule.column_sums(rule.ideal_products(xs, w), y_out, window, trim), trim


@dataclass(frozen=True)
class TileGainCalibration:
    """What calibrate_tile_gains measured and loaded."""
    gains: np.ndarray           # TILE_GAIN codes loaded, (row_tiles - 1, logical_cols): row r - 1 is tile r
    status: np.ndarray          # their contract.calibration status codes (not OK: the trim stayed unity)
    tile_gain: np.ndarray       # fitted gain of each row tile alone, (row_tiles, logical_cols), float summary
    columns: ColumnCalibration  # the centred per-column calibration that followed

    @property
    def failed(self) -> list[tuple[int, int]]:
        """(row tile r, column j) of the trims that stayed unity."""
        return [(int(r) + 1, int(j)) for r, j in zip(*np.nonzero(self.status != rule.OK))]


def _tile_vector_sets(spec: DesignSpec, xs: np.ndarray, tile_xs) -> list[np.ndarray]:
    """Row tile r's measurement vectors: tile_xs[r] (None: xs), masked to its rows."""
    rows = spec.array.row_tiles
    if tile_xs is None:
        return [tile_rule.mask_to_tile(xs, spec, r) for r in range(rows)]
    if len(tile_xs) != rows:
        raise rule.CalibrationError(f"tile gain calibration: {len(tile_xs)} per-tile vector sets for {rows} row "
                                    "tiles")
    sets = [np.atleast_2d(np.asarray(t, dtype=np.int64)) for t in tile_xs]
    for r, t in enumerate(sets):
        if t.ndim != 2 or t.shape[1] != spec.logical_rows:
            raise rule.CalibrationError(f"tile gain calibration: row tile {r}'s vectors have shape {t.shape}, "
                                        f"expected (n, {spec.logical_rows})")
    return [tile_rule.mask_to_tile(t, spec, r) for r, t in enumerate(sets)]


def calibrate_tile_gains(host, spec: DesignSpec, weights, xs, target_scale, target_offset, tile_xs=None,
                         rounds: int = rule.CENTRING_ROUNDS) -> TileGainCalibration:
    """The row tiles' gain trims, then the centred per-column calibration (module docstring; the rule is
    contract.tile_gain_calibration's). xs: the calibration vectors (n x logical_rows); tile_xs: row tile
    r's own vectors tile_xs[r] (contract.tile_gain_calibration.tile_vectors), None: xs masked to its rows."""
    _check_spec(host, spec)
    w, xs = _checked(spec, weights, xs)
    if not tile_gain_on(spec):
        raise rule.CalibrationError(f"tile gain calibration: spec {spec.name!r} has no trims "
                                    "(accumulator.tile_gain_bits = 0 or one row tile)")
    sets = _tile_vector_sets(spec, xs, tile_xs)
    host.load_tile_gains(unity_gains(spec))
    tile_sums = [measure_columns_centred(host, spec, w, v, rounds)[0] for v in sets]
    gains, status = tile_rule.gain_trims(tile_sums, spec)
    host.load_tile_gains(gains)
    columns = calibrate_columns_centred(host, spec, w, xs, target_scale, target_offset, rounds)
    fitted = np.array([[rule.column_model(c, spec)[0] for c in sums] for sums in tile_sums])
    return TileGainCalibration(gains, status, fitted, columns)


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
