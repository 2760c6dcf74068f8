"""Tile-aligned structured pruning: remove whole crossbar columns and row blocks so a network needs fewer tiles.

A crossbar tile only saves area and energy when it is empty as a whole, so pruning removes structures that
map onto tiles, never single weights:

- a column unit is hidden neuron j of dense layer i (followed by a dense layer): column j of layer i's
  matrix (its whole height, every row tile) and row j of layer i+1's matrix go; the last layer's columns
  (the network's outputs) are never pruned;
- a row-block unit is block k of the first layer's inputs, rows [k R, min((k+1) R, in)) with R = tile.rows,
  i.e. exactly one row tile of that layer (only when the first layer is dense and spans > 1 row tile); the
  host stops sending those input features.

The pruned network is smaller (`PruneResult.network`), so sim.eval.mapping places it on ceil(in / R) x
ceil(out / C) tiles per layer: every R kept inputs or C kept neurons less frees a row or column of tiles.

Criterion (one shot, on the unpruned network and its calibration inputs X_i of layer i, float activations):
each unit's effect on the output of the layer that receives it, under device noise, relative to that
layer's output power P_i = sum_k mean_n((X_i W_i)[n, k]^2):

    row block B of layer 0:  loss  = sum_k var_n((X_0[:, B] W_0[B, :])[n, k])
                             noise = sum_{r in B} mean_n(X_0[n, r]^2) sum_k v_0[r, k]
                             damage = (loss - noise) / P_0
    neuron j of layer i:     g     = sum_k W_{i+1}[j, k]^2,  a = layer i's output j (after activation)
                             loss  = var_n(a) g
                             noise = mean_n(a > 0) sum_r mean_n(X_i[n, r]^2) v_i[r, j] g    (relu gate; 1
                                     without activation)  +  mean_n(a^2) sum_k v_{i+1}[j, k]
                             damage = (loss - noise) / P_{i+1}

var_n is the population variance over calibration inputs (the unit's mean contribution is not lost: it is
folded into the receiving layer's bias, b_0 += mean_n(X_0[:, B]) W_0[B, :], b_{i+1} += mean_n(a) W_{i+1}[j, :]).
v_i[r, k] = w_scale_i[k]^2 var_code[|code_i[r, k]|] is the read variance of weight (r, k) as the devices
deliver it one day after programming under global drift compensation (sim.eval.quantize: quantize_layer's
codes and scales, DeviceLevels.measure of the spec's device): a unit whose devices add more noise than
signal has a negative damage. Units are taken in ascending order of damage per removed weight, each layer
keeping at least one neuron and the first layer at least one row block, until the removed weights reach the
share F of the network's weights (sum over layers of in x out; a convolution's kernel matrix counted once).
Convolutional layers are not pruned; the neurons of a dense layer followed by a convolution neither.

Baselines for comparison (`ranking`, benchmarks/pruning.py): "magnitude" orders the same units by the sum of
their squared float weights per removed weight (no data, no device noise), "random" by a seeded shuffle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from aimcgen.sim.eval.network import DenseLayer, Network, NetworkError, checked_test_set
from aimcgen.sim.eval.quantize import DeviceLevels, quantize_layer
from aimcgen.spec import DesignSpec

CRITERION = ("one shot on the calibration inputs: damage = (output variance the unit contributes to the layer "
             "that receives it - read-noise variance its devices add at 1 day, compensated) / that layer's "
             "output power; ascending damage per removed weight, the unit's mean folded into the bias")


class PruneError(ValueError):
    """A pruning share outside [0, 1) or a network that cannot be pruned so far; the message says why."""


@dataclass(frozen=True)
class PruningUnit:
    kind: str                       # "column" (hidden neuron) | "row_block" (a row tile of layer 0's inputs)
    layer: int                      # the layer whose output (column) or input block (row_block) it is
    index: int                      # neuron index, or block index k (rows k*R .. (k+1)*R-1)
    weights: int                    # weights of the unpruned network it removes (alone)
    damage: float                   # the criterion (module docstring)

    def report(self) -> dict:
        return {"kind": self.kind, "layer": self.layer, "index": self.index, "weights": self.weights,
                "damage": self.damage}


@dataclass
class PruneResult:
    fraction: float                 # the share asked for
    network: Network                # the smaller network, its test set restricted to the kept inputs
    removed: list[PruningUnit]
    kept_inputs: np.ndarray         # indices of the original input features the host still sends
    kept_neurons: list[np.ndarray]  # per layer, indices of its original outputs that remain
    weights_total: int              # weights of the unpruned network
    weights_kept: int
    notes: list[str] = field(default_factory=list)

    @property
    def weights_removed(self) -> int:
        return self.weights_total - self.weights_kept

    @property
    def sparsity(self) -> float:
        """Share of the unpruned network's weights removed."""
        return self.weights_removed / self.weights_total

    def report(self) -> dict:
        return {"fraction": self.fraction, "criterion": CRITERION, "weights_total": self.weights_total,
                "weights_kept": self.weights_kept, "weights_removed": self.weights_removed,
                "sparsity": round(self.sparsity, 6), "layers": self.network.describe(),
                "inputs_kept": len(self.kept_inputs),
                "row_blocks_removed": sum(u.kind == "row_block" for u in self.removed),
                "columns_removed": sum(u.kind == "column" for u in self.removed),
                "removed": [u.report() for u in self.removed], "notes": self.notes}


def check_fraction(fraction) -> float:
    """F as a float in [0, 1), or PruneError naming --prune and the allowed range."""
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise PruneError(f"--prune {fraction!r}: expected a number in [0, 1) (the share of weights to remove)") \
            from None
    if not (math.isfinite(f) and 0.0 <= f < 1.0):
        raise PruneError(f"--prune = {fraction}: must be in [0, 1) (the share of weights to remove, e.g. 0.3)")
    return f


def _weights(net: Network) -> int:
    return sum(int(l.weight.shape[0] * l.weight.shape[1]) for l in net.layers)


def _power(x: np.ndarray, w: np.ndarray) -> float:
    p = float(np.sum(np.mean((x @ w) ** 2, axis=0))) if len(x) else 0.0
    return p if p > 0 else 1.0


def _read_variance(w: np.ndarray, x: np.ndarray, spec: DesignSpec, dev: DeviceLevels) -> np.ndarray:
    """(in, out) variance in weight units of each weight as the spec's devices read it (module docstring)."""
    scale, codes, _ = quantize_layer(w, spec.tile.conductance_levels, x, dev)
    return scale[None, :] ** 2 * dev.var[np.abs(codes)]


def candidate_units(net: Network, spec: DesignSpec, calib_x: np.ndarray,
                    dev: DeviceLevels | None = None) -> list[PruningUnit]:
    """Every prunable unit with its damage (module docstring), in network order."""
    calib_x = np.asarray(calib_x, dtype=np.float64).reshape(len(calib_x), -1)
    dev = dev or DeviceLevels.measure(spec.device, spec.tile.conductance_levels)
    acts = net.forward(calib_x, all_layers=True)
    inputs = [calib_x] + acts[:-1]
    dense = [isinstance(l, DenseLayer) for l in net.layers]
    var = {i: _read_variance(l.weight, inputs[i], spec, dev) for i, l in enumerate(net.layers) if dense[i]}
    units = []
    first = net.layers[0]
    rows = spec.tile.rows
    if dense[0] and first.in_features > rows:
        x, w = inputs[0], first.weight
        m2 = np.mean(x ** 2, axis=0)
        p = _power(x, w)
        for k in range(math.ceil(first.in_features / rows)):
            b = slice(k * rows, min((k + 1) * rows, first.in_features))
            loss = float(np.sum(np.var(x[:, b] @ w[b], axis=0)))
            noise = float(np.sum(m2[b] @ var[0][b]))
            units.append(PruningUnit("row_block", 0, k, int((b.stop - b.start) * w.shape[1]), (loss - noise) / p))
    for i in range(len(net.layers) - 1):
        if not (dense[i] and dense[i + 1]):
            continue
        layer, nxt = net.layers[i], net.layers[i + 1]
        m2 = np.mean(inputs[i] ** 2, axis=0)
        p = _power(inputs[i + 1], nxt.weight)
        a = acts[i]
        gate = np.mean(a > 0, axis=0) if layer.activation == "relu" else np.ones(a.shape[1])
        g = np.sum(nxt.weight ** 2, axis=1)
        into = m2 @ var[i]                                          # (out,) noise into each neuron
        onward = np.sum(var[i + 1], axis=1)                         # (out,) noise of its row in layer i+1
        loss = np.var(a, axis=0) * g
        noise = gate * into * g + np.mean(a ** 2, axis=0) * onward
        for j in range(layer.out_features):
            units.append(PruningUnit("column", i, j, int(layer.in_features + nxt.out_features),
                                     float((loss[j] - noise[j]) / p)))
    return units


def _kept(net: Network, removed: list[PruningUnit], rows: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """(kept input features, kept outputs per layer) once `removed` is gone."""
    blocks = {u.index for u in removed if u.kind == "row_block"}
    inputs = np.array([r for r in range(net.in_features) if r // rows not in blocks], dtype=np.int64)
    gone = {(u.layer, u.index) for u in removed if u.kind == "column"}
    neurons = [np.array([j for j in range(l.out_features) if (i, j) not in gone], dtype=np.int64)
               for i, l in enumerate(net.layers)]
    return inputs, neurons


def _count(net: Network, inputs: np.ndarray, neurons: list[np.ndarray]) -> int:
    """Weights of the network with those inputs and outputs kept (conv layers keep their kernel matrix)."""
    total, prev = 0, inputs
    for i, l in enumerate(net.layers):
        rows = len(prev) if isinstance(l, DenseLayer) else l.weight.shape[0]
        total += rows * len(neurons[i])
        prev = neurons[i]
    return total


RANKINGS = ("damage", "magnitude", "random")


def _order(net: Network, units: list[PruningUnit], ranking: str, seed: int, rows: int) -> list[PruningUnit]:
    if ranking == "damage":
        return sorted(units, key=lambda u: (u.damage / u.weights, u.kind, u.layer, u.index))
    if ranking == "random":
        return [units[i] for i in np.random.default_rng(seed).permutation(len(units))]
    if ranking != "magnitude":
        raise ValueError(f"ranking = {ranking!r}: one of {', '.join(RANKINGS)}")

    def energy(u: PruningUnit) -> float:
        if u.kind == "row_block":
            return float(np.sum(net.layers[0].weight[u.index * rows:(u.index + 1) * rows] ** 2))
        return float(np.sum(net.layers[u.layer].weight[:, u.index] ** 2)
                     + np.sum(net.layers[u.layer + 1].weight[u.index] ** 2))
    return sorted(units, key=lambda u: (energy(u) / u.weights, u.kind, u.layer, u.index))


def select_units(net: Network, units: list[PruningUnit], fraction: float, rows: int, ranking: str = "damage",
                 seed: int = 0) -> list[PruningUnit]:
    """Units in `ranking` order (default: ascending damage per weight) until the removed share of weights
    reaches `fraction`."""
    total = _weights(net)
    removed: list[PruningUnit] = []
    blocks = sum(u.kind == "row_block" for u in units)
    left = {i: l.out_features for i, l in enumerate(net.layers)}
    for u in _order(net, units, ranking, seed, rows):
        inputs, neurons = _kept(net, removed, rows)
        if total - _count(net, inputs, neurons) >= fraction * total:
            break
        if u.kind == "row_block":
            if sum(v.kind == "row_block" for v in removed) + 1 >= blocks:
                continue
        elif left[u.layer] <= 1:
            continue
        else:
            left[u.layer] -= 1
        removed.append(u)
    return removed


def prune_network(net: Network, spec: DesignSpec, fraction, calib_x=None, dev: DeviceLevels | None = None, *,
                  ranking: str = "damage", seed: int = 0) -> PruneResult:
    """The network with a share `fraction` of its weights removed in tile-aligned units (module docstring).
    calib_x: the float calibration inputs (default: the network's, sim.eval.network.checked_test_set);
    ranking: "damage" (the criterion), or a baseline "magnitude" / "random" (seed)."""
    fraction = check_fraction(fraction)
    x_test, y_test, calib = checked_test_set(net)
    x_test = x_test.reshape(len(x_test), -1)            # (n, in_features), as the first layer takes them
    calib = np.asarray(calib if calib_x is None else calib_x, dtype=np.float64).reshape(-1, net.in_features)
    total = _weights(net)
    units = candidate_units(net, spec, calib, dev) if fraction > 0 else []
    removed = select_units(net, units, fraction, spec.tile.rows, ranking, seed)
    inputs, neurons = _kept(net, removed, spec.tile.rows)
    notes = []
    if fraction > 0 and not units:
        notes.append("nothing to prune: no dense hidden layer and a first layer of one row tile")
    kept = _count(net, inputs, neurons)
    if fraction > 0 and total - kept < fraction * total:
        notes.append(f"only {100 * (total - kept) / total:.1f} % of the weights can go in whole units "
                     f"(each layer keeps a neuron, the first layer a row block)")
    pruned = _rebuild(net, calib, removed, inputs, neurons)
    meta = {k: v for k, v in net.meta.items() if k not in ("x_test", "x_calib", "float_test_accuracy")}
    meta.update(x_test=x_test[:, inputs], y_test=y_test, x_calib=calib[:, inputs],
                pruned_from=net.name, pruned_fraction=fraction, kept_inputs=inputs)
    network = Network(pruned, name=f"{net.name}_pruned", meta=meta)
    return PruneResult(fraction, network, removed, inputs, neurons, total, kept, notes)


def _rebuild(net: Network, calib: np.ndarray, removed: list[PruningUnit], inputs: np.ndarray,
             neurons: list[np.ndarray]) -> list:
    """The layers with removed rows and columns cut out, their mean contributions folded into the biases."""
    acts = net.forward(calib, all_layers=True)
    biases = [l.bias.copy() for l in net.layers]
    for u in (u for u in removed if u.kind == "column"):
        biases[u.layer + 1] = biases[u.layer + 1] + np.mean(acts[u.layer][:, u.index]) * \
            net.layers[u.layer + 1].weight[u.index]
    if len(inputs) < net.in_features:
        gone = np.setdiff1d(np.arange(net.in_features), inputs)
        biases[0] = biases[0] + np.mean(calib[:, gone], axis=0) @ net.layers[0].weight[gone]
    layers, prev = [], inputs
    for i, l in enumerate(net.layers):
        cols = neurons[i]
        if isinstance(l, DenseLayer):
            layers.append(DenseLayer(l.weight[np.ix_(prev, cols)], biases[i][cols], l.activation))
        else:
            if len(cols) != l.out_features:
                raise NetworkError(f"layer {i}: a convolution's outputs cannot be pruned")
            layers.append(l)
        prev = cols
    return layers
