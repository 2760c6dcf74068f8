"""The digital twin's device conductances against the physics model's, per target level and time since programming.

Why: the emulated tile (contract.device_twin, device_twin_drift) stores integer device codes that land with a
programming error and drift by a factor per (drift code, epoch); the physics model (sim.models.physics) is the
statistical reference. Both are measured here on the same devices: one device per write aimed at code k
(the G+ of a weight k), `devices` writes per level k = 0..L, in conductance-code units (1 = g_max / L).

- twin: contract.device_twin.DeviceTwin with programming_error and drift on (stuck off: a per-level
  statistic of healthy devices), one PROG_WRITE per device (no verify retries), the device code d_e it
  holds at drift epoch e after a refresh to e (DeviceTwin.set_epoch, DeviceTwin.read_device: drifted,
  contract.device_twin_drift, relaxed, contract.device_twin_relaxation, and moved by the time point's
  shared 1/f noise, contract.device_twin_flicker; in 2^-FRACTION_BITS code, reported here in code units,
  the resolution at which the twin's integrators sum it; clamped to 0..L + H codes, H = ceil(L / 4) the
  headroom above the top level of contract.device_twin_drift);
- physics: sim.models.physics.program (programming noise, clamped at 0) then conductance_at at t =
  EPOCH_SECONDS[e] without read noise (drift, and RRAM relaxation), plus the time point's shared 1/f part
  (`shared_flicker`: one draw per device and time point, aihwkit's accumulated 1/f): the device's state at
  that time point, which is what the twin stores. `physics_read_std` is one whole read of the physics
  device (state plus all 1/f and white read noise) for comparison; the twin adds the per-read part
  (contract.device_read_noise) to each ADC sample, not to the stored code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from aimcgen.contract.device_twin import DeviceTwin
from aimcgen.contract.device_twin_drift import EPOCH_SECONDS
from aimcgen.sim.models import physics
from aimcgen.spec import DesignSpec


@dataclass(frozen=True)
class LevelStatistics:
    """Mean and standard deviation (code units) of devices aimed at `level`, at drift epoch `epoch`."""
    level: int
    epoch: int
    physics_mean: float
    physics_std: float
    twin_mean: float
    twin_std: float
    physics_read_std: float         # one whole physics read (with 1/f and white read noise)

    @property
    def mean_error(self) -> float:
        return self.twin_mean - self.physics_mean

    @property
    def std_error(self) -> float:
        return self.twin_std - self.physics_std


def twin_device_spec(spec: DesignSpec) -> DesignSpec:
    """The spec with the twin's programming error and drift on, stuck devices off."""
    return spec.replace(twin={"programming_error": "on", "drift": "on", "stuck": "off"})


def twin_codes(spec: DesignSpec, devices: int, epochs) -> np.ndarray:
    """Device conductances in code units (levels, epochs, devices) of the twin: the fine device codes over
    2^fraction_bits; `devices` writes per level, one tile's generator (noise.seed, tile 0) running through
    the levels in order."""
    spec = twin_device_spec(spec)
    rows, cols, levels = spec.tile.rows, spec.tile.cols, spec.tile.conductance_levels
    cells = rows * cols
    twin = DeviceTwin(spec, 0, np.zeros((rows, cols), dtype=np.int64))
    out = np.zeros((levels + 1, len(epochs), devices), dtype=np.float64)
    for k in range(levels + 1):
        code, drift, z = (np.zeros(devices, dtype=np.int64) for _ in range(3))
        for n in range(devices):
            r, c = divmod(n % cells, cols)
            twin.write(r, c, k)
            code[n], drift[n] = twin.devices.plus[r, c], twin.devices.plus_drift[r, c]
            z[n] = twin.devices.plus_relax[r, c]
        for i, e in enumerate(epochs):
            # A refresh to e draws the shared 1/f directions of every cell; devices beyond one tile's cells
            # take those of further refreshes (back to 0 and to e again), so no two devices share a draw.
            flicker_z = np.zeros(devices, dtype=np.int64)
            for start in range(0, devices, cells):
                if twin.epoch == e:
                    twin.set_epoch(0)
                twin.set_epoch(e)
                part = slice(start, min(start + cells, devices))
                flicker_z[part] = twin.flicker_z[0].reshape(-1)[:part.stop - part.start]
            out[k, i] = twin.read_device(code, drift, z, flicker_z) / (1 << twin.fraction_bits)
    return out


def shared_flicker(g_us: np.ndarray, g_prog: np.ndarray, t_s: float, device, rng: np.random.Generator) -> np.ndarray:
    """Devices g_us (uS, drifted) plus the time point's shared 1/f part, one draw each, clamped at 0: the rule
    of sim.models.physics.conductance_at, G + |G| Q(g_prog) sqrt(S) z_s, without its per-read part."""
    c, e, q_max = device.read_noise_q
    if not c:
        return g_us
    shared, _ = physics.flicker_log_terms(t_s, device)
    q = np.minimum(c / np.maximum((np.abs(g_prog) / device.g_max_us) ** e, 1e-3), q_max)
    return np.maximum(g_us + np.abs(g_us) * q * np.sqrt(shared) * rng.standard_normal(g_us.shape), 0.0)


def physics_codes(spec: DesignSpec, devices: int, epochs, seed: int, *, read: bool = False) -> np.ndarray:
    """Conductances in code units (levels, epochs, devices) of physics devices aimed at each level: their
    state at the time point (read=False: programming, drift, relaxation, the shared 1/f part) or one whole
    read (read=True)."""
    dev, levels = spec.device, spec.tile.conductance_levels
    quiet = dataclasses.replace(dev, read_noise_q=(0.0, 0.0, 0.0), read_noise_rel=0.0)
    rng = np.random.default_rng(seed)
    target = np.repeat(np.arange(levels + 1, dtype=np.float64)[:, None], devices, axis=1) * dev.g_max_us / levels
    g_prog = physics.program(target, dev, rng, stuck=np.zeros(target.shape, dtype=np.int8))
    nu = physics.drift_exponents(target, dev, rng)
    relax_z = rng.standard_normal(target.shape)
    out = np.zeros((levels + 1, len(epochs), devices))
    for i, e in enumerate(epochs):
        t_s = float(EPOCH_SECONDS[e])
        g = physics.conductance_at(g_prog, target, nu, t_s, dev if read else quiet, rng, relax_z)
        if not read:
            g = shared_flicker(g, g_prog, t_s, dev, rng)
        out[:, i] = g * levels / dev.g_max_us
    return out


def level_statistics(spec: DesignSpec, epochs, *, devices: int = 2000, seed: int = 0) -> list[LevelStatistics]:
    """Per level and epoch, twin against physics on `devices` devices each (physics draws from `seed`, the
    twin from the spec's noise.seed)."""
    twin = twin_codes(spec, devices, epochs).astype(np.float64)
    state = physics_codes(spec, devices, epochs, seed)
    read = physics_codes(spec, devices, epochs, seed, read=True)
    return [LevelStatistics(k, e, float(state[k, i].mean()), float(state[k, i].std()), float(twin[k, i].mean()),
                            float(twin[k, i].std()), float(read[k, i].std()))
            for k in range(twin.shape[0]) for i, e in enumerate(epochs)]
