"""Accuracy vs sparsity vs tiles vs energy of the digits MLP under tile-aligned structured pruning.

    .venv/bin/python benchmarks/pruning.py [--presets default,tile64] [--fractions 0,0.1,...] [--chips 10]
                                           [--out build/bench_pruning]

Per preset and pruning share F (sim.eval.pruning: whole hidden neurons and first-layer row tiles, chosen by
their effect on the output under the preset's device noise, one shot, no retraining): the layers, tiles of
the per-layer mapping (sim.eval.mapping), share of weights removed, NeuroBench connection sparsity and
effective / dense MACs per inference (sim.eval.neurobench, from the golden model's run with emulated read
noise), float and golden accuracy, the physics model's accuracy at 1 day with global drift compensation over
--chips chips (Student t 95 % interval), its change against F = 0 paired on the same chip seeds and test
samples (another tile shape keeps each chip's seed, not every device draw), and the estimated energy per
inference (sim.eval.estimates). A second table per preset compares the criterion with two baselines on the
same units and shares: "magnitude" (smallest squared weights per removed weight; physics accuracy on the same
chips, paired difference against the criterion) and "random" (--random-draws seeded shuffles; float accuracy
mean [min, max]). Writes pruning.png (accuracy, tiles and energy against the removed share) to --out.
Timed: the whole script, mapping and all chips included.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import GoldenBackend, measure_chips
from aimcgen.sim.eval.estimates import estimate
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network
from aimcgen.sim.eval.pruning import prune_network
from aimcgen.sim.eval.quantize import DeviceLevels

DAY = 86400.0


def point(net, spec, fraction: float, chips: int, dev, dense_before: int, ranking: str = "damage") -> dict:
    r = prune_network(net, spec, fraction, dev=dev, ranking=ranking)
    x, y, calib = checked_test_set(r.network)
    mapping = map_network(r.network, spec, calib)
    trace = GoldenBackend(mapping, noise=True).run_codes(x)
    golden_correct = np.argmax(mapping.layers[-1].dequantize(trace[-1].codes), axis=1) == y
    metrics = nb.metrics(nb.mapping_runs(mapping, trace), [l.spec for l in mapping.layers], golden_correct,
                         removed_connections=r.weights_removed,
                         pruned_dense=dense_before - sum(nb.dense_macs(l) for l in r.network.layers), source="golden")
    correct = measure_chips(mapping, x, y, calib, chips, t_s=DAY, compensation=True)["correct"]
    inputs = [t.inputs for t in GoldenBackend(mapping, noise=False).run_codes(x)]
    energy = estimate(mapping, inputs)["energy_per_inference_j"]["total"]
    return {"fraction": fraction, "removed": r.sparsity, "layers": r.network.describe(), "tiles": mapping.tiles,
            "neurobench": metrics, "float": float(np.mean(r.network.predict(x) == y)),
            "golden": float(golden_correct.mean()), "correct": correct, "physics": st.accuracy_stat(correct),
            "energy_nj": 1e9 * energy}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for preset, points in results.items():
        share = [100 * p["removed"] for p in points]
        acc = [100 * p["physics"]["mean"] for p in points]
        err = np.array([[100 * (p["physics"]["mean"] - p["physics"]["ci95"][0]) for p in points],
                        [100 * (p["physics"]["ci95"][1] - p["physics"]["mean"]) for p in points]])
        axes[0].errorbar(share, acc, yerr=err, marker="o", capsize=3, label=preset)
        axes[1].plot(share, [p["tiles"] for p in points], marker="o", label=preset)
        axes[2].errorbar([p["energy_nj"] for p in points], acc, yerr=err, marker="o", capsize=3, label=preset)
    axes[0].set(xlabel="weights removed (%)", ylabel="physics accuracy at 1 day (%), 95 % interval")
    axes[1].set(xlabel="weights removed (%)", ylabel="tiles of the mapping")
    axes[2].set(xlabel="energy per inference (nJ)", ylabel="physics accuracy at 1 day (%), 95 % interval")
    axes[2].set_xscale("log")
    for ax in axes:
        ax.legend(fontsize=8)
    fig.suptitle("digits MLP: tile-aligned structured pruning")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--presets", default="default,tile64")
    ap.add_argument("--fractions", default="0,0.1,0.2,0.3,0.4,0.5,0.6,0.7")
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--random-draws", type=int, default=10)
    ap.add_argument("--out", type=Path, default=Path("build/bench_pruning"))
    args = ap.parse_args()
    start = time.monotonic()
    net = load_network(default_model_path())
    dense_before = sum(nb.dense_macs(l) for l in net.layers)
    fractions = [float(f) for f in args.fractions.split(",")]
    print(f"digits MLP {net.describe()}, {len(net.meta['y_test'])} test samples; {args.chips} chips (seeds "
          f"0..{args.chips - 1}) per point, physics model at 1 day, global drift compensation on; one-shot "
          f"pruning, no retraining; accuracy % mean [95 % interval]; accuracy: {st.T_METHOD}; change vs F = 0: "
          f"{st.CROSSED_METHOD}\n")
    results = {}
    for preset in args.presets.split(","):
        spec = load_preset(preset)
        dev = DeviceLevels.measure(spec.device, spec.tile.conductance_levels)
        print(f"{preset}: {spec.tile.rows}x{spec.tile.cols} tiles, {spec.tile.weight_bits}-bit weights, "
              f"{spec.input.bits}-bit {spec.input.encoding} inputs\n")
        print("| F | removed | layers | tiles | connection sparsity | effective / dense MACs | float | golden | "
              "physics 1 d | change vs F = 0 (points) | energy (nJ) |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        points = []
        for f in fractions:
            p = point(net, spec, f, args.chips, dev, dense_before)
            change = st.paired_accuracy_stat(p["correct"], points[0]["correct"]) if points else None
            s = p["neurobench"]["synaptic_operations"]
            print(f"| {f:g} | {100 * p['removed']:.1f} % | {p['layers']} | {p['tiles']} | "
                  f"{p['neurobench']['connection_sparsity']:.3f} | {s['effective_macs']:.0f} / {s['dense']:.0f} | "
                  f"{100 * p['float']:.2f} | {100 * p['golden']:.2f} | {st.describe(p['physics'])} | "
                  + ("-" if change is None else st.describe(change) + ("" if change["significant"] else " (n.s.)"))
                  + f" | {p['energy_nj']:.4g} |", flush=True)
            points.append(p)
        results[preset] = points
        print(f"\n{preset}: the criterion against baselines (same units, same shares)\n")
        print("| F | criterion: float / physics 1 d | magnitude: float / physics 1 d | criterion - magnitude (points, "
              f"paired) | random ({args.random_draws} draws): float mean [min, max] |")
        print("|---|---|---|---|---|")
        for p in points[1:]:
            m = point(net, spec, p["fraction"], args.chips, dev, dense_before, ranking="magnitude")
            rand = []
            for seed in range(args.random_draws):
                r = prune_network(net, spec, p["fraction"], dev=dev, ranking="random", seed=seed)
                rx, ry, _ = checked_test_set(r.network)
                rand.append(100 * float(np.mean(r.network.predict(rx) == ry)))
            d = st.paired_accuracy_stat(p["correct"], m["correct"])
            print(f"| {p['fraction']:g} | {100 * p['float']:.2f} / {st.describe(p['physics'])} | {100 * m['float']:.2f} / "
                  f"{st.describe(m['physics'])} | {st.describe(d)}{'' if d['significant'] else ' (n.s.)'} | "
                  f"{np.mean(rand):.2f} [{min(rand):.2f}, {max(rand):.2f}] |", flush=True)
        print()
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "pruning.png")
    print(f"wrote {args.out / 'pruning.png'}; {time.monotonic() - start:.1f} s in all (2-core machine, shared)")


if __name__ == "__main__":
    main()
