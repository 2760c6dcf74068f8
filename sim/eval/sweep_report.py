"""A sweep's results as files: sweep.json (everything, per-seed values included), sweep.csv (one row per
point and drift time, for spreadsheets and pandas), sweep.md (a table) and sweep.png (a plot)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.report import _pct, _time
from aimcgen.sim.eval.statistics import describe


def _lohi(stat: dict | None) -> list:
    ci = None if stat is None else stat.get("ci95")
    return ["", ""] if ci is None else ci


def write_sweep(result: dict, out_dir: Path, *, plot: bool = True) -> list[Path]:
    out_dir = Path(out_dir)
    paths = [out_dir / "sweep.json", out_dir / "sweep.csv", out_dir / "sweep.md"]
    paths[0].write_text(json.dumps(result, indent=2) + "\n")
    with paths[1].open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*result["fields"], "t_s", "seeds", "mean", "std", "min", "max", "ci95_lo", "ci95_hi",
                    "change_vs_first_point", "change_vs_first_point_lo", "change_vs_first_point_hi",
                    "change_vs_first_time", "change_vs_first_time_lo", "change_vs_first_time_hi"])
        for point in result["points"]:
            for a in point["accuracy"]:
                dp, dt = a.get("change_vs_first_point"), a.get("change_vs_first_time")
                w.writerow([*point["overrides"].values(), a["t_s"], result["seeds"], a["mean"], a["std"],
                            a["min"], a["max"], *_lohi(a), "" if dp is None else dp["mean"], *_lohi(dp),
                            "" if dt is None else dt["mean"], *_lohi(dt)])
    paths[2].write_text(markdown(result))
    if plot:
        paths.append(out_dir / "sweep.png")
        write_plot(result, paths[-1])
    return paths


def _diff(stat: dict) -> str:
    return describe(stat) + ("" if stat.get("significant") else " (n.s.)")


def markdown(r: dict) -> str:
    times = r["times_s"]
    head = "| " + " | ".join([*(r["fields"] or ["spec"]), *(f"t = {_time(t)}" for t in times)]) + " |"
    rule = "|" + "---|" * (max(len(r["fields"]), 1) + len(times))
    stats = r.get("statistics", {})
    lines = [f"# Sweep of {r['design']}: {r['network']} ({r['layers']})", "",
             f"Physics-model test accuracy (%) on {r['test_samples']} samples, mean [95 % interval] over "
             f"{r['seeds']} Monte-Carlo chip{'s' * (r['seeds'] != 1)}, the same chips at every point and time; "
             f"global drift compensation {'on' if r['compensation'] else 'off'}. Float reference: "
             f"{_pct(r['float_accuracy'])} %.", "",
             f"Intervals: accuracies {stats.get('accuracy', 'Student t over chips')}; differences "
             f"{stats.get('differences', 'paired on the same chips')}. (n.s.): the interval contains 0.", "",
             head, rule]
    for point in r["points"]:
        keys = [str(v) for v in point["overrides"].values()] or [r["design"]]
        lines.append("| " + " | ".join(keys + [describe(a) for a in point["accuracy"]]) + " |")
    first = r["points"][0] if r["points"] else None
    if first is not None and len(r["points"]) > 1 and "change_vs_first_point" in first["accuracy"][0]:
        label = ", ".join(f"{k}={v}" for k, v in first["overrides"].items()) or "the first point"
        lines += ["", f"Change vs {label} (percentage points, paired on the same chips):", "", head, rule]
        for point in r["points"][1:]:
            keys = [str(v) for v in point["overrides"].values()] or [r["design"]]
            lines.append("| " + " | ".join(keys + [_diff(a["change_vs_first_point"]) for a in point["accuracy"]])
                         + " |")
    if first is not None and len(times) > 1 and "change_vs_first_time" in first["accuracy"][0]:
        lines += ["", f"Change since t = {_time(times[0])} (percentage points, paired on the same chips):", "",
                  "| " + " | ".join([*(r["fields"] or ["spec"]), *(f"t = {_time(t)}" for t in times[1:])]) + " |",
                  "|" + "---|" * (max(len(r["fields"]), 1) + len(times) - 1)]
        for point in r["points"]:
            keys = [str(v) for v in point["overrides"].values()] or [r["design"]]
            lines.append("| " + " | ".join(keys + [_diff(a["change_vs_first_time"]) for a in point["accuracy"][1:]])
                         + " |")
    lines += ["", f"{r['tasks']} tasks on {r['cluster']} in {r['wall_s']:.1f} s."]
    return "\n".join(lines) + "\n"


def _series(r: dict) -> tuple[str, list, dict[str, list[tuple[float, float]]]]:
    """x-axis name, x tick labels, and per series label the (mean, lower, upper error) at each x (the 95 %
    interval; 0 without one): the first swept field
    on x with one series per combination of the others and drift time; drift time on x without fields."""
    if not r["fields"]:
        return "time since programming (s)", r["times_s"], {
            r["design"]: [_bar(a) for a in r["points"][0]["accuracy"]]}
    first = r["fields"][0]
    xs = list(dict.fromkeys(p["overrides"][first] for p in r["points"]))
    series: dict[str, list] = {}
    for p in r["points"]:
        rest = ", ".join(f"{k}={v}" for k, v in p["overrides"].items() if k != first)
        for i, a in enumerate(p["accuracy"]):
            label = ", ".join(s for s in (rest, f"t = {_time(r['times_s'][i])}") if s)
            series.setdefault(label, [None] * len(xs))[xs.index(p["overrides"][first])] = _bar(a)
    return first, xs, series


def _bar(a: dict) -> tuple[float, float, float]:
    ci = a.get("ci95")
    return (a["mean"], 0.0, 0.0) if ci is None else (a["mean"], a["mean"] - ci[0], ci[1] - a["mean"])


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
        err = np.array([[100 * m[1] for m in ms], [100 * m[2] for m in ms]])
        ax.errorbar(pos, mean, yerr=err, marker="o", capsize=3, label=label)
    ax.axhline(100 * r["float_accuracy"], color="k", ls="--", lw=1, label="float")
    if not r["fields"]:
        ax.set_xscale("log")
    else:
        ax.set_xticks(pos, [str(v) for v in xs])
    ax.set_xlabel(xname)
    ax.set_ylabel("test accuracy (%), 95 % interval")
    ax.set_title(f"{r['design']}: {r['network']}, the same {r['seeds']} chips at every point")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
