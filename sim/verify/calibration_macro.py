"""An analog macro whose column read-out has its own gain and offset: what per-column calibration must undo.

`ColumnErrorMacroModel` is the emulated tile of sim.verify.macro_model.MacroModel (same charges, same
deterministic read noise, same program-and-verify behaviour) with one change where a real macro has it:
the sample an ADC takes of column j is

    held_j = gain_j * (charge_j + noise) + offset_j * 2^lsb_shift          (float)

so column j converts with gain gain_j and an offset of offset_j ADC LSBs, as a ramp/CCO ADC per column with
its own slope and comparator offset would (after the per-column ADC calibration of IBM's HERMES chip, Le
Gallo et al., Nature Electronics 6, 680 (2023)). The comparator and the code keep contract.adc's thresholds,
so a SAR or ramp controller in the periphery finds the code of the distorted sample.

`column_errors(spec, seed, ...)` draws the per-column errors of every logical column, deterministic per seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.spec import DesignSpec


@dataclass(frozen=True)
class ColumnErrors:
    gain: np.ndarray            # per logical column, around 1
    offset_lsb: np.ndarray      # per logical column, in ADC LSBs


def column_errors(spec: DesignSpec, seed: int, gain_spread: float = 0.15, offset_spread_lsb: float = 3.0
                  ) -> ColumnErrors:
    """Uniform gain in 1 +- gain_spread and offset in +- offset_spread_lsb for every logical column."""
    if not 0 <= gain_spread < 1 or offset_spread_lsb < 0:
        raise ValueError(f"column errors: gain_spread {gain_spread} must be in [0, 1), offset spread "
                         f"{offset_spread_lsb} >= 0")
    rng = np.random.default_rng(seed)
    cols = spec.logical_cols
    return ColumnErrors(1.0 + rng.uniform(-gain_spread, gain_spread, cols),
                        rng.uniform(-offset_spread_lsb, offset_spread_lsb, cols))


class ColumnErrorMacroModel(MacroModel):
    """MacroModel of tile `tile_index` whose column j samples with gain[j] and offset_lsb[j] (tile-local
    arrays of tile.cols values)."""

    def __init__(self, spec: DesignSpec, gain, offset_lsb, weights=None, tile_index: int = 0, write_error=None):
        super().__init__(spec, weights, tile_index, write_error)
        cols = spec.tile.cols
        self.gain = np.asarray(gain, dtype=np.float64).reshape(cols)
        self.offset_charge = np.asarray(offset_lsb, dtype=np.float64).reshape(cols) * float(1 << spec.adc.lsb_shift)

    def _sample(self, col_sel: int) -> None:
        columns = self.served[:, col_sel]                       # ADC a samples its position col_sel
        sample = self.charge[columns] + self._sample_noise()
        self.held = self.gain[columns] * sample + self.offset_charge[columns]


def tile_errors(errors: ColumnErrors, spec: DesignSpec, tile_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(gain, offset_lsb) of tile `tile_index`'s own columns, out of the logical columns' errors."""
    c = tile_index % spec.array.col_tiles
    cols = slice(c * spec.tile.cols, (c + 1) * spec.tile.cols)
    return errors.gain[cols], errors.offset_lsb[cols]
