"""sim.eval.twin_accuracy: twin chips of the digits MLP on the golden model, and the firmware's global drift
compensation on them (contract.calibration.global_rescale of aimc_gdc_measure read-outs)."""

import numpy as np
import pytest

from aimcgen.contract.calibration import drift_readouts
from aimcgen.presets import load_preset
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.eval.twin_accuracy import TwinBackend, calibration_inputs, measure_twin_chips, twin_seed


@pytest.fixture(scope="module")
def setup():
    net = load_network(default_model_path())
    mapping = map_network(net, load_preset("tile64"), net.meta["x_calib"])
    return net, mapping, calibration_inputs(mapping, net.meta["x_calib"][:64])


def _weights(backend: TwinBackend) -> list[np.ndarray]:
    return [accel.tiles[0].weights.copy() for accel in backend.accels]


def test_chips_are_paired_and_distinct(setup):
    _, mapping, calib = setup
    off = TwinBackend(mapping, chip=2, epoch=7, compensation=False)
    on = TwinBackend(mapping, chip=2, epoch=7, compensation=True, calib_inputs=calib)
    other = TwinBackend(mapping, chip=3, epoch=7, compensation=False)
    for a, b, c, layer in zip(_weights(off), _weights(on), _weights(other), mapping.layers):
        np.testing.assert_array_equal(a, b)                      # compensation: same devices
        assert (a != c).any()                                    # another chip: other devices
        assert (a != layer.weight_codes).sum() > 50               # programming error and drift moved weights
    assert off.accels[0].spec.noise.seed == twin_seed(2, 0) != off.accels[1].spec.noise.seed
    assert off.accels[0].spec.program_verify.max_retries == 0


def test_compensation_restores_the_readout(setup):
    _, mapping, calib = setup
    fresh = TwinBackend(mapping, chip=1, epoch=0, compensation=False)
    drifted = TwinBackend(mapping, chip=1, epoch=12, compensation=False)
    compensated = TwinBackend(mapping, chip=1, epoch=12, compensation=True, calib_inputs=calib)
    layer = mapping.layers[0]

    def readout(backend):       # sum |output| of the calibration inputs with the loaded scales, zero offsets
        accel = backend.accels[0]
        accel.set_coefficients(accel.scale, np.zeros_like(layer.offset))
        return int(drift_readouts(accel.run(calib[0]).outputs).sum())

    assert np.all(compensated.accels[0].scale[:layer.out_features] > layer.scale[:layer.out_features])
    r0, rt, rc = readout(fresh), readout(drifted), readout(compensated)
    assert rt < 0.7 * r0                                          # a year of PCM drift: about half the signal
    assert abs(rc - r0) < 0.05 * r0                               # the global rescale brings it back


def test_accuracy_of_twin_chips(setup):
    net, mapping, _ = setup
    x, y = net.meta["x_test"][:120], net.meta["y_test"][:120]
    correct = measure_twin_chips(mapping, x, y, net.meta["x_calib"][:64], [0, 1], epoch=7, compensation=True)
    assert correct.shape == (2, 120) and correct.mean() > 0.9


def test_compensation_needs_calibration_inputs(setup):
    _, mapping, _ = setup
    with pytest.raises(ValueError, match="calibration"):
        TwinBackend(mapping, chip=0, epoch=7, compensation=True)
