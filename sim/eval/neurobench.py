"""NeuroBench's metrics of a network as the hardware model ran it: footprint, sparsities, synaptic operations.

The definitions follow NeuroBench (Yik et al., "The NeuroBench framework for benchmarking neuromorphic
computing algorithms and systems", Nature Communications 16, 1545 (2025); the `neurobench` package's
static and workload metrics), counted here from integers the bit-exact golden model actually used on the
test set, not from float tensors:

- footprint_bytes: the memory the network occupies on the hardware, zero weights included (NeuroBench:
  parameters + buffers, at their real precision). Per tile grid G the network uses (evaluate: each layer's
  own grid; deploy: the chip's grid), in bits:
      devices      = tiles(G) * tile.rows * tile.cols * 2 * (tile.weight_bits - 1)
                     (every crosspoint is a differential pair of (weight_bits-1)-bit conductance codes)
      coefficients = logical_cols(G) * (postproc.scale_bits + postproc.offset_bits)
                     (the per-column affine post-processor: the network's scales and biases)
      input_buffer = 2 * logical_rows(G) * input.bits       (rtl.input_buffer: double-buffered vector)
      accumulators = 2 * tiles(G) * tile.cols * (accumulator.bits + 1)
                     (rtl.accumulator: accumulators and result bank, each value with its overflow flag)
  footprint_bytes = ceil(sum of the bits over every grid / 8). The emulated tile's noise generators are
  not counted: they stand in for the analog read noise of a real macro.
- connection_sparsity: zero weight codes / all weight codes of the network's crossbar matrices as
  programmed (in x out per layer, a convolution's kernel matrix once; tile padding excluded). A weight
  that quantizes to code 0 is a zero connection. Connections removed by structured pruning
  (sim.eval.pruning) count as zeros of the unpruned network: (zeros + removed) / (all + removed).
- activation_sparsity: per layer, the share of its outputs on the test set that are exactly 0 in real
  units (code * y_scale + y_zero == 0, after the host's relu if it applies one), over every sample and
  (convolution) output position. Overall, as NeuroBench's hooks on activation modules see it: zeros summed
  over the layers that have an activation function (relu) / their outputs summed; None when none has one.
- synaptic_operations, per test sample (NeuroBench's mean over samples of a batch):
      effective_macs = sum over layers and MVMs of #{(r, k): x_code[r] != 0 and w_code[r, k] != 0}
                       (the MVM's input codes as driven, zero padding of a convolution included as zeros)
      dense          = sum over layers of #{(r, k)} every MVM would touch with all inputs and weights
                       nonzero: in x out for a dense layer; for a convolution the kernel taps that fall
                       inside the (unpadded) input, times the filters, summed over positions (NeuroBench runs
                       the layer on an all-ones input with an all-ones kernel). Structurally pruned
                       connections add to dense (the unpruned network's count), not to effective_macs.
  Biases are not synaptic operations (as in NeuroBench). All activations here are multi-bit, so every
  effective operation is a MAC (NeuroBench's Effective_ACs, for binary spikes, is 0).
- accuracy: the top-1 accuracy of that same run (the golden model with its emulated read noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from aimcgen.spec import DesignSpec

REFERENCE = ("NeuroBench (Yik et al., Nature Communications 16, 1545 (2025)); neurobench package metrics "
             "Footprint, ConnectionSparsity, ActivationSparsity(ByLayer), SynapticOperations")


@dataclass(frozen=True)
class LayerRun:
    """What one layer did on the test set, as the hardware model computed it."""
    index: int
    activation: str                 # the layer's activation function ("relu" | "none")
    weight_codes: np.ndarray        # (rows, cols) the layer's conductance codes (G+ - G-), padding excluded
    mvm_inputs: np.ndarray          # (mvms, rows) the input codes of every MVM the layer ran
    output_zero: np.ndarray         # (samples, out_features) bool: the output is 0 in real units
    dense_macs: int                 # per sample (module docstring)


def dense_macs(layer) -> int:
    """NeuroBench's dense synaptic operations of one sample through `layer` (a sim.eval.layers layer): its
    im2col patches of an all-ones input (zero padding stays 0) against an all-ones kernel matrix."""
    ones = layer.patches(np.ones((1, layer.in_features)))
    return int(np.count_nonzero(ones)) * int(layer.weight.shape[1])


def effective_macs(mvm_inputs: np.ndarray, weight_codes: np.ndarray) -> int:
    """Over all MVMs: pairs (row, column) with a nonzero input code and a nonzero weight code."""
    driven = np.count_nonzero(np.asarray(mvm_inputs), axis=0).astype(np.int64)        # (rows,)
    fanout = np.count_nonzero(np.asarray(weight_codes), axis=1).astype(np.int64)      # (rows,)
    return int(driven @ fanout)


def footprint_bits(spec: DesignSpec) -> dict[str, int]:
    """Bits of one tile grid (spec.array) by component (module docstring)."""
    t = spec.tile
    return {"devices": spec.tiles * t.rows * t.cols * 2 * (t.weight_bits - 1),
            "coefficients": spec.logical_cols * (spec.postproc.scale_bits + spec.postproc.offset_bits),
            "input_buffer": 2 * spec.logical_rows * spec.input.bits,
            "accumulators": 2 * spec.tiles * t.cols * (spec.accumulator.bits + 1)}


def footprint(grids: list[DesignSpec]) -> dict:
    bits = {k: sum(footprint_bits(g)[k] for g in grids) for k in footprint_bits(grids[0])}
    total = sum(bits.values())
    return {"bytes": math.ceil(total / 8), "bits": {**bits, "total": total},
            "tiles": sum(g.tiles for g in grids)}


def connection_sparsity(weight_codes: list[np.ndarray], removed: int = 0) -> float:
    zeros = sum(int(w.size - np.count_nonzero(w)) for w in weight_codes) + int(removed)
    total = sum(int(w.size) for w in weight_codes) + int(removed)
    return zeros / total


def activation_sparsity(layers: list[LayerRun]) -> dict:
    per_layer = [{"layer": l.index, "activation": l.activation, "zeros": int(l.output_zero.sum()),
                  "outputs": int(l.output_zero.size),
                  "sparsity": float(l.output_zero.mean()) if l.output_zero.size else 0.0} for l in layers]
    counted = [p for p in per_layer if p["activation"] != "none"]
    outputs = sum(p["outputs"] for p in counted)
    return {"overall": sum(p["zeros"] for p in counted) / outputs if outputs else None,
            "overall_counts": "layers with an activation function (relu)", "per_layer": per_layer}


def synaptic_operations(layers: list[LayerRun], samples: int, pruned_dense: int = 0) -> dict:
    eff = [effective_macs(l.mvm_inputs, l.weight_codes) / samples for l in layers]
    return {"effective_macs": float(sum(eff)), "dense": float(sum(l.dense_macs for l in layers) + pruned_dense),
            "effective_acs": 0.0,
            "per_layer": [{"layer": l.index, "effective_macs": e, "dense": l.dense_macs} for l, e in zip(layers, eff)]}


def metrics(layers: list[LayerRun], grids: list[DesignSpec], correct: np.ndarray, *, removed_connections: int = 0,
            pruned_dense: int = 0, source: str) -> dict:
    """report.json's `neurobench` object. correct: (samples,) booleans of the run the counts come from;
    removed_connections / pruned_dense: weights and dense MACs per sample structured pruning took away."""
    correct = np.asarray(correct, dtype=bool)
    fp = footprint(grids)
    return {"footprint_bytes": fp["bytes"], "footprint": fp,
            "connection_sparsity": connection_sparsity([l.weight_codes for l in layers], removed_connections),
            "activation_sparsity": activation_sparsity(layers),
            "synaptic_operations": synaptic_operations(layers, len(correct), pruned_dense),
            "accuracy": float(correct.mean()), "samples": len(correct), "source": source,
            "reference": REFERENCE}


def output_zero(codes: np.ndarray, y_scale: float, y_zero: float) -> np.ndarray:
    """Which output codes are 0 in real units (code * y_scale + y_zero == 0)."""
    return np.asarray(codes, dtype=np.float64) * y_scale + y_zero == 0


def mapping_runs(mapping, trace) -> list[LayerRun]:
    """LayerRuns of a sim.eval mapping from a mapped back end's run_codes trace (sim.eval.backends)."""
    runs = []
    for layer, t in zip(mapping.layers, trace):
        net_layer = mapping.network.layers[layer.index]
        rows = net_layer.weight.shape[0]
        runs.append(LayerRun(layer.index, layer.activation, layer.weight_codes[:rows, :layer.out_features],
                             t.inputs[:, :rows], output_zero(t.codes, layer.y_scale, layer.y_zero),
                             dense_macs(net_layer)))
    return runs


def markdown_lines(nb: dict, title: str = "## NeuroBench metrics") -> list[str]:
    """The `neurobench` object as report.md shows it."""
    a, s, fp = nb["activation_sparsity"], nb["synaptic_operations"], nb["footprint"]
    overall = "-" if a["overall"] is None else f"{a['overall']:.4f}"
    bits = ", ".join(f"{k} {v}" for k, v in fp["bits"].items() if k != "total")
    return [title, "",
            f"Counted from {nb['source']} on {nb['samples']} test samples (definitions: sim/eval/neurobench.py; "
            f"{nb['reference']}).", "",
            "| metric | value |", "|---|---|",
            f"| footprint | {nb['footprint_bytes']} bytes ({fp['tiles']} tiles; bits: {bits}) |",
            f"| connection sparsity | {nb['connection_sparsity']:.4f} |",
            f"| activation sparsity | {overall} (per layer: "
            + ", ".join(f"{p['layer']}: {p['sparsity']:.4f}" for p in a["per_layer"]) + ") |",
            f"| synaptic operations per sample | effective MACs {s['effective_macs']:.1f}, dense {s['dense']:.0f} |",
            f"| accuracy | {100 * nb['accuracy']:.2f} % |", ""]
