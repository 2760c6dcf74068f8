"""The digital twin's device conductances agree with the physics model's per target level (sim.eval
.twin_conductances), within the tolerances BENCHMARKS.md states: 0.3 code units in mean and in std for PCM on
tile64 at 1 s, 1 h, 1 day and 1 year, and for RRAM (with relaxation, contract.device_twin_relaxation), at
every level, the top one included: with drift a device may hold up to L + H codes (the headroom of
contract.device_twin_drift), so a device aimed at L keeps the upper half of its spread (the tests on the
top level pin that down: clamped at L codes, as before the headroom, it missed by 0.35 code in mean at 1 s
for PCM and 0.5 at 1 year for RRAM). For PCM the physics state includes the time point's shared 1/f part,
which the twin draws at every refresh (contract.device_twin_flicker): its spread per level matches within
0.08 code at 1 day, where the twin without it misses."""

import dataclasses

import numpy as np
import pytest

from aimcgen.contract.device_twin import sigma_lsb_table
from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import with_device
from aimcgen.sim.eval.twin_conductances import level_statistics, twin_codes

TOL = 0.3                      # code units (g_max / L), mean and std
SPREAD_TOL = 0.08              # code units: std per level at 1 day with the shared 1/f part
EPOCHS = (1, 5, 7, 12)         # 1 s, 1 h, 1 day, 1 year
DEVICES = 600                  # per level: sampling error of a std ~ 0.6 / sqrt(1200) = 0.02 code


@pytest.fixture(scope="module")
def tile64_pcm():
    return level_statistics(with_device(load_preset("tile64"), "pcm"), EPOCHS, devices=DEVICES, seed=5)


def test_pcm_levels_agree_at_every_epoch(tile64_pcm):
    assert len(tile64_pcm) == 16 * len(EPOCHS)
    worst = max(tile64_pcm, key=lambda r: max(abs(r.mean_error), abs(r.std_error)))
    assert all(abs(r.mean_error) <= TOL and abs(r.std_error) <= TOL for r in tile64_pcm), worst
    # A second after programming the top level has not drifted below L yet: with the headroom above L it
    # keeps the upper half of its spread (programming error and shared 1/f part), a third of its std lost
    # without it.
    top = next(r for r in tile64_pcm if (r.level, r.epoch) == (15, 1))
    assert abs(top.mean_error) < 0.1 and abs(top.std_error) < 0.1 and top.twin_mean + 2 * top.twin_std > 15


def test_pcm_spread_at_one_day_has_the_shared_flicker(tile64_pcm):
    day = [r for r in tile64_pcm if r.epoch == 7 and r.level > 0]
    worst = max(day, key=lambda r: abs(r.std_error))
    assert all(abs(r.std_error) <= SPREAD_TOL for r in day), worst
    # The same twin on a device without 1/f noise (no shared part) is too tight against this physics.
    spec = with_device(load_preset("tile64"), "pcm")
    quiet = dataclasses.replace(spec, device=dataclasses.replace(spec.device, read_noise_q=(0.0, 0.0, 0.0)))
    tight = twin_codes(quiet, DEVICES, (7,))
    misses = [tight[r.level, 0].std() - r.physics_std for r in day]
    assert min(misses) < -SPREAD_TOL and sum(m < 0 for m in misses) >= 13


def test_pcm_drift_moves_both_alike(tile64_pcm):
    # The top level loses about half its conductance by a year in both models (nu ~ 0.05 over 1.6e6 t0).
    top = {r.epoch: r for r in tile64_pcm if r.level == 15}
    assert 6.5 < top[12].physics_mean < 8.5 and 6.5 < top[12].twin_mean < 8.5
    assert top[1].twin_mean > top[5].twin_mean > top[7].twin_mean > top[12].twin_mean


@pytest.fixture(scope="module")
def tile64_rram():
    return level_statistics(with_device(load_preset("tile64"), "rram"), EPOCHS, devices=DEVICES, seed=5)


def test_rram_levels_agree_at_every_epoch(tile64_rram):
    worst = max(tile64_rram, key=lambda r: max(abs(r.mean_error), abs(r.std_error)))
    assert all(abs(r.mean_error) <= TOL and abs(r.std_error) <= TOL for r in tile64_rram), worst
    # The top level relaxes above L as in physics (the headroom of contract.device_twin_drift).
    top = {r.epoch: r for r in tile64_rram if r.level == 15}
    assert abs(top[12].mean_error) < 0.15 and top[12].twin_mean > 14.8


def test_twin_rram_relaxes_with_lasting_directions():
    spec = with_device(load_preset("tile64"), "rram")
    codes = twin_codes(spec, 400, (1, 7, 12))
    # Relaxation grows until device.relax_time_s (1 day), then holds: each device keeps its direction.
    np.testing.assert_array_equal(codes[:, 1], codes[:, 2])
    assert codes[7, 1].std() > 1.5 * codes[7, 0].std()
    # At 1 s the spread is programming's: the preset's sigma table (within the fine rounding).
    sigma = sigma_lsb_table(spec.replace(twin={"programming_error": "on"}))
    assert abs(codes[7, 0].std() - sigma[7]) < 0.15
