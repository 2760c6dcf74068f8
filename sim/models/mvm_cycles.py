"""Cycles of each MVM at the analog bound, from the conversion plans the hardware runs (contract.sparsity).

Why: with the [sparsity] options an MVM's length depends on its inputs and layer, so a latency estimate
must count what the tile controller does rather than the dense formula. A tile controller whose macro keeps
pace (one command per cycle) and whose result bank drains in time runs MVM k, from its start to the next
MVM's start, back to back, in

    cycles_k = |K| * (D + |P| * conversion_cycles(adc)) + Z + max(C_prev - Z, 0) - C_k

(K the performed steps, D the drive window, P the converted positions, G = adc column positions, Z = G - |P|
the positions it clears without converting): its analog commands (sim.models.activity's analog_commands) plus
one digital zero-pass cycle per cleared position (rtl.tile_controller; an idle MVM clears all G). C is the
carry: the commands of the last conversion still to come when an MVM ends (rtl.tile_controller ends it
before them), C_k = T = contract.schedule.tail_commands(spec) for an MVM that converts, and for an idle one
the previous carry less what its zero pass absorbed, max(C_prev - Z, 0); the zero pass issues carried
commands in its own cycles. The first MVM of a batch starts with nothing carried (C_prev = 0, the
controller idle before it). tests/test_rtl_sparsity.py checks this period on the RTL. The grid's tiles run
their MVMs in parallel, so a grid MVM takes its busiest tile's cycles. With every option off each MVM
takes contract.schedule.serial_schedule_commands(spec), the first one T fewer.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.schedule import tail_commands
from aimcgen.contract.sparsity import ConversionPlan, conversion_plan, local_columns
from aimcgen.spec import DesignSpec


def tile_mvm_cycles(plan: ConversionPlan, spec: DesignSpec) -> np.ndarray:
    """(batch,) int64: the cycles of each MVM of a tile's plan, back to back in batch order, by the module
    docstring's rule."""
    performed = plan.steps.sum(axis=1)
    positions = plan.positions.sum(axis=1)
    commands = performed * (plan.drive + positions * conversion_cycles(spec.adc))
    cleared = spec.columns_per_adc - positions
    tail = tail_commands(spec)
    cycles = np.empty(len(commands), dtype=np.int64)
    carry = 0
    for k in range(len(commands)):
        drained = max(carry - int(cleared[k]), 0)
        carry = tail if performed[k] > 0 and positions[k] > 0 else drained
        cycles[k] = int(commands[k]) + int(cleared[k]) + drained - carry
    return cycles


def grid_mvm_cycles(x: np.ndarray, spec: DesignSpec, layer: tuple[int, int] | None = None) -> np.ndarray:
    """(batch,) int64: the cycles of each grid MVM of x (batch, logical_rows) under the layer descriptor
    (start, count) (None: every column): the busiest tile's."""
    x = np.asarray(x, dtype=np.int64)
    rows, ct = spec.tile.rows, spec.array.col_tiles
    cycles = np.zeros(x.shape[0], dtype=np.int64)
    for i in range(spec.tiles):
        part = x[:, (i // ct) * rows:(i // ct + 1) * rows]
        plan = conversion_plan(part, spec, local_columns(spec, i % ct, layer))
        cycles = np.maximum(cycles, tile_mvm_cycles(plan, spec))
    return cycles
