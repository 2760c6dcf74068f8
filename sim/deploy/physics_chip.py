"""One programmed physical chip: the program's whole weight matrix in devices (sim.models.physics).

Every tile of the grid is one PhysicsCrossbar holding all its devices (layers share tiles, so no tile is cut
to a leading block), programmed once per chip (one Monte-Carlo draw per seed) and read at t_s seconds
after programming. An MVM runs as the RTL's datapath does in integers: ADC per step, saturating shift-add,
row-tile partial sums with saturation, per-column post-processor. Global drift compensation is one analog
gain per tile, calibrated (sim.models.physics) on the inputs of every MVM the chip runs for the
calibration set, since every layer's MVM drives the whole grid.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.encoding import step_weights
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.postproc import postprocess
from aimcgen.sim.models.golden import shift_add
from aimcgen.sim.models.physics import ChipStreams, PhysicsCrossbar
from aimcgen.spec import DesignSpec


class PhysicsChip:
    def __init__(self, spec: DesignSpec, weights: np.ndarray, scale: np.ndarray, offset: np.ndarray, *,
                 seed: int = 0, t_s: float = 1.0):
        self.spec, self.t_s = spec, float(t_s)
        self.scale, self.offset = np.asarray(scale, dtype=np.int64), np.asarray(offset, dtype=np.int64)
        r, c = spec.tile.rows, spec.tile.cols
        w = np.asarray(weights, dtype=np.int64)
        # One stream set per tile (sim.models.physics ChipStreams): chip `seed` has the same devices whatever
        # else changes (time, compensation), so comparisons on the same chips are paired.
        self.tiles = [[PhysicsCrossbar(spec, w[i * r:(i + 1) * r, j * c:(j + 1) * c],
                                       streams=ChipStreams(seed, ("deploy", "tile", i, j)))
                       for j in range(spec.array.col_tiles)] for i in range(spec.array.row_tiles)]
        self.factors = np.ones((spec.array.row_tiles, spec.array.col_tiles))

    def calibrate(self, mvm_inputs: np.ndarray) -> np.ndarray:
        """Per tile drift compensation factors from MVM inputs (n, logical_rows); kept and returned."""
        r = self.spec.tile.rows
        self.factors = np.array([[xbar.calibrate_drift_compensation(mvm_inputs[:, i * r:(i + 1) * r], self.t_s)
                                  for xbar in row] for i, row in enumerate(self.tiles)])
        return self.factors

    def mvm(self, x: np.ndarray, layer: tuple[int, int] | None = None) -> np.ndarray:
        """Post-processor output codes (batch, logical_cols) of one MVM on the whole grid (the layer
        descriptor `layer` changes only which conversions the [sparsity] options skip, not the codes)."""
        spec = self.spec
        fmt = datapath_formats(spec).accumulator
        shifts = step_weights(spec.input)
        r = spec.tile.rows
        groups = []
        for j in range(spec.array.col_tiles):
            acc = None
            for i, row in enumerate(self.tiles):
                charges = row[j].column_charges(x[:, i * r:(i + 1) * r], self.t_s) * self.factors[i, j]
                part = shift_add(row[j].adc_codes(charges), shifts, spec)[0]
                acc = part if acc is None else fmt.saturate(acc + part)[0]
            groups.append(acc)
        return postprocess(np.concatenate(groups, axis=1), self.scale, self.offset, spec)[0]
