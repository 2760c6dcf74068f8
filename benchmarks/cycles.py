"""Cycles per MVM of the tile periphery at steady state, next to the analog bound.

Usage: python benchmarks/cycles.py [--mvms N] [PRESET ...]
The analog bound is the number of commands the analog macro itself must execute per MVM (drive cycles
plus comparator decisions of every conversion, see rtl.tile_controller.analog_bound_cycles). The periphery
RTL runs in Amaranth's simulator against an analog-speed macro model (sim.verify.macro_model) that never stalls;
the period between successive MVM starts is the controller's steady-state cost. Results are checked
against the golden model before they are reported.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aimcgen.presets import load_preset, preset_names
from aimcgen.contract.schedule import analog_bound_cycles, drive_cycles
from aimcgen.contract.adc import conversion_cycles
from aimcgen.sim.verify.amaranth_macro import run_tile_mvms
from aimcgen.sim.models.golden import GoldenTile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("presets", nargs="*", default=preset_names())
    parser.add_argument("--mvms", type=int, default=4, help="back-to-back MVMs per preset (default 4)")
    args = parser.parse_args()
    print("| preset | tile | encoding | ADCs | drive + conversion cycles per step | analog bound | "
          "measured cycles/MVM | overhead | sim time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.presets:
        spec = load_preset(name)
        rng = np.random.default_rng(0)
        levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
        w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
        xs = rng.integers(-m, m + 1, (args.mvms, spec.tile.rows))
        start = time.perf_counter()
        acc, _, starts, _ = run_tile_mvms(spec, w, xs)
        seconds = time.perf_counter() - start
        if not np.array_equal(acc, GoldenTile(spec, w).run(xs).accumulator):
            raise SystemExit(f"{name}: RTL accumulators differ from the golden model")
        period = float(np.mean(np.diff(starts)))
        bound = analog_bound_cycles(spec)
        per_step = f"{drive_cycles(spec)} + {spec.columns_per_adc} x {conversion_cycles(spec.adc)}"
        print(f"| {name} | {spec.tile.rows}x{spec.tile.cols} | {spec.input.encoding} ({spec.input.steps} steps) "
              f"| {spec.adc.count} {spec.adc.kind} {spec.adc.bits}b | {per_step} | {bound} | {period:.0f} | "
              f"{100 * (period - bound) / bound:.1f} % | {seconds:.0f} s |", flush=True)


if __name__ == "__main__":
    main()
