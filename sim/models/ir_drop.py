"""IR drop: the resistive network of a crossbar's wires, solved for an effective conductance matrix.

Why: a column current is not sum_i V_i G_ij once the word and bit lines have resistance; cells far from the
driver see a lower row voltage and cells far from the sense amplifier a raised column voltage, so large
arrays read low (aihwkit and CrossSim both model it). The network is linear, so its whole effect on an MVM is
one matrix, the column currents per volt on each row; that matrix replaces the programmed conductances in
the physics model, for every drive step and input encoding alike.

The network (`tile_wires`: one tile of R rows and C weight columns):
- Each weight column is a differential pair of device columns, interleaved: device column 2j holds G+ of
  weight column j and device column 2j+1 its G-; a row crosses 2C devices, and the weight column's current
  is I(2j) - I(2j+1).
- Row i is driven at its left end: an ideal source of V_i, one wire segment of `wire_r_ohm` to the node of
  the first device, one segment between neighbouring devices; its right end is open. Rows not driven are
  held at 0 V by their driver (which keeps the network linear in the inputs).
- Each device column is sensed by a virtual ground (0 V) at one end, the same end for every column: the
  floorplan option `sense_amplifiers` (DeviceSpec.sense_amplifiers). "last_row" (the default): at the bottom
  end, one segment from the node of tile row R - 1 to the sense amplifier (`sense_segments` segments in series
  when the rows below the modelled ones are left out, see below), one segment between neighbouring rows; the
  top end (row 0) is open. "first_row": the mirror image, one segment from the node of tile row 0 to the sense
  amplifier (`sense_segments` in series), the bottom end (row R - 1) open. The "first_row" network of a tile
  is the "last_row" network of the tile with its rows in reverse order, and is solved so: entry (i, k) of
  the result is entry (R - 1 - i, k) of the reversed tile's solve.
- A device of conductance G joins row node (i, k) to column node (i, k).

Solver (`effective_conductances`): entry (i, k) is the current into column k's virtual ground with 1 V on
row i and 0 V on the other rows, for all R unit sources at once. Block Gauss-Seidel by lines: with the
column-node voltages fixed, every row wire is a tridiagonal system (solved exactly, Thomas algorithm,
vectorized over rows and sources); then every column wire with the row-node voltages fixed; repeated until
the largest change of a sense current between two sweeps is at most TOLERANCE times the largest sense
current. The nodal matrix is symmetric positive definite, so the iteration converges to the exact solution
of the network; `tests/test_ir_drop.py` checks it against ngspice and against a dense nodal solve. Arrays
whose wires drop most of the drive converge slowly: after MAX_SWEEPS an error names wire_r_ohm.
With wire_r_ohm = 0 the result is the conductance matrix itself (no solve). Slightly negative entries (the
physics model's additive read noise of a device at 0) are taken as they are: the network stays linear and,
with devices far smaller than the wire conductance 1/wire_r_ohm, the iteration still converges.

Unprogrammed devices (exactly 0 uS) draw no current, so a tile whose devices outside its leading block of
a rows x c weight columns are all 0 is solved exactly on that block alone: the row wires beyond device column
2c carry nothing (open end). With "last_row" the R - a rows below the block only lengthen every column wire's
path to its sense amplifier, R - a + 1 segments in series (`sense_segments`, 1 for a whole tile); with
"first_row" they hang below the block on the open end of the column wires and carry nothing either, so the
block sits 1 segment from its sense amplifiers (`sense_segments` = 1 whatever a). The physics model solves
its active block so (PhysicsCrossbar.wired, `block_sense_segments`); `tests/test_ir_drop.py` checks both
ends against the whole tile.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aimcgen.spec import DeviceSpec, SpecError

#: One microsiemens in siemens: the physics model keeps conductances in uS.
US = 1e-6
#: Stop when no sense current changed by more than this share of the largest one in the last sweep.
TOLERANCE = 1e-12
#: Sweeps before giving up (typical arrays converge in 3-15).
MAX_SWEEPS = 400
#: Unit sources solved together: bounds the memory to about 6 x rows x device columns x CHUNK doubles.
CHUNK = 64
#: The values of DeviceSpec.sense_amplifiers (the spec field is their one definition): the bit lines' end next
#: to tile row R - 1 ("last_row"), or next to row 0 ("first_row").
SENSE_ENDS = next(f for f in dataclasses.fields(DeviceSpec) if f.name == "sense_amplifiers").metadata["choices"]
SENSE_LAST_ROW, SENSE_FIRST_ROW = SENSE_ENDS


class IrDropError(SpecError):
    """The wire network did not converge: the wires drop nearly all of the drive (a spec error: the CLI
    answers it with exit code 2, naming device.wire_r_ohm)."""


def _check(g_us, wire_r_ohm: float) -> np.ndarray:
    g = np.asarray(g_us, dtype=np.float64)
    if g.ndim != 2 or 0 in g.shape:
        raise ValueError(f"IR drop: conductances must be a non-empty 2-D array (rows, device columns), "
                         f"not shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("IR drop: conductances must be finite")
    if not (np.isfinite(wire_r_ohm) and wire_r_ohm >= 0):
        raise ValueError(f"IR drop: device.wire_r_ohm = {wire_r_ohm}: must be finite and >= 0")
    return g


class _Tridiagonal:
    """Lines of a wire: diagonal (positions, lines), off-diagonal -g_wire; LU factors computed once."""

    def __init__(self, diag: np.ndarray, g_wire: float):
        self.g_wire = g_wire
        self.denominator = np.empty_like(diag)
        self.upper = np.empty_like(diag)
        self.denominator[0] = diag[0]
        self.upper[0] = -g_wire / diag[0]
        for k in range(1, diag.shape[0]):
            self.denominator[k] = diag[k] + g_wire * self.upper[k - 1]
            self.upper[k] = -g_wire / self.denominator[k]

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """rhs (positions, lines, sources) -> node voltages of the same shape."""
        out = np.empty_like(rhs)
        out[0] = rhs[0] / self.denominator[0][:, None]
        for k in range(1, rhs.shape[0]):
            out[k] = (rhs[k] + self.g_wire * out[k - 1]) / self.denominator[k][:, None]
        for k in range(rhs.shape[0] - 2, -1, -1):
            out[k] -= self.upper[k][:, None] * out[k + 1]
        return out


def _sense_currents(g_s: np.ndarray, g_wire: float, sources: np.ndarray, wire_r_ohm: float,
                    g_sense: float) -> np.ndarray:
    """Sense currents (device columns, len(sources)) in A for 1 V on each row in `sources`; g_sense is the
    conductance from the last row's column node to the sense amplifier."""
    rows, cols = g_s.shape
    # A row wire node has the driver or a left neighbour, plus a right neighbour except at the open end.
    row_lines = _Tridiagonal((g_wire * (1 + (np.arange(cols) < cols - 1)))[:, None] + g_s.T, g_wire)
    # A column wire node has an upper neighbour except at the top, and a lower one or the sense amplifier.
    position = np.arange(rows)
    below = np.where(position == rows - 1, g_sense, g_wire)
    col_lines = _Tridiagonal((g_wire * (position > 0) + below)[:, None] + g_s, g_wire)
    drive = np.zeros((cols, rows, len(sources)))
    drive[0, sources, np.arange(len(sources))] = g_wire      # a 1 V source behind the driver segment
    g_rows = g_s.T[:, :, None]                               # (device column, row, 1)
    g_cols = g_s[:, :, None]                                 # (row, device column, 1)
    column_nodes = np.zeros((rows, cols, len(sources)))
    previous = None
    for _ in range(MAX_SWEEPS):
        row_nodes = row_lines.solve(drive + g_rows * column_nodes.transpose(1, 0, 2))
        column_nodes = col_lines.solve(g_cols * row_nodes.transpose(1, 0, 2))
        sense = column_nodes[rows - 1] * g_sense
        if previous is not None and np.max(np.abs(sense - previous)) <= TOLERANCE * np.max(np.abs(sense)):
            return sense
        previous = sense
    raise IrDropError(f"IR drop: device.wire_r_ohm = {wire_r_ohm} drops nearly all of the drive on this "
                      f"{rows}x{cols}-device array; the wire network did not converge in {MAX_SWEEPS} sweeps")


def _check_sense_end(sense_amplifiers) -> None:
    if sense_amplifiers not in SENSE_ENDS:
        raise ValueError(f"IR drop: device.sense_amplifiers = {sense_amplifiers!r}: must be one of "
                         f"{', '.join(SENSE_ENDS)}")


def block_sense_segments(tile_rows: int, block_rows: int, sense_amplifiers: str = SENSE_LAST_ROW) -> int:
    """Segments in series from a tile's leading block of block_rows rows to its sense amplifiers (module
    docstring): tile_rows - block_rows + 1 with "last_row", 1 with "first_row"."""
    _check_sense_end(sense_amplifiers)
    if not 1 <= block_rows <= tile_rows:
        raise ValueError(f"IR drop: a block of {block_rows} rows does not fit a tile of {tile_rows} rows")
    return tile_rows - block_rows + 1 if sense_amplifiers == SENSE_LAST_ROW else 1


def effective_conductances(g_us, wire_r_ohm: float, sense_segments: int = 1,
                           sense_amplifiers: str = SENSE_LAST_ROW) -> np.ndarray:
    """Sense current per volt, (rows, device columns) in uS: entry (i, k) is the current into column k's
    virtual ground with 1 V on row i and 0 V on every other row. Equals g_us when wire_r_ohm = 0.
    sense_segments: wire segments in series from the row nearest the sense amplifiers (the last row, or the
    first with sense_amplifiers = "first_row") to them (module docstring)."""
    g = _check(g_us, wire_r_ohm)
    if isinstance(sense_segments, bool) or not isinstance(sense_segments, (int, np.integer)) \
            or sense_segments < 1:
        raise ValueError(f"IR drop: sense_segments = {sense_segments!r}: must be an integer >= 1")
    _check_sense_end(sense_amplifiers)
    if wire_r_ohm == 0:
        return g.copy()
    if sense_amplifiers == SENSE_FIRST_ROW:
        # The mirror image of the last_row network (module docstring): reverse the rows, solve, reverse back.
        return effective_conductances(g[::-1], wire_r_ohm, sense_segments)[::-1].copy()
    g_s, g_wire = g * US, 1.0 / wire_r_ohm
    rows = g.shape[0]
    out = np.empty_like(g)
    for start in range(0, rows, CHUNK):
        sources = np.arange(start, min(start + CHUNK, rows))
        out[sources] = _sense_currents(g_s, g_wire, sources, wire_r_ohm, g_wire / int(sense_segments)).T / US
    return out


def interleave(g_plus_us, g_minus_us) -> np.ndarray:
    """The physical array (rows, 2 cols) of a tile's two polarities: column 2j = G+, 2j+1 = G-."""
    g_plus = np.asarray(g_plus_us, dtype=np.float64)
    g_minus = np.asarray(g_minus_us, dtype=np.float64)
    if g_plus.shape != g_minus.shape:
        raise ValueError(f"IR drop: G+ {g_plus.shape} and G- {g_minus.shape} differ in shape")
    out = np.empty((g_plus.shape[0], 2 * g_plus.shape[1]))
    out[:, 0::2] = g_plus
    out[:, 1::2] = g_minus
    return out


def tile_wires(g_plus_us, g_minus_us, wire_r_ohm: float, sense_segments: int = 1,
               sense_amplifiers: str = SENSE_LAST_ROW) -> tuple[np.ndarray, np.ndarray]:
    """Effective (G+, G-) of a tile, each (rows, cols) in uS, the pairs interleaved on the rows:
    x @ (G+ - G-) of the result is the tile's differential column current for row voltages x.
    sense_segments > 1: the leading block of a larger tile whose other devices are unprogrammed, with the
    sense amplifiers at its last row (module docstring; block_sense_segments)."""
    effective = effective_conductances(interleave(g_plus_us, g_minus_us), wire_r_ohm, sense_segments,
                                       sense_amplifiers)
    return effective[:, 0::2], effective[:, 1::2]
