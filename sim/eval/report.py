"""The evaluation report of a network on a design: report.json, report.md and PNG plots.

evaluate(spec, network, out_dir, seeds) runs: the mapping report; float / golden (bit-exact, emulated
noise) / physics accuracies; accuracy vs drift time (1 s .. 10 years) with and without global drift
compensation; accuracy vs ADC bits (at 1 day, compensated); noise attribution (at 1 day, compensated);
latency, area and energy estimates (the digital periphery's area from an ASIC report when given).
With rtl_check = N, the first N test inputs also run through the generated Verilog layer by layer
(sim.eval.rtl_check) against the golden model. Progress goes to `progress` (a callable taking one line).

report.json's `neurobench` object (sim.eval.neurobench defines every figure) is counted from the golden
model's run with emulated read noise on the test set, the run its `golden_emulated_noise` accuracy comes
from. With prune = F, the network is also pruned in tile-aligned units (sim.eval.pruning) and evaluated on
the same chips: `pruning` (what was removed), `pruned` (its mapping, estimates, neurobench object) and a
second row of `accuracy_energy` (sim.eval.accuracy_energy: table in report.md, accuracy_vs_energy.png).

Statistics (sim.eval.statistics): every physics-model figure is measured on the same chips 0..n-1 (common
random numbers: chip s has the same programming, drift and read-noise draws in every configuration), and
carries a 95 % interval: accuracies a Student t interval over chips, differences between configurations
(compensation gain, change with drift time or ADC bits, attribution) an interval paired on the same chips
and test samples. seeds = "auto" (default) picks n: chips in batches until the t interval of the headline
accuracy (1 day, compensated) is within +- ci_target, or max_chips, or the time budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from aimcgen.sim.eval import accuracy_energy
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import (SOURCES, FloatBackend, GoldenBackend, Sources, attribution,
                                       measure_chips)
from aimcgen.sim.eval.estimates import estimate, load_asic_report
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set
from aimcgen.sim.eval.pruning import check_fraction, prune_network
from aimcgen.spec import DesignSpec
from aimcgen.sim.eval.rtl_check import check_network_on_rtl

DAY, YEAR = 86400.0, 365.25 * 86400.0
DRIFT_TIMES = [1.0, 60.0, 3600.0, DAY, 7 * DAY, 30 * DAY, YEAR, 10 * YEAR]
ADC_BITS = [4, 5, 6, 7, 8, 10]
CI_TARGET = 0.003               # +- 0.3 percentage points on the headline accuracy
MAX_CHIPS = 100
CHIP_BATCH = 10
TIME_BUDGET_S = 40.0            # projected physics-model time of the whole evaluation


def _dataset(network):
    """x_test, y_test, x_calib, checked (NetworkError naming the array) before anything is written."""
    return checked_test_set(network)


def _stats(values) -> dict:
    """Mean with its Student t 95 % interval over chips, std (ddof 1), min and max."""
    return st.mean_ci(values)


def spec_with_adc_bits(spec: DesignSpec, bits: int) -> DesignSpec:
    """The spec with another ADC resolution at the same analog full scale (raised if too small), the
    accumulator widened if needed; flash capped at 8 bits."""
    kind = spec.adc.kind if not (spec.adc.kind == "flash" and bits > 8) else "sar"
    fs = max(spec.adc.full_scale, 1 << (bits - 1))
    acc = max(spec.accumulator.bits, bits + spec.input.steps - 1)
    return spec.replace(adc={"bits": bits, "full_scale": fs, "kind": kind}, accumulator={"bits": acc})


class _Chips:
    """measure_chips results per configuration on chips 0..n-1, cached (the same configuration is asked
    for by several figures: 1 day compensated is a drift point and attribution's all-sources one)."""

    def __init__(self, x, y, calib):
        self.x, self.y, self.calib = x, np.asarray(y), calib
        self.cache: dict = {}
        self.refs: dict = {}

    def ref(self, mapping):
        if id(mapping) not in self.refs:
            self.refs[id(mapping)] = FloatBackend(mapping.network).run(self.x)
        return self.refs[id(mapping)]

    def get(self, mapping, chips: int, t: float, comp: bool, sources: Sources = Sources()) -> dict:
        key = (id(mapping), float(t), bool(comp), sources)
        have = self.cache.get(key)
        n = 0 if have is None else len(have["correct"])
        if n < chips:
            more = measure_chips(mapping, self.x, self.y, self.calib, range(n, chips), t_s=t, compensation=comp,
                                 sources=sources, ref=self.ref(mapping))
            have = more if have is None else {k: np.concatenate([have[k], more[k]]) for k in have}
            self.cache[key] = have
        return {k: v[:chips] for k, v in have.items()}

    def correct(self, mapping, chips, t, comp, sources=Sources()) -> np.ndarray:
        return self.get(mapping, chips, t, comp, sources)["correct"]


def evaluate(spec: DesignSpec, network, out_dir: Path, *, seeds: int | str = "auto", progress=print,
             plots: bool = True, adc_bits=ADC_BITS, drift_times=DRIFT_TIMES, attribution_seeds=None,
             rtl_check: int = 0, simulator: str = "verilator", asic_report=None, ci_target: float = CI_TARGET,
             max_chips: int = MAX_CHIPS, time_budget_s: float | None = TIME_BUDGET_S,
             chip_batch: int = CHIP_BATCH, prune: float | None = None) -> dict:
    """seeds: a number of chips, or "auto" (chips until the headline accuracy's interval is within
    +- ci_target, at most max_chips and about time_budget_s of physics-model work). prune: a share of
    weights in [0, 1) to remove (sim.eval.pruning), evaluated beside the network as given."""
    out_dir = Path(out_dir)
    prune = None if prune is None else check_fraction(prune)
    x, y, calib = _dataset(network)
    y = np.asarray(y)
    asic = load_asic_report(asic_report, spec.name) if asic_report is not None else None
    out_dir.mkdir(parents=True, exist_ok=True)
    mapping = map_network(network, spec, calib)
    report = {"design": spec.name, "network": {"name": network.name, "layers": network.describe(),
                                               "test_samples": int(len(y))},
              "seeds": None, "mapping": mapping.report(), "placement": PLACEMENT_NOTE}
    progress(f"[1/7] mapped {network.describe()} onto {mapping.tiles} tiles of {spec.tile.rows}x{spec.tile.cols}")
    golden_ideal = GoldenBackend(mapping, noise=False)
    golden_run = _golden_run(mapping, x, y)
    report["accuracy"] = {
        "float": st.accuracy_stat(FloatBackend(network).predict(x) == y),
        "golden_emulated_noise": st.accuracy_stat(golden_run["correct"]),
        "golden_noise_free": st.accuracy_stat(golden_ideal.predict(x) == y)}
    report["neurobench"] = golden_run["neurobench"]
    progress(f"[2/7] float {st.describe(report['accuracy']['float'])} %, golden "
             f"{st.describe(report['accuracy']['golden_emulated_noise'])} % (Wilson, over test samples)")
    if rtl_check:
        report["rtl_check"] = check_network_on_rtl(mapping, x[:rtl_check], simulator=simulator,
                                                   build_dir=out_dir / "rtl_check", progress=progress)
    chips = _Chips(x, y, calib)
    bits_maps = [(b, map_network(network, spec_with_adc_bits(spec, b), calib)) for b in adc_bits]
    n_att_configs = 2 + 2 * len(SOURCES)
    configs = 2 * len(drift_times) + len(adc_bits) + n_att_configs + (prune is not None)
    if seeds == "auto":
        def headline(seed_range) -> np.ndarray:
            return chips.correct(mapping, seed_range.stop, DAY, True)[seed_range.start:].mean(axis=1)

        _, decision = st.chips_for_target(headline, target=ci_target, max_chips=max_chips, batch=chip_batch,
                                          time_budget_s=time_budget_s, cost_per_chip=configs)
        n = decision["chips"]
    else:
        n = int(seeds)
        if n < 1:
            raise ValueError(f"seeds = {seeds}: need >= 1 chip or 'auto'")
        decision = {"mode": "fixed", "chips": n, "reason": f"fixed count (--seeds {n})"}
    decision["headline"] = "physics-model accuracy at 1 day, global drift compensation on"
    head = st.accuracy_stat(chips.correct(mapping, n, DAY, True))
    decision["half_width"] = st.half_width(head)
    report["seeds"] = n
    report["chips"] = decision
    report["statistics"] = STATISTICS_NOTE
    progress(f"[3/7] {n} chips ({decision['reason']}); headline {st.describe(head)} %")

    def curve(m, t, comp):
        return st.accuracy_stat(chips.correct(m, n, t, comp))

    drift = []
    for i, t in enumerate(drift_times):
        c_on, c_off = chips.correct(mapping, n, t, True), chips.correct(mapping, n, t, False)
        first_on = chips.correct(mapping, n, drift_times[0], True)
        first_off = chips.correct(mapping, n, drift_times[0], False)
        drift.append({"t_s": t, "compensated": curve(mapping, t, True), "uncompensated": curve(mapping, t, False),
                      "compensation_gain": st.paired_accuracy_stat(c_on, c_off),
                      "compensated_change_vs_first": st.paired_accuracy_stat(c_on, first_on),
                      "uncompensated_change_vs_first": st.paired_accuracy_stat(c_off, first_off)})
        progress(f"[4/7] drift {i + 1}/{len(drift_times)}: t = {t:.3g} s, "
                 f"{st.describe(drift[-1]['compensated'])} % compensated, "
                 f"{st.describe(drift[-1]['uncompensated'])} % without")
    report["accuracy_vs_drift"] = drift
    bits_rows = []
    if bits_maps:
        best_bits, best_map = max(bits_maps, key=lambda bm: bm[0])
        best = chips.correct(best_map, n, DAY, True)
    for b, m in bits_maps:
        c = chips.correct(m, n, DAY, True)
        bits_rows.append({"adc_bits": b, "accuracy": curve(m, DAY, True),
                          "change_vs_max_bits": st.paired_accuracy_stat(c, best), "max_bits": best_bits})
        progress(f"[5/7] ADC {b} bits: {st.describe(bits_rows[-1]['accuracy'])} %")
    report["accuracy_vs_adc_bits"] = bits_rows
    progress("[6/7] noise attribution (each source alone and left out, on the same chips)")
    att_n = attribution_seeds or n
    att = attribution(mapping, x, y, calib, t_s=DAY, compensation=True, seeds=att_n,
                      measure=lambda src: chips.get(mapping, att_n, DAY, True, src))
    report["attribution"] = attribution_report(att)
    layer_inputs = [t.inputs for t in golden_ideal.run_codes(x)]
    report["estimates"] = estimate(mapping, layer_inputs, asic_report=asic)
    rows = [accuracy_energy.row("as given", mapping, report["estimates"], report["neurobench"],
                                {"float": report["accuracy"]["float"],
                                 "golden": report["accuracy"]["golden_emulated_noise"], "physics": head})]
    if prune is not None:
        pruned = _pruned(network, spec, prune, calib, n, chips.correct(mapping, n, DAY, True), asic)
        report["pruning"], report["pruned"] = pruned["pruning"], pruned["pruned"]
        rows.append(pruned["row"])
        progress(f"[7/7] pruned {100 * prune:.0f} %: {pruned['row']['tiles']} tiles (from {mapping.tiles}), physics "
                 f"{st.describe(pruned['row']['accuracy_physics_1d'])} %, change "
                 f"{st.describe(pruned['row']['change_vs_unpruned'])} points")
    report["accuracy_energy"] = rows
    progress("[7/7] estimates; writing report")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=_json_default) + "\n")
    (out_dir / "report.md").write_text(markdown(report))
    if plots:
        write_plots(report, out_dir)
    return report


def _golden_run(mapping, x, y, removed_connections: int = 0, pruned_dense: int = 0) -> dict:
    """One run of the golden model with emulated read noise (a fresh chip, as `golden_emulated_noise`):
    which test samples it got right and the NeuroBench metrics counted from its integers."""
    trace = GoldenBackend(mapping, noise=True).run_codes(x)
    correct = np.argmax(mapping.layers[-1].dequantize(trace[-1].codes), axis=1) == np.asarray(y)
    metrics = nb.metrics(nb.mapping_runs(mapping, trace), [l.spec for l in mapping.layers], correct,
                         removed_connections=removed_connections, pruned_dense=pruned_dense,
                         source="the golden model (bit-exact to the RTL, emulated read noise), each layer on "
                                "its own tile grid")
    return {"correct": correct, "neurobench": metrics}


def _pruned(network, spec: DesignSpec, fraction: float, calib, chips: int, unpruned_correct, asic) -> dict:
    """The pruned network on the same chips 0..chips-1 (1 day, compensated): its report parts and table row."""
    result = prune_network(network, spec, fraction, calib)
    net = result.network
    x, y, p_calib = checked_test_set(net)
    mapping = map_network(net, spec, p_calib)
    dense_before = sum(nb.dense_macs(l) for l in network.layers)
    run = _golden_run(mapping, x, y, removed_connections=result.weights_removed,
                      pruned_dense=dense_before - sum(nb.dense_macs(l) for l in net.layers))
    correct = _Chips(x, y, p_calib).correct(mapping, chips, DAY, True)
    inputs = [t.inputs for t in GoldenBackend(mapping, noise=False).run_codes(x)]
    est = estimate(mapping, inputs, asic_report=asic)
    accuracy = {"float": st.accuracy_stat(FloatBackend(net).predict(x) == y),
                "golden": st.accuracy_stat(run["correct"]), "physics": st.accuracy_stat(correct)}
    row = accuracy_energy.row(f"pruned {100 * fraction:.0f} %", mapping, est, run["neurobench"], accuracy,
                              removed_share=result.sparsity,
                              change_vs_unpruned=st.paired_accuracy_stat(correct, unpruned_correct))
    return {"pruning": result.report(), "row": row,
            "pruned": {"mapping": mapping.report(), "estimates": est, "neurobench": run["neurobench"],
                       "accuracy": accuracy}}


STATISTICS_NOTE = {
    "accuracy": st.T_METHOD + "; with one chip, or for the deterministic float / golden models: "
                + st.WILSON_METHOD,
    "differences": "every configuration on the same chips (common random numbers: chip s has the same "
                   "programming, drift and read-noise draws in every configuration); accuracy differences: "
                   + st.CROSSED_METHOD + " ('ci95'), and the paired t over chips on this test set "
                   "('ci95_chips'); layer-error differences: " + st.PAIRED_METHOD,
    "significance": "a difference is 'significant' when its ci95 excludes 0",
    "not_included": "the accuracy intervals over chips do not include the sampling of the test set; the "
                    "difference intervals do",
}


def attribution_report(att: dict) -> dict:
    """backends.attribution's dict with every figure replaced by its interval dict (mean, ci95, n, method,
    significant) as report.json carries it."""
    out = {k: v for k, v in att.items() if not k.endswith("_ci") and k != "sources"}
    for k, v in att.items():
        if k.endswith("_ci"):
            out[k[:-3]] = v
    out["sources"] = []
    for row in att["sources"]:
        r = {k: v for k, v in row.items() if not k.endswith("_ci")}
        for k, v in row.items():
            if k.endswith("_ci"):
                r[k[:-3]] = v
        out["sources"].append(r)
    return out


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


def _ci(stat: dict, digits: int = 2) -> str:
    """A percent figure with its interval: 'm [lo, hi]'."""
    return st.describe(stat, 100.0, digits)


def _diff(stat: dict) -> str:
    """A difference in percentage points with its interval, marked when the interval contains 0."""
    return _ci(stat) + ("" if stat.get("significant") else " (n.s.)")


def _chips_line(r: dict) -> str:
    c = r.get("chips") or {"mode": "fixed", "chips": r["seeds"], "reason": "fixed count"}
    hw = c.get("half_width")
    return (f"Physics model over {c['chips']} simulated chip{'s' * (c['chips'] != 1)} ({c['mode']}: {c['reason']}"
            + (f"; headline accuracy +- {100 * hw:.2f} points" if hw is not None and np.isfinite(hw) else "")
            + ").")


def markdown(r: dict) -> str:
    a, m, e = r["accuracy"], r["mapping"], r["estimates"]
    note = r.get("statistics", STATISTICS_NOTE)
    lines = [f"# Evaluation of {r['network']['name']} ({r['network']['layers']}) on {r['design']}", "",
             f"{r['network']['test_samples']} test samples. {_chips_line(r)}", "",
             f"Placement: {r.get('placement', PLACEMENT_NOTE)}", "",
             "Statistics: figures are `mean [95 % interval]`. Accuracies: " + note["accuracy"] + ". Differences: "
             + note["differences"] + ". `(n.s.)`: not significant, the interval contains 0. "
             + note["not_included"][0].upper() + note["not_included"][1:] + ".", "",
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
    lines += ["", "## Accuracy (%)", "", "| back end | accuracy [95 % interval, Wilson over test samples] |",
              "|---|---|",
              f"| float reference | {_ci(a['float'])} |",
              f"| golden (bit-exact RTL model, noise-free) | {_ci(a['golden_noise_free'])} |",
              f"| golden (emulated read noise) | {_ci(a['golden_emulated_noise'])} |", "",
              *_rtl_check_lines(r.get("rtl_check")),
              *(nb.markdown_lines(r["neurobench"]) if "neurobench" in r else []),
              *(accuracy_energy.markdown_lines(r["accuracy_energy"]) if "accuracy_energy" in r else []),
              *_pruning_lines(r.get("pruning")),
              "### Physics model vs time since programming", "",
              "Accuracy (%) over chips; compensation gain and change since the first time in percentage points, "
              "paired on the same chips.", "",
              "| t | compensated | uncompensated | compensation gain | compensated change vs "
              f"{_time(r['accuracy_vs_drift'][0]['t_s']) if r['accuracy_vs_drift'] else '-'} |",
              "|---|---|---|---|---|"]
    for d in r["accuracy_vs_drift"]:
        lines.append(f"| {_time(d['t_s'])} | {_ci(d['compensated'])} | {_ci(d['uncompensated'])} | "
                     f"{_diff(d['compensation_gain'])} | {_diff(d['compensated_change_vs_first'])} |")
    bits = r["accuracy_vs_adc_bits"]
    lines += ["", "### Physics model vs ADC bits (1 day, compensated)", "",
              "| ADC bits | accuracy (%) | change vs "
              f"{bits[0]['max_bits'] if bits else '-'} bits (points, paired) |", "|---|---|---|"]
    for b in bits:
        lines.append(f"| {b['adc_bits']} | {_ci(b['accuracy'])} | {_diff(b['change_vs_max_bits'])} |")
    at = r["attribution"]
    lines += ["", f"### Noise attribution (t = {_time(at['t_s'])}, compensation "
                  f"{'on' if at['compensation'] else 'off'}, {at['seeds']} chips, the same for every row)", "",
              f"All sources off (quantized network, ideal ADC): {_ci(at['quantized_ideal_accuracy'])} %; all on: "
              f"{_ci(at['all_sources_accuracy'])} %. Accuracy in percentage points; layer errors are relative RMS "
              f"errors of each layer's output against the float reference (paired t over chips). "
              f"(n.s.): the interval contains 0, the source's effect on accuracy is not resolved by "
              f"{at['seeds']} chips and {r['network']['test_samples']} test samples.", "",
              "| source | drop alone | gain when left out | layer error added alone | layer error removed when left out |",
              "|---|---|---|---|---|"]
    for s in at["sources"]:
        lines.append(f"| {s['source']} | {_diff(s['alone_accuracy_drop'])} | "
                     f"{_diff(s['leave_one_out_accuracy_gain'])} | "
                     f"{', '.join(_layer(v) for v in s['alone_layer_error_added'])} | "
                     f"{', '.join(_layer(v) for v in s['leave_one_out_layer_error_removed'])} |")
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


def _pruning_lines(p: dict | None) -> list[str]:
    if p is None:
        return []
    return [f"Pruning (--prune {p['fraction']:g}): {p['weights_removed']} of {p['weights_total']} weights removed "
            f"({100 * p['sparsity']:.1f} %) as {p['columns_removed']} hidden neuron(s) and {p['row_blocks_removed']} "
            f"input row block(s); {p['inputs_kept']} inputs kept; layers {p['layers']}. Criterion: {p['criterion']}."
            + "".join(f" {n}." for n in p["notes"]), ""]


def _layer(stat: dict) -> str:
    ci = stat.get("ci95")
    text = f"{stat['mean']:.4f}" if ci is None else f"{stat['mean']:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"
    return text + ("" if stat.get("significant") or ci is None else " (n.s.)")


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


def _yerr(stats: list[dict]) -> np.ndarray:
    """Error bars in percent from the intervals: (2, n) distances below and above the mean (0 without)."""
    lo = [100 * (s["mean"] - s["ci95"][0]) if s.get("ci95") else 0.0 for s in stats]
    hi = [100 * (s["ci95"][1] - s["mean"]) if s.get("ci95") else 0.0 for s in stats]
    return np.array([lo, hi])


def write_plots(r: dict, out_dir: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    fl = 100 * r["accuracy"]["float"]["mean"]
    n = r["seeds"]
    fig, ax = plt.subplots(figsize=(6, 4))
    t = [d["t_s"] for d in r["accuracy_vs_drift"]]
    for key, label in (("compensated", "global drift compensation"), ("uncompensated", "no compensation")):
        stats = [d[key] for d in r["accuracy_vs_drift"]]
        ax.errorbar(t, [100 * s["mean"] for s in stats], yerr=_yerr(stats), marker="o", capsize=3, label=label)
    ax.axhline(fl, color="k", ls="--", lw=1, label="float")
    ax.set_xscale("log")
    ax.set_xlabel("time since programming (s)")
    ax.set_ylabel("test accuracy (%), 95 % interval")
    ax.set_title(f"{r['design']}: accuracy vs drift ({n} chips)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "accuracy_vs_drift.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    bits = [b["adc_bits"] for b in r["accuracy_vs_adc_bits"]]
    stats = [b["accuracy"] for b in r["accuracy_vs_adc_bits"]]
    ax.errorbar(bits, [100 * s["mean"] for s in stats], yerr=_yerr(stats), marker="o", capsize=3)
    ax.axhline(fl, color="k", ls="--", lw=1, label="float")
    ax.set_xlabel("ADC bits")
    ax.set_ylabel("test accuracy (%), 95 % interval")
    ax.set_title(f"{r['design']}: accuracy vs ADC resolution (1 day, compensated, {n} chips)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "accuracy_vs_adc_bits.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    at = r["attribution"]["sources"]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = np.arange(len(at))
    alone = [s["alone_accuracy_drop"] for s in at]
    left = [s["leave_one_out_accuracy_gain"] for s in at]
    ax.bar(xs - 0.2, [100 * s["mean"] for s in alone], 0.4, yerr=_yerr(alone), capsize=3,
           label="accuracy drop, source alone")
    ax.bar(xs + 0.2, [100 * s["mean"] for s in left], 0.4, yerr=_yerr(left), capsize=3,
           label="accuracy gain, source left out")
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(xs, [s["source"] for s in at], rotation=20)
    ax.set_ylabel("percentage points, 95 % interval")
    ax.set_title(f"{r['design']}: noise attribution (1 day, {r['attribution']['seeds']} chips, paired)")
    ax.legend()
    fig.tight_layout()
    paths.append(out_dir / "attribution.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    if r.get("accuracy_energy"):
        paths.append(accuracy_energy.plot(r["accuracy_energy"], out_dir / "accuracy_vs_energy.png",
                                          f"{r['design']}: accuracy vs energy ({n} chips)"))
    return paths
