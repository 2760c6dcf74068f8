"""What a deployed chip computed, layer by layer: the NeuroBench metrics of `aimcgen deploy`'s report.

The chip program runs on the golden model exactly as sim.deploy.run.run_golden runs it (one chip, noise
generators advancing across segments as the hardware's do), through an accelerator that records every MVM:
its input codes and output codes. Within a segment, GoldenAccelerator.run_layers takes one input vector
through all of the segment's descriptors before the next vector, so MVM c of a segment belongs to
descriptor (and layer) c mod len(descriptors). Each layer's inputs are the program's rows row_range, its
weights the program's block (row_range x col_range), its outputs the columns col_range after the host's relu
where the layer has one; sim.eval.neurobench turns them into the metrics (footprint over the chip's whole
grid: the one chip holds the program).
"""

from __future__ import annotations

import numpy as np

from aimcgen.contract.chip_program import ChipProgram
from aimcgen.sim.deploy.run import ChipRun, execute, golden_chip
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval.network import Network
from aimcgen.sim.models.golden import AcceleratorResult, GoldenAccelerator
from aimcgen.spec import DesignSpec


class RecordingAccelerator(GoldenAccelerator):
    """The golden accelerator, keeping (input codes, output codes) of every MVM it runs."""

    def __init__(self, spec: DesignSpec, weights, scale=None, offset=None):
        super().__init__(spec, weights, scale, offset)
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []

    def run(self, x: np.ndarray, *args, **kwargs) -> AcceleratorResult:
        result = super().run(x, *args, **kwargs)
        self.calls.append((np.asarray(x, dtype=np.int64), result.outputs))
        return result


def recorded_run(program: ChipProgram, spec: DesignSpec, x) -> tuple[ChipRun, list[list], list[list]]:
    """(the run, per layer its MVM input blocks, per layer its output blocks) of the program on x."""
    chip = golden_chip(program, spec, model=RecordingAccelerator)     # with the twin: the host's writes replayed
    inputs: list[list] = [[] for _ in program.layers]
    outputs: list[list] = [[] for _ in program.layers]
    segments = iter(program.segments)

    def run_segment(rows: np.ndarray, descriptors) -> np.ndarray:
        seg = next(segments)
        first = len(chip.calls)
        out = chip.run_layers(rows, descriptors)
        for c, (v, y) in enumerate(chip.calls[first:]):
            layer = program.layers[seg.layers[c % len(descriptors)]]
            inputs[layer.index].append(v[:, layer.row_range[0]:layer.row_range[1]])
            outputs[layer.index].append(y[:, layer.col_range[0]:layer.col_range[1]])
        return out

    return execute(program, x, run_segment), inputs, outputs


def neurobench_of_program(program: ChipProgram, spec: DesignSpec, net: Network, x, y) -> tuple[ChipRun, dict]:
    """The golden run of the program on the test inputs x and report.json's `neurobench` object."""
    run, inputs, outputs = recorded_run(program, spec, x)
    runs = []
    for layer, ins, outs, net_layer in zip(program.layers, inputs, outputs, net.layers):
        out = np.concatenate(outs)
        if layer.host_relu:
            out = np.maximum(out, 0)
        (r0, r1), (c0, c1) = layer.row_range, layer.col_range
        runs.append(nb.LayerRun(layer.index, layer.activation, program.weights[r0:r1, c0:c1].astype(np.int64),
                                np.concatenate(ins), nb.output_zero(out, layer.y_scale, layer.y_zero),
                                nb.dense_macs(net_layer)))
    return run, nb.metrics(runs, [spec], run.predictions == np.asarray(y),
                           source="the golden model of the chip (bit-exact to the RTL, emulated read noise), "
                                  "the program as deployed")
