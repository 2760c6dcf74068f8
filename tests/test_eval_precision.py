"""Compute SNR and effective bits of the MVM (sim.eval.precision): formulas, fits, workload, and trends."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aimcgen.contract.encoding import drive_steps
from aimcgen.presets import load_preset
from aimcgen.sim.eval.precision import (csnr, effective_bits, fit_column_affine, ideal_output, measure_precision,
                                        random_inputs, random_weights)
from aimcgen.spec import device_preset


def test_csnr_and_effective_bits_by_hand():
    ideal = np.array([[3.0, 1.0], [-4.0, 2.0]])
    measured = ideal + np.array([[0.3, 0.0], [0.4, 0.0]])
    # column 0: signal 9 + 16 = 25, noise 0.09 + 0.16 = 0.25 -> 100; column 1 error-free.
    np.testing.assert_allclose(csnr(measured, ideal, axis=0), [100.0, np.inf])
    assert csnr(measured, ideal) == pytest.approx(30.0 / 0.25)
    assert effective_bits(100.0) == pytest.approx((20.0 - 1.76) / 6.02)


def test_column_affine_fit_recovers_gain_and_offset():
    rng = np.random.default_rng(3)
    ideal = rng.normal(size=(200, 5))
    gain, offset = np.array([0.5, 1.0, 2.0, 0.9, 1.1]), np.array([-3.0, 0.0, 1.5, 0.25, 7.0])
    fitted_gain, fitted_offset = fit_column_affine(ideal * gain + offset, ideal)
    np.testing.assert_allclose(fitted_gain, gain)
    np.testing.assert_allclose(fitted_offset, offset, atol=1e-12)


@pytest.mark.parametrize("name", ["default", "tile64"])
def test_random_inputs_never_clip_a_drive_step(name):
    spec = load_preset(name)
    rng = np.random.default_rng(0)
    weights = random_weights(spec, rng)
    x = random_inputs(spec, weights, 256, rng)
    assert np.max(np.abs(drive_steps(x, spec.input) @ weights)) <= spec.adc.full_scale
    assert np.max(np.abs(x)) > 0
    np.testing.assert_allclose(ideal_output(spec, x, weights), (x @ weights) / 2 ** spec.adc.lsb_shift)


def test_drift_costs_bits_and_compensation_restores_most():
    spec = dataclasses.replace(load_preset("default"), device=device_preset("pcm"))
    fresh = measure_precision(spec, t_s=1.0, correction="none")
    year = measure_precision(spec, t_s=3.15e7, correction="none")
    compensated = measure_precision(spec, t_s=3.15e7, correction="global")
    assert year.tile_bits < fresh.tile_bits - 1.0          # PCM drift loses > 1 bit in a year uncompensated
    assert compensated.tile_bits > year.tile_bits + 1.0
    ideal = measure_precision(dataclasses.replace(spec, device=device_preset("ideal")), t_s=1.0,
                              correction="none")
    assert ideal.tile_bits > fresh.tile_bits                # devices only add error to the ADC's own
    assert fresh.column_bits.shape == (spec.tile.cols,)


def test_unknown_correction_is_refused():
    with pytest.raises(ValueError, match="correction = 'both'"):
        measure_precision(load_preset("default"), t_s=1.0, correction="both")
