"""sim.eval: mapping round trip, back ends, attribution sanity."""

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import (SOURCES, FloatBackend, GoldenBackend, PhysicsBackend, Sources,
                                       accuracy, attribution, with_device)
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    return net, net.meta["x_test"].astype(float), net.meta["y_test"].astype(int), net.meta["x_calib"].astype(float)


def test_shipped_model(digits):
    net, x, y, _ = digits
    assert default_model_path().stat().st_size < 100_000
    assert net.describe() == "64 -> 32(relu) -> 10"
    assert accuracy(FloatBackend(net), x, y) == pytest.approx(net.meta["float_test_accuracy"])
    assert net.meta["float_test_accuracy"] > 0.95


@pytest.mark.parametrize("preset", ["tile64", "hermes256"])
def test_round_trip_ideal_device(digits, preset):
    """Ideal device, 8-bit inputs/ADCs: golden and physics predictions equal the float reference's on
    >= 97 % of the test samples; golden == physics exactly (same integer datapath)."""
    net, x, y, calib = digits
    mapping = map_network(net, with_device(load_preset(preset), "ideal"), calib)
    ref = FloatBackend(net).predict(x)
    golden = GoldenBackend(mapping, noise=False).predict(x)
    physics = PhysicsBackend(mapping, compensation=False).predict(x)
    assert np.mean(golden == ref) >= 0.97
    assert np.array_equal(golden, physics)


def test_split_layers_default_preset(digits):
    """The 16x16 default tile: 64x32 splits into 4x2 tiles (partial sums add, columns concatenate)."""
    net, x, y, calib = digits
    mapping = map_network(net, with_device(load_preset("default"), "ideal"), calib)
    assert [(l.row_tiles, l.col_tiles) for l in mapping.layers] == [(4, 2), (2, 1)]
    rep = mapping.report()
    assert rep["tiles_used"] == 10 and not rep["fits_spec_grid"]
    golden = GoldenBackend(mapping, noise=False).predict(x)
    assert np.mean(golden == FloatBackend(net).predict(x)) >= 0.85     # 4-bit inputs and weights
    assert np.array_equal(golden, PhysicsBackend(mapping, compensation=False).predict(x))


def test_mapping_scales_float_exact(digits):
    """With everything ideal and no ADC quantization, the mapped layer outputs track the float ones."""
    net, x, _, calib = digits
    mapping = map_network(net, with_device(load_preset("hermes256"), "ideal"), calib)
    outs = PhysicsBackend(mapping, sources=Sources.none(), compensation=False).run(x)
    ref = FloatBackend(net).run(x)
    for o, r in zip(outs, ref):
        assert np.sqrt(np.mean((o - r) ** 2)) / np.sqrt(np.mean(r ** 2)) < 0.05


def test_sources_switch(digits):
    net, x, y, calib = digits
    spec = load_preset("tile64")
    mapping = map_network(net, spec, calib)
    b = PhysicsBackend(mapping, sources=Sources.none(), compensation=False, seed=1)
    dev = b.tiles[0][0][0].spec.device
    assert dev.prog_noise_us == (0.0,) and dev.read_noise_q == (0.0, 0.0, 0.0) and dev.drift_mu[:2] == (0, 0)
    noisy = PhysicsBackend(mapping, t_s=86400.0, compensation=True, calib_x=calib, seed=1)
    assert 0.85 < accuracy(noisy, x, y) <= 1.0


def test_attribution_ideal_device_is_zero(digits):
    net, x, y, calib = digits
    x, y = x[:120], y[:120]
    spec = with_device(load_preset("hermes256"), "ideal")
    spec = spec.replace(adc={"bits": 12, "full_scale": 1 << 18}, accumulator={"bits": 24})
    att = attribution(map_network(net, spec, calib), x, y, calib, seeds=1,
                      sources=("programming", "read", "drift", "stuck"))
    for row in att["sources"]:
        assert row["alone_accuracy_drop"] == 0.0 and row["leave_one_out_accuracy_gain"] == 0.0
        assert max(abs(v) for v in row["alone_layer_error_added"]) < 1e-12


@pytest.mark.slow
def test_attribution_pcm_drift_dominates_uncompensated(digits):
    net, x, y, calib = digits
    att = attribution(map_network(net, load_preset("tile64"), calib), x, y, calib, t_s=3.15e7,
                      compensation=False, seeds=2)
    by = {r["source"]: r for r in att["sources"]}
    assert set(by) == set(SOURCES)
    assert by["drift"]["alone_layer_error_added"][-1] > by["stuck"]["alone_layer_error_added"][-1]


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_used_block_equals_whole_tiles_ideal(digits, preset):
    """Modelling only the devices a layer occupies changes nothing an ideal chip computes, with drift
    compensation calibrated on (split tiles on default, padded ones on tile64), padded columns included."""
    net, x, _, calib = digits
    mapping = map_network(net, with_device(load_preset(preset), "ideal"), calib)
    block = PhysicsBackend(mapping, t_s=86400.0, calib_x=calib).run_codes(x[:64])
    whole = PhysicsBackend(mapping, t_s=86400.0, calib_x=calib, whole_tiles=True).run_codes(x[:64])
    for b, w in zip(block, whole):
        assert np.array_equal(b.outputs, w.outputs)


def test_used_block_drift_compensation_pcm(digits):
    """PCM at 1 day, 6 chips each: the compensation factors from the used columns only and from whole
    tiles agree within 2 % on average (both ~1.5), accuracies within 1 point."""
    net, x, y, calib = digits
    mapping = map_network(net, load_preset("tile64"), calib)
    factors, accs = {}, {}
    for whole in (False, True):
        chips = [PhysicsBackend(mapping, t_s=86400.0, calib_x=calib, seed=s, whole_tiles=whole)
                 for s in range(6)]
        factors[whole] = np.mean([[f[0][0][0], f[1][0][0]] for f in (c.factors for c in chips)], axis=0)
        accs[whole] = np.mean([accuracy(c, x, y) for c in chips])
    np.testing.assert_allclose(factors[False], factors[True], rtol=0.02)
    assert factors[False].min() > 1.3
    assert abs(accs[False] - accs[True]) < 0.01
