"""The digital twin against the physics model: device conductances per level, and the digits MLP's accuracy.

    .venv/bin/python benchmarks/twin.py [--part conductances|accuracy|all] [--presets tile64,default]
                                        [--devices pcm,rram] [--per-level 2000] [--chips 30]
                                        [--compensation off,on] [--epochs "1 s,1 day,1 year"]

Conductances (sim.eval.twin_conductances): per preset, device and target level k, mean and std (code units,
1 = g_max / L) of devices aimed at k, written once, at the twin's drift epochs 1 s, 1 h, 1 day and 1 year
(contract.device_twin_drift EPOCH_SECONDS 1, 5, 7, 12; the physics model read at exactly those seconds),
physics state (programming, drift, relaxation, and the time point's shared 1/f part; no per-read noise)
against the twin's stored device code (which has the shared 1/f part too: contract.device_twin_flicker), with
the tolerances TOL_MEAN and TOL_STD (code units).

Accuracy (sim.eval.twin_accuracy, accuracy presets only): the shipped digits MLP mapped by sim.eval.mapping,
on `chips` twin chips (golden model, every twin effect on, one programming shot) and on as many physics
chips (sim.eval.backends.measure_chips) at epochs 1, 7, 12, without and with global drift compensation. With
compensation both sides use the firmware's rule, a digital rescale of SCALE per layer (twin: TwinBackend;
physics: PhysicsBackend compensation="digital"), and that pair is the comparison against the target; the
column "physics, analog gain" adds the physics model with its per-tile analog gain before the ADC
(compensation="analog") on the same physics chips, and its own twin - physics. Accuracy mean [95 % t
interval over chips]; twin - physics with its Welch 95 % interval (different random generators: unpaired).
`--compensation` and `--epochs` pick accuracy cells, e.g. one cell on more chips.
"""

from __future__ import annotations

import argparse
import math
import os
import time

from aimcgen.contract.device_twin_drift import EPOCH_SECONDS
from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import measure_chips, with_device
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.eval.twin_accuracy import measure_twin_chips
from aimcgen.sim.eval.twin_conductances import level_statistics

CONDUCTANCE_EPOCHS = {"1 s": 1, "1 h": 5, "1 day": 7, "1 year": 12}
ACCURACY_EPOCHS = {"1 s": 1, "1 day": 7, "1 year": 12}
TOL_MEAN = 0.3          # code units: the twin's codes are integers (rounding of the error and of the drift)
TOL_STD = 0.3
ACCURACY_TARGET = 0.005  # |twin - physics| accuracy, as a fraction
PHYSICS_SEED = 0


def conductances(presets, devices, per_level: int) -> None:
    print(f"## Conductances: {per_level} devices per level (one write each, G+ aimed at k), physics seed "
          f"{PHYSICS_SEED}, twin noise.seed of the preset; mean / std in code units (g_max / L); "
          f"tolerance |twin - physics| <= {TOL_MEAN} (mean), {TOL_STD} (std)")
    print("epochs: " + ", ".join(f"{name} = epoch {e} ({EPOCH_SECONDS[e]} s)"
                                 for name, e in CONDUCTANCE_EPOCHS.items()))
    for preset in presets:
        for device in devices:
            spec = with_device(load_preset(preset), device)
            start = time.perf_counter()
            rows = level_statistics(spec, list(CONDUCTANCE_EPOCHS.values()), devices=per_level, seed=PHYSICS_SEED)
            elapsed = time.perf_counter() - start
            print(f"\n### {preset} / {device} (L = {spec.tile.conductance_levels}; {elapsed:.1f} s)\n")
            print("| k | " + " | ".join(f"{n} physics | {n} twin" for n in CONDUCTANCE_EPOCHS) + " |")
            print("|---|" + "---|---|" * len(CONDUCTANCE_EPOCHS))
            by_level: dict[int, list] = {}
            for r in rows:
                by_level.setdefault(r.level, []).append(r)
            for k, cells in by_level.items():
                print(f"| {k} | " + " | ".join(
                    f"{c.physics_mean:.2f} / {c.physics_std:.2f} | {c.twin_mean:.2f} / {c.twin_std:.2f}"
                    + ("" if abs(c.mean_error) <= TOL_MEAN and abs(c.std_error) <= TOL_STD else " **x**")
                    for c in cells) + " |")
            for name, e in CONDUCTANCE_EPOCHS.items():
                at = [r for r in rows if r.epoch == e]
                dm, ds = max(abs(r.mean_error) for r in at), max(abs(r.std_error) for r in at)
                worst_read = max(math.sqrt(max(r.physics_read_std ** 2 - r.physics_std ** 2, 0.0)) for r in at)
                ok = dm <= TOL_MEAN and ds <= TOL_STD
                print(f"- {name}: max |d mean| {dm:.3f}, max |d std| {ds:.3f}: {'within' if ok else 'OUTSIDE'} "
                      f"tolerance; one physics read adds up to {worst_read:.2f} (rms, in quadrature) of read noise")


def accuracy(presets, devices, chips: int, compensations=(False, True), epochs=tuple(ACCURACY_EPOCHS)) -> None:
    net = load_network(default_model_path())
    xt, yt, xc = net.meta["x_test"], net.meta["y_test"], net.meta["x_calib"]
    print(f"\n## Accuracy: digits MLP {net.describe()}, {len(yt)} test samples, float "
          f"{100 * net.meta['float_test_accuracy']:.2f} %; {chips} twin chips and {chips} physics chips per cell; "
          f"mean [95 % interval] in %; accuracy: {st.T_METHOD}; twin - physics: {st.WELCH_METHOD}; "
          f"target |twin - physics| <= {100 * ACCURACY_TARGET} points\n")
    print("| preset | device | compensation | epoch | twin | physics, same compensation | twin - physics (points) "
          "| physics, analog gain | twin - physics, analog gain (points) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for preset in presets:
        for device in devices:
            spec = with_device(load_preset(preset), device)
            mapping = map_network(net, spec, xc)
            for comp in compensations:
                for name in epochs:
                    e = ACCURACY_EPOCHS[name]
                    twin = measure_twin_chips(mapping, xt, yt, xc, chips, epoch=e, compensation=comp)
                    t_s = float(EPOCH_SECONDS[e])
                    cells = [_versus(twin, measure_chips(mapping, xt, yt, xc, chips, t_s=t_s,
                                                         compensation="digital" if comp else "off")["correct"])]
                    cells.append(_versus(twin, measure_chips(mapping, xt, yt, xc, chips, t_s=t_s,
                                                             compensation="analog")["correct"]) if comp else "- | -")
                    print(f"| {preset} | {device} | {'on' if comp else 'off'} | {name} | "
                          f"{st.describe(st.accuracy_stat(twin))} | " + " | ".join(cells) + " |", flush=True)


def _versus(twin, phys) -> str:
    """Two table cells: the physics accuracy and twin - physics (Welch), flagged beyond ACCURACY_TARGET."""
    diff = st.welch_difference(twin.mean(axis=1), phys.mean(axis=1))
    flag = "" if abs(diff["mean"]) <= ACCURACY_TARGET else " **x**"
    return f"{st.describe(st.accuracy_stat(phys))} | {st.describe(diff, digits=2)}{flag}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=("conductances", "accuracy", "all"), default="all")
    parser.add_argument("--presets", default="tile64,default", help="presets of the conductance table")
    parser.add_argument("--accuracy-presets", default="tile64")
    parser.add_argument("--devices", default="pcm,rram")
    parser.add_argument("--per-level", type=int, default=2000)
    parser.add_argument("--chips", type=int, default=30)
    parser.add_argument("--compensation", default="off,on", help="accuracy cells: off, on or off,on")
    parser.add_argument("--epochs", default=",".join(ACCURACY_EPOCHS),
                        help=f"accuracy cells, among: {', '.join(ACCURACY_EPOCHS)}")
    args = parser.parse_args()
    compensations = [{"off": False, "on": True}.get(c.strip()) for c in args.compensation.split(",")]
    epochs = [e.strip() for e in args.epochs.split(",")]
    if None in compensations or not set(epochs) <= set(ACCURACY_EPOCHS):
        parser.error(f"--compensation takes off and/or on; --epochs takes {', '.join(ACCURACY_EPOCHS)}")
    print(f"benchmarks/twin.py: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          "times are wall clock of each block")
    devices = args.devices.split(",")
    start = time.perf_counter()
    if args.part in ("conductances", "all"):
        conductances(args.presets.split(","), devices, args.per_level)
    if args.part in ("accuracy", "all"):
        accuracy(args.accuracy_presets.split(","), devices, args.chips, compensations, epochs)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
