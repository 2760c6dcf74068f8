"""Accuracy of the shipped digits MLP on the physics model: mean and spread over Monte-Carlo seeds (chips).

    .venv/bin/python benchmarks/accuracy.py [--seeds 10] [--presets tile64,hermes256] [--devices pcm,rram]
                                            [--max-abs]

Per preset and device: physics-model test accuracy at 1 s, 1 day and 1 year after programming, with and
without global drift compensation; the float accuracy of the same network for reference. --max-abs maps
weights as before sim.eval.quantize (max-abs column scaling, rounding, no weight bias correction).
"""

from __future__ import annotations

import argparse

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import PhysicsBackend, accuracy, with_device
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
          f"{100 * net.meta['float_test_accuracy']:.2f} %; {args.seeds} seeds; mean +- std (min) in %; "
          f"{'max-abs' if args.max_abs else 'least-error'} weight mapping\n")
    print("| preset | device | compensation | " + " | ".join(TIMES) + " |")
    print("|---|---|---|" + "---|" * len(TIMES))
    for preset in args.presets.split(","):
        for device in args.devices.split(","):
            spec = with_device(load_preset(preset), device)
            mapping = map_network(net, spec, xc, **({"weight_quantization": "max_abs",
                                                     "weight_bias_correction": False} if args.max_abs else {}))
            for comp in (False, True):
                cells = []
                for t in TIMES.values():
                    accs = 100 * np.array([accuracy(PhysicsBackend(mapping, t_s=t, compensation=comp, seed=s,
                                                                   calib_x=xc), xt, yt)
                                           for s in range(args.seeds)])
                    cells.append(f"{accs.mean():.2f} +- {accs.std():.2f} ({accs.min():.1f})")
                print(f"| {preset} | {device} | {'on' if comp else 'off'} | " + " | ".join(cells) + " |",
                      flush=True)


if __name__ == "__main__":
    main()
