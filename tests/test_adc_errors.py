"""ADC errors (contract.adc_errors): the ideal ADC reproduced exactly, each error's effect, the conversion
searches as documented, and the physics model converting with its chip's ADCs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimcgen.contract.adc import adc_code
from aimcgen.contract.adc_errors import (THRESHOLD_FRAC_BITS, AdcErrorDraws, convert, has_errors, thresholds)
from aimcgen.presets import load_preset
from aimcgen.sim.eval.precision import measure_precision
from aimcgen.sim.models.physics import PhysicsCrossbar
from aimcgen.spec import AdcSpec, SpecError, device_preset, from_dict


def zero_draws(adc: AdcSpec, adcs: int = 3) -> AdcErrorDraws:
    return AdcErrorDraws(np.zeros(adcs), np.zeros(adcs), np.zeros((adcs, adc.bits)))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(["sar", "ramp", "flash"]), bits=st.integers(1, 8), extra=st.integers(0, 4),
       seed=st.integers(0, 2**32 - 1))
def test_without_errors_every_kind_is_the_ideal_adc(kind, bits, extra, seed):
    adc = AdcSpec(kind=kind, bits=bits, count=1, full_scale=1 << (bits - 1 + extra))
    table = thresholds(adc, zero_draws(adc, 1))
    rng = np.random.default_rng(seed)
    span = adc.full_scale * 2
    q_int = rng.integers(-span, span, size=(40, 1))
    np.testing.assert_array_equal(convert(q_int, table, adc), adc_code(q_int, adc))
    q_float = rng.uniform(-span, span, size=(40, 1))
    np.testing.assert_array_equal(convert(q_float, table, adc), adc_code(q_float, adc))


def test_sar_binary_search_by_hand():
    """A 2-bit SAR (N = 4, code_min -2, LSB 1) with a bit-1 capacitor 50 % large: level(u) = 0, 1, 3, 4."""
    adc = AdcSpec(kind="sar", bits=2, count=1, full_scale=2, cap_mismatch_sigma=0.1)
    draws = AdcErrorDraws(np.zeros(1), np.zeros(1), np.array([[0.0, 0.5 / 0.1 * np.sqrt(2.0)]]))
    table = thresholds(adc, draws)
    np.testing.assert_array_equal(table[0] / 2 ** THRESHOLD_FRAC_BITS, [-2.0, -1.0, 1.0, 2.0])
    # q = 0.5: trial u = 2 (T = 1) fails, trial u = 1 (T = -1) passes -> u = 1 -> code -1 (a wide code -1).
    assert convert(np.array([[0.5]]), table, adc)[0, 0] == -1
    assert convert(np.array([[1.0]]), table, adc)[0, 0] == 0


def test_gain_and_offset_scale_the_thresholds():
    adc = AdcSpec(kind="ramp", bits=4, count=2, full_scale=64, gain_sigma=0.1, offset_sigma_lsb=1.0)
    draws = AdcErrorDraws(np.array([1.0, -2.0]), np.array([0.5, 0.0]), np.zeros((2, 4)))
    t = thresholds(adc, draws) / 2 ** THRESHOLD_FRAC_BITS
    lsb, c = 8.0, np.arange(16) - 8
    np.testing.assert_allclose(t[0], 1.1 * c * lsb + 0.5 * lsb, atol=2 ** -9)
    np.testing.assert_allclose(t[1], 0.8 * c * lsb, atol=2 ** -9)


def test_ramp_inl_bows_at_mid_scale_and_keeps_the_ends():
    adc = AdcSpec(kind="ramp", bits=6, count=1, full_scale=32, ramp_inl_lsb=2.0)
    t = thresholds(adc, zero_draws(adc, 1))[0] / 2 ** THRESHOLD_FRAC_BITS
    ideal = (np.arange(64) - 32) * 1.0
    inl = t - ideal
    assert inl[0] == 0 and inl[-1] == 0 and inl.max() == pytest.approx(2.0, abs=0.01)


def test_error_fields_apply_to_their_adc_kind_only():
    with pytest.raises(SpecError, match="adc.cap_mismatch_sigma = 0.01: capacitor mismatch applies to"):
        from_dict({"adc": {"kind": "ramp", "cap_mismatch_sigma": 0.01}})
    with pytest.raises(SpecError, match="adc.ramp_inl_lsb = 1.0: ramp INL applies to"):
        from_dict({"adc": {"kind": "sar", "ramp_inl_lsb": 1.0}})
    assert not has_errors(load_preset("tile64").adc)


def test_physics_tile_converts_with_its_chips_adcs():
    base = dataclasses.replace(load_preset("tile64"), device=device_preset("ideal"))
    spec = base.replace(adc={"gain_sigma": 0.05, "offset_sigma_lsb": 0.5, "cap_mismatch_sigma": 0.02})
    rng = np.random.default_rng(1)
    levels = spec.tile.conductance_levels
    w = rng.integers(-levels, levels + 1, size=(spec.tile.rows, spec.tile.cols))
    x = rng.integers(-3, 4, size=(64, spec.tile.rows))
    ideal = PhysicsCrossbar(base, w, 0).mvm(x, 1.0)
    chip_a, chip_b = PhysicsCrossbar(spec, w, 0).mvm(x, 1.0), PhysicsCrossbar(spec, w, 1).mvm(x, 1.0)
    assert not np.array_equal(chip_a, ideal) and not np.array_equal(chip_a, chip_b)
    np.testing.assert_array_equal(PhysicsCrossbar(spec, w, 0).mvm(x, 1.0), chip_a)   # deterministic per chip
    # ADC errors cost precision, and a per-column affine calibration wins most of it back.
    no_errors = measure_precision(base, t_s=1.0, correction="none").tile_bits
    raw = measure_precision(spec, t_s=1.0, correction="none").tile_bits
    calibrated = measure_precision(spec, t_s=1.0, correction="per_column").tile_bits
    assert raw < no_errors - 0.5 and calibrated > raw + 0.5
