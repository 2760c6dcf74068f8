"""device.ir_drop_order = "on" on a deployed chip: the hidden units of chained layers reordered against IR drop.

Why not the evaluation's rule (sim.eval.ir_drop_order): there the host permutes every layer's inputs and
outputs; on a chip the layer sequencer feeds layer i's result in physical columns start_i .. start_i + out_i - 1
straight back as layer i + 1's input rows 0 .. out_i - 1, and the chip program (contract.chip_program,
schema aimcgen-chip-program/1) has no host step that permutes. So the first layer's rows and the last layer's
columns stay in layer order (the host's inputs and the argmax see layer order), and for every pair of
consecutive dense layers i, i + 1 one permutation P_i does both jobs: layer i's physical column
start_i + p holds its output column P_i[p] and layer i + 1's physical row p holds its input row P_i[p]. The
order of a dot product's terms does not change its value, so with ideal wires the chip computes exactly what
it computes without the option. A convolution's output columns and input rows stay in layer order (the
host's im2col and flatten steps fix them).

The rule for P_i (R = tile.rows, C = tile.cols; W_i the layer's weight codes, X_i the calibration inputs its
crossbar integrates, from the float network; r and c as sim.eval.ir_drop_order.expected_currents):
- c_j = layer i's expected column current of output j, r_j = layer i + 1's expected row current of input j,
  each divided by its sum over j (0 if that sum is 0), so that the two layers weigh alike;
- key_j = c_j + r_j with device.sense_amplifiers = "first_row" (heavy columns want the row drivers, low tile
  columns, and heavy rows the sense amplifiers at tile row 0: both low p), key_j = c_j - r_j with
  "last_row" (heavy rows want the high tile rows);
- positions p = 0 .. out_i - 1 fall into blocks of equal (column tile (start_i + p) // C, row tile p // R):
  a unit moves only inside its block, so it keeps its column tile in layer i and its row tile in layer i + 1
  (row tiles are converted by their own ADCs before their partial sums add, so moving a row to another
  row tile would change the integer result);
- inside a block the positions hold the block's units in descending key_j, ties in ascending j (a stable
  sort).
"""

from __future__ import annotations

import numpy as np

from aimcgen.sim.deploy.placement import Placement
from aimcgen.sim.eval.ir_drop_order import expected_currents
from aimcgen.sim.models.ir_drop import SENSE_FIRST_ROW
from aimcgen.spec import DesignSpec


def _share(current: np.ndarray) -> np.ndarray:
    total = float(np.sum(current))
    return current / total if total > 0 else np.zeros_like(current)


def hidden_blocks(col_start: int, count: int, spec: DesignSpec) -> list[np.ndarray]:
    """Positions 0 .. count-1 of a hidden vector cut into the blocks of the module docstring."""
    p = np.arange(count)
    block = ((col_start + p) // spec.tile.cols) * (count + 1) + p // spec.tile.rows
    cuts = np.flatnonzero(np.diff(block)) + 1
    return np.split(p, cuts)


def chain_orders(placement: Placement, weight_codes: list[np.ndarray], layer_inputs: list[np.ndarray],
                 spec: DesignSpec) -> list[tuple[np.ndarray, np.ndarray]]:
    """(row_order, col_order) of every layer: row_order[p] is the layer row on its physical row p, col_order[p]
    the layer column on its physical column start + p (identity where the module docstring fixes them)."""
    layers = placement.layers
    orders = [(np.arange(l.shape.rows), np.arange(l.shape.cols)) for l in layers]
    first_row = spec.device.sense_amplifiers == SENSE_FIRST_ROW
    for i in range(len(layers) - 1):
        here, after = layers[i], layers[i + 1]
        if here.shape.conv or after.shape.conv:
            continue
        c = _share(expected_currents(weight_codes[i], layer_inputs[i])[1])
        r = _share(expected_currents(weight_codes[i + 1], layer_inputs[i + 1])[0])
        key = c + r if first_row else c - r
        perm = np.concatenate([block[np.argsort(-key[block], kind="stable")]
                               for block in hidden_blocks(here.col_start, here.shape.cols, spec)])
        orders[i] = (orders[i][0], perm)
        orders[i + 1] = (perm, orders[i + 1][1])
    return orders
