"""The shipped digits MLP on aimcgen's physics model and on IBM aihwkit's PCM inference model, side by side.

    python benchmarks/vs_aihwkit.py [--preset tile64] [--seeds 10] [--times 1,3600,86400,2592000,31557600]

Needs `pip install 'aimcgen[aihwkit]'`. Both sides take the same float weights and the same PCM statistics
(aihwkit's PCMLikeNoiseModel at g_max = the preset's, which our PCM preset reproduces) with global drift
compensation, and are read at the same times after programming. What differs is the periphery: aimcgen
runs the preset's quantized weights, bit-serial/PWM inputs, ADCs, shift-add and fixed-point affine
correction; aihwkit its one-pass IO model, set to the preset's input and ADC resolutions with per-column
weight scaling (as our mapping), no additive output noise (our PCM preset has none), out_bound 12 and
abs-max noise management, run twice: with its default iterative bound management (a forward pass whose
outputs hit the bound is repeated with the inputs halved, up to max_bm_factor) and without it
(BoundManagementType.NONE: one pass, outputs clip at the bound, as an ADC does). aimcgen has no such
repetition: its ADCs clip. aihwkit runs its pure-PyTorch tile (TorchInferenceRPUConfig): the C++ simulator
in the aihwkit 1.1.0 wheel is built against another torch and rejects this one's tensors ("weights must be
a CPU tensor").

Prints per drift time the accuracy distributions over Monte-Carlo chips (mean [95 % Student t interval over
chips] (min..max)) and the difference of the means with its 95 % Welch interval: the two simulators' chips
cannot be paired (aihwkit draws from torch's generator, aimcgen from its own per-chip streams), so they are
treated as independent samples (Welch-Satterthwaite degrees of freedom). The two aihwkit runs of one chip
share its torch seed, hence its programming noise and drift.

Timing: every chip is one timed run of each engine, the engines interleaved chip by chip after one untimed
warm-up chip each, on one thread (BLAS and torch pinned). Inside the clock, for both: the model build
(aimcgen: map_network, the weight mapping and quantization from the float network; aihwkit: the
AnalogLinear layers and set_weights),
programming, drift to every time, drift compensation and classification of the test set at every time
(aimcgen: one PhysicsBackend per time, which draws the chip from its seed streams and calibrates the
compensation; aihwkit: program_analog_weights once, then drift_analog_weights and a forward pass per time).
The build is timed separately too, so the table gives test samples per second with the build inside the
clock and with it outside; median (min..max) over the chips.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))     # bench_timing, also when loaded by path (tests)
from bench_timing import blas_threads, machine  # noqa: E402
from aimcgen.presets import load_preset, preset_names  # noqa: E402
from aimcgen.sim.eval import statistics as st  # noqa: E402
from aimcgen.sim.eval.backends import PhysicsBackend, accuracy, with_device  # noqa: E402
from aimcgen.sim.eval.mapping import map_network  # noqa: E402
from aimcgen.sim.eval.network import default_model_path, load_network  # noqa: E402

TIMES = [1.0, 3600.0, 86400.0, 30 * 86400.0, 365.25 * 86400.0]
ENGINES = {"aimcgen": "aimcgen physics model",
           "aihwkit": "aihwkit, iterative bound management (its default)",
           "aihwkit_no_bm": "aihwkit, no bound management"}


def aihwkit_model(net, spec, bound_management: bool = True):
    """The network as aihwkit AnalogLinear layers (digital bias) on the pure-PyTorch inference tile with
    the PCM noise model and global drift compensation; bound_management False sets
    BoundManagementType.NONE (one forward pass) instead of the default ITERATIVE."""
    import torch
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.simulator.configs import TorchInferenceRPUConfig
    from aihwkit.simulator.parameters.enums import BoundManagementType

    rpu = TorchInferenceRPUConfig()
    rpu.noise_model = PCMLikeNoiseModel(g_max=spec.device.g_max_us)
    rpu.drift_compensation = GlobalDriftCompensation()
    rpu.mapping.weight_scaling_omega = 1.0
    rpu.mapping.weight_scaling_columnwise = True
    rpu.mapping.max_input_size = spec.tile.rows
    rpu.mapping.max_output_size = spec.tile.cols
    rpu.forward.inp_res = 1.0 / (2 ** spec.input.bits - 2)
    rpu.forward.out_res = 1.0 / (2 ** spec.adc.bits - 2)
    rpu.forward.out_noise = 0.0
    if not bound_management:
        rpu.forward.bound_management = BoundManagementType.NONE
    layers = []
    for layer in net.layers:
        analog = AnalogLinear(layer.in_features, layer.out_features, bias=True, rpu_config=rpu)
        analog.set_weights(torch.tensor(layer.weight.T, dtype=torch.float32),
                           torch.tensor(layer.bias, dtype=torch.float32))
        layers.append(analog)
        if layer.activation == "relu":
            layers.append(torch.nn.ReLU())
    return AnalogSequential(*layers).eval()


def aihwkit_chip(net, spec, xt, y, times, seed: int, bound_management: bool):
    """One aihwkit chip (torch seed `seed`) read at every time: (accuracies, build seconds, total seconds)."""
    import torch
    start = time.perf_counter()
    torch.manual_seed(seed)
    model = aihwkit_model(net, spec, bound_management)
    built = time.perf_counter()
    model.program_analog_weights()
    accs = []
    for t in times:
        model.drift_analog_weights(t)
        with torch.no_grad():
            accs.append(float((model(xt).argmax(dim=1).numpy() == y).mean()))
    return accs, built - start, time.perf_counter() - start


def aimcgen_chip(net, spec, x, y, calib, times, seed: int):
    """One aimcgen chip (seed `seed`) read at every time: (accuracies, build seconds, total seconds)."""
    start = time.perf_counter()
    mapping = map_network(net, spec, calib)
    built = time.perf_counter()
    accs = [accuracy(PhysicsBackend(mapping, t_s=t, seed=seed, calib_x=calib), x, y) for t in times]
    return accs, built - start, time.perf_counter() - start


def compare(preset: str, seeds: int, times) -> dict:
    """Accuracies (seeds, times) of every engine, and per chip the samples per second with the build
    inside and outside the clock."""
    import torch
    net = load_network(default_model_path())
    x, y, calib = net.meta["x_test"], np.asarray(net.meta["y_test"]), net.meta["x_calib"]
    xt = torch.tensor(np.asarray(x).reshape(len(x), -1), dtype=torch.float32)
    spec = with_device(load_preset(preset), "pcm")
    runs = {name: [] for name in ENGINES}
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        threads = blas_threads()
        aimcgen_chip(net, spec, x, y, calib, times[:1], seeds)       # warm-up, not reported: lazy imports,
        aihwkit_chip(net, spec, xt, y, times[:1], seeds, True)       # caches and first-call costs
        aihwkit_chip(net, spec, xt, y, times[:1], seeds, False)
        for s in range(seeds):                                  # engines interleaved chip by chip
            runs["aimcgen"].append(aimcgen_chip(net, spec, x, y, calib, times, s))
            runs["aihwkit"].append(aihwkit_chip(net, spec, xt, y, times, s, bound_management=True))
            runs["aihwkit_no_bm"].append(aihwkit_chip(net, spec, xt, y, times, s, bound_management=False))
    samples = len(times) * len(y)
    out = {name: np.array([r[0] for r in chips]) for name, chips in runs.items()}
    out["float"] = float(np.mean(net.predict(x) == y))
    out["rates"] = {name: {"inside": [samples / r[2] for r in chips],
                           "outside": [samples / (r[2] - r[1]) for r in chips]} for name, chips in runs.items()}
    out["throughput"] = {name: float(np.median(r["inside"])) for name, r in out["rates"].items()}
    out["samples"] = len(y)
    out["threads"] = f"torch {torch.get_num_threads()} thread(s); {threads}"
    return out


def _cell(a: np.ndarray) -> str:
    return f"{st.describe(st.mean_ci(a))} ({100 * a.min():.1f}..{100 * a.max():.1f})"


def _rate(values) -> str:
    return f"{np.median(values):,.0f} ({min(values):,.0f}..{max(values):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tile64", choices=preset_names())
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--times", default=",".join(f"{t:g}" for t in TIMES))
    args = parser.parse_args()
    try:
        times = [float(t) for t in args.times.split(",")]
    except ValueError:
        parser.error(f"--times {args.times!r}: comma-separated seconds, e.g. 1,3600,86400")
    if args.seeds < 2 or min(times) < 0:
        parser.error("--seeds must be >= 2 (the intervals need two chips) and --times >= 0")
    r = compare(args.preset, args.seeds, times)
    print(f"digits MLP on {args.preset} (PCM), {args.seeds} chips each, global drift compensation; "
          f"float {100 * r['float']:.2f} %; accuracy % mean [95 % interval] (min..max); accuracy intervals: "
          f"{st.T_METHOD}; difference: {st.WELCH_METHOD}, the chips of the two simulators cannot be paired\n")
    print("| t (s) | aimcgen physics model | aihwkit, iterative BM | aihwkit, no BM | "
          "aimcgen - aihwkit iterative BM (points) | aimcgen - aihwkit no BM (points) |")
    print("|---|---|---|---|---|---|")
    for i, t in enumerate(times):
        cells = [_cell(r[name][:, i]) for name in ENGINES]
        diffs = []
        for other in ("aihwkit", "aihwkit_no_bm"):
            d = st.welch_difference(r["aimcgen"][:, i], r[other][:, i])
            diffs.append(f"{st.describe(d)}{'' if d['significant'] else ' (n.s.)'}")
        print(f"| {t:g} | {' | '.join(cells)} | {' | '.join(diffs)} |")
    print(f"\nconditions: each chip is one timed run per engine, engines interleaved chip by chip, "
          f"{args.seeds} chips x {len(times)} times x {r['samples']} test samples, one warm-up chip per engine "
          f"first; {r['threads']}; {machine()}\n")
    print("| engine | test samples/s, build inside the clock: median (min..max) over chips | "
          "build outside the clock | inside the clock |")
    print("|---|---|---|---|")
    inside = {"aimcgen": "map_network; per time PhysicsBackend (chip draw, compensation calibration) and "
                         "classification of the test set",
              "aihwkit": "AnalogLinear layers + set_weights; program_analog_weights; per time "
                         "drift_analog_weights and a forward pass of the test set"}
    for name, label in ENGINES.items():
        rates = r["rates"][name]
        print(f"| {label} | {_rate(rates['inside'])} | {_rate(rates['outside'])} | "
              f"{inside[name.split('_')[0]]} |")


if __name__ == "__main__":
    main()
