"""Accuracy of the shipped digits MLP on the physics model: mean and 95 % interval over Monte-Carlo chips.

    .venv/bin/python benchmarks/accuracy.py [--seeds 10] [--presets tile64,hermes256] [--devices pcm,rram]
                                            [--max-abs]

Per preset and device: physics-model test accuracy at 1 s, 1 day and 1 year after programming, with and
without global drift compensation, as mean [95 % Student t interval over chips] (min); and the gain of
compensation, paired on the same chips (chip s has the same devices and read-noise draws with and without
it, and at every time): mean [95 % interval over chips and test samples]. The float accuracy of the same
network for reference. --max-abs maps
weights as before sim.eval.quantize (max-abs column scaling, rounding, no weight bias correction).
"""

from __future__ import annotations

import argparse

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import measure_chips, with_device
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network

TIMES = {"1 s": 1.0, "1 day": 86400.0, "1 year": 365.25 * 86400.0}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--presets", default="default,tile64,hermes256")
    parser.add_argument("--devices", default="pcm,rram")
    parser.add_argument("--max-abs", action="store_true", help="the max-abs weight mapping, for comparison")
    args = parser.parse_args()
    net = load_network(default_model_path())
    xt, yt, xc = net.meta["x_test"], net.meta["y_test"], net.meta["x_calib"]
    print(f"digits MLP {net.describe()}, {len(yt)} test samples; float accuracy "
          f"{100 * net.meta['float_test_accuracy']:.2f} %; {args.seeds} chips (the same chips in every cell); "
          f"mean [95 % interval] (min) in %; {'max-abs' if args.max_abs else 'least-error'} weight mapping")
    print(f"accuracy intervals: {st.T_METHOD}; compensation gain: {st.CROSSED_METHOD}\n")
    print("| preset | device | compensation | " + " | ".join(TIMES) + " |")
    print("|---|---|---|" + "---|" * len(TIMES))
    for preset in args.presets.split(","):
        for device in args.devices.split(","):
            spec = with_device(load_preset(preset), device)
            mapping = map_network(net, spec, xc, **({"weight_quantization": "max_abs",
                                                     "weight_bias_correction": False} if args.max_abs else {}))
            correct = {(comp, t): measure_chips(mapping, xt, yt, xc, args.seeds, t_s=t, compensation=comp)["correct"]
                       for comp in (False, True) for t in TIMES.values()}
            for comp in (False, True):
                cells = []
                for t in TIMES.values():
                    a = st.accuracy_stat(correct[comp, t])
                    cells.append(f"{st.describe(a)} ({100 * a['min']:.1f})")
                print(f"| {preset} | {device} | {'on' if comp else 'off'} | " + " | ".join(cells) + " |",
                      flush=True)
            gains = [st.paired_accuracy_stat(correct[True, t], correct[False, t]) for t in TIMES.values()]
            print(f"| {preset} | {device} | gain (points) | "
                  + " | ".join(st.describe(g) + ("" if g["significant"] else " (n.s.)") for g in gains) + " |",
                  flush=True)

if __name__ == "__main__":
    main()
