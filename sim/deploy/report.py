"""`aimcgen deploy`'s output folder: the chip program, its placement and what it achieves on the models.

deploy(spec, network, out_dir) places and quantizes the network for the chip (sim.deploy.compile), then
measures from the program alone: accuracy on the first `inputs` test samples of the float network, the
golden model (the chip's emulated read noise, and noise-free) and the physics model (`chips` Monte-Carlo
chips read t_s after programming, global drift compensation on), and the model's cycles per inference
(sim.deploy.run). out_dir (build/<design>/deploy/) is written staged and swapped in whole: program.aimc,
report.json, report.md, placement.png, and firmware/<network>_program.h/.c (the program as const C tables for
the C driver's aimc_load_program / aimc_run_network, aimcgen.firmware.program_c).

report.json: design, spec_hash, network; tiles_used / tiles_total (tiles holding any placed weight / tiles
of the grid), tile_indices_used, utilization (placed weights / the chip's logical_rows x logical_cols),
utilization_of_tiles_used; layers (index, kind, shape [rows, cols], tile, row_range, col_range (half-open),
segment, positions, host_relu, cycles); segments (as in the program); cycles_per_inference_model and
cycles_counts (what it counts), inferences_per_s_model at design.clock_mhz; accuracy (float, golden,
golden_noise_free, physics: mean over chips, physics_per_chip); chips, t_s, seed, compensation, test_inputs;
energy (sim.deploy.energy: energy_per_inference_j by component and total, mvms_per_inference,
ops_per_inference, tops_per_w, counted from the chip's MVMs for the test inputs); neurobench (footprint of the
chip's grid, connection and activation sparsity, synaptic operations, accuracy: sim.eval.neurobench, counted
from the golden run of the `golden` accuracy by sim.deploy.activity).
With an RTL check also: rtl_inferences, rtl_mismatches (output codes of the generated Verilog that differ
from the golden model's), cycles_per_inference_rtl, and rtl_check (the whole summary, sim.deploy.rtl_check).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np

from aimcgen.firmware.program_c import write_program_c
from aimcgen.sim.deploy.activity import neurobench_of_program
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.energy import energy_per_inference
from aimcgen.contract.chip_program import ChipProgram, write_program
from aimcgen.sim.deploy.rtl_check import check_program_on_rtl
from aimcgen.sim.deploy.run import cycles_per_inference, mvm_schedule, run_golden, run_physics
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.network import Network, checked_test_set
from aimcgen.spec import DesignSpec
from aimcgen.staging import staged_directory


def dataset(net: Network, inputs: int | None):
    """(x, y, calibration inputs), checked as every command checks a test set (sim.eval.network
    .checked_test_set); the first `inputs` test samples."""
    x, y, calib = checked_test_set(net)
    return x[:inputs], y[:inputs], calib


def deploy(spec: DesignSpec, net: Network, out_dir, *, chips: int = 3, t_s: float = 86400.0, seed: int = 0,
           inputs: int | None = 200, rtl_check: int = 0, simulator: str | None = None, progress=print) -> dict:
    """Place, quantize, measure; write out_dir atomically. PlacementError if the network does not fit.

    rtl_check = N > 0 also runs the first N test inputs through the generated Verilog on `simulator`
    (sim.deploy.rtl_check) and adds its summary to the report."""
    x, y, calib = dataset(net, inputs)
    program = compile_network(net, spec, calib)
    progress(f"placed {net.describe()} on {len({t for l in program.layers for t in l.tiles})} of "
             f"{spec.tiles} tile(s) in {len(program.segments)} segment(s)")
    golden, neurobench = neurobench_of_program(program, spec, net, x, y)
    correct = {"float": net.predict(x) == y, "golden": golden.predictions == y,
               "golden_noise_free": run_golden(program, spec, x, noise=False).predictions == y}
    accuracy = {name: float(np.mean(c)) for name, c in correct.items()}
    progress(f"float {_pct(accuracy['float'])} %, golden {_pct(accuracy['golden'])} % on {len(y)} test inputs")
    physics = np.array([run_physics(program, spec, x, seed=seed + k, t_s=t_s, calib_x=calib).predictions == y
                        for k in range(chips)])
    per_chip = [float(v) for v in physics.mean(axis=1)]
    accuracy.update(physics=float(np.mean(per_chip)), physics_per_chip=per_chip)
    # 95 % intervals: Wilson over the test inputs for the deterministic models and one chip, Student t over
    # chips for two or more (sim.eval.statistics).
    accuracy["intervals"] = {**{name: st.accuracy_stat(c) for name, c in correct.items()},
                             "physics": st.accuracy_stat(physics)}
    progress(f"physics {st.describe(accuracy['intervals']['physics'])} % over {chips} chip(s) at t = {t_s:g} s")
    schedule = mvm_schedule(program, spec, x)              # every MVM batch: for the cycles and the energy
    report = build_report(program, spec, net, accuracy, chips=chips, t_s=t_s, seed=seed, test_inputs=len(y), x=x,
                          schedule=schedule)
    report["energy"] = energy_per_inference(program, spec, x, schedule=schedule)
    report["neurobench"] = neurobench
    if rtl_check:
        with tempfile.TemporaryDirectory(prefix="aimcgen_rtl_check_") as build:
            rtl = check_program_on_rtl(program, spec, x[:rtl_check], simulator=simulator, build_dir=Path(build),
                                       progress=progress)
        report.update({k: rtl[k] for k in ("rtl_inferences", "rtl_mismatches", "cycles_per_inference_rtl")},
                      rtl_check=rtl)
    with staged_directory(Path(out_dir)) as tmp:
        write_program(tmp / "program.aimc", program)
        (tmp / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (tmp / "report.md").write_text(markdown(report))
        write_placement_png(program, spec, tmp / "placement.png")
        write_program_c(program, spec, tmp / "firmware")
    return report


def build_report(program: ChipProgram, spec: DesignSpec, net: Network, accuracy: dict, *, chips: int,
                 t_s: float, seed: int, test_inputs: int, x=None, schedule=None) -> dict:
    cycles = cycles_per_inference(program, spec, x, schedule)   # counted from the plans for x with [sparsity]
    used = sorted({t for l in program.layers for t in l.tiles})
    placed = sum((l.row_range[1] - l.row_range[0]) * (l.col_range[1] - l.col_range[0]) for l in program.layers)
    layers = [{"index": l.index, "kind": l.kind,
               "shape": [l.row_range[1] - l.row_range[0], l.col_range[1] - l.col_range[0]],
               "tile": l.tiles, "row_range": list(l.row_range), "col_range": list(l.col_range),
               "segment": l.segment, "positions": l.positions, "activation": l.activation,
               "host_relu": l.host_relu, "cycles": c}
              for l, c in zip(program.layers, cycles["per_layer"])]
    segments = [{"index": s.index, "layers": s.layers, "driver": s.driver,
                 "descriptors": [list(d) for d in s.descriptors], "host_before": s.host_before,
                 "host_after": s.host_after} for s in program.segments]
    return {"design": spec.name, "spec_hash": f"0x{program.spec_hash:08x}",
            "network": {"name": net.name, "layers": net.describe()}, "program": "program.aimc",
            "logical_shape": list(program.logical_shape), "tile_shape": list(program.tile_shape),
            "grid": list(program.grid), "tiles_used": len(used), "tiles_total": spec.tiles,
            "tile_indices_used": used,
            "utilization": round(placed / (spec.logical_rows * spec.logical_cols), 4),
            "utilization_of_tiles_used": round(placed / (len(used) * spec.tile.rows * spec.tile.cols), 4),
            "layers": layers, "segments": segments, "host_final": program.host_final,
            "cycles_per_inference_model": cycles["cycles"], "cycles_counts": cycles["counts"],
            "cycles_per_mvm": cycles["per_mvm"], "clock_mhz": spec.design.clock_mhz,
            "inferences_per_s_model": spec.design.clock_mhz * 1e6 / cycles["cycles"],
            "accuracy": accuracy, "chips": chips, "t_s": t_s, "seed": seed, "compensation": True,
            "test_inputs": test_inputs}


def _energy_line(e: dict) -> str:
    j = e["energy_per_inference_j"]
    parts = ", ".join(f"{k} {v * 1e9:.3g} nJ" for k, v in j.items() if k != "total")
    return (f"- energy per inference: {j['total'] * 1e9:.3g} nJ ({parts}) over {e['mvms_per_inference']:.3g} MVMs; "
            f"{e['tops_per_w']:.3g} TOPS/W; counted from {e['counts']}")


def _accuracy_cell(a: dict, name: str) -> str:
    """'m [lo, hi]' in percent when the report has intervals (older reports: the mean alone)."""
    stat = a.get("intervals", {}).get(name)
    return st.describe(stat) if stat else _pct(a[name])


def _pct(v: float) -> str:
    return f"{100 * v:.2f}"


def markdown(r: dict) -> str:
    a = r["accuracy"]
    lines = [f"# {r['network']['name']} ({r['network']['layers']}) deployed on {r['design']}", "",
             f"Spec hash {r['spec_hash']}; logical matrix {r['logical_shape'][0]} x {r['logical_shape'][1]} "
             f"on a {r['grid'][0]} x {r['grid'][1]} grid of {r['tile_shape'][0]} x {r['tile_shape'][1]} tiles. "
             f"Program: `{r['program']}`; placement: `placement.png`.", "",
             f"- tiles used: {r['tiles_used']} of {r['tiles_total']} (indices {r['tile_indices_used']}); "
             f"utilization {100 * r['utilization']:.1f} % of the chip, "
             f"{100 * r['utilization_of_tiles_used']:.1f} % of the tiles used",
             f"- cycles per inference (model): {r['cycles_per_inference_model']} "
             f"({r['cycles_per_mvm']} per MVM) = {r['inferences_per_s_model']:.4g} inferences/s at "
             f"{r['clock_mhz']} MHz; counts {r['cycles_counts']}",
             _energy_line(r["energy"]) if "energy" in r else "", "",
             "| layer | kind | rows x cols | rows | columns | tiles | segment | MVMs | host relu | cycles |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for l in r["layers"]:
        lines.append(f"| {l['index']} | {l['kind']} | {l['shape'][0]} x {l['shape'][1]} | "
                     f"{l['row_range'][0]}..{l['row_range'][1] - 1} | {l['col_range'][0]}..{l['col_range'][1] - 1} | "
                     f"{', '.join(map(str, l['tile']))} | {l['segment']} | {l['positions']} | "
                     f"{'yes' if l['host_relu'] else 'no'} | {l['cycles']} |")
    lines += ["", "| segment | driver | descriptors (start, count) | host before | host after |",
              "|---|---|---|---|---|"]
    for s in r["segments"]:
        lines.append(f"| {s['index']} | {s['driver']} | {', '.join(f'({a}, {b})' for a, b in s['descriptors'])} | "
                     f"{', '.join(s['host_before']) or '-'} | {', '.join(s['host_after']) or '-'} |")
    lines += ["", f"Then the host: {', '.join(r['host_final'])}.", "",
              f"## Accuracy on {r['test_inputs']} test inputs (%)", "", "| model | accuracy |", "|---|---|",
              f"| float network | {_accuracy_cell(a, 'float')} |",
              f"| golden (bit-exact, emulated read noise) | {_accuracy_cell(a, 'golden')} |",
              f"| golden, noise-free | {_accuracy_cell(a, 'golden_noise_free')} |",
              f"| physics: {r['chips']} chip(s) at t = {r['t_s']:g} s, drift compensation on | "
              f"{_accuracy_cell(a, 'physics')} (per chip: {', '.join(_pct(v) for v in a['physics_per_chip'])}) |",
              "", f"Intervals: 95 %; {st.WILSON_METHOD}; physics with 2 chips or more: {st.T_METHOD}."]
    if "neurobench" in r:
        lines += [""] + nb.markdown_lines(r["neurobench"])[:-1]
    if "rtl_check" in r:
        c = r["rtl_check"]
        lines += ["", f"## On the generated Verilog ({c['simulator']})", "",
                  f"{c['rtl_inferences']} inference(s) through one generated top, the program loaded over Wishbone "
                  f"and run by the layer sequencer: {c['rtl_mismatches']} of {c['codes_compared']} output codes "
                  f"differ from the golden model. Cycles per inference on the RTL: "
                  f"{c['cycles_per_inference_rtl']:.0f} (range {c['cycles_per_inference_rtl_range'][0]}.."
                  f"{c['cycles_per_inference_rtl_range'][1]}; {c['cycles_rtl_counts']}) against "
                  f"{r['cycles_per_inference_model']} predicted by the serial command schedule: "
                  "the difference is the emulated tile's (twin.integrate: serial integration reads one row per "
                  "cycle, parallel integration waits for its adder pipeline before each step's first sample)."]
        lines += [f"- {m}" for m in c["mismatches"]]
    return "\n".join(lines) + "\n"


def write_placement_png(program: ChipProgram, spec: DesignSpec, path: Path) -> Path:
    """The logical matrix with tile boundaries, each layer's block coloured and labelled."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    rows, cols = program.logical_shape
    tr, tc = program.tile_shape
    width = 8.0
    height = min(max(width * rows / cols, 2.5), 12.0)
    fig, ax = plt.subplots(figsize=(width, height))
    colours = plt.get_cmap("tab10")
    for l in program.layers:
        (r0, r1), (c0, c1) = l.row_range, l.col_range
        ax.add_patch(Rectangle((c0, r0), c1 - c0, r1 - r0, facecolor=colours(l.index % 10), alpha=0.6,
                               edgecolor="k", lw=0.8))
        ax.text((c0 + c1) / 2, (r0 + r1) / 2, f"L{l.index}\n{r1 - r0}x{c1 - c0}\nseg {l.segment}",
                ha="center", va="center", fontsize=8, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
    for c in range(0, cols + 1, tc):
        ax.axvline(c, color="0.3", lw=1.2, ls="--")
    for r in range(0, rows + 1, tr):
        ax.axhline(r, color="0.3", lw=1.2, ls="--")
    if program.grid[0] * program.grid[1] <= 64:
        for r in range(program.grid[0]):
            for c in range(program.grid[1]):
                ax.text(c * tc + 0.01 * cols, r * tr + 0.01 * rows, f"tile {r * program.grid[1] + c}",
                        ha="left", va="top", fontsize=7, color="0.35")
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_xlabel("logical column (outputs)")
    ax.set_ylabel("logical row (inputs)")
    ax.set_title(f"{program.network} on {program.spec_name}: {program.grid[0]}x{program.grid[1]} tiles of {tr}x{tc}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
