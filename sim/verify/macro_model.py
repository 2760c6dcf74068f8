"""A Python model of the analog macro at the analog boundary (rtl/boundary.py), one command at a time.

It answers exactly as the emulated tile does (same charges, the same deterministic noise, the same
comparator thresholds), but in zero extra cycles: it is the analog-speed macro that measures the
controller's overhead over the analog bound, and the reference the RTL emulated tile is checked against.
It is simulator-neutral: Amaranth testbenches and cocotb benches call `execute` once per accepted command.
`AnalogMacroModel` holds the command semantics every macro model shares (sim.verify.cocotb_macro.PhysicsMacroModel
answers from device physics through the same dispatch); a model supplies only its charge and device arithmetic.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from aimcgen.contract.adc import adc_code, comparator_threshold_x2
from aimcgen.contract.adc_columns import column_table
from aimcgen.contract.weight_codes import check_weights
from aimcgen.contract.noise import TileNoise
from aimcgen.contract.schedule import col_sel_settled
from aimcgen.spec import DesignSpec

INTEGRATE, COMPARE, CONVERT, PROG_WRITE, PROG_READ = range(5)   # rtl.boundary.AnalogOp


def _bits(value: int, count: int) -> np.ndarray:
    """Bits 0..count-1 of a (wide) Python integer, LSB first."""
    raw = np.frombuffer(value.to_bytes((count + 7) // 8, "little"), dtype=np.uint8)
    return np.unpackbits(raw, bitorder="little")[:count].astype(np.int64)


class SettledColSel:
    """Checks the boundary's col_sel rule (contract.schedule.col_sel_settled) on what a macro sees each cycle:
    with SAR and ramp ADCs a sampling command (COMPARE with start) carries the col_sel the pins had the cycle
    before. A macro model calls `see` once per clock cycle; a broken rule raises AssertionError."""

    def __init__(self, spec: DesignSpec):
        self.on = col_sel_settled(spec)
        self.previous = None
        self.cycle = 0

    def see(self, valid: int, op: int, start: int, col_sel: int) -> None:
        if self.on and valid and op == COMPARE and start and self.previous is not None \
                and col_sel != self.previous:
            raise AssertionError(f"cycle {self.cycle}: a sampling command offered with col_sel {col_sel}, but the "
                                 f"pins had {self.previous} the cycle before (contract.schedule.col_sel_settled)")
        self.previous = col_sel
        self.cycle += 1


@dataclass
class MacroResponse:
    comp: int = 0                       # bit a = comparator answer of ADC a
    code: list[int] = field(default_factory=list)
    read_data: int = 0


class AnalogMacroModel(ABC):
    """The analog boundary's command semantics, shared by every macro model.

    A subclass keeps `charge` (per column) and supplies the arithmetic: `_integrate` (add one drive of the
    row pins), `_sample_noise` (added to the charges an ADC samples), `_program` and `_read` (one device
    pair). Holding samples, the comparator, the ADC code and the registered response live here once, so
    the models cannot disagree on what a command means.
    """

    def __init__(self, spec: DesignSpec, dtype):
        self.spec = spec
        self.charge = np.zeros(spec.tile.cols, dtype=dtype)
        self.held = np.zeros(spec.adc.count, dtype=dtype)
        self.served = column_table(spec)        # (adcs, G): the column at each ADC's mux position
        self.response = MacroResponse(code=[0] * spec.adc.count)
        self.commands = 0

    @abstractmethod
    def _integrate(self, start: int, row_en: int, row_sign: int) -> None:
        """Add the drive of the row pins times the conductances to `charge` (cleared first on `start`)."""

    @abstractmethod
    def _sample_noise(self):
        """What the analog adds to each charge an ADC samples (scalar or one value per ADC)."""

    @abstractmethod
    def _program(self, row: int, col: int, target: int) -> None:
        """One write of the device pair at (row, col) towards `target`."""

    @abstractmethod
    def _read(self, row: int, col: int) -> int:
        """The code a verifying read of the device pair at (row, col) sees."""

    def _sample(self, col_sel: int) -> None:
        columns = self.served[:, col_sel]                       # ADC a samples its position col_sel
        self.held = self.charge[columns] + self._sample_noise()

    def execute(self, op: int, *, start: int = 0, col_sel: int = 0, trial=(), row: int = 0, col: int = 0,
                target: int = 0, row_en: int = 0, row_sign: int = 0) -> MacroResponse:
        """Execute one accepted command; returns (and keeps) the response registered for later cycles."""
        adc = self.spec.adc
        self.commands += 1
        r = self.response
        if op == INTEGRATE:
            self._integrate(start, row_en, row_sign)
        elif op == COMPARE:
            if start:
                self._sample(col_sel)
            thresholds = np.array([comparator_threshold_x2(int(t), adc) for t in trial])
            bits = (2 * self.held >= thresholds).astype(np.uint8)
            r = replace(r, comp=int.from_bytes(np.packbits(bits, bitorder="little").tobytes(), "little"))
        elif op == CONVERT:
            self._sample(col_sel)
            r = replace(r, code=adc_code(self.held, adc).tolist())
        elif op == PROG_WRITE:
            self._program(row, col, target)
        elif op == PROG_READ:
            r = replace(r, read_data=self._read(row, col))
        else:
            raise ValueError(f"analog macro: unknown command op {op}")
        self.response = r
        return r


class MacroModel(AnalogMacroModel):
    """The state of one tile's analog macro: programmed codes, integrators, held samples, noise."""

    def __init__(self, spec: DesignSpec, weights=None, tile_index: int = 0, write_error=None):
        """`write_error(row, col, target) -> int` offsets programmed codes: devices that land off target."""
        super().__init__(spec, np.int64)
        self.write_error = write_error
        shape = (spec.tile.rows, spec.tile.cols)
        self.weights = np.zeros(shape, np.int64) if weights is None else check_weights(weights, spec, shape)
        self.noise = TileNoise(spec, tile_index)

    def _integrate(self, start: int, row_en: int, row_sign: int) -> None:
        rows = self.spec.tile.rows
        if start:
            self.charge[:] = 0
        enabled, negative = _bits(row_en, rows), _bits(row_sign, rows)
        self.charge += (enabled * np.where(negative == 1, -1, 1)) @ self.weights

    def _sample_noise(self):
        return self.noise.draw(1)[:, 0]

    def _program(self, row: int, col: int, target: int) -> None:
        # A device pair holds -levels..levels: the code -2^(weight_bits-1) and codes pushed beyond the range
        # by a write error land on the nearest end, as in the emulated tile and the physics model.
        levels = self.spec.tile.conductance_levels
        landed = target + (self.write_error(row, col, target) if self.write_error else 0)
        self.weights[row, col] = min(max(landed, -levels), levels)

    def _read(self, row: int, col: int) -> int:
        return int(self.weights[row, col])


def stuck_devices(codes: dict[tuple[int, int], int]) -> Callable[[int, int, int], int]:
    """A `write_error` for MacroModel: the device pair at each (row, col) key lands on its code whatever the
    target (a stuck-at fault that program-and-verify cannot mend); every other device lands on target."""
    def write_error(row: int, col: int, target: int) -> int:
        return codes[(row, col)] - target if (row, col) in codes else 0
    return write_error
