"""Precision of the MVM: compute SNR and effective bits per preset, device, time and correction; IR drop.

    .venv/bin/python benchmarks/precision.py [--chips 8] [--batch 512] [--presets default,tile64,hermes256]
                                             [--devices pcm,rram] [--ir-presets tile64,hermes256] [--ir-chips 3]
                                             [--plot build/benchmarks/precision.png]

Definitions in sim/eval/precision.py: CSNR of one tile against the exact integer product (x @ W) / 2^lsb_shift
over a random batch (uniform weight codes, uniform inputs scaled so no drive step clips), effective bits
(CSNR_dB - 1.76) / 6.02. Each cell: mean [95 % Student t interval over chips] of the tile's effective bits,
chips = independent programmed tiles (seeds 0..chips-1). Corrections: none; global drift compensation;
global plus a per-column affine fit (float). The second table: the same for wire resistance per cell
segment (device.wire_r_ohm, IR drop) at 1 s with global compensation and the per-column fit. The third: ADC
errors (per-ADC gain and offset, SAR capacitor mismatch or ramp INL) at 1 s, without and with the per-column fit.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.precision import CORRECTIONS, measure_precision
from aimcgen.spec import device_preset

TIMES = {"1 s": 1.0, "1 day": 86400.0, "1 year": 365.25 * 86400.0}
WIRE_R_OHM = (0.0, 0.5, 1.0, 2.0)
ADC_ERRORS = {"gain_sigma": 0.05, "offset_sigma_lsb": 1.0}
SAR_MISMATCH, RAMP_INL_LSB = 0.02, 1.0


def bits_over_chips(spec, chips: int, batch: int, **kw) -> dict:
    return st.mean_ci([measure_precision(spec, seed=seed, batch=batch, **kw).tile_bits for seed in range(chips)])


def cell(stat: dict) -> str:
    return st.describe(stat, scale=1.0, digits=2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chips", type=int, default=8)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--presets", default="default,tile64,hermes256")
    parser.add_argument("--devices", default="pcm,rram")
    parser.add_argument("--ir-presets", default="tile64,hermes256")
    parser.add_argument("--ir-chips", type=int, default=3, help="chips per IR-drop cell (each read solves the "
                        "wire network: seconds on 256x256)")
    parser.add_argument("--plot", default="build/benchmarks/precision.png")
    args = parser.parse_args()
    print(f"{args.chips} chips (tiles) per cell, batch {args.batch} random MVMs each; effective bits of the whole "
          f"tile, mean [{st.T_METHOD}]\n")
    print("| preset | device | correction | " + " | ".join(TIMES) + " |")
    print("|---|---|---|" + "---|" * len(TIMES))
    curves = {}
    started = time.perf_counter()
    for preset in args.presets.split(","):
        for device in args.devices.split(","):
            spec = dataclasses.replace(load_preset(preset), device=device_preset(device))
            for correction in CORRECTIONS:
                stats = [bits_over_chips(spec, args.chips, args.batch, t_s=t, correction=correction)
                         for t in TIMES.values()]
                curves[preset, device, correction] = [s["mean"] for s in stats]
                print(f"| {preset} | {device} | {correction} | " + " | ".join(cell(s) for s in stats) + " |",
                      flush=True)
    print(f"\nIR drop: effective bits at 1 s, PCM, per wire resistance per cell segment (ohm); {args.ir_chips} "
          f"chips per cell, mean [{st.T_METHOD}]\n")
    print("| preset | correction | " + " | ".join(f"{r:g} ohm" for r in WIRE_R_OHM) + " |")
    print("|---|---|" + "---|" * len(WIRE_R_OHM))
    for preset in args.ir_presets.split(","):
        base = load_preset(preset)
        for correction in ("global", "per_column"):
            stats = []
            for r in WIRE_R_OHM:
                spec = dataclasses.replace(base, device=dataclasses.replace(device_preset("pcm"), wire_r_ohm=r))
                stats.append(bits_over_chips(spec, args.ir_chips, args.batch, t_s=1.0, correction=correction))
            print(f"| {preset} ({base.tile.rows}x{base.tile.cols}) | {correction} | "
                  + " | ".join(cell(s) for s in stats) + " |", flush=True)
    print(f"\nADC errors (contract.adc_errors): effective bits at 1 s, PCM, {args.chips} chips per cell, each chip "
          f"its own ADC draws: gain sigma {ADC_ERRORS['gain_sigma']}, offset sigma {ADC_ERRORS['offset_sigma_lsb']} "
          f"LSB, SAR capacitor mismatch {SAR_MISMATCH} (sar), ramp INL {RAMP_INL_LSB} LSB (ramp)\n")
    print("| preset | ADC | no ADC errors, global | no ADC errors, per-column | ADC errors, global | "
          "ADC errors, per-column |")
    print("|---|---|---|---|---|---|")
    for preset in args.presets.split(","):
        base = dataclasses.replace(load_preset(preset), device=device_preset("pcm"))
        errors = dict(ADC_ERRORS, **({"cap_mismatch_sigma": SAR_MISMATCH} if base.adc.kind == "sar" else {}),
                      **({"ramp_inl_lsb": RAMP_INL_LSB} if base.adc.kind == "ramp" else {}))
        with_errors = base.replace(adc=errors)
        stats = [bits_over_chips(spec, args.chips, args.batch, t_s=1.0, correction=correction)
                 for spec in (base, with_errors) for correction in ("global", "per_column")]
        print(f"| {preset} | {base.adc.kind} {base.adc.bits} bit | " + " | ".join(cell(s) for s in stats) + " |",
              flush=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")
    if args.plot:
        plot(curves, Path(args.plot))


def plot(curves: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    presets = sorted({k[0] for k in curves}, key=[k[0] for k in curves].index)
    fig, axes = plt.subplots(1, len(presets), figsize=(4.5 * len(presets), 3.6), sharey=True, squeeze=False)
    for ax, preset in zip(axes[0], presets):
        for (p, device, correction), bits in curves.items():
            if p == preset:
                ax.semilogx(list(TIMES.values()), bits, marker="o",
                            linestyle={"none": ":", "global": "--", "per_column": "-"}[correction],
                            label=f"{device}, {correction}")
        ax.set_title(preset)
        ax.set_xlabel("time since programming (s)")
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel("effective bits of the MVM")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
