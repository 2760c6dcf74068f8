"""Per-column calibration of golden chips with ADC errors (sim.eval.adc_calibration, sim.host.calibration's
calibrate_columns_centred): the host routines run unchanged on the golden model, the centred routine is the
contract's routine when no trim is needed, and it recovers columns whose offset leaves the window."""

import numpy as np
import pytest

from aimcgen.contract.calibration import CalibrationError, calibration_vectors, ideal_products
from aimcgen.contract.postproc import postprocess
from aimcgen.presets import load_preset
from aimcgen.sim.eval.adc_calibration import (GoldenChipHost, adc_errors_for, calibration_targets, chip_correct,
                                              chip_mapping)
from aimcgen.sim.eval.mapping import adc_floor_bias, map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.host.calibration import calibrate_columns, calibrate_columns_centred
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import from_dict


def _spec(offset_sigma_lsb):
    # Bit-serial with 5 steps: an ADC offset of 1 LSB is 31 accumulator LSBs; the window of a 6-bit output
    # is -32..31, so a 2-LSB offset spread puts most columns outside it.
    return from_dict({"tile": {"rows": 8, "cols": 8}, "input": {"bits": 6},
                      "adc": {"kind": "sar", "bits": 6, "count": 4, "full_scale": 32, "gain_sigma": 0.05,
                              "offset_sigma_lsb": offset_sigma_lsb, "cap_mismatch_sigma": 0.01},
                      "postproc": {"output_bits": 6}, "noise": {"sigma_lsb": 0.3, "seed": 11}})


def _weights(spec):
    levels = spec.tile.conductance_levels
    return np.random.default_rng(3).integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))


def _target_error(spec, accel, w, scale, offset):
    """Mean |output - the target post-processing (scale, offset) of the exact product| over held-out
    vectors, per column, with the coefficients the accelerator holds."""
    xs = calibration_vectors(spec, w, 200, seed=77)
    u = ideal_products(xs, w) / 2.0 ** spec.adc.lsb_shift
    target, _ = postprocess(np.round(u).astype(np.int64), scale, offset, spec)
    return np.abs(accel.run(xs).outputs - target).mean(axis=0)


def test_centred_without_trim_rounds_is_the_contract_routine():
    spec = _spec(0.3)
    w = _weights(spec)
    xs = calibration_vectors(spec, w, 64, seed=5)
    scale = np.full(spec.logical_cols, 1 << spec.postproc.scale_frac_bits)
    offset = np.zeros(spec.logical_cols, dtype=np.int64)
    plain = calibrate_columns(GoldenChipHost(GoldenAccelerator(spec, w)), spec, w, xs, scale, offset)
    centred = calibrate_columns_centred(GoldenChipHost(GoldenAccelerator(spec, w)), spec, w, xs, scale, offset,
                                        rounds=0)
    for a, b in ((plain.scale, centred.scale), (plain.offset, centred.offset), (plain.status, centred.status),
                 (plain.samples, centred.samples)):
        np.testing.assert_array_equal(a, b)


def test_centred_calibration_recovers_columns_outside_the_window():
    spec = _spec(2.0)
    w = _weights(spec)
    scale = np.full(spec.logical_cols, 1 << spec.postproc.scale_frac_bits)
    offset = np.zeros(spec.logical_cols, dtype=np.int64)
    xs = calibration_vectors(spec, w, 512, seed=5)
    # The error-free chip of the same seed (same read-noise draws): what calibration can at best reach.
    free = _target_error(spec, GoldenAccelerator(spec.replace(adc={"gain_sigma": 0.0, "offset_sigma_lsb": 0.0,
                                                                   "cap_mismatch_sigma": 0.0}), w),
                         w, scale, offset)
    before = _target_error(spec, GoldenAccelerator(spec, w), w, scale, offset)
    plain_accel = GoldenAccelerator(spec, w)
    calibrate_columns(GoldenChipHost(plain_accel), spec, w, xs, scale, offset)
    plain = _target_error(spec, plain_accel, w, scale, offset)
    accel = GoldenAccelerator(spec, w)
    cal = calibrate_columns_centred(GoldenChipHost(accel), spec, w, xs, scale, offset)
    after = _target_error(spec, accel, w, scale, offset)
    assert np.all(cal.status == 0)
    assert before.mean() > free.mean() + 10        # the errors throw columns far off (output LSBs)
    assert after.mean() < free.mean() + 1.0        # calibrated: about the error-free chip's noise
    assert plain.mean() > free.mean() + 5          # the window-bound contract routine does not get there


class CountingHost(GoldenChipHost):
    """GoldenChipHost that counts the MVM batches (calibration passes) it runs."""

    passes = 0

    def run(self, xs):
        self.passes += 1
        return super().run(xs)


def test_centring_stops_when_no_trim_moves_and_checks_rounds():
    spec = _spec(2.0).replace(noise={"sigma_lsb": 0.0})
    w = _weights(spec)
    scale = np.full(spec.logical_cols, 1 << spec.postproc.scale_frac_bits)
    offset = np.zeros(spec.logical_cols, dtype=np.int64)
    xs = calibration_vectors(spec, w, 128, seed=5)
    host = CountingHost(GoldenAccelerator(spec, w))
    cal = calibrate_columns_centred(host, spec, w, xs, scale, offset, rounds=20)
    assert np.any(cal.trim != 0) and np.all(cal.status == 0)
    assert 2 <= host.passes < 21, host.passes       # the noise-free chip settles: the last pass moved nothing
    again = CountingHost(GoldenAccelerator(spec, w))
    capped = calibrate_columns_centred(again, spec, w, xs, scale, offset, rounds=host.passes - 1)
    np.testing.assert_array_equal(capped.trim, cal.trim)
    np.testing.assert_array_equal(capped.scale, cal.scale)
    for bad in (-1, 1.5, True):
        with pytest.raises(CalibrationError, match="calibration rounds"):
            calibrate_columns_centred(host, spec, w, xs, scale, offset, rounds=bad)


def test_calibration_targets_take_out_the_mappings_floor_correction():
    net = load_network(default_model_path())
    spec = load_preset("tile64")
    layer = map_network(net, spec, net.meta["x_calib"]).layers[0]
    scale, offset = calibration_targets(layer)
    np.testing.assert_array_equal(scale, layer.scale)
    expected = layer.offset - np.round(layer.scale * adc_floor_bias(layer.spec) * layer.row_tiles)
    np.testing.assert_array_equal(offset, expected.astype(np.int64))


def test_chip_mapping_sets_the_chip_seed_and_errors():
    net = load_network(default_model_path())
    spec = load_preset("default")
    mapping = map_network(net, spec, net.meta["x_calib"])
    errors = adc_errors_for(spec.adc, 0.05, 1.0, 0.02, 1.0)
    chip = chip_mapping(mapping, 7, errors)
    for layer in chip.layers:
        assert layer.spec.noise.seed == 7 and layer.spec.adc.gain_sigma == 0.05
        assert layer.spec.adc.cap_mismatch_sigma == 0.02 and layer.spec.adc.ramp_inl_lsb == 0.0
    assert chip_mapping(mapping, 7).layers[0].spec.adc.offset_sigma_lsb == 0.0
    with pytest.raises(CalibrationError, match="every error field is 0"):
        chip_correct(mapping, net.meta["x_test"][:4], net.meta["y_test"][:4], 1,
                     adc_errors={k: 0.0 for k in errors}, calibrate=None)
    with pytest.raises(CalibrationError, match="calibration method 'fast'"):
        chip_correct(mapping, net.meta["x_test"][:4], net.meta["y_test"][:4], 1, adc_errors=errors,
                     calibrate="fast")


def test_digits_mlp_chip_with_adc_errors_recovers_after_centred_calibration():
    """tile64, chip 1: the ADC errors cost the MLP about 14 points; the centred calibration brings it back to
    within 1 point of the error-free chip (benchmarks/adc_calibration.py measures it over many chips)."""
    net = load_network(default_model_path())
    xt, yt = net.meta["x_test"], net.meta["y_test"]
    spec = load_preset("tile64")
    mapping = map_network(net, spec, net.meta["x_calib"])
    errors = adc_errors_for(spec.adc, 0.05, 1.0, 0.02, 1.0)
    free = chip_correct(mapping, xt, yt, 1, adc_errors=None, calibrate=None).mean()
    raw = chip_correct(mapping, xt, yt, 1, adc_errors=errors, calibrate=None).mean()
    cal = chip_correct(mapping, xt, yt, 1, adc_errors=errors, calibrate="centred", vectors=512).mean()
    assert raw < free - 0.05
    assert cal > free - 0.01
