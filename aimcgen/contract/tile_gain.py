"""Per-row-tile gain trims: the partial sums of row tiles r >= 1 scaled before they join a column's sum.

Why: a logical column that spans several row tiles is converted by a different ADC in each of them, each
with its own gain (contract.adc_errors). The accumulator adds the row tiles before the post-processor, so
the column reads sum_r g_r u_r + b, and no single SCALE/OFFSET pair undoes unequal g_r (IBM's HERMES
corrects each tile's columns before tiles are summed). With accumulator.tile_gain_bits = T > 0 and
array.row_tiles > 1 the chip has a trim g[r][j] for every row tile r = 1..row_tiles-1 and logical column j;
row tile 0 is the reference (its gain is what SCALE sets). Calibration (contract.calibration) measures the
row tiles one by one and loads g[r][j] = gain of tile 0 / gain of tile r.

Rule (integers; A = accumulator.bits, sat_A clamps to -2^(A-1)..2^(A-1)-1, `>>` arithmetic: floor):

    trimmed p'_r = sat_A((p_r * g[r][j] + 2^(T-2)) >> (T-1))          (round half up; r >= 1)
    column sum   acc = p_0;  for r = 1, 2, ...: acc = sat_A(acc + p'_r)
    overflow     = any tile's overflow flag | any trim clamped | any sum clamped

g is unsigned T bits (0 .. 2^T - 1, i.e. 0 .. 2 - 2^-(T-1)); unity UNITY = 2^(T-1) leaves p'_r = p_r exactly,
so a chip whose trims were never written sums as one without trims. Registers: the TILE_GAIN window, word
(r - 1) * C + j (C = logical columns), reads back as written, UNITY after configuration on FPGAs and in
simulation (undefined after ASIC power-up, like SCALE: load it before the first MVM). With T = 0 or one row
tile nothing is built and the window does not exist.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError


def tile_gain_on(spec: DesignSpec) -> bool:
    """The chip has trims: accumulator.tile_gain_bits > 0 and more than one row tile."""
    return spec.accumulator.tile_gain_bits > 0 and spec.array.row_tiles > 1


def unity_gain(spec: DesignSpec) -> int:
    """The trim code of 1.0: 2^(T-1)."""
    return 1 << (spec.accumulator.tile_gain_bits - 1)


def unity_gains(spec: DesignSpec) -> np.ndarray:
    """Every trim at 1.0, shape (row_tiles - 1, logical_cols) (empty when the chip has none)."""
    rows = spec.array.row_tiles - 1 if tile_gain_on(spec) else 0
    return np.full((rows, spec.logical_cols), unity_gain(spec) if rows else 0, dtype=np.int64)


def check_gains(spec: DesignSpec, gains) -> np.ndarray:
    """Trims as int64 of shape (row_tiles - 1, logical_cols), or SpecError naming what is wrong."""
    if not tile_gain_on(spec):
        raise SpecError("tile gains: this chip has none (accumulator.tile_gain_bits = 0 or one row tile)")
    shape = (spec.array.row_tiles - 1, spec.logical_cols)
    values = np.asarray(gains)
    if not np.issubdtype(values.dtype, np.integer):
        raise SpecError(f"tile gains: expected integer trim codes, got {values.dtype}")
    try:
        values = np.broadcast_to(values, shape)
    except ValueError:
        raise SpecError(f"tile gains: expected shape {shape} (row tiles 1.. x logical columns), got "
                        f"{values.shape}") from None
    top = (1 << spec.accumulator.tile_gain_bits) - 1
    if values.size and (values.min() < 0 or values.max() > top):
        raise SpecError(f"tile gains: codes must lie in 0..{top} (unsigned accumulator.tile_gain_bits = "
                        f"{spec.accumulator.tile_gain_bits}), got {values.min()}..{values.max()}")
    return values.astype(np.int64)


def trim(partial: np.ndarray, gain: np.ndarray, spec: DesignSpec) -> tuple[np.ndarray, np.ndarray]:
    """p' = sat_A((p * g + 2^(T-2)) >> (T-1)) and where it clamped (module docstring)."""
    shift = spec.accumulator.tile_gain_bits - 1
    product = np.multiply(partial, gain, dtype=np.int64)
    if shift:
        product += 1 << (shift - 1)
        product >>= shift
    return datapath_formats(spec).accumulator.saturate(product)


def combine_row_tiles(partials: list, overflows: list, gains: np.ndarray | None, spec: DesignSpec,
                      columns: slice = slice(None)) -> tuple[np.ndarray, np.ndarray]:
    """One column group's sum over its row tiles (in r order) and its overflow flags. partials[r] and
    overflows[r]: (batch, group columns) of row tile r; gains: the chip's trims (None: no trims, or all
    unity), of which `columns` selects the group's logical columns."""
    fmt = datapath_formats(spec).accumulator
    acc, overflow = partials[0], overflows[0]
    for r in range(1, len(partials)):
        part, part_overflow = partials[r], overflows[r]
        if gains is not None:
            part, clipped = trim(part, gains[r - 1, columns], spec)
            part_overflow = part_overflow | clipped
        acc, clipped = fmt.saturate(acc + part)
        overflow = overflow | clipped | part_overflow
    return acc, overflow
