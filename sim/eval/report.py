"""The evaluation report of a network on a design: report.json, report.md and PNG plots.

evaluate(spec, network, out_dir, seeds) runs: the mapping report; float / golden (bit-exact, emulated
noise) / physics accuracies; accuracy vs drift time (1 s .. 10 years) with and without global drift
compensation; accuracy vs ADC bits (at 1 day, compensated); noise attribution (at 1 day, compensated);
latency, area and energy estimates (the digital periphery's area from an ASIC report when given).
With rtl_check = N, the first N test inputs also run through the generated Verilog layer by layer
(sim.eval.rtl_check) against the golden model. Progress goes to `progress` (a callable taking one line).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.backends import (FloatBackend, GoldenBackend, PhysicsBackend, accuracy, attribution)
from aimcgen.sim.eval.estimates import estimate, load_asic_report
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set
from aimcgen.spec import DesignSpec

DAY, YEAR = 86400.0, 365.25 * 86400.0
DRIFT_TIMES = [1.0, 60.0, 3600.0, DAY, 7 * DAY, 30 * DAY, YEAR, 10 * YEAR]
ADC_BITS = [4, 5, 6, 7, 8, 10]


def _dataset(network):
    """x_test, y_test, x_calib, checked (NetworkError naming the array) before anything is written."""
    return checked_test_set(network)


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std()), "min": float(v.min()), "max": float(v.max())}


def spec_with_adc_bits(spec: DesignSpec, bits: int) -> DesignSpec:
    """The spec with another ADC resolution at the same analog full scale (raised if too small), the
    accumulator widened if needed; flash capped at 8 bits."""
    kind = spec.adc.kind if not (spec.adc.kind == "flash" and bits > 8) else "sar"
    fs = max(spec.adc.full_scale, 1 << (bits - 1))
    acc = max(spec.accumulator.bits, bits + spec.input.steps - 1)
    return spec.replace(adc={"bits": bits, "full_scale": fs, "kind": kind}, accumulator={"bits": acc})


def evaluate(spec: DesignSpec, network, out_dir: Path, *, seeds: int = 5, progress=print,
             plots: bool = True, adc_bits=ADC_BITS, drift_times=DRIFT_TIMES, attribution_seeds=None,
             rtl_check: int = 0, simulator: str = "verilator", asic_report=None) -> dict:
    out_dir = Path(out_dir)
    x, y, calib = _dataset(network)
    asic = load_asic_report(asic_report, spec.name) if asic_report is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    mapping = map_network(network, spec, calib)
    report = {"design": spec.name, "network": {"name": network.name, "layers": network.describe(),
                                               "test_samples": int(len(y))},
              "seeds": seeds, "mapping": mapping.report(), "placement": PLACEMENT_NOTE}
    progress(f"[1/6] mapped {network.describe()} onto {mapping.tiles} tiles of {spec.tile.rows}x{spec.tile.cols}")
    float_acc = accuracy(FloatBackend(network), x, y)
    golden = GoldenBackend(mapping, noise=True)
    golden_ideal = GoldenBackend(mapping, noise=False)
    report["accuracy"] = {"float": float_acc, "golden_emulated_noise": accuracy(golden, x, y),
                          "golden_noise_free": accuracy(golden_ideal, x, y)}
    progress(f"[2/6] float {100 * float_acc:.2f} %, golden {100 * report['accuracy']['golden_emulated_noise']:.2f} %")
    if rtl_check:
        from aimcgen.sim.eval.rtl_check import check_network_on_rtl

        report["rtl_check"] = check_network_on_rtl(mapping, x[:rtl_check], simulator=simulator,
                                                   build_dir=out_dir / "rtl_check", progress=progress)

    def physics(m, t, comp):
        return [accuracy(PhysicsBackend(m, t_s=t, compensation=comp, seed=s, calib_x=calib), x, y)
                for s in range(seeds)]

    drift = []
    for i, t in enumerate(drift_times):
        drift.append({"t_s": t, "compensated": _stats(physics(mapping, t, True)),
                      "uncompensated": _stats(physics(mapping, t, False))})
        progress(f"[3/6] drift {i + 1}/{len(drift_times)}: t = {t:.3g} s, "
                 f"{100 * drift[-1]['compensated']['mean']:.2f} % compensated, "
                 f"{100 * drift[-1]['uncompensated']['mean']:.2f} % without")
    report["accuracy_vs_drift"] = drift
    bits_rows = []
    for b in adc_bits:
        m = map_network(network, spec_with_adc_bits(spec, b), calib)
        bits_rows.append({"adc_bits": b, "accuracy": _stats(physics(m, DAY, True))})
        progress(f"[4/6] ADC {b} bits: {100 * bits_rows[-1]['accuracy']['mean']:.2f} %")
    report["accuracy_vs_adc_bits"] = bits_rows
    progress("[5/6] noise attribution (each source alone and left out)")
    report["attribution"] = attribution(mapping, x, y, calib, t_s=DAY, compensation=True,
                                        seeds=attribution_seeds or max(1, min(seeds, 3)))
    layer_inputs = [t.inputs for t in golden_ideal.run_codes(x)]
    report["estimates"] = estimate(mapping, layer_inputs, asic_report=asic)
    progress("[6/6] estimates; writing report")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    if plots:
        write_plots(report, out_dir)
    return report


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def _time(t: float) -> str:
    for unit, s in (("y", YEAR), ("d", DAY), ("h", 3600.0), ("min", 60.0)):
        if t >= s:
            return f"{t / s:.3g} {unit}"
    return f"{t:.3g} s"


# What every figure of this report describes: not the chip the spec specifies (that is `aimcgen deploy`).
PLACEMENT_NOTE = ("per layer: each layer on a tile grid of its own (a copy of the spec with its own noise seed), "
                  "not the deployed placement on the spec's grid; for the chip itself run `aimcgen deploy`")


def markdown(r: dict) -> str:
    a, m, e = r["accuracy"], r["mapping"], r["estimates"]
    lines = [f"# Evaluation of {r['network']['name']} ({r['network']['layers']}) on {r['design']}", "",
             f"{r['network']['test_samples']} test samples; physics model over {r['seeds']} seeds (chips).", "",
             f"Placement: {r.get('placement', PLACEMENT_NOTE)}", "",
             "## Mapping", "",
             f"{m['tiles_used']} tiles of {m['tile'][0]}x{m['tile'][1]} (spec grid: {m['tiles_in_spec_grid']}, "
             f"{'fits' if m['fits_spec_grid'] else 'does not fit: layers need more tiles or reprogramming'}); "
             f"utilization {100 * m['utilization']:.1f} %.", "",
             "| layer | shape | tiles (rows x cols) | utilization | in/w/ADC/out bits | scale codes | notes |",
             "|---|---|---|---|---|---|---|"]
    for l in m["layers"]:
        mvms = l.get("mvms_per_input", 1)
        lines.append(f"| {l['layer']} | {l['shape'][0]}x{l['shape'][1]}{f' ({mvms} MVMs)' if mvms > 1 else ''} "
                     f"{l['activation']} | {l['tiles']} "
                     f"({l['tile_grid'][0]}x{l['tile_grid'][1]}) | {100 * l['utilization']:.1f} % | "
                     f"{l['input_bits']}/{l['weight_bits']}/{l['adc_bits']}/{l['output_bits']} | "
                     f"{l['scale_code_range'][0]}..{l['scale_code_range'][1]} | {'; '.join(l['notes'])} |")
    lines += ["", "## Accuracy (%)", "", "| back end | accuracy |", "|---|---|",
              f"| float reference | {_pct(a['float'])} |",
              f"| golden (bit-exact RTL model, noise-free) | {_pct(a['golden_noise_free'])} |",
              f"| golden (emulated read noise) | {_pct(a['golden_emulated_noise'])} |", "",
              *_rtl_check_lines(r.get("rtl_check")),
              "### Physics model vs time since programming", "",
              "| t | compensated mean +- std (min) | uncompensated mean +- std (min) |", "|---|---|---|"]
    for d in r["accuracy_vs_drift"]:
        c, u = d["compensated"], d["uncompensated"]
        lines.append(f"| {_time(d['t_s'])} | {_pct(c['mean'])} +- {_pct(c['std'])} ({_pct(c['min'])}) | "
                     f"{_pct(u['mean'])} +- {_pct(u['std'])} ({_pct(u['min'])}) |")
    lines += ["", "### Physics model vs ADC bits (1 day, compensated)", "", "| ADC bits | accuracy |", "|---|---|"]
    for b in r["accuracy_vs_adc_bits"]:
        lines.append(f"| {b['adc_bits']} | {_pct(b['accuracy']['mean'])} +- {_pct(b['accuracy']['std'])} |")
    at = r["attribution"]
    lines += ["", f"### Noise attribution (t = {_time(at['t_s'])}, compensation "
                  f"{'on' if at['compensation'] else 'off'}, {at['seeds']} seeds)", "",
              f"All sources off (quantized network, ideal ADC): {_pct(at['quantized_ideal_accuracy'])} %; all on: "
              f"{_pct(at['all_sources_accuracy'])} %. Accuracy in percentage points; layer errors are relative RMS "
              f"errors of each layer's output against the float reference.", "",
              "| source | drop alone | gain when left out | layer error added alone | layer error removed when left out |",
              "|---|---|---|---|---|"]
    for s in at["sources"]:
        lines.append(f"| {s['source']} | {_pct(s['alone_accuracy_drop'])} | {_pct(s['leave_one_out_accuracy_gain'])} | "
                     f"{', '.join(f'{v:.4f}' for v in s['alone_layer_error_added'])} | "
                     f"{', '.join(f'{v:.4f}' for v in s['leave_one_out_layer_error_removed'])} |")
    en = e["energy_per_inference_j"]
    ar = e["area_mm2"]
    lines += ["", "## Latency, area, energy (first-order estimates)", "",
              f"- latency: {e['latency']['cycles']} cycles = {1e6 * e['latency']['seconds']:.3g} us at "
              f"{e['clock_mhz']} MHz",
              f"- area: analog arrays {ar['analog_array']:.4g} mm2, ADCs {ar['adcs']:.4g} mm2, digital periphery "
              + (f"{ar['digital_periphery']:.4g} mm2 from {ar.get('digital_periphery_source')}"
                 if ar["digital_periphery"] is not None else
                 "not included (model only; give the ASIC flow's report: --asic-report)"),
              f"- energy per inference: {1e9 * en['total']:.4g} nJ (array {1e12 * en['array']:.4g} pJ, DAC "
              f"{1e12 * en['dac']:.4g} pJ, ADC {1e12 * en['adc']:.4g} pJ, digital {1e12 * en['digital']:.4g} pJ)",
              f"- {e['tops_per_w']:.3g} TOPS/W on the mapped operations ({e['ops_per_inference']} ops per inference)",
              "", "Constants and sources:", ""]
    lines += [f"- {k}: {v}" for k, v in e["citations"].items()]
    return "\n".join(lines) + "\n"


def _rtl_check_lines(c: dict | None) -> list[str]:
    if c is None:
        return []
    codes = sum(l["codes_compared"] for l in c["layers"])
    if c["passed"]:
        return [f"RTL cross-check: {c['inputs']} test input(s) through the generated Verilog ({c['simulator']}), "
                f"layer by layer: all {codes} output codes of {len(c['layers'])} layer(s) equal the golden model "
                f"({'with' if c['golden_noise'] else 'without'} emulated read noise).", ""]
    return [f"RTL cross-check FAILED ({c['simulator']}, {c['inputs']} input(s)): {c['mismatch_count']} output "
            f"code(s) differ from the golden model; {c['layers_not_run']} layer(s) not run. First: "
            + "; ".join(c["mismatches"][:3]) + ".", ""]


def write_plots(r: dict, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    fl = 100 * r["accuracy"]["float"]
    fig, ax = plt.subplots(figsize=(6, 4))
    t = [d["t_s"] for d in r["accuracy_vs_drift"]]
    for key, label in (("compensated", "global drift compensation"), ("uncompensated", "no compensation")):
        mean = np.array([100 * d[key]["mean"] for d in r["accuracy_vs_drift"]])
        std = np.array([100 * d[key]["std"] for d in r["accuracy_vs_drift"]])
        ax.errorbar(t, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.axhline(fl, color="k", ls="--", lw=1, label="float")
    ax.set_xscale("log")
    ax.set_xlabel("time since programming (s)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{r['design']}: accuracy vs drift")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "accuracy_vs_drift.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    bits = [b["adc_bits"] for b in r["accuracy_vs_adc_bits"]]
    ax.errorbar(bits, [100 * b["accuracy"]["mean"] for b in r["accuracy_vs_adc_bits"]],
                yerr=[100 * b["accuracy"]["std"] for b in r["accuracy_vs_adc_bits"]], marker="o", capsize=3)
    ax.axhline(fl, color="k", ls="--", lw=1, label="float")
    ax.set_xlabel("ADC bits")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{r['design']}: accuracy vs ADC resolution (1 day, compensated)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "accuracy_vs_adc_bits.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    at = r["attribution"]["sources"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.arange(len(at))
    ax.bar(xs - 0.2, [100 * s["alone_accuracy_drop"] for s in at], 0.4, label="accuracy drop, source alone")
    ax.bar(xs + 0.2, [100 * s["leave_one_out_accuracy_gain"] for s in at], 0.4,
           label="accuracy gain, source left out")
    ax.set_xticks(xs, [s["source"] for s in at], rotation=20)
    ax.set_ylabel("percentage points")
    ax.set_title(f"{r['design']}: noise attribution (1 day)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "attribution.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths
