"""The digits MLP on golden chips with ADC errors: accuracy without errors, with errors, and after calibration.

    .venv/bin/python benchmarks/adc_calibration.py [--chips 10] [--presets default,tile64,hermes256]
                                                   [--vectors 1024] [--gain-sigma 0.05] [--offset-sigma-lsb 1.0]
                                                   [--cap-mismatch-sigma 0.02] [--ramp-inl-lsb 1.0]
                                                   [--tile-gain-bits 0]

The golden model is the RTL's arithmetic bit for bit (ADC errors included, contract.adc_errors), so these are
the emulated hardware's figures. Chip c = noise.seed c (c = 1..chips): its read-noise draws and its ADC error
draws; the same chips in every column, so the differences are paired. Calibration per layer with the host
driver's routines over the golden model (sim.eval.adc_calibration): "plain" is calibrate_columns (the C
driver's aimc_calibrate_columns), "centred" is calibrate_columns_centred (the C driver's
aimc_calibrate_columns_centred: the same fit after a per-column trim that centres each column's read-outs
in the measurement window; contract.calibration's centring rule, bit for bit the same registers). Mean [Student t 95 %
interval over chips] in %; the last column: ADC errors calibrated (centred) minus no ADC errors (uncalibrated,
the error-free figure), paired on chips and test samples (crossed two-way interval); it meets the target when
its mean is at least -0.3 points.

--tile-gain-bits T > 0 builds every preset with accumulator.tile_gain_bits = T (per-row-tile gain trims,
contract.tile_gain; they stay at unity unless calibrated, so the other columns are unchanged) and adds the
column "ADC errors, calibrated (tiles)" (sim.eval.adc_calibration's "tiles": the C driver's
aimc_calibrate_tile_gains, the trims from per-tile vectors, then the centred calibration) and its
difference against no ADC errors, and "tiles - centred": what the trims add, paired the same way. T = 0
(default) prints the table without trims.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.adc_calibration import adc_errors_for, chip_correct
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network

TARGET_POINTS = 0.3
COLUMNS = {                      # name: (ADC errors on, calibration routine)
    "no ADC errors": (False, None),
    "no ADC errors, calibrated (centred)": (False, "centred"),
    "ADC errors, uncalibrated": (True, None),
    "ADC errors, calibrated (plain)": (True, "plain"),
    "ADC errors, calibrated (centred)": (True, "centred"),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chips", type=int, default=10)
    parser.add_argument("--presets", default="default,tile64,hermes256")
    parser.add_argument("--vectors", type=int, default=1024, help="calibration vectors per layer")
    parser.add_argument("--gain-sigma", type=float, default=0.05)
    parser.add_argument("--offset-sigma-lsb", type=float, default=1.0)
    parser.add_argument("--cap-mismatch-sigma", type=float, default=0.02)
    parser.add_argument("--ramp-inl-lsb", type=float, default=1.0)
    parser.add_argument("--tile-gain-bits", type=int, default=0,
                        help="accumulator.tile_gain_bits of every preset (0: no trims; 2..16: adds the tiles column)")
    args = parser.parse_args()
    if args.chips < 2:
        parser.error("--chips: at least 2 (the interval is over chips)")
    if args.tile_gain_bits != 0 and not 2 <= args.tile_gain_bits <= 16:
        parser.error(f"--tile-gain-bits {args.tile_gain_bits}: allowed 0 (no trims) or 2..16")
    columns = dict(COLUMNS)
    diffs = ["centred"]
    if args.tile_gain_bits:
        columns["ADC errors, calibrated (tiles)"] = (True, "tiles")
        diffs.append("tiles")
    net = load_network(default_model_path())
    xt, yt, xc = net.meta["x_test"], net.meta["y_test"], net.meta["x_calib"]
    chips = range(1, args.chips + 1)
    start = time.perf_counter()
    print(f"digits MLP {net.describe()}, {len(yt)} test samples, golden model (bit-exact to the RTL); float "
          f"accuracy {100 * net.meta['float_test_accuracy']:.2f} %; chips noise.seed = 1..{args.chips}; "
          f"{args.vectors} calibration vectors per layer (contract.calibration.calibration_vectors)")
    print(f"ADC errors: gain sigma {args.gain_sigma}, offset sigma {args.offset_sigma_lsb} LSB, SAR capacitor "
          f"mismatch {args.cap_mismatch_sigma} (sar), ramp INL {args.ramp_inl_lsb} LSB (ramp)")
    print(f"accumulator.tile_gain_bits = {args.tile_gain_bits}"
          + (" (per-row-tile gain trims, calibrated only by the tiles column)" if args.tile_gain_bits else ""))
    print(f"accuracy: {st.T_METHOD}; difference: {st.CROSSED_METHOD}; os.cpu_count() = {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    tiles_gain = ["tiles - centred (points)"] if args.tile_gain_bits else []
    print("| preset | ADC | " + " | ".join(columns) + " | "
          + " | ".join([f"calibrated ({d}) - no errors (points)" for d in diffs] + tiles_gain) + " |")
    print("|---|---|" + "---|" * (len(columns) + len(diffs) + len(tiles_gain)))
    for preset in args.presets.split(","):
        spec = load_preset(preset)
        if args.tile_gain_bits:
            spec = spec.replace(accumulator={"tile_gain_bits": args.tile_gain_bits})
        mapping = map_network(net, spec, xc)
        errors = adc_errors_for(spec.adc, args.gain_sigma, args.offset_sigma_lsb, args.cap_mismatch_sigma,
                                args.ramp_inl_lsb)
        correct = {name: np.array([chip_correct(mapping, xt, yt, c, adc_errors=errors if on else None,
                                                calibrate=routine, vectors=args.vectors) for c in chips])
                   for name, (on, routine) in columns.items()}
        cells = []
        for d in diffs:
            diff = st.paired_accuracy_stat(correct[f"ADC errors, calibrated ({d})"], correct["no ADC errors"])
            verdict = "meets" if diff["mean"] * 100 >= -TARGET_POINTS else "misses"
            cells.append(f"{st.describe(diff)} ({verdict} the {TARGET_POINTS}-point target)")
        if tiles_gain:          # what the trims add to the centred calibration, paired on chips and samples
            cells.append(st.describe(st.paired_accuracy_stat(correct["ADC errors, calibrated (tiles)"],
                                                             correct["ADC errors, calibrated (centred)"])))
        print(f"| {preset} | {spec.adc.kind} {spec.adc.bits} bit, {spec.input.encoding} | "
              + " | ".join(st.describe(st.accuracy_stat(c)) for c in correct.values())
              + " | " + " | ".join(cells) + " |", flush=True)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
