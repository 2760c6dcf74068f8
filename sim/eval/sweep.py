"""Design-space sweeps: physics-model accuracy over spec variants x Monte-Carlo chips x drift times,
run as one Dask task per (spec point, seed) (`aimcgen sweep`).

A task maps the network onto its point's spec and reads the chip of its seed at every drift time, exactly as
`evaluate` does for one design (seed s is the same chip there), so a sweep point equals a direct
evaluation. The client is the caller's: a LocalCluster's or one connected to a scheduler; the network and
test set are scattered once to all workers.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from aimcgen.sim.eval.backends import FloatBackend, PhysicsBackend, accuracy
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.report import _dataset, _stats
from aimcgen.spec import DesignSpec


def point_accuracies(spec: DesignSpec, data: tuple, seed: int, times: list[float],
                     compensation: bool = True) -> list[float]:
    """Accuracy of chip `seed` of `spec` at each drift time (the unit of work of a sweep)."""
    network, x, y, calib = data
    mapping = map_network(network, spec, calib)
    return [accuracy(PhysicsBackend(mapping, t_s=t, compensation=compensation, seed=seed, calib_x=calib), x, y)
            for t in times]


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
            fut = client.submit(point_accuracies, spec, data, seed, times, compensation, pure=False)
            futures[fut] = (p, seed)
    results = np.zeros((len(points), seeds, len(times)))
    total = len(futures)
    try:
        for done, fut in enumerate(as_completed(futures), 1):
            p, seed = futures[fut]
            results[p, seed] = fut.result()
            progress(f"{done}/{total} {_label(points[p][0])}, seed {seed}: "
                     + ", ".join(f"{100 * a:.2f} %" for a in results[p, seed]))
    except BaseException:
        client.cancel(list(futures))
        raise
    rows = []
    for p, (values, spec) in enumerate(points):
        per_time = [{"t_s": t, **_stats(results[p, :, i]), "per_seed": results[p, :, i].tolist()}
                    for i, t in enumerate(times)]
        rows.append({"overrides": values, "design": spec.name, "accuracy": per_time})
    workers = len(client.scheduler_info()["workers"])
    return {"design": design, "network": network.name, "layers": network.describe(), "test_samples": int(len(y)),
            "float_accuracy": accuracy(FloatBackend(network), x, y), "seeds": seeds, "times_s": list(times),
            "compensation": compensation, "fields": list(points[0][0]) if points else [], "points": rows,
            "tasks": total, "cluster": f"{workers} Dask worker{'s' * (workers != 1)}",
            "wall_s": time.monotonic() - start}
