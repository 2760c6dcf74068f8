"""Calibrate the emulated tile's noise (contract.noise, noise.sigma_lsb) to the read noise of real devices.

The emulated tile adds one pseudo-Gaussian draw of standard deviation `spec.noise.sigma_lsb` (charge units:
one conductance code for one drive cycle) to every sampled column charge. The float physics model
(sim.models.physics.PhysicsCrossbar) reads its devices with the 1/f and white read noise of `spec.device`. This
module measures, for the spec's tile and input encoding, how much that device read noise moves one sampled
column charge from one read to the next, and writes the figure into `noise.sigma_lsb`, so the emulated tile
is as noisy as the devices read.

What counts as read noise is what differs between reads at one time point: the per-read band of the 1/f
noise (1/FLICKER_WINDOW_S .. 1/(2 t_read), sim.models.physics) and the white read noise. The slower 1/f
band is one draw per time point, common to all reads then: like drift, it is a frozen error of the weights
at that time, not a fresh draw per sample. (Calibrating with the whole accumulated 1/f noise, as a fresh
draw per read, overstates the PCM preset's read-to-read spread by sqrt(total / per-read) = 1.52 at 1 s, 1.85 at
1 day and 2.04 at 1 year.)
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from aimcgen.sim.models import physics
from aimcgen.contract.encoding import drive_steps
from aimcgen.spec import DesignSpec, NoiseSpec

DEFAULT_T_S = 1.0           # 1 s after programming: Wan 2022's first read-out, the earliest useful read
DEFAULT_BATCH = 256
DEFAULT_READS = 8
DEFAULT_MIN_COLUMNS = 1024


def _sigma_lsb_range() -> tuple[float, float]:
    meta = {f.name: f.metadata for f in dataclasses.fields(NoiseSpec)}["sigma_lsb"]
    return float(meta["lo"]), float(meta["hi"])


def _read_codes(xbar: physics.PhysicsCrossbar, t_s: float, reads: int) -> np.ndarray:
    """`reads` reads of one programmed crossbar at the time point t_s: (reads, rows, cols) in code units.

    The same computation as `PhysicsCrossbar.conductances(t_s)` called `reads` times, done in one call of
    sim.models.physics.conductance_at with a reads axis broadcast behind the (G+, G-) pair axis: the programmed
    state (g_prog, stuck map, drift exponents, relaxation directions) and the time point's shared 1/f draws
    are common to the reads, every read draws fresh per-read noise.
    """
    full = (2, reads) + xbar.g_target.shape[1:]

    def per_read(a):
        return None if a is None else np.broadcast_to(a[:, None], full)

    g = physics.conductance_at(per_read(xbar.g_prog), per_read(xbar.g_target), per_read(xbar.nu), t_s,
                               xbar.spec.device, xbar.read_rng(), relax_z=per_read(xbar.relax_z),
                               stuck=per_read(xbar.stuck), flicker_z=per_read(xbar.flicker_z(t_s)))
    return xbar._to_codes(np.broadcast_to(g, full))     # g_us[0] - g_target[0] broadcasts over reads


def read_noise_sigma_charge(spec: DesignSpec, t_s: float = DEFAULT_T_S, seed: int = 0,
                            batch: int = DEFAULT_BATCH, *, reads: int = DEFAULT_READS,
                            min_columns: int = DEFAULT_MIN_COLUMNS,
                            drift_compensation: bool = False) -> float:
    """Standard deviation (charge units) that device read noise adds to one sampled column charge.

    Workload: `ceil(min_columns / tile.cols)` crossbars of the spec's tile, each with weights drawn
    uniformly over the codes -levels..levels and programmed into its own devices (programming noise, stuck
    devices, drift exponents, relaxation: sim.models.physics.PhysicsCrossbar), each driven by `batch` inputs drawn
    uniformly over -max..max. Charges are taken per drive step, as the ADC samples them and as the emulated
    tile adds its noise: for bit_serial the charge of one bit plane, for pwm the whole PWM charge.

    Method: every crossbar is read `reads` times at the same time t_s. Its programmed state and the time
    point's slow 1/f part are fixed, so the charges of one input differ between reads only by the per-read
    noise; the unbiased variance across the reads
    (for two reads exactly (c1 - c2)^2 / 2) estimates the read-noise variance of that charge. These
    variances are averaged over crossbars, inputs, steps and columns and the square root is returned: the
    RMS read noise of a sampled charge, the constant sigma whose noise power matches the devices'.
    Why repeated reads and not a comparison with the ideal weights: the deviation from the ideal charge also
    holds programming noise, stuck devices, drift and relaxation. Those are frozen into the devices: they
    are a fixed error of the programmed weights, which the emulated tile models (if at all) in the weights
    it is given, not a fresh random draw per sample as its noise generator is. Only the read noise is
    fresh at every read (and of the 1/f noise only its per-read band). The read noise itself still depends on
    them (1/f noise scales with the drifted conductance), which the measurement includes, because it reads
    the programmed devices at t_s.

    The reads are vectorized (sim.models.physics.conductance_at on a reads axis, one matmul per crossbar for all
    reads, steps and inputs). An ideal device (no read noise) gives exactly 0.

    drift_compensation: scale each crossbar's charges by its global drift compensation factor
    (PhysicsCrossbar.calibrate_drift_compensation on the workload inputs), as PhysicsCrossbar.mvm applies
    it before the ADC. The emulated tile does not drift, so with compensation the returned sigma matches the
    devices' noise relative to the (restored) signal; without it, sigma is in the drifted charge units.

    Note that the physics model's one read serves all bit planes of an MVM (its noise is correlated across
    the steps), while the emulated tile draws independent noise per sample: matching the per-sample sigma
    matches each sampled charge, not the noise of the shift-added bit-serial result (which is larger in the
    physics model).
    """
    if not t_s >= 0:
        raise ValueError(f"t_s = {t_s}: time since programming must be >= 0 s")
    if batch < 1 or reads < 2 or min_columns < 1:
        raise ValueError(f"batch = {batch}, reads = {reads}, min_columns = {min_columns}: need batch >= 1, "
                         f"reads >= 2 (read noise is measured between reads) and min_columns >= 1")
    rng = np.random.default_rng(seed)
    rows, cols = spec.tile.rows, spec.tile.cols
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    total, count = 0.0, 0
    for _ in range(math.ceil(min_columns / cols)):
        weights = rng.integers(-levels, levels + 1, (rows, cols))
        x = rng.integers(-m, m + 1, (batch, rows))
        xbar = physics.PhysicsCrossbar(spec, weights, rng)
        codes = _read_codes(xbar, t_s, reads)                             # (reads, rows, cols)
        drive = drive_steps(x, spec.input).astype(np.float64)             # (steps, batch, rows)
        # Charges relative to the first read: the variance across reads is unchanged, the common part
        # (weights, frozen device errors) cancels exactly, so identical reads give exactly 0.
        charges = drive[None] @ (codes - codes[0])[:, None]               # (reads, steps, batch, cols)
        if drift_compensation:
            charges *= xbar.calibrate_drift_compensation(x, t_s)
        variance = np.var(charges, axis=0, ddof=1)
        total += float(np.sum(variance))
        count += variance.size
    return math.sqrt(total / count)


def calibrated_noise_spec(spec: DesignSpec, t_s: float = DEFAULT_T_S, seed: int = 0, **kwargs) -> DesignSpec:
    """The spec with noise.sigma_lsb set to the measured device read noise (read_noise_sigma_charge).

    The sigma is clamped to the field's allowed range. kwargs (batch, reads, min_columns,
    drift_compensation) pass through to read_noise_sigma_charge.
    """
    lo, hi = _sigma_lsb_range()
    sigma = read_noise_sigma_charge(spec, t_s=t_s, seed=seed, **kwargs)
    return spec.replace(noise={"sigma_lsb": min(max(sigma, lo), hi)})
