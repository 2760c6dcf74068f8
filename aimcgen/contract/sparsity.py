"""Which drive cycles and conversions a tile performs when the spec's [sparsity] options skip work.

Rules, per tile and per MVM, from the tile's R inputs x_i (|x_i| read as min(|x_i|, 2^(bits-1)-1), as the
row drivers read the code -2^(bits-1)) and the layer's columns inside the tile, a local range [lo, hi)
(the whole tile when sparsity.layer_columns is off or the MVM has no layer descriptors):
- positions: each of the A = adc.count ADCs has G = tile.cols / A column positions (its mux inputs), and a
  column position p converts one column per ADC (contract.adc_columns says which: adc.column_assignment).
  With layer_columns on, the tile converts every position that holds a column of the range on some ADC
  (the other ADCs' columns at those positions are converted too: the ADCs share the command), n of them,
  the positions (f + j) mod G for j = 0..n-1, in that order (j ascending):
    blocks (column a*G + p):       f = lo mod G,  n = min(G, hi - lo);
    interleaved (column p*A + a):  f = lo // A,   n = (hi - 1) // A - lo // A + 1 (the positions
                                   lo//A .. (hi-1)//A; f + n <= G, so they never wrap);
  n = 0 when hi <= lo (f is then lo mod G for blocks, 0 for interleaved: nothing is converted). With
  layer_columns off, f = 0 and n = G (p = 0..G-1).
  Example, 64 columns, 8 ADCs, layer on [0, 10): blocks converts all 8 positions, interleaved 2 (0, 1).
- idle MVM: if no position is converted (hi <= lo), or every x_i = 0 and skip_zero_tiles or
  skip_zero_planes is on, the tile neither drives nor converts: no INTEGRATE, no sample, no noise draw.
- steps: bit_serial with skip_zero_planes: the bit planes k whose bit is set in OR_i |x_i| (ascending);
  otherwise every step 0..steps-1.
- drive: INTEGRATE commands per performed step: pwm with pwm_window: max(1, max_i |x_i|) (the first still
  zeroes the integrators when every input is 0); otherwise contract.schedule.drive_cycles.
- accumulators: a converted position adds its codes << k over the performed steps, in ascending k, with
  the accelerator's saturation (sim.models.golden.shift_add); a position that is not converted (an idle
  MVM: every position) holds 0 with no overflow. Row tiles' partial sums add as without sparsity.
- noise: each ADC draws one value per sample it takes (contract.noise), in the order MVM, performed step,
  converted position in conversion order (j above); a skipped sample draws nothing, so the stream stays
  aligned with the hardware's (contract.noise's "samples are never skipped" holds with every option off).
With every option off this is the dense schedule: all steps, all positions, contract.schedule's drive.
Skipped positions are zeroed by the tile controller through the accumulator, one digital cycle per
position, without analog commands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.schedule import drive_cycles
from aimcgen.spec import DesignSpec


@dataclass(frozen=True)
class ConversionPlan:
    """What a tile does for each MVM of a batch."""
    steps: np.ndarray       # (batch, steps) bool: drive step k is performed
    positions: np.ndarray   # (batch, G) bool: column position p is converted in every performed step
    drive: np.ndarray       # (batch,) INTEGRATE commands per performed step (0 for an idle MVM)
    first: np.ndarray       # (batch,) the position each step's conversions start at (then ascending mod G)

    @property
    def samples(self) -> np.ndarray:
        """(batch, steps, G) bool: the samples each ADC takes, indexed by position."""
        return self.steps[:, :, None] & self.positions[:, None, :]

    def conversion_order(self) -> np.ndarray:
        """(batch, G): the position converted j-th in a step; `samples` indexed by it along the last axis
        and flattened is each ADC's draw order."""
        group = self.positions.shape[1]
        return (self.first[:, None] + np.arange(group)) % group


def magnitudes(x: np.ndarray, spec: DesignSpec) -> np.ndarray:
    """|x| as the row drivers drive it."""
    return np.minimum(np.abs(np.asarray(x, dtype=np.int64)), spec.input.max_magnitude)


def position_span(spec: DesignSpec, lo: int, hi: int) -> tuple[int, int]:
    """(f, n): the first position converted for the local column range [lo, hi) and how many positions
    from there (mod G) are converted, by the module docstring's rule."""
    group, count = spec.columns_per_adc, spec.adc.count
    if spec.sparsity.layer_columns != "on":
        return 0, group
    if hi <= lo:
        return (0 if spec.adc.column_assignment == "interleaved" else lo % group), 0
    if spec.adc.column_assignment == "interleaved":
        return lo // count, (hi - 1) // count - lo // count + 1
    return lo % group, min(group, hi - lo)


def column_positions(spec: DesignSpec, lo: int, hi: int) -> np.ndarray:
    """(G,) bool: the positions converted for the local column range [lo, hi)."""
    group = spec.columns_per_adc
    first, n = position_span(spec, lo, hi)
    positions = np.zeros(group, dtype=bool)
    positions[(first + np.arange(n)) % group] = True
    return positions


def conversion_plan(x: np.ndarray, spec: DesignSpec, columns: tuple[int, int] | None = None) -> ConversionPlan:
    """The plan for inputs x (batch, tile.rows) and the local column range `columns` (None: whole tile)."""
    sp, inp = spec.sparsity, spec.input
    mag = magnitudes(x, spec)
    batch = mag.shape[0]
    lo, hi = (0, spec.tile.cols) if columns is None else columns
    positions = np.broadcast_to(column_positions(spec, lo, hi), (batch, spec.columns_per_adc)).copy()
    zero = ~mag.any(axis=1)
    idle = ~positions.any(axis=1) | (zero & ("on" in (sp.skip_zero_tiles, sp.skip_zero_planes)))
    if sp.skip_zero_planes == "on":
        planes = np.bitwise_or.reduce(mag, axis=1) if mag.shape[1] else np.zeros(batch, dtype=np.int64)
        steps = ((planes[:, None] >> np.arange(inp.steps)) & 1).astype(bool)
    else:
        steps = np.ones((batch, inp.steps), dtype=bool)
    if sp.pwm_window == "on":
        drive = np.maximum(1, mag.max(axis=1, initial=0))
    else:
        drive = np.full(batch, drive_cycles(spec), dtype=np.int64)
    steps[idle] = False
    positions[idle] = False
    first = np.full(batch, position_span(spec, lo, hi)[0], dtype=np.int64)
    return ConversionPlan(steps, positions, np.where(idle, 0, drive), first)


def local_columns(spec: DesignSpec, col_tile: int, layer: tuple[int, int] | None) -> tuple[int, int] | None:
    """The layer's logical columns (start, count) inside tile column col_tile, as a local range [lo, hi)."""
    if layer is None:
        return None
    cols = spec.tile.cols
    start, count = layer
    lo, hi = start - col_tile * cols, start + count - col_tile * cols
    return min(max(lo, 0), cols), min(max(hi, 0), cols)
