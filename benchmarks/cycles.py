"""Cycles per MVM of the tile periphery over hundreds of back-to-back MVMs, next to its command bound.

Usage: python benchmarks/cycles.py [--mvms 200] [--stall 0.25] [--seed 1] [--verilator PRESET ...] [PRESET ...]

The command bound (contract.schedule.serial_schedule_commands) is the number of commands the tile controller's
serial integrate-then-convert schedule sends the analog macro per MVM: per input step, the INTEGRATE
commands of the drive, then every comparator decision of every conversion. It is a property of that
schedule with a macro that accepts one command per cycle, not of the analog physics (a macro that
integrates while it converts, or converts several columns per decision, would have a lower bound).

The periphery RTL (TileController) runs in Amaranth's simulator against MacroModel, the deterministic
integer macro (sim.verify.macro_model), in two ways: a macro that never stalls (ready every cycle), and one
that holds ready low on each cycle with probability --stall (seeded), against which a controller that loses
no cycles averages commands / (1 - stall) cycles per MVM. The period is the distance between successive MVM
starts (the cycle the controller accepts the next input), over all --mvms MVMs; the accumulators of every
MVM are checked against the golden model before a row is printed.

--verilator PRESET runs PRESET's TileController Verilog under Verilator instead (for tiles too large for
Amaranth's simulator), through the cocotb bench sim.verify.benches.tile_controller_bench with the same
MacroModel behind cocotb: its test_at_command_bound asserts that every one of the --mvms - 1 periods equals
the command bound but the first, which is contract.schedule.tail_commands(spec) shorter (the first MVM
starts with no earlier conversion's comparisons to finish), and its test_golden_with_random_stalls (bank reads without delay) checks every MVM
against the golden model and records the cycles from reset to the last bank read, so that row's
cycles/MVM (cycles / MVMs) includes the first MVM's fill and the last one's drain.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from amaranth.back import verilog

from bench_timing import machine
from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.schedule import drive_cycles, serial_schedule_commands, tail_commands
from aimcgen.presets import load_preset, preset_names
from aimcgen.rtl.tile_controller import TileController
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.sim.verify.amaranth_macro import run_tile_mvms
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config

DEFAULT_PRESETS = ["default", "tile64"]       # hermes256 simulates at ~12 cycles/s here: use --verilator
BENCH = "aimcgen.sim.verify.benches.tile_controller_bench"


def random_stalls(probability: float, seed: int):
    """stall(cycle) for run_tile_mvms: ready low with the given probability, one seeded draw per cycle."""
    rng = np.random.default_rng(seed)
    return (lambda cycle: bool(rng.random() < probability)) if probability > 0 else None


def measure(spec, mvms: int, stall: float, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (mvms, spec.tile.rows))
    start = time.perf_counter()
    acc, ovf, starts, macro = run_tile_mvms(spec, w, xs, stall=random_stalls(stall, seed + 1))
    seconds = time.perf_counter() - start
    golden = GoldenTile(spec, w).run(xs)
    if not (np.array_equal(acc, golden.accumulator) and np.array_equal(ovf, golden.overflow)):
        raise SystemExit(f"{spec.name}: RTL accumulators differ from the golden model (stall {stall})")
    periods = np.diff(starts)
    return {"periods": periods, "seconds": seconds, "cycles": starts[-1] - starts[0]}


def measure_verilator(spec, mvms: int, stall: float, seed: int) -> dict:
    """Both macros through the cocotb tile controller bench on Verilator (see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="bench_cycles_") as tmp:
        build = Path(tmp)
        source = build / "tile_controller.v"
        source.write_text(verilog.convert(TileController(spec), name="tile_controller"))
        config = write_bench_config(build / "config.json", spec, seed=seed, mvms=mvms, stall_probability=stall,
                                    stall_seed=seed + 1, bank_delay_max=0)
        start = time.perf_counter()
        result = run_bench(verilog_sources=[source], toplevel="tile_controller", test_module=BENCH,
                           simulator="verilator", build_dir=build,
                           extra_env={"AIMCGEN_BENCH_CONFIG": str(config)},
                           seed=seed, testcase=["test_at_command_bound", "test_golden_with_random_stalls"])
        seconds = time.perf_counter() - start
    stalled = result.report["test_golden_with_random_stalls"]
    return {"bound_periods": result.report["test_at_command_bound"]["mvms"] - 1,
            "stall_cycles_per_mvm": stalled["cycles"] / stalled["mvms"], "build_s": result.build_s,
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", choices=preset_names(),
                        help=f"presets for Amaranth's simulator (default {DEFAULT_PRESETS} unless --verilator)")
    parser.add_argument("--mvms", type=int, default=200, help="back-to-back MVMs per row (default 200)")
    parser.add_argument("--stall", type=float, default=0.25,
                        help="probability that the stalling macro holds ready low in a cycle (default 0.25)")
    parser.add_argument("--seed", type=int, default=1, help="weights, inputs and stall pattern (default 1)")
    parser.add_argument("--verilator", nargs="+", default=[], metavar="PRESET", choices=preset_names(),
                        help="presets to run under Verilator through the cocotb bench instead")
    args = parser.parse_args()
    if args.mvms < 2 or not 0 < args.stall < 1:
        parser.error("--mvms must be >= 2 and --stall within (0, 1)")
    presets = args.presets or ([] if args.verilator else DEFAULT_PRESETS)
    print(f"conditions: Amaranth simulator (rows marked Verilator: the cocotb tile controller bench), "
          f"{args.mvms} back-to-back MVMs per row (period = mean distance of "
          f"successive MVM starts over {args.mvms - 1} intervals, min..max beside it), random weights and "
          f"inputs (seed {args.seed}), every MVM checked against the golden model; {machine()}")
    print()
    print("| preset | tile | encoding | ADCs | commands per MVM (steps x (drive + columns/ADC x decisions)) "
          "| macro | cycles/MVM, mean (min..max) | reference | cycles/MVM / reference | sim time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in presets + args.verilator:
        spec = load_preset(name)
        bound = serial_schedule_commands(spec)
        shape = (f"{bound} = {spec.input.steps} x ({drive_cycles(spec)} + {spec.columns_per_adc} x "
                 f"{conversion_cycles(spec.adc)})")
        if name in args.verilator:
            r = measure_verilator(spec, args.mvms, args.stall, args.seed)
            row = (f"| {name} | {spec.tile.rows}x{spec.tile.cols} | {spec.input.encoding} ({spec.input.steps} "
                   f"steps) | {spec.adc.count} {spec.adc.kind} {spec.adc.bits}b | {shape} |")
            print(f"{row} never stalls (Verilator) | {bound} (all {r['bound_periods']} periods but the first, "
                  f"{bound - tail_commands(spec)}: asserted) | "
                  f"command bound | 1.000 | {r['seconds']:.0f} s, both rows, build {r['build_s']:.0f} s |")
            ref = bound / (1 - args.stall)
            print(f"{row} stalls {args.stall:.0%} of cycles (Verilator) | {r['stall_cycles_per_mvm']:.1f} "
                  f"(reset to last bank read / MVMs) | command bound / (1 - {args.stall:g}) = {ref:.1f} | "
                  f"{r['stall_cycles_per_mvm'] / ref:.3f} | (above) |", flush=True)
            continue
        for stall in (0.0, args.stall):
            r = measure(spec, args.mvms, stall, args.seed)
            p = r["periods"]
            reference = bound / (1 - stall)
            macro = "never stalls" if stall == 0 else f"stalls {stall:.0%} of cycles"
            ref_text = "command bound" if stall == 0 else f"command bound / (1 - {stall:g}) = {reference:.1f}"
            print(f"| {name} | {spec.tile.rows}x{spec.tile.cols} | {spec.input.encoding} ({spec.input.steps} "
                  f"steps) | {spec.adc.count} {spec.adc.kind} {spec.adc.bits}b | {shape} | {macro} | "
                  f"{p.mean():.1f} ({p.min()}..{p.max()}) | {ref_text} | {p.mean() / reference:.3f} | "
                  f"{r['seconds']:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
