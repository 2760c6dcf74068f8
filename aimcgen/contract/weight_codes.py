"""Conductance codes: the integer weights a tile stores, checked once for every model and the RTL.

A tile with `tile.weight_bits = b` stores each weight as a signed code in -L..L with L = 2^(b-1) - 1
(`tile.conductance_levels`): the difference of a G+ and a G- device, each holding 0..L conductance steps.
"""

from __future__ import annotations

import numpy as np

from aimcgen.spec import DesignSpec, SpecError


def check_weights(weights: np.ndarray, spec: DesignSpec, shape: tuple[int, int]) -> np.ndarray:
    w = np.asarray(weights)
    if w.shape != shape:
        raise SpecError(f"weights: expected shape {shape}, got {w.shape}")
    if not np.issubdtype(w.dtype, np.integer):
        raise SpecError(f"weights: expected integer conductance codes, got {w.dtype}")
    levels = spec.tile.conductance_levels
    if w.size and (w.min() < -levels or w.max() > levels):
        raise SpecError(f"weights: codes must lie in -{levels}..{levels} for tile.weight_bits = "
                        f"{spec.tile.weight_bits}, got {w.min()}..{w.max()}")
    return w.astype(np.int64)
