"""Tile-local row and column orders against IR drop: the mapping option `device.ir_drop_order = "on"`.

Why: in a tile's wires (sim.models.ir_drop) every row is driven at its left end (tile column 0 nearest the
driver) and every column is sensed at one end, device.sense_amplifiers: the bottom end ("last_row": tile row
R - 1 nearest the sense amplifier) or the top end ("first_row": tile row 0 nearest). A row
wire carries its devices' currents from the driver to each device, a column wire collects its devices'
currents down to the sense amplifier; the voltage a wire loses is current times the segments it flows
through. So the largest currents should flow through the fewest segments: the heaviest columns next to the
row drivers, the heaviest rows next to the sense amplifiers. The order of a dot product's terms does not
change its value, so with ideal wires the reordered tile computes exactly what the plain one does.

The rule, for a layer of integer weight codes W (in x out; |W[i, j]| is the conductance G+ + G- of the pair,
one device of which is programmed) and its calibration inputs X (samples x in, what its crossbar integrates):
- expected row current     r_i = mean_n |X[n, i]| * sum_j |W[i, j]|
- expected column current  c_j = sum_i mean_n |X[n, i]| * |W[i, j]|
- row tile a holds the layer rows a R .. min(in, (a + 1) R) - 1 (R = tile.rows; n_a of them) on its tile
  rows 0 .. n_a - 1, the heaviest on the used row nearest the sense amplifiers, ties in ascending layer row
  (a stable sort): with "last_row" in ascending r_i, the heaviest row at tile row n_a - 1; with "first_row"
  in descending r_i, the heaviest row at tile row 0;
- column tile b holds the layer columns b C .. min(out, (b + 1) C) - 1 (C = tile.cols; m_b of them); its
  tile columns 0 .. m_b - 1 hold them in descending c_j, ties in ascending layer column: the heaviest
  column at tile column 0, nearest the row drivers;
- rows and columns stay in their tile, and the padding of the last tiles stays at their end (the physics
  model's active block is the leading block of a tile), so row tiles still add and column tiles concatenate.
A row's current is summed over all the layer's columns and a column's over all its rows: the row order is
shared by the column tiles of a row tile (they share the input drive), the column order by the row tiles
of a column tile (their partial sums add per column).

`row_order[p]` is the layer row on physical row p (a permutation of 0 .. in - 1), `col_order[p]` the layer
column on physical column p. The host drives physical row p with input row_order[p]
(x_physical = x[:, row_order]); the weight codes, scale and offset registers follow their row and column
(W_physical = W[row_order][:, col_order], scale_physical = scale[col_order]); physical output p is layer
output col_order[p] (y = y_physical[:, inverse(col_order)]).
"""

from __future__ import annotations

import numpy as np

from aimcgen.sim.models.ir_drop import SENSE_ENDS, SENSE_LAST_ROW


def expected_currents(weight_codes, inputs) -> tuple[np.ndarray, np.ndarray]:
    """(r, c): the expected row currents (in,) and column currents (out,) of the rule above, in conductance
    code x input units."""
    w = np.abs(np.asarray(weight_codes, dtype=np.float64))
    x = np.asarray(inputs, dtype=np.float64)
    if w.ndim != 2 or x.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(f"IR-drop order: inputs {x.shape} do not drive weights {w.shape} "
                         f"(need samples x {w.shape[0] if w.ndim == 2 else '?'})")
    drive = np.mean(np.abs(x), axis=0) if len(x) else np.zeros(w.shape[0])
    return drive * w.sum(axis=1), drive @ w


def _tile_blocks(n: int, tile: int) -> list[np.ndarray]:
    return [np.arange(start, min(n, start + tile)) for start in range(0, n, tile)]


def ir_drop_orders(weight_codes, inputs, tile_rows: int, tile_cols: int,
                   sense_amplifiers: str = SENSE_LAST_ROW) -> tuple[np.ndarray, np.ndarray]:
    """(row_order, col_order) of a layer by the rule of the module docstring, for the sense amplifiers at
    the tile's last row ("last_row") or first row ("first_row")."""
    if tile_rows < 1 or tile_cols < 1:
        raise ValueError(f"IR-drop order: tile {tile_rows} x {tile_cols} must be at least 1 x 1")
    if sense_amplifiers not in SENSE_ENDS:
        raise ValueError(f"IR-drop order: device.sense_amplifiers = {sense_amplifiers!r}: must be one of "
                         f"{', '.join(SENSE_ENDS)}")
    row_current, col_current = expected_currents(weight_codes, inputs)
    # Heaviest rows last for the last row's sense amplifiers, first for the first row's.
    row_key = row_current if sense_amplifiers == SENSE_LAST_ROW else -row_current
    row_order = np.concatenate([block[np.argsort(row_key[block], kind="stable")]
                                for block in _tile_blocks(len(row_current), tile_rows)])
    col_order = np.concatenate([block[np.argsort(-col_current[block], kind="stable")]
                                for block in _tile_blocks(len(col_current), tile_cols)])
    return row_order.astype(np.int64), col_order.astype(np.int64)


def inverse(order) -> np.ndarray:
    """The inverse permutation: inverse(order)[order[p]] = p, so a[order][inverse(order)] = a."""
    order = np.asarray(order, dtype=np.int64)
    if order.ndim != 1 or not np.array_equal(np.sort(order), np.arange(len(order))):
        raise ValueError(f"IR-drop order: {order!r} is not a permutation of 0..{len(order) - 1}")
    out = np.empty_like(order)
    out[order] = np.arange(len(order))
    return out
