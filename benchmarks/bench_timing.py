"""Timing rules shared by the benchmark scripts, so that their figures mean the same thing.

A figure is the median over `repeats` timing windows, with the range (min..max) beside it; the engines
compared in one table are timed in the same repeat, one window after the other, so a load spike hits both
and their ratio is taken per repeat. BLAS is pinned to a fixed thread count for every side (threadpoolctl),
and the script prints the conditions (repeats, window, threads, dtype, load) next to the figures.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_info


def blas_threads() -> str:
    """The BLAS and OpenMP pools numpy (and torch, if loaded) see now, e.g. 'openblas 1 thread'."""
    pools = [f"{p.get('internal_api')} {p.get('num_threads')} thread{'s' if p.get('num_threads') != 1 else ''}"
             for p in threadpool_info()]
    return ", ".join(pools) or "no BLAS pool found"


def machine() -> str:
    """CPU count, load average (1 min) and the Python and numpy versions."""
    load = f"load average {os.getloadavg()[0]:.2f}" if hasattr(os, "getloadavg") else "load unknown"
    return (f"{os.cpu_count()} CPUs ({platform.machine()}), {load}, python {sys.version.split()[0]}, "
            f"numpy {np.__version__}")


def window_seconds(fn: Callable[[], object], min_seconds: float) -> tuple[float, int]:
    """Mean seconds per call of fn over a window of at least min_seconds (at least one call), and the calls."""
    calls, start = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return elapsed / calls, calls


def interleaved(fns: dict[str, Callable[[], object]], repeats: int,
                min_seconds: float) -> dict[str, list[float]]:
    """Seconds per call of each fn in each repeat; within a repeat the fns run one window after the other."""
    for fn in fns.values():
        fn()                                                      # warm-up: caches, tables, allocator
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(window_seconds(fn, min_seconds)[0])
    return times


def median_range(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt_rate(values: list[float], digits: int = 0) -> str:
    """'median (min..max)' of a list of rates."""
    med, lo, hi = median_range(values)
    return f"{med:,.{digits}f} ({lo:,.{digits}f}..{hi:,.{digits}f})"
