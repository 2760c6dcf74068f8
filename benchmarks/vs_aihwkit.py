"""The shipped digits MLP on aimcgen's physics model and on IBM aihwkit's PCM inference model, side by side.

    python benchmarks/vs_aihwkit.py [--preset tile64] [--seeds 10] [--times 1,3600,86400,2592000,31557600]

Needs `pip install 'aimcgen[aihwkit]'`. Both sides take the same float weights and the same PCM statistics
(aihwkit's PCMLikeNoiseModel at g_max = the preset's, which our PCM preset reproduces) with global drift
compensation, and are read at the same times after programming. What differs is the periphery: aimcgen
runs the preset's quantized weights, bit-serial/PWM inputs, ADCs, shift-add and fixed-point affine
correction; aihwkit its one-pass IO model, set to the preset's input and ADC resolutions with per-column
weight scaling (as our mapping), no additive output noise (our PCM preset has none), and aihwkit's defaults
otherwise (out_bound 12, abs-max noise management, iterative bound management). aihwkit runs its
pure-PyTorch tile (TorchInferenceRPUConfig): the C++ simulator in the aihwkit 1.1.0 wheel is built against
another torch and rejects this one's tensors ("weights must be a CPU tensor").

Prints per drift time both accuracy distributions over Monte-Carlo chips (mean [95 % Student t interval over
chips] (min..max)), the difference of the means with its 95 % Welch interval: the two sides' chips cannot
be paired (aihwkit draws from torch's generator, aimcgen from its own per-chip streams), so the chips are
treated as independent samples (Welch-Satterthwaite degrees of freedom); and the throughput of both
engines in test samples per second, end to end (programming, drift, compensation and inference of the test
set), each on one thread so that the numbers compare engines rather than core counts.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from aimcgen.presets import load_preset  # noqa: E402
from aimcgen.sim.eval import statistics as st  # noqa: E402
from aimcgen.sim.eval.backends import PhysicsBackend, accuracy, with_device  # noqa: E402
from aimcgen.sim.eval.mapping import map_network  # noqa: E402
from aimcgen.sim.eval.network import default_model_path, load_network  # noqa: E402

TIMES = [1.0, 3600.0, 86400.0, 30 * 86400.0, 365.25 * 86400.0]


def aihwkit_model(net, spec):
    """The network as aihwkit AnalogLinear layers (digital bias) on the pure-PyTorch inference tile with
    the PCM noise model and global drift compensation."""
    import torch
    from aihwkit.inference import GlobalDriftCompensation, PCMLikeNoiseModel
    from aihwkit.nn import AnalogLinear, AnalogSequential
    from aihwkit.simulator.configs import TorchInferenceRPUConfig

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
    layers = []
    for layer in net.layers:
        analog = AnalogLinear(layer.in_features, layer.out_features, bias=True, rpu_config=rpu)
        analog.set_weights(torch.tensor(layer.weight.T, dtype=torch.float32),
                           torch.tensor(layer.bias, dtype=torch.float32))
        layers.append(analog)
        if layer.activation == "relu":
            layers.append(torch.nn.ReLU())
    return AnalogSequential(*layers).eval()


def aihwkit_accuracies(net, spec, x, y, times, seeds) -> tuple[np.ndarray, float]:
    """(seeds, times) accuracies of aihwkit chips (one programming per seed, drifted to each time) and the
    wall time spent."""
    import torch
    torch.set_num_threads(1)
    xt = torch.tensor(np.asarray(x).reshape(len(x), -1), dtype=torch.float32)
    out = np.zeros((seeds, len(times)))
    start = time.perf_counter()
    for s in range(seeds):
        torch.manual_seed(s)
        model = aihwkit_model(net, spec)
        model.program_analog_weights()
        for i, t in enumerate(times):
            model.drift_analog_weights(t)
            with torch.no_grad():
                out[s, i] = float((model(xt).argmax(dim=1).numpy() == y).mean())
    return out, time.perf_counter() - start


def aimcgen_accuracies(net, spec, x, y, calib, times, seeds) -> tuple[np.ndarray, float]:
    """(seeds, times) accuracies of aimcgen physics-model chips and the wall time spent."""
    mapping = map_network(net, spec, calib)
    out = np.zeros((seeds, len(times)))
    start = time.perf_counter()
    for s in range(seeds):
        for i, t in enumerate(times):
            out[s, i] = accuracy(PhysicsBackend(mapping, t_s=t, seed=s, calib_x=calib), x, y)
    return out, time.perf_counter() - start


def compare(preset: str, seeds: int, times) -> dict:
    net = load_network(default_model_path())
    x, y, calib = net.meta["x_test"], np.asarray(net.meta["y_test"]), net.meta["x_calib"]
    spec = with_device(load_preset(preset), "pcm")
    ours, t_ours = aimcgen_accuracies(net, spec, x, y, calib, times, seeds)
    theirs, t_theirs = aihwkit_accuracies(net, spec, x, y, times, seeds)
    samples = seeds * len(times) * len(y)
    return {"aimcgen": ours, "aihwkit": theirs, "float": float(np.mean(net.predict(x) == y)),
            "throughput": {"aimcgen": samples / t_ours, "aihwkit": samples / t_theirs}}


def _cell(a: np.ndarray) -> str:
    return f"{st.describe(st.mean_ci(a))} ({100 * a.min():.1f}..{100 * a.max():.1f})"


def differences(r: dict) -> list[dict]:
    """Per drift time, mean(aimcgen) - mean(aihwkit) with its Welch 95 % interval (unpaired chips)."""
    return [st.welch_difference(r["aimcgen"][:, i], r["aihwkit"][:, i]) for i in range(r["aimcgen"].shape[1])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tile64")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--times", default=",".join(f"{t:g}" for t in TIMES))
    args = parser.parse_args()
    times = [float(t) for t in args.times.split(",")]
    r = compare(args.preset, args.seeds, times)
    print(f"digits MLP on {args.preset} (PCM), {args.seeds} chips each, global drift compensation; "
          f"float {100 * r['float']:.2f} %; accuracy % mean [95 % interval] (min..max); accuracy intervals: "
          f"{st.T_METHOD}; difference: {st.WELCH_METHOD}, the chips of the two simulators cannot be paired\n")
    print("| t (s) | aimcgen physics model | aihwkit PCMLikeNoiseModel | difference of means (points) |")
    print("|---|---|---|---|")
    for i, (t, d) in enumerate(zip(times, differences(r))):
        ours, theirs = r["aimcgen"][:, i], r["aihwkit"][:, i]
        print(f"| {t:g} | {_cell(ours)} | {_cell(theirs)} | "
              f"{st.describe(d)}{'' if d['significant'] else ' (n.s.)'} |")
    print("\n| engine | test samples / s (end to end, one thread) |\n|---|---|")
    for name, rate in r["throughput"].items():
        print(f"| {name} | {rate:,.0f} |")


if __name__ == "__main__":
    main()
