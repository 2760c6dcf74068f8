"""Statistics of the float physics model (sim.models.physics) against the formulas of its sources."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from aimcgen.spec import device_preset
from aimcgen.sim.models import physics
from aimcgen.sim.models.physics import PhysicsCrossbar
from aimcgen.spec import from_dict

IDEAL, PCM, RRAM = (device_preset(m) for m in ("ideal", "pcm", "rram"))

N = 200_000
DAY = 86400.0
YEAR = 365.25 * 86400.0


def std_tolerance(n: int) -> float:
    # The sample std of n Gaussian draws has relative standard error 1/sqrt(2n); allow 5 of them.
    return 5.0 / math.sqrt(2.0 * n)


def folded_normal_mean(mu: float, sigma: float) -> float:
    if sigma == 0:
        return abs(mu)
    return (sigma * math.sqrt(2 / math.pi) * math.exp(-mu * mu / (2 * sigma * sigma))
            + mu * math.erf(mu / (sigma * math.sqrt(2))))


@pytest.mark.parametrize("device, gs", [(PCM, (0.1, 0.5, 1.0)), (RRAM, (0.4, 0.7, 1.0))])
def test_programming_noise_matches_polynomial(device, gs):
    # Targets are > 5 sigma above 0, so the clamp at 0 does not bias mean or std measurably.
    rng = np.random.default_rng(1)
    for g in gs:
        target = g * device.g_max_us
        sigma = float(np.polynomial.polynomial.polyval(g, device.prog_noise_us))
        assert physics.programming_noise_sigma(target, device) == pytest.approx(sigma)
        prog = physics.program(np.full(N, target), device, rng)
        assert np.std(prog) == pytest.approx(sigma, rel=std_tolerance(N))
        # Mean: 5 standard errors sigma/sqrt(N).
        assert abs(np.mean(prog) - target) < 5 * sigma / math.sqrt(N)


def test_drift_exponent_mean_is_folded_normal():
    device = dataclasses.replace(PCM, read_noise_q=(0.0, 0.0, 0.0))
    rng = np.random.default_rng(2)
    t = 3600.0
    # g = 1: both clamps at their floors; 0.05: unclamped and folding matters; 0.01: sigma at its ceiling.
    for g in (1.0, 0.3, 0.05, 0.01):
        target = np.full(N, g * device.g_max_us)
        nu = physics.drift_exponents(target, device, rng)
        g_t = physics.conductance_at(target, target, nu, t, device, rng)
        measured = np.log(g_t / target) / -np.log((t + device.drift_t0_s) / device.drift_t0_s)
        a, b, lo, hi = device.drift_mu
        mu = min(max(a * math.log(g) + b, lo), hi)
        a, b, lo, hi = device.drift_sigma
        sigma = min(max(a * math.log(g) + b, lo), hi)
        # 5 standard errors of the mean (the std of |N(mu, sigma)| is at most sigma).
        assert np.mean(measured) == pytest.approx(folded_normal_mean(mu, sigma), abs=5 * sigma / math.sqrt(N))
        np.testing.assert_allclose(measured, nu, rtol=1e-9)


@pytest.mark.parametrize("t", [0.0, 60.0, YEAR])
def test_accumulated_read_noise_matches_aihwkit(t):
    device = dataclasses.replace(PCM, drift_sigma=(0.0, 0.0, 0.0, 0.0))
    rng = np.random.default_rng(3)
    c, e, q_max = device.read_noise_q
    for g in (0.2, 0.5, 1.0):
        # Up to ~4.5 sigma above 0 at one year (g = 0.2): the clamp at 0 is negligible.
        target = np.full(N, g * device.g_max_us)
        nu = physics.drift_exponents(target, device, rng)
        assert np.ptp(nu) == 0.0                                 # deterministic drift
        drifted = target * ((t + device.drift_t0_s) / device.drift_t0_s) ** -nu
        g_t = physics.conductance_at(target, target, nu, t, device, rng)
        q = min(c / max(g ** e, 1e-3), q_max)
        sigma = q * math.sqrt(math.log((t + device.drift_t0_s + device.t_read_s) / (2 * device.t_read_s)))
        assert np.std(g_t / drifted - 1.0) == pytest.approx(sigma, rel=std_tolerance(N))
        assert abs(np.mean(g_t / drifted - 1.0)) < 5 * sigma / math.sqrt(N)


def test_stuck_fractions_are_binomial():
    device = dataclasses.replace(PCM, stuck_set_fraction=0.03, stuck_reset_fraction=0.1)
    rng = np.random.default_rng(4)
    # Mid-range target: programming noise (~1 uS) never reaches 0 or exactly g_max by itself.
    prog = physics.program(np.full(N, 0.5 * device.g_max_us), device, rng)
    for count, p in ((np.sum(prog == device.g_max_us), 0.03), (np.sum(prog == 0.0), 0.1)):
        assert abs(count - N * p) < 5 * math.sqrt(N * p * (1 - p))


def test_ideal_device_is_unchanged():
    rng = np.random.default_rng(5)
    g_prog = rng.uniform(0, IDEAL.g_max_us, (7, 5))
    nu = physics.drift_exponents(g_prog, IDEAL, rng)
    assert np.array_equal(physics.conductance_at(g_prog, g_prog, nu, YEAR, IDEAL, rng), g_prog)
    assert np.array_equal(physics.program(g_prog, IDEAL, rng), g_prog)


def test_weights_and_codes_to_conductances():
    gp, gm = physics.weights_to_conductances(np.array([[0.5, -1.0], [0.0, 0.25]]), PCM)
    np.testing.assert_allclose(gp, [[12.5, 0.0], [0.0, 6.25]])
    np.testing.assert_allclose(gm, [[0.0, 25.0], [0.0, 0.0]])
    gp, gm = physics.weights_to_conductances(np.zeros((2, 2)), PCM)
    assert not gp.any() and not gm.any()
    gp, gm = physics.codes_to_conductances([0, 7], [3, 0], 7, RRAM)
    np.testing.assert_allclose(gp, [0.0, 40.0])
    np.testing.assert_allclose(gm, [3 * 40.0 / 7, 0.0])


@pytest.mark.parametrize("encoding", ["pwm", "bit_serial"])
@pytest.mark.parametrize("rows, cols, weight_bits, input_bits", [(16, 8, 4, 5), (9, 3, 6, 4), (16, 4, 8, 3)])
def test_ideal_crossbar_is_exact(encoding, rows, cols, weight_bits, input_bits):
    # 14-bit ADC with full scale 2^13: one code per charge unit, and every charge of these shapes
    # (at most rows * levels * max input = 16 * 127 * 3 = 6096) stays below 2^13, so nothing clips.
    spec = from_dict({"device": {"model": "ideal"},
                      "tile": {"rows": rows, "cols": cols, "weight_bits": weight_bits},
                      "input": {"bits": input_bits, "encoding": encoding},
                      "adc": {"bits": 14, "full_scale": 1 << 13, "count": 1},
                      "accumulator": {"bits": 32}})
    rng = np.random.default_rng(6)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    for _ in range(3):
        w = rng.integers(-levels, levels + 1, (rows, cols))
        x = rng.integers(-m, m + 1, (20, rows))
        expected = x @ w
        assert np.abs(expected).max() < 1 << 13                   # no clipping, so exact equality holds
        xbar = PhysicsCrossbar(spec, w, rng)
        assert np.array_equal(xbar.conductances(YEAR), w)
        assert xbar.column_charges(x).shape == (spec.input.steps, 20, cols)
        for t in (0.0, YEAR):
            out = xbar.mvm(x, t)
            assert out.dtype == np.int64 and np.array_equal(out, expected)


def test_crossbar_is_reproducible():
    spec = from_dict({})
    w = np.random.default_rng(7).integers(-7, 8, (16, 16))
    x = np.random.default_rng(8).integers(-7, 8, (4, 16))
    a, b = PhysicsCrossbar(spec, w, 11), PhysicsCrossbar(spec, w, 11)
    assert np.array_equal(a.mvm(x, 100.0), b.mvm(x, 100.0))


def test_global_drift_compensation_pcm():
    spec = from_dict({"device": {"model": "pcm"}, "tile": {"rows": 64, "cols": 32, "weight_bits": 5},
                      "input": {"bits": 5, "encoding": "bit_serial"},
                      "adc": {"bits": 12, "full_scale": 1 << 11, "count": 1}, "accumulator": {"bits": 24}})
    rng = np.random.default_rng(9)
    w = rng.integers(-15, 16, (64, 32))
    xbar = PhysicsCrossbar(spec, w, rng)
    x, x_cal = rng.integers(-15, 16, (256, 64)), rng.integers(-15, 16, (256, 64))
    reference = np.mean(np.abs(xbar.mvm(x, 0.0)))
    factor = xbar.calibrate_drift_compensation(x_cal, YEAR)
    assert factor > 1.5                                          # nu ~ 0.05 over 1.6e6 t0: G drops ~50 %
    drifted = np.mean(np.abs(xbar.mvm(x, YEAR)))
    compensated = np.mean(np.abs(xbar.mvm(x, YEAR, compensation=factor)))
    assert drifted < 0.7 * reference
    # A few %: the factor comes from a different input set and one read-noise draw, and per-device nu
    # spreads make the drift not exactly a global scale.
    assert compensated == pytest.approx(reference, rel=0.04)


def test_rram_relaxes_without_drift():
    rng = np.random.default_rng(10)
    rel = RRAM.read_noise_rel
    for g in (0.6, 0.8, 1.0):
        # >= 6 sigma above 0 at 1 day, so the clamp at 0 does not bias the statistics.
        target = np.full(N, g * RRAM.g_max_us)
        prog = physics.program(target, RRAM, rng)
        nu = physics.drift_exponents(target, RRAM, rng)
        assert not nu.any()
        sigma_prog = float(physics.programming_noise_sigma(g * RRAM.g_max_us, RRAM))
        sigma_relax = float(np.polynomial.polynomial.polyval(g, RRAM.relax_us))
        stds = []
        for t in (1.0, 86400.0):
            g_t = physics.conductance_at(prog, target, nu, t, RRAM, rng)
            growth = min(math.log1p(t / RRAM.drift_t0_s) / math.log1p(RRAM.relax_time_s / RRAM.drift_t0_s), 1)
            # Device spread sigma_prog (+) growth * sigma_relax, then white read noise rel g_max / sqrt(2) N(0, 1).
            device_var = sigma_prog ** 2 + (growth * sigma_relax) ** 2
            expected = math.sqrt(device_var + (rel * RRAM.g_max_us) ** 2 / 2)
            assert np.std(g_t) == pytest.approx(expected, rel=std_tolerance(N))
            assert abs(np.mean(g_t) - target[0]) < 5 * expected / math.sqrt(N)    # no drift of the mean
            stds.append(np.std(g_t))
        assert stds[1] > 1.2 * stds[0]


def test_active_block_equals_whole_tile():
    """An ideal tile modelled only on its used 5x3 block gives the whole tile's results on those columns;
    inputs or weights outside the block are refused, since the block model would silently drop them."""
    spec = from_dict({"device": {"model": "ideal"}, "tile": {"rows": 16, "cols": 8}})
    rng = np.random.default_rng(12)
    w = np.zeros((16, 8), dtype=np.int64)
    w[:5, :3] = rng.integers(-7, 8, (5, 3))
    x = np.zeros((6, 16), dtype=np.int64)
    x[:, :5] = rng.integers(-7, 8, (6, 5))
    whole, block = PhysicsCrossbar(spec, w, 1), PhysicsCrossbar(spec, w, 1, active=(5, 3))
    assert block.g_prog.shape == (2, 5, 3) and block.conductances(YEAR).shape == (5, 3)
    assert np.array_equal(block.mvm(x, YEAR), whole.mvm(x, YEAR)[:, :3])
    assert block.calibrate_drift_compensation(x, YEAR) == 1.0
    x[0, 7] = 1
    with pytest.raises(ValueError, match="outside the active block"):
        block.mvm(x)
    w[6, 1] = 1
    with pytest.raises(ValueError, match="outside the active block"):
        PhysicsCrossbar(spec, w, 1, active=(5, 3))
    with pytest.raises(ValueError, match="active"):
        PhysicsCrossbar(spec, np.zeros((16, 8), dtype=np.int64), 1, active=(0, 3))


# --- issue 15: stuck devices, RRAM read noise, 1/f noise per time point ------------------------------------

def _stuck_spec(model: str):
    # No programming or read noise, so a device that reads other than its target is stuck (or drifted).
    # RRAM relaxation spread 2 g uS: 0 at g = 0, so every G- aimed at 0 stays exactly 0 while the G+ relax.
    device = {"model": model, "prog_noise_us": [0.0], "read_noise_q": [0.0, 0.0, 0.0], "read_noise_rel": 0.0,
              "stuck_set_fraction": 0.2, "stuck_reset_fraction": 0.2}
    if model == "rram":
        device["relax_us"] = [0.0, 2.0]
    return from_dict({"device": device, "tile": {"rows": 64, "cols": 64, "weight_bits": 4}})


@pytest.mark.parametrize("streams", [False, True])
@pytest.mark.parametrize("model, t_s", [("pcm", YEAR), ("rram", DAY)])
def test_stuck_devices_hold_their_value(model, t_s, streams):
    """A stuck device neither drifts nor relaxes: a G+ stuck at g_max reads the full weight and one stuck at 0
    reads 0 at every time (read noise off), while the healthy devices around them do move."""
    spec = _stuck_spec(model)
    levels = spec.tile.conductance_levels
    w = np.full((64, 64), levels - 1)                              # G+ aimed below g_max, G- at 0
    xbar = (PhysicsCrossbar(spec, w, streams=physics.ChipStreams(3)) if streams
            else PhysicsCrossbar(spec, w, 3))
    g_max = spec.device.g_max_us
    g_minus_zero = xbar.g_prog[1] == 0.0                           # G- not stuck at set
    stuck_set = (xbar.g_prog[0] == g_max) & g_minus_zero
    stuck_reset = (xbar.g_prog[0] == 0.0) & g_minus_zero           # no programming noise: only stuck reads 0
    healthy = ~(stuck_set | stuck_reset) & g_minus_zero
    assert stuck_set.sum() > 200 and stuck_reset.sum() > 200 and healthy.sum() > 1000
    for t in (1.0, t_s):
        codes = xbar.conductances(t)
        np.testing.assert_allclose(codes[stuck_set], levels, rtol=0, atol=1e-9)
        np.testing.assert_allclose(codes[stuck_reset], 0.0, rtol=0, atol=1e-9)
    # ... while the healthy G+ drift (PCM: ~half the weight in a year) or relax (RRAM: 0.3 codes at 6/7 g_max).
    assert np.mean(np.abs(xbar.conductances(t_s)[healthy] - (levels - 1))) > 0.1


def test_stuck_device_holds_at_conductance_level():
    """conductance_at with a stuck map: stuck devices keep g_max / 0 whatever g_prog, nu and relaxation say."""
    device = dataclasses.replace(RRAM, relax_us=(5.0,), read_noise_rel=0.0)
    g = np.full(6, 20.0)
    stuck = np.array([physics.STUCK_SET, physics.STUCK_RESET, 0, physics.STUCK_SET, physics.STUCK_RESET, 0])
    out = physics.conductance_at(g, g, np.full(6, 0.1), DAY, device, np.random.default_rng(1),
                                 relax_z=np.ones(6), stuck=stuck)
    assert list(out[[0, 3]]) == [device.g_max_us] * 2 and list(out[[1, 4]]) == [0.0, 0.0]
    healthy = 20.0 * ((DAY + device.drift_t0_s) / device.drift_t0_s) ** -0.1 + 5.0   # drift, full relaxation
    assert out[2] == out[5] == pytest.approx(healthy)


@pytest.mark.parametrize("g", [0.0, 0.5, 1.0])
def test_rram_read_noise_is_additive_in_g_max(g):
    """aihwkit's advice for ReRamWan2022NoiseModel (forward.w_noise = 0.01, w_noise_type ADDITIVE_CONSTANT) is a
    fresh Gaussian of 1 % of the weight range on each weight per read, whatever its conductance: each device of
    the G+/G- pair carries read_noise_rel * g_max / sqrt(2), unclamped (a device at 0 reads 0 on average)."""
    device = dataclasses.replace(RRAM, prog_noise_us=(0.0,), relax_us=(0.0,))
    rng = np.random.default_rng(13)
    target = np.full(N, g * device.g_max_us)
    read = physics.conductance_at(target, target, np.zeros(N), 1.0, device, rng)
    sigma = device.read_noise_rel * device.g_max_us / math.sqrt(2.0)
    assert np.std(read) == pytest.approx(sigma, rel=std_tolerance(N))
    assert abs(np.mean(read) - target[0]) < 5 * sigma / math.sqrt(N)


def _flicker_spec(rows: int = 128, cols: int = 128):
    # Deterministic drift (no nu spread) and no programming noise: every G+ is g_max drifted by the same
    # factor, every G- is exactly 0 (no 1/f noise at |G| = 0), so a code's deviation is G+'s read noise alone.
    return from_dict({"device": {"model": "pcm", "prog_noise_us": [0.0], "drift_sigma": [0.0, 0.0, 0.0, 0.0]},
                      "tile": {"rows": rows, "cols": cols, "weight_bits": 4}})


@pytest.mark.parametrize("streams", [False, True])
@pytest.mark.parametrize("t_s", [1.0, YEAR])
def test_reads_at_one_time_point_share_the_slow_flicker_noise(t_s, streams):
    """The accumulated 1/f noise of a read at t is Q sqrt(ln((t + t0 + t_read) / (2 t_read))) (aihwkit); its
    components slower than FLICKER_WINDOW_S are one draw per (chip, time point) and only the band from
    1/FLICKER_WINDOW_S to 1/(2 t_read) is fresh per read, so two reads of one chip at t correlate by
    ln((t + t0 + t_read) / window) / ln((t + t0 + t_read) / (2 t_read)), calibration reads included."""
    spec = _flicker_spec()
    dev, levels = spec.device, spec.tile.conductance_levels
    w = np.full((128, 128), levels)
    xbar = (PhysicsCrossbar(spec, w, streams=physics.ChipStreams(4)) if streams
            else PhysicsCrossbar(spec, w, 4))
    drifted = levels * ((t_s + dev.drift_t0_s) / dev.drift_t0_s) ** -xbar.nu[0]
    a = (xbar.conductances(t_s) - drifted).ravel()
    b = (xbar.conductances(t_s, "calibration") - drifted).ravel()
    n = a.size
    total = math.log((t_s + dev.drift_t0_s + dev.t_read_s) / (2 * dev.t_read_s))
    per_read = math.log(physics.FLICKER_WINDOW_S / (2 * dev.t_read_s))
    q = dev.read_noise_q[0]                                         # g = 1: Q = c
    for read in (a, b):                                            # one read: aihwkit's distribution
        assert np.std(read) == pytest.approx(drifted.mean() * q * math.sqrt(total), rel=std_tolerance(n))
    assert np.std(a - b) / math.sqrt(2) == pytest.approx(drifted.mean() * q * math.sqrt(per_read),
                                                         rel=std_tolerance(n))
    # Correlation of two reads: standard error (1 - r^2) / sqrt(n) < 1 / sqrt(n); allow 5.
    assert np.corrcoef(a, b)[0, 1] == pytest.approx((total - per_read) / total, abs=5 / math.sqrt(n))
    # Another time point draws its own slow part: reads at t and 2 t are uncorrelated beyond the drift.
    c = (xbar.conductances(2 * t_s) - levels * ((2 * t_s + dev.drift_t0_s) / dev.drift_t0_s) ** -xbar.nu[0]).ravel()
    assert abs(np.corrcoef(a, c)[0, 1]) < 5 / math.sqrt(n)


def test_flicker_noise_is_a_function_of_chip_and_time():
    """The shared 1/f part comes from the chip's streams and the time alone: a second instance of the chip
    reads it again, after reads at other times or for another purpose."""
    spec = _flicker_spec(32, 32)
    w = np.full((32, 32), 7)
    one = PhysicsCrossbar(spec, w, streams=physics.ChipStreams(9, ("layer", 0)))
    two = PhysicsCrossbar(spec, w, streams=physics.ChipStreams(9, ("layer", 0)))
    two.conductances(60.0, "calibration")
    two.conductances(3600.0)
    assert np.array_equal(one.flicker_z(DAY), two.flicker_z(DAY))
    assert not np.array_equal(one.flicker_z(DAY), one.flicker_z(3600.0))
