"""Calibration of the per-row-tile gain trims (contract.tile_gain): the integer rule that the C driver
(firmware/aimc_calibrate.c, aimc_calibrate_tile_gains) and the host driver (sim.host.calibration,
calibrate_tile_gains) both follow, bit for bit.

Why: a logical column that spans row tiles 0..R-1 reads sum_r a_r u_r + b, each row tile r converted by its
own ADC of gain a_r; one SCALE per column cannot undo unequal a_r (a vector that drives only tile 1 sees
a_1, one that drives only tile 0 sees a_0). Measuring each row tile alone gives its a_rj; the trim
g[r][j] = 2^(T-1) a_0j / a_rj makes every row tile convert with tile 0's gain, and the per-column
calibration that follows (contract.calibration) maps that common gain onto the target.

Notation as contract.calibration (W the target weight codes, q = x @ W exact, window M, low, high), plus
T = accumulator.tile_gain_bits, U = 2^(T-1) (the unity trim), R = array.row_tiles, r_rows = tile.rows.
Row tile r holds logical rows r * r_rows .. (r + 1) * r_rows - 1.

Rule (calibrate_tile_gains):
1. Every trim g[r][j] = U (TILE_GAIN window), one whole-grid layer.
2. For r = 0, 1, ..., R - 1: tile r's vectors masked to its rows (mask_to_tile: every other row's input
   set to 0; q then is tile r's product alone) are measured by the centred measurement of
   contract.calibration (calibrate_columns_centred's centring passes and its per-column sums n, Sq, Sy,
   Sqq, Sqy, with the same `rounds`), giving per column j the fit's status and D_rj, N_rj
   (contract.calibration.fit_moments; slope a_rj = N_rj 2^s / D_rj).
3. For r >= 1 and every column j: when the fit of tile 0 in column j is not OK, the trim stays U and its
   status is tile 0's; otherwise when tile r's is not OK, the trim stays U and its status is tile r's;
   otherwise (status OK) g[r][j] = round(U a_0j / a_rj) = round(U N_0j D_rj / (D_0j N_rj)), half up, in
   integers that fit 64 bits (contract.calibration.significant and rounded_ratio):
       X' = X >> e_X,  e_X = max(0, bitlen(X) - GAIN_RATIO_BITS)     for X = N_0j, D_rj, D_0j, N_rj
       num = U N_0j' D_rj'  (< 2^61),   den = D_0j' N_rj'  (>= 1),
       k = e_N0j + e_Drj - e_D0j - e_Nrj
       num = 0: 0;  k >= 0 and bitlen(num) + k > 62: "huge";  k < 0 and bitlen(den) - k > 62: 0;
       else num <<= k (k >= 0) or den <<= -k (k < 0), and mag = (2 num + den) // (2 den)
       g[r][j] = min(mag, 2^T - 1)    ("huge": 2^T - 1)
   (every D, N of an OK fit is > 0, so the ratio is positive; it differs from the exact rounding only
   through the 2^-GAIN_RATIO_BITS truncations, a relative 2^-21 at most.)
4. The trims are loaded (TILE_GAIN word (r - 1) C + j = g[r][j]), then the full calibration vectors run
   through contract.calibration's centred per-column calibration against the targets.

Vectors. The measurement of tile r may use its own vectors (tile_vectors, "per-tile vectors") or the full
calibration vectors masked to its rows ("masked vectors", what the C routine does when it gets no per-tile
vectors). Masked vectors carry only tile r's share of the product (about 1/sqrt(R) of the window for
random weights), so the fit sees a smaller spread of u against the same read noise and ADC floor;
per-tile vectors are contract.calibration.calibration_vectors(spec, W_r, n, seed + r) on the weights W_r
with every row outside tile r set to 0, masked to tile r's rows: each vector's tile-r product is scaled to
its level of the window, as the full vectors' products are. Measured (one-off, default preset's 16x16 tiles,
gain sigma 5 %, offset sigma 1 LSB, read noise 0.4 LSB, 5 chips, rms of g / 2^(T-1) - gain_r / gain_0):
2 row tiles, n = 256: masked 0.029, per-tile 0.027; 4 row tiles, n = 256: masked 0.063, per-tile 0.036;
4 row tiles, n = 1024: masked 0.028, per-tile 0.020 (against a mismatch of about 0.07 to correct).
sim.eval.adc_calibration's "tiles" method uses per-tile vectors.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.calibration import (OK, CalibrationError, ColumnSums, calibration_vectors, fit_moments,
                                          rounded_ratio, significant)
from aimcgen.contract.tile_gain import tile_gain_on, unity_gain
from aimcgen.spec import DesignSpec

GAIN_RATIO_BITS = 23        # significant bits kept of N_0, D_r, D_0, N_r: U N_0' D_r' < 2^(15 + 46) = 2^61


def tile_rows(spec: DesignSpec, tile: int) -> slice:
    """The logical rows of row tile `tile`."""
    if not 0 <= tile < spec.array.row_tiles:
        raise CalibrationError(f"tile gain calibration: row tile {tile} outside 0..{spec.array.row_tiles - 1}")
    return slice(tile * spec.tile.rows, (tile + 1) * spec.tile.rows)


def mask_to_tile(xs, spec: DesignSpec, tile: int) -> np.ndarray:
    """The vectors (n x logical_rows) with every input outside row tile `tile`'s rows set to 0."""
    xs = np.atleast_2d(np.asarray(xs, dtype=np.int64))
    out = np.zeros_like(xs)
    rows = tile_rows(spec, tile)
    out[:, rows] = xs[:, rows]
    return out


def tile_vectors(spec: DesignSpec, weights, n: int, seed: int, tile: int) -> np.ndarray:
    """Row tile `tile`'s own calibration vectors (module docstring, "per-tile vectors")."""
    w = np.asarray(weights, dtype=np.int64)
    own = np.zeros_like(w)
    rows = tile_rows(spec, tile)
    own[rows] = w[rows]
    return mask_to_tile(calibration_vectors(spec, own, n, seed + tile), spec, tile)


def gain_trim(reference: ColumnSums, tile: ColumnSums, gain_bits: int) -> tuple[int, int]:
    """(g, status) of one column of row tile r >= 1 from the sums of tile 0 (reference) and of tile r
    (module docstring, step 3)."""
    if gain_bits < 2:
        raise CalibrationError(f"tile gain calibration: tile_gain_bits = {gain_bits}, the trims need >= 2")
    unity = 1 << (gain_bits - 1)
    status0, d0, n0 = fit_moments(reference)
    if status0 != OK:
        return unity, status0
    status_r, dr, nr = fit_moments(tile)
    if status_r != OK:
        return unity, status_r
    (n0, e_n0), (dr, e_dr) = significant(n0, GAIN_RATIO_BITS), significant(dr, GAIN_RATIO_BITS)
    (d0, e_d0), (nr, e_nr) = significant(d0, GAIN_RATIO_BITS), significant(nr, GAIN_RATIO_BITS)
    top = (1 << gain_bits) - 1
    mag = rounded_ratio(unity * n0 * dr, d0 * nr, e_n0 + e_dr - e_d0 - e_nr)
    return (top if mag is None else min(mag, top)), OK


def gain_trims(tile_sums: list[list[ColumnSums]], spec: DesignSpec) -> tuple[np.ndarray, np.ndarray]:
    """(trims, statuses) of every row tile r >= 1 and column, both (row_tiles - 1, logical_cols), from the
    per-tile sums tile_sums[r][j] of the measurement (step 3)."""
    if not tile_gain_on(spec):
        raise CalibrationError("tile gain calibration: this chip has no trims (accumulator.tile_gain_bits = 0 "
                               "or one row tile)")
    rows, cols = spec.array.row_tiles, spec.logical_cols
    if len(tile_sums) != rows or any(len(s) != cols for s in tile_sums):
        raise CalibrationError(f"tile gain calibration: expected sums of {rows} row tiles x {cols} columns")
    done = [[gain_trim(tile_sums[0][j], tile_sums[r][j], spec.accumulator.tile_gain_bits) for j in range(cols)]
            for r in range(1, rows)]
    return (np.array([[g for g, _ in row] for row in done], dtype=np.int64).reshape(rows - 1, cols),
            np.array([[s for _, s in row] for row in done], dtype=np.int64).reshape(rows - 1, cols))


def trim_ratio(gains: np.ndarray, spec: DesignSpec) -> np.ndarray:
    """The trims as gains (g / 2^(T-1), float), for reports."""
    return np.asarray(gains, dtype=np.float64) / unity_gain(spec)
