"""A sweep's results as files: sweep.json (everything, per-seed values included), sweep.csv (one row per
point and drift time, for spreadsheets and pandas), sweep.md (a table) and sweep.png (a plot)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.report import _pct, _time


def write_sweep(result: dict, out_dir: Path, *, plot: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [out_dir / "sweep.json", out_dir / "sweep.csv", out_dir / "sweep.md"]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    with paths[1].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*result["fields"], "t_s", "seeds", "mean", "std", "min", "max"])
        for point in result["points"]:
            for a in point["accuracy"]:
                w.writerow([*point["overrides"].values(), a["t_s"], result["seeds"], a["mean"], a["std"],
                            a["min"], a["max"]])
    paths[2].write_text(markdown(result))
    if plot:
        paths.append(out_dir / "sweep.png")
        write_plot(result, paths[-1])
    return paths


def markdown(r: dict) -> str:
    times = r["times_s"]
    lines = [f"# Sweep of {r['design']}: {r['network']} ({r['layers']})", "",
             f"Physics-model test accuracy (%) on {r['test_samples']} samples, mean +- std (min) over "
             f"{r['seeds']} Monte-Carlo chip{'s' * (r['seeds'] != 1)}; global drift compensation "
             f"{'on' if r['compensation'] else 'off'}. Float reference: {_pct(r['float_accuracy'])} %.", "",
             "| " + " | ".join([*(r["fields"] or ["spec"]), *(f"t = {_time(t)}" for t in times)]) + " |",
             "|" + "---|" * (max(len(r["fields"]), 1) + len(times))]
    for point in r["points"]:
        keys = [str(v) for v in point["overrides"].values()] or [r["design"]]
        cells = [f"{_pct(a['mean'])} +- {_pct(a['std'])} ({_pct(a['min'])})" for a in point["accuracy"]]
        lines.append("| " + " | ".join(keys + cells) + " |")
    lines += ["", f"{r['tasks']} tasks on {r['cluster']} in {r['wall_s']:.1f} s."]
    return "\n".join(lines) + "\n"


def _series(r: dict) -> tuple[str, list, dict[str, list[tuple[float, float]]]]:
    """x-axis name, x tick labels, and per series label the (mean, std) at each x: the first swept field
    on x with one series per combination of the others and drift time; drift time on x without fields."""
    if not r["fields"]:
        return "time since programming (s)", r["times_s"], {
            r["design"]: [(a["mean"], a["std"]) for a in r["points"][0]["accuracy"]]}
    first = r["fields"][0]
    xs = list(dict.fromkeys(p["overrides"][first] for p in r["points"]))
    series: dict[str, list] = {}
    for p in r["points"]:
        rest = ", ".join(f"{k}={v}" for k, v in p["overrides"].items() if k != first)
        for i, a in enumerate(p["accuracy"]):
            label = ", ".join(s for s in (rest, f"t = {_time(r['times_s'][i])}") if s)
            series.setdefault(label, [None] * len(xs))[xs.index(p["overrides"][first])] = (a["mean"], a["std"])
    return first, xs, series


def write_plot(r: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    xname, xs, series = _series(r)
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    pos = xs if numeric else list(range(len(xs)))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, ms in series.items():
        mean = np.array([100 * m[0] for m in ms])
        std = np.array([100 * m[1] for m in ms])
        ax.errorbar(pos, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.axhline(100 * r["float_accuracy"], color="k", ls="--", lw=1, label="float")
    if not r["fields"]:
        ax.set_xscale("log")
    else:
        ax.set_xticks(pos, [str(v) for v in xs])
    ax.set_xlabel(xname)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{r['design']}: {r['network']}, {r['seeds']} chips per point")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
