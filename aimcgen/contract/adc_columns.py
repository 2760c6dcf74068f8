"""Which tile column each ADC converts at each position of its column mux (spec adc.column_assignment).

A tile of C = tile.cols columns has A = adc.count ADCs; each ADC's column mux has G = C / A inputs, the
column positions p = 0..G-1 (the `col_sel` of an ADC command at the analog boundary selects position p on
every ADC at once). The assignment says which tile column j sits at position p of ADC a:

    blocks       j = a*G + p      inverse: a = j // G, p = j mod G    (ADC a: the columns a*G..a*G+G-1)
    interleaved  j = p*A + a      inverse: a = j mod A, p = j // A    (position p: the columns p*A..p*A+A-1)

Examples, C = 64, A = 8 (G = 8): blocks puts column 10 on ADC 1 at position 2; interleaved puts it on
ADC 2 at position 1. With A = 1 or A = C both assignments are the same.

Why interleaved: the columns of one position are adjacent, so a layer on the columns [lo, hi) occupies
only the positions lo//A .. (hi-1)//A, and with sparsity.layer_columns (contract.sparsity) a 10-column
layer on 8 ADCs converts 2 positions instead of all 8. Blocks is the default, so every existing output
stays as it is. Every place that maps ADC samples to columns (emulated tile, accumulator, golden and
physics models, macro models) goes through this module.
"""

from __future__ import annotations

import numpy as np

from aimcgen.spec import DesignSpec

def adc_column(spec: DesignSpec, adc, position):
    """The tile column at `position` of ADC `adc` (ints or integer arrays, broadcast)."""
    count, group = spec.adc.count, spec.columns_per_adc
    if spec.adc.column_assignment == "interleaved":
        return position * count + adc
    return adc * group + position


def column_adc(spec: DesignSpec, column):
    """(adc, position) of tile column `column` (an int or an integer array): the inverse of adc_column."""
    count, group = spec.adc.count, spec.columns_per_adc
    if spec.adc.column_assignment == "interleaved":
        return column % count, column // count
    return column // group, column % group


def column_table(spec: DesignSpec) -> np.ndarray:
    """(adc.count, G) int64: table[a, p] is the tile column at position p of ADC a."""
    a = np.arange(spec.adc.count, dtype=np.int64)[:, None]
    p = np.arange(spec.columns_per_adc, dtype=np.int64)[None, :]
    return np.asarray(adc_column(spec, a, p), dtype=np.int64)


def adc_major_index(spec: DesignSpec) -> np.ndarray:
    """(tile.cols,) int64: for each tile column j, the index a*G + p of its (adc, position) in an array laid
    out ADC by ADC; `values.reshape(..., A*G)[..., adc_major_index(spec)]` orders such values by column."""
    a, p = column_adc(spec, np.arange(spec.tile.cols, dtype=np.int64))
    return a * spec.columns_per_adc + p
