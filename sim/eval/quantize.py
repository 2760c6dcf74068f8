"""Weight codes for a layer: per-column scales and codes that minimize the expected output error.

Max-abs scaling spends the few conductance levels of a low-resolution tile (4-bit codes on tile64) on each
column's single largest weight, and device noise is largest, relative to the signal, on small
conductances. Instead each column's scale s is chosen on a grid of clipping points c = s * levels to
minimize the expected squared error of the column's output over the layer's calibration inputs x,

    E[(x . (w_hat - w))^2] ~ sum_i E[x_i^2] ((E[w_hat_i] - w_i)^2 + var(w_hat_i))

(errors of different devices independent), where w_hat is what the devices deliver for the chosen code:
s * k for an ideal device, or s times the mean and spread of code k's effective conductance at a
reference time after programming, after a global drift compensation gain (`DeviceLevels`, measured
through sim.models.physics with a fixed seed). Each weight takes the code minimizing its own term, which for an
ideal device is rounding with clipping at c. The mean remaining error E[x] . (E[w_hat] - w) goes into the
column's bias (bias correction with calibration data, Nagel et al., ICCV 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.sim.models import physics
from aimcgen.spec import DeviceSpec

DEVICE_TIME_S = 86400.0         # the accuracy aim is stated at 1 day after programming
_DEVICES_PER_LEVEL = 2000
_CLIP_GRID = np.linspace(0.4, 1.0, 31)      # clipping points, as fractions of the column's max |w|


@dataclass(frozen=True)
class DeviceLevels:
    """Mean and variance (code units, after a global compensation gain) of each code 0..levels as read."""
    mean: np.ndarray                # (levels + 1,)
    var: np.ndarray                 # (levels + 1,)

    @classmethod
    def ideal(cls, levels: int) -> "DeviceLevels":
        return cls(np.arange(levels + 1, dtype=np.float64), np.zeros(levels + 1))

    @classmethod
    def measure(cls, device: DeviceSpec, levels: int, t_s: float = DEVICE_TIME_S, seed: int = 0):
        """Monte Carlo over device pairs (G+ = code k, G- = 0) programmed and read at t_s. The gain that
        best maps the mean read codes back onto k (least squares) stands in for global drift compensation,
        which restores the mean signal of the whole tile."""
        rng = np.random.default_rng(seed)
        k = np.arange(levels + 1, dtype=np.float64)
        target = np.zeros((2, levels + 1, _DEVICES_PER_LEVEL))
        target[0] = (k * device.g_max_us / levels)[:, None]
        stuck = physics.draw_stuck(target.shape, device, rng)     # no draw when both fractions are 0
        g = physics.conductance_at(physics.program(target, device, rng, stuck=stuck), target,
                                   physics.drift_exponents(target, device, rng), t_s, device, rng, stuck=stuck)
        # Code plus deviation from target, as PhysicsCrossbar reads it: exact for an ideal device.
        codes = k[:, None] + ((g[0] - target[0]) - (g[1] - target[1])) * levels / device.g_max_us
        mean, var = codes.mean(axis=1), codes.var(axis=1)
        gain = float(np.sum(mean * k) / np.sum(k * k))
        gain = gain if gain > 0 else 1.0        # devices that read nothing: no gain restores them
        return cls(mean / gain, var / gain ** 2)


def quantize_layer(w: np.ndarray, levels: int, x_calib: np.ndarray, dev: DeviceLevels | None = None, *,
                   per_column: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w_scale (out,), codes (in, out) int64, expected effective weights (in, out)) for w (in, out).

    x_calib (n, in): the layer's float crossbar inputs on calibration data; each row's error is weighted
    by E[x_i^2]. per_column=False: one scale for the layer, chosen on the summed error.
    """
    w = np.asarray(w, dtype=np.float64)
    dev = dev or DeviceLevels.ideal(levels)
    x_calib = np.asarray(x_calib, dtype=np.float64)
    m2 = np.mean(x_calib ** 2, axis=0) if len(x_calib) else np.ones(len(w))
    m2 = m2 + 1e-9 * max(float(m2.max(initial=0.0)), 1e-30)       # rows never driven still get codes
    w_max = np.max(np.abs(w), axis=0) if per_column else np.full(w.shape[1], np.max(np.abs(w)))
    w_max = np.where(w_max > 0, w_max, 1.0)
    best_err = np.full(w.shape[1], np.inf)
    w_scale, codes = np.zeros(w.shape[1]), np.zeros(w.shape, dtype=np.int64)
    for frac in _CLIP_GRID:
        scale = frac * w_max / levels
        k, cost = _codes(np.abs(w) / scale, dev)                    # (in, out) codes, cost in code^2
        err = (cost * scale ** 2 * m2[:, None]).sum(axis=0)        # (out,)
        if not per_column:
            err = np.full_like(err, err.sum())
        better = err < best_err
        best_err[better], w_scale[better], codes[:, better] = err[better], scale[better], k[:, better]
    codes = np.where(w < 0, -codes, codes)
    effective = np.sign(codes) * dev.mean[np.abs(codes)] * w_scale
    return w_scale, codes, effective


def _codes(target: np.ndarray, dev: DeviceLevels) -> tuple[np.ndarray, np.ndarray]:
    """Per target magnitude (code units), the code minimizing (mean_k - target)^2 + var_k, and that cost.
    Only codes near the target are candidates (the means rise with k), which bounds the memory."""
    top = len(dev.mean) - 1
    near = np.clip(np.searchsorted(np.maximum.accumulate(dev.mean), target), 0, top)
    cand = np.clip(near[..., None] + np.arange(-3, 3), 0, top)            # (..., 6)
    cost = (dev.mean[cand] - target[..., None]) ** 2 + dev.var[cand]
    i = np.argmin(cost, axis=-1)[..., None]
    return np.take_along_axis(cand, i, axis=-1)[..., 0], np.take_along_axis(cost, i, axis=-1)[..., 0]
