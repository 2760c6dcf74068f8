"""sim.eval.backends.PhysicsBackend drift compensation modes: "digital" is the firmware's per-layer rescale of
the SCALE codes (contract.calibration.global_rescale of sum |output| read-outs at t = 0 and t_s), the rule
the twin uses, so that twin and physics compare under the same compensation."""

import dataclasses

import numpy as np
import pytest

from aimcgen.contract.calibration import drift_readouts, global_rescale
from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import (PhysicsBackend, Sources, accuracy, calibration_inputs, compensation_mode,
                                       measure_chips, with_device)
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.models.golden import GoldenAccelerator

YEAR = 365 * 86400.0
NU = 0.06                   # one drift exponent for every device: a known, uniform drift factor


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    return net, net.meta["x_test"][:200], net.meta["y_test"][:200], net.meta["x_calib"][:96]


def _drifting_ideal(preset: str):
    """The preset with ideal devices that all drift with exponent NU (no spread, no noise)."""
    spec = with_device(load_preset(preset), "ideal")
    return dataclasses.replace(spec, device=dataclasses.replace(spec.device, drift_mu=(0.0, NU, NU, NU)))


def _golden_readout(layer, x) -> int:
    """aimc_gdc_measure on the noise-free golden model of the layer: the undrifted chip, computed apart."""
    accel = GoldenAccelerator(layer.spec.replace(noise={"sigma_lsb": 0.0}), layer.weight_codes, layer.scale,
                              np.zeros_like(layer.offset))
    return int(drift_readouts(accel.run(x).outputs).sum())


@pytest.mark.parametrize("preset", ["tile64", "default"])      # one tile per layer; 4 x 2 and 2 x 1 tiles
def test_digital_scales_are_global_rescale_of_the_layer_readouts(digits, preset):
    net, _, _, calib = digits
    mapping = map_network(net, _drifting_ideal(preset), calib)
    inputs = calibration_inputs(mapping, calib)
    backend = PhysicsBackend(mapping, t_s=YEAR, compensation="digital", calib_x=calib)
    factor = ((YEAR + mapping.spec.device.drift_t0_s) / mapping.spec.device.drift_t0_s) ** -NU
    for layer in mapping.layers:
        x = inputs[layer.index]
        reference = _golden_readout(layer, x)
        assert backend.readout(layer, x, 0.0) == reference         # t = 0: no drift, the golden model exactly
        now = backend.readout(layer, x, YEAR)
        # The known drift, up to the ADC's floors (lower: a quarter with the default preset's 4-bit ADC) and
        # outputs clamped at t = 0 (higher).
        assert 0.6 < now / (factor * reference) < 1.25
        expected = global_rescale(layer.scale, reference, now, layer.spec)
        np.testing.assert_array_equal(backend.scales[layer.index], expected)   # one R pair for the whole layer
        used = layer.scale != 0
        assert np.all(np.abs(backend.scales[layer.index][used] - layer.scale[used] * reference / now) <= 0.5)


def test_digital_compensation_without_drift_is_the_identity(digits):
    net, x, _, calib = digits
    mapping = map_network(net, _drifting_ideal("tile64"), calib)
    off = PhysicsBackend(mapping, t_s=YEAR, compensation="off", sources=Sources().without("drift"))
    digital = PhysicsBackend(mapping, t_s=YEAR, compensation="digital", sources=Sources().without("drift"),
                             calib_x=calib)
    for layer in mapping.layers:
        np.testing.assert_array_equal(digital.scales[layer.index], layer.scale)
    for a, b in zip(off.run_codes(x), digital.run_codes(x)):
        np.testing.assert_array_equal(a.outputs, b.outputs)


def test_digital_compensation_restores_drifted_pcm(digits):
    """A year of PCM drift: the rescaled chip is as accurate as its uncompensated self or better, and the
    digital mode leaves the devices and ADC codes alone (same chip, other scales)."""
    net, x, y, calib = digits
    mapping = map_network(net, with_device(load_preset("tile64"), "pcm"), calib)
    off = measure_chips(mapping, x, y, calib, 3, t_s=YEAR, compensation="off")["correct"].mean()
    digital = measure_chips(mapping, x, y, calib, 3, t_s=YEAR, compensation="digital")["correct"].mean()
    assert digital >= off and digital > 0.85
    chip = PhysicsBackend(mapping, t_s=YEAR, compensation="digital", seed=1, calib_x=calib)
    assert chip.factors is None and np.all(chip.scales[0][:32] > mapping.layers[0].scale[:32])


def test_compensation_modes_and_errors(digits):
    net, x, y, calib = digits
    assert [compensation_mode(c) for c in (True, False, None, "analog", "digital", "off")] == \
        ["analog", "off", "off", "analog", "digital", "off"]
    with pytest.raises(ValueError, match="compensation = 'gain'"):
        compensation_mode("gain")
    mapping = map_network(net, with_device(load_preset("tile64"), "pcm"), calib)
    with pytest.raises(ValueError, match="calibration"):
        PhysicsBackend(mapping, t_s=YEAR, compensation="digital")
    inputs = calibration_inputs(mapping, calib)
    given = PhysicsBackend(mapping, t_s=YEAR, compensation="digital", seed=2, calib_inputs=inputs)
    derived = PhysicsBackend(mapping, t_s=YEAR, compensation="digital", seed=2, calib_x=calib)
    assert accuracy(given, x, y) == accuracy(derived, x, y)
    assert PhysicsBackend(mapping, t_s=YEAR, compensation=True, seed=2, calib_x=calib).compensation == "analog"
