"""A Python model of the analog macro at the analog boundary (rtl/boundary.py), one command at a time.

It answers exactly as the emulated tile does (same charges, the same deterministic noise, the same
comparator thresholds), but in zero extra cycles: it is the analog-speed macro that measures the
controller's overhead over the analog bound, and the reference the RTL emulated tile is checked against.
It is simulator-neutral: Amaranth testbenches and cocotb benches call `execute` once per accepted command.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aimcgen.sim.adc import adc_code, comparator_threshold_x2
from aimcgen.sim.golden import check_weights
from aimcgen.sim.noise import TileNoise
from aimcgen.spec import DesignSpec

INTEGRATE, COMPARE, CONVERT, PROG_WRITE, PROG_READ = range(5)   # rtl.boundary.AnalogOp


def _bits(value: int, count: int) -> np.ndarray:
    """Bits 0..count-1 of a (wide) Python integer, LSB first."""
    raw = np.frombuffer(value.to_bytes((count + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:count].astype(np.int64)


@dataclass
class MacroResponse:
    comp: int = 0                       # bit a = comparator answer of ADC a
    code: list[int] = field(default_factory=list)
    read_data: int = 0


class MacroModel:
    """The state of one tile's analog macro: programmed codes, integrators, held samples, noise."""

    def __init__(self, spec: DesignSpec, weights=None, tile_index: int = 0, write_error=None):
        """`write_error(row, col, target) -> int` offsets programmed codes: devices that land off target."""
        self.spec = spec
        self.write_error = write_error
        shape = (spec.tile.rows, spec.tile.cols)
        self.weights = np.zeros(shape, np.int64) if weights is None else check_weights(weights, spec, shape)
        self.charge = np.zeros(spec.tile.cols, dtype=np.int64)
        self.held = np.zeros(spec.adc.count, dtype=np.int64)
        self.noise = TileNoise(spec, tile_index)
        self.response = MacroResponse(code=[0] * spec.adc.count)
        self.commands = 0

    def _sample(self, col_sel: int) -> None:
        columns = np.arange(self.spec.adc.count) * self.spec.columns_per_adc + col_sel
        self.held = self.charge[columns] + self.noise.draw(1)[:, 0]

    def execute(self, op: int, *, start: int = 0, col_sel: int = 0, trial=(), row: int = 0, col: int = 0,
                target: int = 0, row_en: int = 0, row_sign: int = 0) -> MacroResponse:
        """Execute one accepted command; returns (and keeps) the response registered for later cycles."""
        spec = self.spec
        self.commands += 1
        r = self.response
        if op == INTEGRATE:
            if start:
                self.charge[:] = 0
            enabled, negative = _bits(row_en, spec.tile.rows), _bits(row_sign, spec.tile.rows)
            drive = enabled * np.where(negative == 1, -1, 1)
            self.charge += drive @ self.weights
        elif op == COMPARE:
            if start:
                self._sample(col_sel)
            thresholds = np.array([comparator_threshold_x2(int(t), spec.adc) for t in trial])
            bits = (2 * self.held >= thresholds).astype(int)
            comp = int.from_bytes(np.packbits(bits.astype(np.uint8), bitorder="little").tobytes(), "little")
            r = MacroResponse(comp=comp, code=r.code,
                              read_data=r.read_data)
        elif op == CONVERT:
            self._sample(col_sel)
            r = MacroResponse(comp=r.comp, code=adc_code(self.held, spec.adc).tolist(), read_data=r.read_data)
        elif op == PROG_WRITE:
            self.weights[row, col] = target + (self.write_error(row, col, target) if self.write_error else 0)
        elif op == PROG_READ:
            r = MacroResponse(comp=r.comp, code=r.code, read_data=int(self.weights[row, col]))
        else:
            raise ValueError(f"analog macro: unknown command op {op}")
        self.response = r
        return r
