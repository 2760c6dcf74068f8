"""The accuracy/energy table of the evaluation: the network as given and, with --prune, its pruned version.

One row per network: tiles of its mapping, share of the unpruned network's weights removed, NeuroBench's
connection sparsity and synaptic operations, float / golden accuracy (Wilson over test samples), the physics
model's accuracy at 1 day with global drift compensation on the evaluation's chips (t interval over chips),
its change against the unpruned network paired on the same chips and test samples (sim.eval.statistics;
another tile shape keeps each chip's seed, not every device draw) and the energy per inference
(sim.eval.estimates). `plot` draws accuracy against energy with the 95 % intervals as error bars.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aimcgen.sim.eval import statistics as st


def row(label: str, mapping, estimates: dict, neurobench: dict, accuracy: dict, *, removed_share: float = 0.0,
        change_vs_unpruned: dict | None = None) -> dict:
    """accuracy: {"float", "golden", "physics"} interval dicts (sim.eval.statistics)."""
    return {"network": label, "layers": mapping.network.describe(), "tiles": mapping.tiles,
            "weights_removed_share": removed_share,
            "connection_sparsity": neurobench["connection_sparsity"],
            "effective_macs": neurobench["synaptic_operations"]["effective_macs"],
            "dense_macs": neurobench["synaptic_operations"]["dense"],
            "accuracy_float": accuracy["float"], "accuracy_golden": accuracy["golden"],
            "accuracy_physics_1d": accuracy["physics"], "change_vs_unpruned": change_vs_unpruned,
            "energy_per_inference_j": estimates["energy_per_inference_j"]["total"],
            "latency_cycles": estimates["latency"]["cycles"]}


def markdown_lines(rows: list[dict]) -> list[str]:
    lines = ["## Accuracy and energy", "",
             "Physics model at 1 day, global drift compensation on, on the same chips for every row; change in "
             "percentage points against the unpruned network, paired on chips and test samples. Energy per "
             "inference from the estimates below.", "",
             "| network | layers | tiles | weights removed | connection sparsity | effective / dense MACs | float (%) "
             "| golden (%) | physics 1 d (%) | change (points) | energy (nJ) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        change = r["change_vs_unpruned"]
        lines.append(
            f"| {r['network']} | {r['layers']} | {r['tiles']} | {100 * r['weights_removed_share']:.1f} % | "
            f"{r['connection_sparsity']:.3f} | {r['effective_macs']:.0f} / {r['dense_macs']:.0f} | "
            f"{st.describe(r['accuracy_float'], 100.0, 2)} | {st.describe(r['accuracy_golden'], 100.0, 2)} | "
            f"{st.describe(r['accuracy_physics_1d'], 100.0, 2)} | "
            + ("-" if change is None else st.describe(change, 100.0, 2) + ("" if change.get("significant") else " (n.s.)"))
            + f" | {1e9 * r['energy_per_inference_j']:.4g} |")
    return lines + [""]


def plot(rows: list[dict], path: Path, title: str) -> Path:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in rows:
        s = r["accuracy_physics_1d"]
        lo, hi = (s["ci95"] if s.get("ci95") else (s["mean"], s["mean"]))
        e = 1e9 * r["energy_per_inference_j"]
        ax.errorbar([e], [100 * s["mean"]], yerr=np.array([[100 * (s["mean"] - lo)], [100 * (hi - s["mean"])]]),
                    marker="o", capsize=3, label=f"{r['network']}: {r['tiles']} tiles, "
                                                f"{100 * r['weights_removed_share']:.0f} % weights removed")
    ax.set_xlabel("energy per inference (nJ)")
    ax.set_ylabel("physics accuracy at 1 day (%), 95 % interval")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
