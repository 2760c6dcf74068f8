"""Run a chip program as the hardware and its host would, and what it costs in cycles.

The host quantizes the inputs (program.input), then runs the segments in order, each over the whole batch
(one descriptor setting streams every input before the host rewrites the descriptors for the next segment),
with the host steps of the program around each segment (contract.chip_program). On the golden model this is
ONE GoldenAccelerator for the chip, so the noise generators (one per physical ADC) advance across segments
exactly as the hardware's do; a sequencer segment is GoldenAccelerator.run_layers, a per-position segment
run_layers with one descriptor on every im2col patch. The physics model (PhysicsChip) runs the same
schedule with the sequencer's feedback (result columns -> input rows 0..count-1, clamped) in numpy.

Cycles per inference (model): per layer, its MVMs (1, or the positions of a convolution) back to back at the
serial command bound -- contract.schedule.serial_schedule_commands of the chip: the tile controller's commands per MVM
(drive cycles and ADC conversions of every input step; the chip's tiles run in parallel) -- plus the
post-processor pipeline (sim.eval.estimates.layer_latency_cycles), summed over the layers. With a [sparsity]
option on and the inputs given, each MVM counts instead the cycles its conversion plan takes
(sim.models.mvm_cycles.grid_mvm_cycles, under the MVM's own layer descriptor), summed over the MVMs the chip
runs for those inputs (mvm_schedule) and divided by the inputs. Not counted: the host's steps,
input/output transfers, register writes between segments.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from aimcgen.contract.device_twin import twin_active
from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.sim.deploy.physics_chip import PhysicsChip
from aimcgen.contract.chip_program import ChipProgram, host_steps_after, im2col
from aimcgen.sim.eval.estimates import POSTPROC_LATENCY_CYCLES, layer_latency_cycles
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.models.mvm_cycles import grid_mvm_cycles
from aimcgen.spec import DesignSpec

CYCLES_COUNT = ("per layer: MVMs x serial_schedule_commands (tile controller commands per MVM: drive cycles and "
                f"ADC conversions of every input step, tiles in parallel) + {POSTPROC_LATENCY_CYCLES} "
                "post-processor pipeline cycles, summed over the layers; host steps and I/O not counted")
CYCLES_COUNTED = ("per layer: the cycles of the conversion plans of its MVMs for the test inputs (drive, "
                  "conversions and zero-pass cycles the [sparsity] options leave, the busiest tile's; "
                  "sim.models.mvm_cycles) per inference + " f"{POSTPROC_LATENCY_CYCLES} post-processor pipeline "
                  "cycles, summed over the layers; host steps and I/O not counted")

# (MVM inputs (n, logical_rows), descriptors) -> the last descriptor's output codes (n, count)
SegmentRunner = Callable[[np.ndarray, list], np.ndarray]


@dataclass
class ChipRun:
    predictions: np.ndarray         # (batch,) argmax of the last layer's output codes
    codes: np.ndarray               # (batch, out_features) the last layer's output codes
    outputs: np.ndarray             # (batch, out_features) dequantized: y_scale * code + y_zero


def quantize_input(program: ChipProgram, x) -> np.ndarray:
    m, p = program.input["max_magnitude"], program.input
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    return np.clip(np.round((x - p["x_zero"]) / p["x_scale"]), -m, m).astype(np.int64)


def execute(program: ChipProgram, x, run_segment: SegmentRunner) -> ChipRun:
    """The host's schedule: inputs quantized, segments in order with their host steps, argmax."""
    m = program.input["max_magnitude"]
    codes = quantize_input(program, x)
    for seg in program.segments:
        first, last = program.layers[seg.layers[0]], program.layers[seg.layers[-1]]
        rows = im2col(first.conv, codes) if "im2col" in seg.host_before else codes
        inputs = np.zeros((len(rows), program.logical_shape[0]), dtype=np.int64)
        inputs[:, :rows.shape[1]] = rows
        codes = np.asarray(run_segment(inputs, seg.descriptors), dtype=np.int64)
        codes = host_steps_after(codes, seg.host_after, m, last.conv)
    last = program.layers[-1]
    return ChipRun(np.argmax(codes, axis=1), codes, codes * last.y_scale + last.y_zero)


def sequencer(mvm: Callable[[np.ndarray, tuple[int, int]], np.ndarray], max_magnitude: int) -> SegmentRunner:
    """The layer sequencer over a batch, from one-MVM outputs (n, logical_cols) of mvm(x, descriptor): a
    non-last result in columns start..start+count-1 becomes input rows 0..count-1 (others 0), clamped to the
    input range."""
    def run(x: np.ndarray, descriptors) -> np.ndarray:
        for k, (start, count) in enumerate(descriptors):
            out = mvm(x, (start, count))[:, start:start + count]
            if k < len(descriptors) - 1:
                n = min(count, x.shape[1])
                x = np.zeros_like(x)
                x[:, :n] = np.clip(out[:, :n], -max_magnitude, max_magnitude)
        return out
    return run


def noise_free(spec: DesignSpec) -> DesignSpec:
    """The spec without the emulated read noise: noise.sigma_lsb = 0 and twin.read_noise off."""
    return spec.replace(noise={"sigma_lsb": 0.0}, twin={"read_noise": "off"})


def golden_chip(program: ChipProgram, spec: DesignSpec, *, noise: bool = True,
                model: type[GoldenAccelerator] = GoldenAccelerator) -> GoldenAccelerator:
    """The bit-exact model of the chip holding the program; noise=False: noise_free(spec).

    Without the digital twin the chip holds the program's weights exactly. With it (spec [twin],
    contract.device_twin) the devices start erased and the host writes every non-zero weight through the
    WEIGHTS window in row-major order (sim.verify.benches.chip_program_bench), each a program-and-verify
    at PROG_CTRL's reset values: the golden chip replays those writes in that order, so its devices land
    where the emulated chip's do. `model`: GoldenAccelerator or a subclass with its constructor."""
    spec = spec if noise else noise_free(spec)
    weights = program.weights.astype(np.int64)
    scale, offset = program.scale.astype(np.int64), program.offset.astype(np.int64)
    if not twin_active(spec):
        return model(spec, weights, scale, offset)
    chip = model(spec, np.zeros_like(weights), scale, offset)
    replay_writes(chip, weights)
    return chip


def replay_writes(chip: GoldenAccelerator, weights: np.ndarray) -> list:
    """The host's weight writes on a golden chip with the twin: every non-zero code, row-major, each a
    program-and-verify at PROG_CTRL's reset values; returns their VerifyResults (ok False = reported failed)."""
    return [chip.program_verify(int(r), int(c), int(weights[r, c])) for r, c in np.argwhere(weights != 0)]


def expected_prog_failures(program: ChipProgram, spec: DesignSpec) -> int:
    """How many weights program-and-verify reports failed when the host writes the program: 0 without the
    twin (exact devices), else the golden chip's count from the same writes."""
    if not twin_active(spec):
        return 0
    chip = GoldenAccelerator(spec, np.zeros_like(program.weights, dtype=np.int64),
                             program.scale.astype(np.int64), program.offset.astype(np.int64))
    return sum(not result.ok for result in replay_writes(chip, program.weights.astype(np.int64)))


def run_golden(program: ChipProgram, spec: DesignSpec, x, *, noise: bool = True,
               chip: GoldenAccelerator | None = None) -> ChipRun:
    """The program on the golden model (a given `chip` carries its noise state on)."""
    chip = chip or golden_chip(program, spec, noise=noise)
    return execute(program, x, chip.run_layers)


@dataclass(frozen=True)
class MvmBatch:
    """The MVMs one descriptor of one segment runs over the batch: its layer, inputs and descriptor."""
    layer: int                      # index into program.layers
    inputs: np.ndarray              # (n, logical_rows) input codes
    descriptor: tuple[int, int]     # (start, count) logical columns of the layer descriptor


def mvm_schedule(program: ChipProgram, spec: DesignSpec, x) -> list[MvmBatch]:
    """Every MVM the chip runs for inputs x, in order, from the noise-free golden model: per segment and
    descriptor the batch of inputs the sequencer feeds it."""
    chip = golden_chip(program, spec, noise=False)
    segments = iter(program.segments)
    seen: list[MvmBatch] = []

    def run_segment(rows: np.ndarray, descriptors) -> np.ndarray:
        seg = next(segments)
        calls = iter(seg.layers)                    # the sequencer runs the descriptors in order, once each

        def mvm(v, descriptor):
            seen.append(MvmBatch(next(calls), v, descriptor))
            return chip.run(v, descriptor).outputs
        return sequencer(mvm, spec.input.max_magnitude)(rows, descriptors)

    execute(program, x, run_segment)
    return seen


def mvm_inputs(program: ChipProgram, spec: DesignSpec, x) -> np.ndarray:
    """Every MVM input (n, logical_rows) the chip sees for inputs x, from the noise-free golden model."""
    return np.concatenate([batch.inputs for batch in mvm_schedule(program, spec, x)])


def run_physics(program: ChipProgram, spec: DesignSpec, x, *, seed: int = 0, t_s: float = 1.0,
                compensation: bool = True, calib_x=None) -> ChipRun:
    """The program on one physical chip (Monte-Carlo draw `seed`) read at t_s; compensation calibrated on
    calib_x (default: x)."""
    chip = PhysicsChip(spec, program.weights, program.scale, program.offset, seed=seed, t_s=t_s)
    if compensation:
        chip.calibrate(mvm_inputs(program, spec, x if calib_x is None else calib_x))
    return execute(program, x, sequencer(chip.mvm, spec.input.max_magnitude))


def cycles_per_inference(program: ChipProgram, spec: DesignSpec, x=None,
                         schedule: list[MvmBatch] | None = None) -> dict:
    """The model's cycles per inference, per layer and in total: the serial command bound (CYCLES_COUNT), or,
    with a [sparsity] option on and inputs x given, the cycles of the MVMs' conversion plans (CYCLES_COUNTED);
    `schedule`: mvm_schedule(program, spec, x) when the caller has it already."""
    dense = serial_schedule_commands(spec)
    if x is None or not spec.sparsity.any:
        per_layer = [layer_latency_cycles(spec, layer.positions) for layer in program.layers]
        return {"cycles": int(sum(per_layer)), "per_layer": per_layer, "per_mvm": dense, "counts": CYCLES_COUNT}
    counted, mvms = np.zeros(len(program.layers)), 0
    for batch in mvm_schedule(program, spec, x) if schedule is None else schedule:
        counted[batch.layer] += grid_mvm_cycles(batch.inputs, spec, batch.descriptor).sum()
        mvms += len(batch.inputs)
    per_layer = [math.ceil(c / len(x)) + POSTPROC_LATENCY_CYCLES for c in counted]
    return {"cycles": int(sum(per_layer)), "per_layer": per_layer, "per_mvm": round(counted.sum() / mvms, 1),
            "per_mvm_dense": dense, "counts": CYCLES_COUNTED}
