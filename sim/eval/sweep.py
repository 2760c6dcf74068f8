"""Design-space sweeps: physics-model accuracy over spec variants x Monte-Carlo chips x drift times,
run as one Dask task per (spec point, seed) (`aimcgen sweep`).

A task maps the network onto its point's spec and reads the chip of its seed at every drift time, exactly as
`evaluate` does for one design (seed s is the same chip there), so a sweep point equals a direct
evaluation. The client is the caller's: a LocalCluster's or one connected to a scheduler; the network and
test set are scattered once to all workers.

Common chips: every point and every drift time uses chips 0..seeds-1, and chip s draws its programming,
drift and read noise from (s, layer, tile, stream) alone (sim.eval.backends.PhysicsBackend), so points that
differ in one field (ADC bits, ADC kind, device statistics, ...) and the drift times of a point are compared
pairwise on the same devices. Points whose tiles have another shape (tile.rows / tile.cols) keep the seed
but not every device draw. Each (point, time) carries its Student t interval over chips, and its paired
difference against the first point and against the first drift time (sim.eval.statistics).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import FloatBackend, PhysicsBackend, accuracy
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.report import _dataset
from aimcgen.spec import DesignSpec


def point_correct(spec: DesignSpec, data: tuple, seed: int, times: list[float],
                  compensation: bool = True) -> np.ndarray:
    """Per drift time and test sample, whether chip `seed` of `spec` classifies it right: (times, samples)
    booleans (the unit of work of a sweep)."""
    network, x, y, calib = data
    mapping = map_network(network, spec, calib)
    return np.array([PhysicsBackend(mapping, t_s=t, compensation=compensation, seed=seed, calib_x=calib).predict(x)
                     == np.asarray(y) for t in times], dtype=bool).reshape(len(times), len(y))


def point_accuracies(spec: DesignSpec, data: tuple, seed: int, times: list[float],
                     compensation: bool = True) -> list[float]:
    """Accuracy of chip `seed` of `spec` at each drift time."""
    return [float(a) for a in point_correct(spec, data, seed, times, compensation).mean(axis=1)]


def _label(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "base spec"


def run_sweep(client, points: list[tuple[dict[str, Any], DesignSpec]], network, *, design: str, seeds: int,
              times: list[float], compensation: bool = True,
              progress: Callable[[str], None] = print) -> dict:
    """Evaluate every point on `seeds` chips at every time on the Dask `client`; a JSON-ready dict with
    per-point, per-time statistics over seeds and the per-seed values."""
    from distributed import as_completed

    x, y, calib = _dataset(network)
    data = client.scatter((network, x, y, calib), broadcast=True)
    start = time.monotonic()
    futures = {}
    for p, (values, spec) in enumerate(points):
        for seed in range(seeds):
            fut = client.submit(point_correct, spec, data, seed, times, compensation, pure=False)
            futures[fut] = (p, seed)
    correct = np.zeros((len(points), seeds, len(times), len(y)), dtype=bool)
    results = np.zeros((len(points), seeds, len(times)))
    total = len(futures)
    try:
        for done, fut in enumerate(as_completed(futures), 1):
            p, seed = futures[fut]
            correct[p, seed] = fut.result()
            results[p, seed] = correct[p, seed].mean(axis=1)
            progress(f"{done}/{total} {_label(points[p][0])}, seed {seed}: "
                     + ", ".join(f"{100 * a:.2f} %" for a in results[p, seed]))
    except BaseException:
        client.cancel(list(futures))
        raise
    rows = []
    for p, (values, spec) in enumerate(points):
        per_time = [{"t_s": t, **st.accuracy_stat(correct[p, :, i]), "per_seed": results[p, :, i].tolist(),
                     "change_vs_first_time": st.paired_accuracy_stat(correct[p, :, i], correct[p, :, 0]),
                     "change_vs_first_point": st.paired_accuracy_stat(correct[p, :, i], correct[0, :, i])}
                    for i, t in enumerate(times)]
        rows.append({"overrides": values, "design": spec.name, "accuracy": per_time})
    workers = len(client.scheduler_info()["workers"])
    return {"design": design, "network": network.name, "layers": network.describe(), "test_samples": int(len(y)),
            "float_accuracy": accuracy(FloatBackend(network), x, y), "seeds": seeds, "times_s": list(times),
            "compensation": compensation,
            "statistics": {"accuracy": st.T_METHOD + " (one chip: " + st.WILSON_METHOD + ")",
                           "differences": "paired on the same chips (seed s is the same chip at every point and "
                                          "time) and test samples: " + st.CROSSED_METHOD},
            "fields": list(points[0][0]) if points else [], "points": rows,
            "tasks": total, "cluster": f"{workers} Dask worker{'s' * (workers != 1)}",
            "wall_s": time.monotonic() - start}
