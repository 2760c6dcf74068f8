"""The hardware activity counters, predicted exactly from the golden model's conversion plans.

What each counter adds, per tile and per MVM (contract.sparsity gives the plan: performed steps K,
converted positions P, drive window D; an idle MVM has K empty):
- drive_cycles     |K| * D                   INTEGRATE commands accepted
- row_activations  sum over those commands of the rows enabled: sum_i popcount(|x_i| & planes of K) for
                   bit_serial, sum_i |x_i| for pwm (the window always covers the largest |x_i|)
- conversions      |K| * |P| * adc.count     samples taken (one per ADC per converted position and step)
- skipped          steps * tile.cols - conversions
- analog_commands  |K| * (D + |P| * conversion_cycles(adc))     what the macro executes
The accelerator's registers add the tiles' counts; its MVM counter counts MVMs of the grid (one per input
vector and layer), not tile MVMs. Counters are 32 bits and wrap (contract.aimc_registers).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.sparsity import (
    ConversionPlan,
    conversion_plan,
    local_columns,
    magnitudes,
)
from aimcgen.spec import DesignSpec

COUNTER_MASK = 0xFFFFFFFF


@dataclass
class Activity:
    """Counted work; adds with +, reads as the 32-bit registers with `registers()`."""
    mvms: int = 0
    drive_cycles: int = 0
    row_activations: int = 0
    conversions: int = 0
    skipped: int = 0
    analog_commands: int = 0

    def __add__(self, other: Activity) -> Activity:
        return Activity(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    @classmethod
    def of_cycle(cls, mvm: int, drive: int, row_en: int, conversion: int, adcs: int) -> Activity:
        """What one cycle of a tile's activity port (rtl.tile_controller.activity_layout) adds: row_en is the
        row driver's, whatever is accepted, so its rows count only with drive (as rtl.activity_counters
        counts them); a conversion samples with every one of the `adcs` ADCs."""
        return cls(mvms=mvm, drive_cycles=drive, row_activations=bin(row_en).count("1") * drive,
                   conversions=conversion * adcs)

    def registers(self) -> dict[str, int]:
        """The counter registers' values (mod 2^32) after these events from reset."""
        return {f.name: getattr(self, f.name) & COUNTER_MASK for f in fields(self) if f.name != "analog_commands"}


def tile_activity(x: np.ndarray, plan: ConversionPlan | None, spec: DesignSpec) -> Activity:
    """A tile's activity over a batch: x (batch, tile.rows) and its plan (None: the whole tile's, e.g. a
    golden TileResult's with every option off); `mvms` counts the tile's MVMs."""
    plan = conversion_plan(x, spec) if plan is None else plan
    mag = magnitudes(x, spec)
    performed = plan.steps.sum(axis=1)
    positions = plan.positions.sum(axis=1)
    if spec.input.encoding == "pwm":
        rows_on = np.where(performed > 0, mag.sum(axis=1), 0)
    else:
        bits = (mag[:, :, None] >> np.arange(spec.input.steps)) & 1          # (batch, rows, steps)
        rows_on = (bits * plan.steps[:, None, :]).sum(axis=(1, 2))
    conversions = int((performed * positions).sum()) * spec.adc.count
    batch = x.shape[0]
    return Activity(
        mvms=batch,
        drive_cycles=int((performed * plan.drive).sum()),
        row_activations=int(rows_on.sum()),
        conversions=conversions,
        skipped=batch * spec.input.steps * spec.tile.cols - conversions,
        analog_commands=int((performed * (plan.drive + positions * conversion_cycles(spec.adc))).sum()),
    )


def accelerator_activity(x: np.ndarray, spec: DesignSpec, layer: tuple[int, int] | None = None) -> Activity:
    """The chip's counters over grid MVMs of x (batch, logical_rows) under one layer descriptor (start,
    count) (None: every column): the tiles' activities added, `mvms` counted once per grid MVM. The plans
    depend on the inputs and the layer only, so no weights or noise are needed."""
    x = np.asarray(x, dtype=np.int64)
    rows, ct = spec.tile.rows, spec.array.col_tiles
    total = Activity()
    for i in range(spec.tiles):
        part = x[:, (i // ct) * rows:(i // ct + 1) * rows]
        total = total + tile_activity(part, conversion_plan(part, spec, local_columns(spec, i % ct, layer)), spec)
    total.mvms = x.shape[0]
    return total
