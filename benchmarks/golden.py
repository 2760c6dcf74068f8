"""Golden-model throughput (MVMs per second) next to a plain numpy matmul of the same shape.

Usage: python benchmarks/golden.py [--min-seconds S]
The golden model does what the RTL does per MVM (input encoding, one matmul per drive step, the noise
generators, ADC quantization, saturating shift-add, post-processing); the baseline is one float64
`x @ W`. The ratio says what bit-exactness costs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.models.golden import GoldenAccelerator

CASES = [
    ("tile64", {}),
    ("hermes256", {}),
    ("hermes256", {"input": {"encoding": "bit_serial"}, "adc": {"kind": "sar", "full_scale": 4096},
                   "accumulator": {"bits": 20}}),
]


def rate(fn, batch: int, min_seconds: float) -> float:
    """MVMs per second: best of repeated timing windows of at least min_seconds / 3 each."""
    best = float("inf")
    for _ in range(3):
        calls, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds / 3:
            fn()
            calls += 1
        best = min(best, elapsed / calls)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-seconds", type=float, default=1.5, help="timing budget per figure")
    args = parser.parse_args()
    print(f"| design | tile | encoding | batch | golden MVM/s | numpy matmul MVM/s | numpy / golden |")
    print("|---|---|---|---|---|---|---|")
    for preset, change in CASES:
        spec = load_preset(preset)
        spec = spec.replace(**change) if change else spec
        rng = np.random.default_rng(0)
        levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
        w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
        wf = w.astype(np.float64)
        for batch in (1, 1024):
            x = rng.integers(-m, m + 1, (batch, spec.logical_rows))
            xf = x.astype(np.float64)
            model = GoldenAccelerator(spec, w)
            golden = rate(lambda: model.run(x), batch, args.min_seconds)
            numpy_rate = rate(lambda: xf @ wf, batch, args.min_seconds)
            print(f"| {preset} | {spec.tile.rows}x{spec.tile.cols} | {spec.input.encoding} "
                  f"({spec.input.steps} steps) | {batch} | {golden:,.0f} | {numpy_rate:,.0f} | "
                  f"{numpy_rate / golden:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
