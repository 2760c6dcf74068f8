"""How close the digital twin's device read noise comes to the physics model's, on a given workload.

The emulated tile with twin.read_noise on (contract.device_read_noise) sizes each sample's noise from its
column's weights and drive; the physics model (sim.models.physics.PhysicsCrossbar) reads real device
statistics. Both are measured here as the RMS read noise of one sampled column charge (charge units), over
the same random weights (magnitudes drawn from a given set, random signs) and inputs: the physics model
from two reads of each chip at t = 1 s (their difference holds only the per-read noise: the programmed
state and the time point's shared 1/f part cancel; variance = E[(c1 - c2)^2] / 2), the twin from the
gains its tables give each sample (sigma = G sqrt(21845) / 2^16, what the LFSR draw is scaled to).
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.contract import device_read_noise
from aimcgen.contract.encoding import drive_steps
from aimcgen.contract.noise import MULTIPLIER_FRAC_BITS, SIGMA_OF_SUM
from aimcgen.sim.models import physics
from aimcgen.spec import DesignSpec

READ_T_S = 1.0


def read_noise_spreads(spec: DesignSpec, magnitudes, *, seed: int, chips: int = 4,
                       batch: int = 64) -> tuple[float, float]:
    """(physics, twin): RMS per-sample read noise on `chips` tiles of weights with |w| drawn from
    `magnitudes`, each driven by `batch` random inputs."""
    rng = np.random.default_rng(seed)
    rows, cols, m = spec.tile.rows, spec.tile.cols, spec.input.max_magnitude
    gains = np.asarray(device_read_noise.gain_table(spec), dtype=np.float64)
    physical, emulated = [], []
    for _ in range(chips):
        w = rng.choice(np.asarray(magnitudes), (rows, cols)) * rng.choice([-1, 1], (rows, cols))
        x = rng.integers(-m, m + 1, (batch, rows))
        chip = physics.PhysicsCrossbar(spec, w, rng)
        first, second = chip.conductances(READ_T_S), chip.conductances(READ_T_S)
        drive = drive_steps(x, spec.input).astype(np.float64)
        physical.append(((drive @ (first - second)) ** 2 / 2).ravel())
        g = gains[device_read_noise.class_index(device_read_noise.column_variances(spec, drive, w))]
        emulated.append(((g * SIGMA_OF_SUM / (1 << MULTIPLIER_FRAC_BITS)) ** 2).ravel())
    return (math.sqrt(float(np.mean(np.concatenate(physical)))),
            math.sqrt(float(np.mean(np.concatenate(emulated)))))
