"""The accelerator bench's scoreboard: expected outputs from the golden model (sim.models.golden), kept in
issue order, compared with what the DUT delivers, mismatches told with the vector, column, expected and got
values and the accumulator and coefficients behind them. The golden model's results also feed the
functional coverage (sim.verify.accelerator_coverage).

Weight writes are program-and-verify on the golden model too (GoldenAccelerator.program_verify, PROG_CTRL at
its reset values), in the order the bench issues them, so with the digital twin on (spec [twin]) the golden
devices land with the same programming errors and stuck values as the emulated tiles'; the scoreboard counts
the verify failures the DUT must report. The devices outlive a reset (the DUT's memories keep them):
`devices` hands over those of the previous test's golden model.

Chips with per-row-tile gain trims (contract.tile_gain) start every test at UNITY (the bench writes UNITY back
after the test that loads random trims); `set_tile_gains` follows the TILE_GAIN writes, and a mismatch names
the trims of its column.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from aimcgen.contract.adc_columns import column_table
from aimcgen.contract.device_twin import DeviceState
from aimcgen.contract.formats import datapath_formats
from aimcgen.sim.models.golden import GoldenAccelerator, VerifyResult
from aimcgen.sim.verify.accelerator_coverage import ADC_BINS, ADC_CODES, adc_bin_of
from aimcgen.sim.verify.coverage import Coverage
from aimcgen.spec import DesignSpec


def show_vector(x, limit: int = 32) -> str:
    """A vector for a message: in full when short, else its start and where its non-zero entries are."""
    x = np.asarray(x).tolist()
    if len(x) <= limit:
        return str(x)
    nonzero = sum(1 for v in x if v)
    return f"[{', '.join(map(str, x[:16]))}, ...] ({len(x)} values, {nonzero} non-zero)"


class RecordingGolden(GoldenAccelerator):
    """GoldenAccelerator that hands every MVM's result (also the inner MVMs of run_layers) to `on_result`."""

    def __init__(self, spec, weights, scale, offset, on_result):
        super().__init__(spec, weights, scale, offset)
        self.on_result = on_result

    def run(self, x, *args, **kwargs):
        result = super().run(x, *args, **kwargs)
        self.on_result(np.asarray(x), result)
        return result


@dataclass(eq=False)
class Expectation:
    """One output vector the DUT owes: what it must be and what it was computed from (for the message)."""

    number: int                     # output vector number within the test
    label: str                      # "stream MVM 3", "register MVM 1", "layer chain 2 (3 layers)"
    x: np.ndarray
    outputs: np.ndarray
    columns: np.ndarray             # logical column of each output
    acc: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    input_packet: int | None = None     # index of the input stream packet that started it
    gains: np.ndarray | None = None     # the TILE_GAIN trims (row tiles 1.. x columns), None: all unity


class Scoreboard:
    """Expected outputs from the golden model, in issue order; compares what the DUT delivers."""

    def __init__(self, spec: DesignSpec, test: str, coverage: Coverage, weights, scale, offset,
                 devices: list[DeviceState] | None = None):
        self.spec, self.test, self.coverage = spec, test, coverage
        self.golden = RecordingGolden(spec, weights, scale, offset, self._sample)
        if devices is not None:
            for tile, kept in zip(self.golden.tiles, devices):
                tile.keep_devices(kept)
        self.prog_failures = 0              # PROG_STATUS.failures since reset
        self.any_prog_failure = False       # ERRORS.prog_verify_fail (sticky, write-1 clears)
        self.stream_queue: deque[Expectation] = deque()
        self.issued = 0
        self.checked = 0
        self.failures: list[str] = []
        self.any_overflow = False
        self.any_saturated = False
        self.sample_coverage = True
        self._last = None

    # -- golden side
    def _sample(self, x: np.ndarray, result) -> None:
        self._last = result
        self.any_overflow |= bool(result.overflow.any())
        self.any_saturated |= bool(result.output_saturated.any())
        if not self.sample_coverage:
            return
        cov, spec = self.coverage, self.spec
        served = column_table(spec)                                     # (adcs, G): each ADC's columns
        for t, tile in enumerate(result.tiles):
            bins = adc_bin_of(tile.codes, spec.adc)                     # (steps, batch, cols)
            for a in range(spec.adc.count):
                columns = served[a]
                counts = np.bincount(bins[:, :, columns].ravel(), minlength=len(ADC_BINS))
                for i, n in enumerate(counts):
                    if n:
                        cov.hit(f"adc.t{t}.a{a}", ADC_BINS[i], int(n))
                ADC_CODES.setdefault((t, a), set()).update(np.unique(tile.codes[:, :, columns]).tolist())
        fmt = datapath_formats(spec).output
        for m in range(result.outputs.shape[0]):
            cov.hit("accumulator_saturation", "hit" if result.overflow[m].any() else "clear")
            sat, out = result.output_saturated[m], result.outputs[m]
            if np.any(sat & (out == fmt.max)):
                cov.hit("output_saturation", "high")
            if np.any(sat & (out == fmt.min)):
                cov.hit("output_saturation", "low")
            if not sat.any():
                cov.hit("output_saturation", "clear")

    def devices(self) -> list[DeviceState]:
        """Every tile's device state (shared with the golden model: it follows later writes)."""
        return [tile.twin.devices for tile in self.golden.tiles]

    def write_weight(self, row: int, col: int, value: int) -> VerifyResult:
        """One WEIGHTS window write: program-and-verify of the weight at logical (row, col)."""
        result = self.golden.program_verify(row, col, value)
        if not result.ok:
            self.prog_failures += 1
            self.any_prog_failure = True
        return result

    def set_coefficients(self, scale, offset) -> None:
        self.golden.set_coefficients(scale, offset)

    def set_tile_gains(self, gains) -> None:
        """The TILE_GAIN window's trims, shape (row_tiles - 1, logical_cols) (contract.tile_gain)."""
        self.golden.set_tile_gains(gains)

    def _gains(self, cols) -> np.ndarray | None:
        gains = self.golden.tile_gains
        return None if gains is None else gains[:, cols].copy()

    def mvm(self, x, label: str, *, stream: bool, input_packet: int | None = None) -> Expectation:
        x = np.asarray(x, dtype=np.int64)
        result = self.golden.run(x[None])
        cols = np.arange(self.spec.logical_cols)
        e = Expectation(self.issued, label, x, result.outputs[0], cols, result.accumulator[0],
                        self.golden.scale.copy(), self.golden.offset.copy(), input_packet, self._gains(cols))
        return self._issue(e, stream)

    def chain(self, x, layers, label: str, *, stream: bool, input_packet: int | None = None) -> Expectation:
        x = np.asarray(x, dtype=np.int64)
        outputs = self.golden.run_layers(x[None], layers)[0]
        start, count = layers[-1]
        count = count or self.spec.logical_cols - start
        cols = np.arange(start, start + count)
        e = Expectation(self.issued, label, x, outputs, cols, self._last.accumulator[0][cols],
                        self.golden.scale[cols].copy(), self.golden.offset[cols].copy(), input_packet,
                        self._gains(cols))
        return self._issue(e, stream)

    def _issue(self, e: Expectation, stream: bool) -> Expectation:
        self.issued += 1
        if stream:
            self.stream_queue.append(e)
        return e

    # -- DUT side
    def compare(self, e: Expectation, got, where: str) -> bool:
        got = np.asarray(got, dtype=np.int64)
        self.checked += 1
        head = f"{self.test}: output vector {e.number} ({e.label}, {where})"
        if got.shape != e.outputs.shape:
            self.failures.append(f"{head}: expected {len(e.outputs)} output values (the last one flagged "
                                 f"`last`), got {len(got)}: {got.tolist()}")
            return False
        bad = np.flatnonzero(got != e.outputs)
        if not len(bad):
            return True
        i = bad[0]
        more = f"; {len(bad)} of {len(got)} columns differ"
        if len(bad) > 1:
            more += " (columns " + ", ".join(str(int(e.columns[j])) for j in bad[:8]) + \
                    (", ..." if len(bad) > 8 else "") + ")"
        trims = "" if e.gains is None else f", tile gains {e.gains[:, i].tolist()}"
        self.failures.append(
            f"{head}, column {int(e.columns[i])}: expected {int(e.outputs[i])}, got {int(got[i])} (accumulator "
            f"{int(e.acc[i])}, scale {int(e.scale[i])}, offset {int(e.offset[i])}{trims}; x = "
            f"{show_vector(e.x)}){more}")
        return False

    def on_stream_packet(self, packet) -> Expectation | None:
        values = [beat["value"] for beat in packet.values]
        if not self.stream_queue:
            self.failures.append(f"{self.test}: unexpected output vector on the stream (nothing was issued "
                                 f"that sends one): {values}")
            return None
        e = self.stream_queue.popleft()
        self.compare(e, values, "output stream")
        return e

    def raise_failures(self) -> None:
        if self.failures:
            extra = f" (and {len(self.failures) - 1} more mismatch(es))" if len(self.failures) > 1 else ""
            raise AssertionError(self.failures[0] + extra)
