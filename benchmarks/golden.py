"""Golden-model throughput next to numpy doing the same number of matmuls (one per drive step).

Usage: python benchmarks/golden.py [--repeats 7] [--window 0.3] [--threads 1] [--batch 1 1024] [--profile PRESET]

Inside the golden timer: one `GoldenAccelerator.run(x)` of a (batch, rows) int64 input, i.e. everything the
RTL does per MVM (input check, encoding into drive steps, one float64 matmul per step, the emulated tile's
LFSR noise for every ADC sample, ADC quantization and clipping, saturating shift-add, post-processing).
Inside the numpy timer: `steps` float64 matmuls (batch, rows) @ (rows, cols), one per drive step, on
prebuilt float64 operands (the drive planes of the same input), nothing else. Both run in the same process
with BLAS pinned to --threads threads (threadpoolctl); each repeat times one window of each, one after the
other, and the ratio golden / numpy is taken per repeat. Figures: median (min..max) over the repeats. The
last column counts the minor page faults per golden call (warm-up included): fresh pages the allocator
maps for the model's large temporary arrays, a cost the numpy side does not have; the conditions line
says whether glibc's malloc was tuned through MALLOC_* variables.
--profile PRESET prints where the golden model's time goes (cProfile, batch 1024) instead of the table.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import resource

import numpy as np
from threadpoolctl import threadpool_limits

from bench_timing import blas_threads, fmt_rate, interleaved, machine, median_range
from aimcgen.contract.encoding import drive_steps
from aimcgen.presets import load_preset, preset_names
from aimcgen.sim.models.golden import GoldenAccelerator

CASES = [
    ("tile64", {}),
    ("hermes256", {}),
    ("hermes256", {"input": {"encoding": "bit_serial"}, "adc": {"kind": "sar", "full_scale": 4096},
                   "accumulator": {"bits": 20}}),
]


def workload(preset: str, change: dict, batch: int):
    """The spec, a golden model on random weights, a random input batch and the numpy operands."""
    spec = load_preset(preset)
    spec = spec.replace(**change) if change else spec
    rng = np.random.default_rng(0)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    x = rng.integers(-m, m + 1, (batch, spec.logical_rows))
    planes = [np.ascontiguousarray(p, dtype=np.float64) for p in drive_steps(x, spec.input)]
    return spec, GoldenAccelerator(spec, w), x, planes, w.astype(np.float64)


class FaultCounter:
    """Calls fn and counts the minor page faults (fresh memory pages touched) of every call."""

    def __init__(self, fn):
        self.fn, self.calls, self.faults = fn, 0, 0

    def __call__(self):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self.fn()
        self.faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        self.calls += 1


def allocator() -> str:
    """glibc malloc tuning from the environment, if any: it decides whether large arrays reuse pages."""
    tuned = [f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_")]
    return "malloc " + (", ".join(tuned) if tuned else "defaults (no MALLOC_* variables)")


def profile(preset: str, threads: int) -> None:
    spec, model, x, _, _ = workload(preset, {}, 1024)
    with threadpool_limits(limits=threads):
        model.run(x)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(20):
            model.run(x)
        prof.disable()
        print(f"cProfile of 20 x GoldenAccelerator.run, {preset}, batch 1024, BLAS {blas_threads()}; "
              f"{machine()}")
    pstats.Stats(prof).sort_stats("tottime").print_stats(14)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing windows per engine and row (default 7)")
    parser.add_argument("--window", type=float, default=0.3, help="seconds per timing window (default 0.3)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads for both sides (default 1)")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 1024])
    parser.add_argument("--profile", metavar="PRESET", choices=preset_names(),
                        help="profile the golden model on PRESET instead")
    args = parser.parse_args()
    if args.repeats < 1 or args.window <= 0 or args.threads < 1 or min(args.batch) < 1:
        parser.error("--repeats, --threads and every --batch must be >= 1 and --window > 0")
    if args.profile:
        profile(args.profile, args.threads)
        return
    before = blas_threads()
    with threadpool_limits(limits=args.threads):
        print(f"conditions: {args.repeats} repeats of a {args.window} s window per engine (interleaved), "
              f"median (min..max); BLAS pinned to {args.threads} thread(s) for both sides: {blas_threads()} "
              f"(unpinned: {before}); numpy baseline float64, one (batch, rows) @ (rows, cols) matmul per "
              f"drive step; {allocator()}; {machine()}")
        print()
        print("| design | tile | encoding | batch | golden MVM/s | numpy MVM/s (steps matmuls) | "
              "golden / numpy time | page faults per golden call |")
        print("|---|---|---|---|---|---|---|---|")
        for preset, change in CASES:
            for batch in args.batch:
                spec, model, x, planes, wf = workload(preset, change, batch)
                golden = FaultCounter(lambda: model.run(x))
                t = interleaved({"golden": golden, "numpy": lambda: [p @ wf for p in planes]},
                                args.repeats, args.window)
                ratio = [g / n for g, n in zip(t["golden"], t["numpy"])]
                med, lo, hi = median_range(ratio)
                print(f"| {preset} | {spec.tile.rows}x{spec.tile.cols} | {spec.input.encoding} "
                      f"({spec.input.steps} steps) | {batch} | {fmt_rate([batch / s for s in t['golden']])} | "
                      f"{fmt_rate([batch / s for s in t['numpy']])} | {med:.2f}x ({lo:.2f}..{hi:.2f}) | "
                      f"{golden.faults / golden.calls:,.0f} |",
                      flush=True)
    print(f"\nload after: {machine()}")


if __name__ == "__main__":
    main()
