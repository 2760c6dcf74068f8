"""Energy per inference of a chip program, counted from the MVMs the chip runs for real inputs.

The first-order models and cited constants are sim.eval.estimates' (EnergyModel); what differs from the
per-layer estimate of `aimcgen evaluate` is what is counted: the chip's own MVMs. Every MVM drives the rows
of the whole logical matrix and converts the ADC samples the hardware's activity counters count
(sim.models.activity: every column of every tile in every step, unless the spec's [sparsity] options skip
some, each MVM under its own layer descriptor, so layer_columns counts too), so

    array   = V_READ^2 * sum over rows of t_on(row) * sum over the row's devices of |G|   (the whole row: every
              layer's weights in that row conduct while it is driven, not only the running layer's)
    DAC     = E_DRIVER_PER_ROW_STEP * driven (row, step) pairs
    ADC     = counted conversions * FOM_WALDEN[kind] * 2^(adc.bits - ENOB_LOSS)
    digital = E_ADD per counted ADC code (shift-add) + (E_MULT + 2 E_ADD) per column (post-processor)
              + E_ADD per column and extra row tile (partial sums)

summed over the MVMs the chip runs for the test inputs (sim.deploy.run.mvm_schedule: every segment, every
sequencer layer with its descriptor, every im2col position) and divided by the number of inferences. t_on(row) = drive cycles /
clock; |G| = |code| * g_max / conductance_levels (one device of the differential pair conducts). Operations
per inference count 2 per weight of each layer (multiply and add) times its positions, for TOPS/W.
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.chip_program import ChipProgram
from aimcgen.contract.encoding import drive_steps
from aimcgen.sim.deploy.run import MvmBatch, mvm_schedule
from aimcgen.sim.eval.estimates import CITATIONS, EnergyModel
from aimcgen.sim.models.activity import accelerator_activity
from aimcgen.spec import DesignSpec


def mvm_energy(spec: DesignSpec, weights: np.ndarray, x: np.ndarray, model: EnergyModel,
               layer: tuple[int, int] | None = None) -> dict[str, float]:
    """Energy (J) of the MVMs with inputs x (n, logical_rows) under the layer descriptor `layer` (None: every
    column) on the chip holding `weights`, by component."""
    clock_hz = spec.design.clock_mhz * 1e6
    g_row = np.abs(weights).astype(np.float64).sum(axis=1) * spec.device.g_max_us * 1e-6 \
        / spec.tile.conductance_levels                                  # conducting siemens per row
    drive = np.abs(drive_steps(x, spec.input)).astype(np.float64)       # (steps, n, rows) drive cycles
    array = model.v_read ** 2 * float(drive.sum(axis=(0, 1)) @ g_row) / clock_hz
    dac = model.e_driver_j * float((drive > 0).sum())
    conversions = accelerator_activity(x, spec, layer).conversions
    adc = conversions * model.adc_energy(spec.adc.kind, spec.adc.bits)
    per_mvm = spec.logical_cols * (model.e_mult_j + 2 * model.e_add_j) \
        + (spec.array.row_tiles - 1) * spec.logical_cols * model.e_add_j       # post-processor, partial sums
    digital = conversions * model.e_add_j + len(x) * per_mvm
    return {"array": array, "dac": dac, "adc": adc, "digital": digital}


def energy_per_inference(program: ChipProgram, spec: DesignSpec, x, *, model: EnergyModel = EnergyModel(),
                         schedule: list[MvmBatch] | None = None) -> dict:
    """Energy per inference (J, by component and total), MVMs per inference, ops and TOPS/W for inputs x;
    `schedule`: mvm_schedule(program, spec, x) when the caller has it already."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    if schedule is None:
        schedule = mvm_schedule(program, spec, x)
    parts = dict.fromkeys(("array", "dac", "adc", "digital"), 0.0)
    for batch in schedule:
        for k, v in mvm_energy(spec, program.weights, batch.inputs, model, batch.descriptor).items():
            parts[k] += v / len(x)
    mvms = sum(len(batch.inputs) for batch in schedule)
    total = sum(parts.values())
    ops = sum(2 * (l.row_range[1] - l.row_range[0]) * (l.col_range[1] - l.col_range[0]) * l.positions
              for l in program.layers)
    return {"energy_per_inference_j": {**parts, "total": total}, "mvms_per_inference": mvms / len(x),
            "ops_per_inference": ops, "tops_per_w": ops / total / 1e12, "inferences": len(x),
            "counts": "the chip's MVMs for these inputs: every row of the logical matrix driven, the ADC samples "
                      "the activity counters count converted, each MVM under its layer descriptor "
                      "(sim.deploy.energy)",
            "citations": CITATIONS}
