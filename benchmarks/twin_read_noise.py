"""Device read noise on the digital twin against the physics model: RMS noise of one sampled column charge.

Usage: python benchmarks/twin_read_noise.py [--presets P ...] [--models pcm rram] [--chips N] [--batch B]
       [--seed S]
Each preset gets the device model's preset statistics and `[twin] read_noise = "on"`; three workloads of
random weights (|w| in {0, 1}, uniform over 0..L, all L; random signs) and uniformly random inputs.
Printed per row: the physics model's per-read spread (two reads per chip at t = 1 s,
sim.eval.twin_read_noise), the twin's (from its gains, contract.device_read_noise), their ratio, and for
reference the fixed noise.sigma_lsb the preset uses without the twin. Inside the timer: the measurement of
one row. Single-threaded; no other load assumed.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from aimcgen.presets import load_preset, preset_names
from aimcgen.sim.eval.twin_read_noise import read_noise_spreads
from aimcgen.spec import device_preset

WORKLOADS = ("|w| in {0, 1}", "|w| uniform 0..L", "|w| = L")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=preset_names(), choices=preset_names())
    parser.add_argument("--models", nargs="+", default=["pcm", "rram"], choices=["pcm", "rram"])
    parser.add_argument("--chips", type=int, default=4)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    print(f"{args.chips} chips x {args.batch} inputs per row, seed {args.seed}, physics read at t = 1 s")
    print("| preset | tile, input | device | workload | physics RMS | twin RMS | twin / physics | "
          "noise.sigma_lsb (twin off) | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        base = load_preset(preset)
        for model in args.models:
            spec = dataclasses.replace(base, device=device_preset(model),
                                       twin=dataclasses.replace(base.twin, read_noise="on"))
            levels = spec.tile.conductance_levels
            for name, mags in zip(WORKLOADS, ([0, 1], list(range(levels + 1)), [levels])):
                start = time.perf_counter()
                phys, twin = read_noise_spreads(spec, mags, seed=args.seed, chips=args.chips, batch=args.batch)
                seconds = time.perf_counter() - start
                print(f"| {preset} | {spec.tile.rows}x{spec.tile.cols} {spec.tile.weight_bits}-bit, "
                      f"{spec.input.encoding} | {model} | {name} | {phys:.3f} | {twin:.3f} | {twin / phys:.3f} | "
                      f"{base.noise.sigma_lsb:g} | {seconds:.1f} s |", flush=True)


if __name__ == "__main__":
    main()
