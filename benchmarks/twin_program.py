"""Program-and-verify on the digital twin: writes per weight and analog yield per preset and device model.

Usage: python benchmarks/twin_program.py [--presets P ...] [--models pcm rram] [--tolerance T] [--retries R]
       [--stuck F] [--seed S]
Each preset gets `[twin] programming_error = "on"` (and stuck = "on" with --stuck F > 0: F of the devices
stuck at set and F at reset) and the device model's preset statistics; uniformly random weight codes
-L..L fill tile 0 (one tile: the statistics are per device), and the golden model
(sim.models.golden.GoldenAccelerator.program_weights, bit-exact to the emulated tile's RTL) programs them in
row-major order with the given PROG_CTRL tolerance and retries. Printed per row: weights, writes per weight,
share of weights that needed a retry, failures, analog yield, wall time of the programming (inside the
timer: program_weights only). Single-threaded; no other load assumed.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

from aimcgen.presets import load_preset, preset_names
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import device_preset


def measure(preset: str, model: str, tolerance: int, retries: int, stuck: float, seed: int) -> str:
    # The whole device table of the model's preset: replace() keeps the fields a table does not name.
    device = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(device_preset(model)).items()}
    spec = load_preset(preset).replace(
        array={"row_tiles": 1, "col_tiles": 1},
        device={**device, "stuck_set_fraction": stuck, "stuck_reset_fraction": stuck},
        twin={"programming_error": "on", "stuck": "on" if stuck > 0 else "off"})
    levels = spec.tile.conductance_levels
    w = np.random.default_rng(seed).integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    golden = GoldenAccelerator(spec, np.zeros_like(w))
    start = time.perf_counter()
    report = golden.program_weights(w, tolerance=tolerance, max_retries=retries)
    seconds = time.perf_counter() - start
    retried = sum(r.attempts > 1 for r in report.results) / w.size
    return (f"| {preset} | {spec.tile.rows}x{spec.tile.cols}, {spec.tile.weight_bits}-bit | {model} | {w.size} | "
            f"{report.writes / w.size:.3f} | {100 * retried:.1f} % | {len(report.failures)} | "
            f"{100 * report.analog_yield:.2f} % | {seconds:.1f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=preset_names(), choices=preset_names())
    parser.add_argument("--models", nargs="+", default=["pcm", "rram"], choices=["pcm", "rram"])
    parser.add_argument("--tolerance", type=int, default=0)
    parser.add_argument("--retries", type=int, default=3)
    parser.add_argument("--stuck", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"PROG_CTRL tolerance {args.tolerance}, max_retries {args.retries}; stuck fraction {args.stuck} at "
          f"set and at reset; weight seed {args.seed}")
    print("| preset | tile | device | weights | writes / weight | retried | failures | analog yield | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        for model in args.models:
            print(measure(preset, model, args.tolerance, args.retries, args.stuck, args.seed), flush=True)


if __name__ == "__main__":
    main()
