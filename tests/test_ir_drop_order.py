"""The mapping option device.ir_drop_order (sim.eval.ir_drop_order): a per-tile bijection that the host undoes, so
only the wires see it, and that does lower the IR-drop error of a real layer."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimcgen import spec_toml
from aimcgen.cli import main
from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import GoldenBackend, PhysicsBackend, Sources, device_with_sources
from aimcgen.sim.eval.ir_drop_order import expected_currents, inverse, ir_drop_orders
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.models.physics import PhysicsCrossbar
from aimcgen.spec import SpecError, device_preset


def _with(spec, *, order: str, device=None, wire_r_ohm: float = 0.0):
    return dataclasses.replace(spec, device=dataclasses.replace(device or spec.device, wire_r_ohm=wire_r_ohm,
                                                                ir_drop_order=order))


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 40), cols=st.integers(1, 40), tile_rows=st.integers(1, 16),
       tile_cols=st.integers(1, 16), seed=st.integers(0, 2**32 - 1),
       sense_amplifiers=st.sampled_from(["last_row", "first_row"]))
def test_orders_are_per_tile_bijections_that_follow_the_rule(rows, cols, tile_rows, tile_cols, seed,
                                                             sense_amplifiers):
    rng = np.random.default_rng(seed)
    w = rng.integers(-7, 8, (rows, cols)) * (rng.random((rows, cols)) < 0.7)
    x = rng.integers(-7, 8, (5, rows))
    row_order, col_order = ir_drop_orders(w, x, tile_rows, tile_cols, sense_amplifiers)
    row_current, col_current = expected_currents(w, x)
    row_sign = 1 if sense_amplifiers == "last_row" else -1     # heaviest row last, or first (at tile row 0)
    for order, n, tile, current, sign in ((row_order, rows, tile_rows, row_current, row_sign),
                                          (col_order, cols, tile_cols, col_current, -1)):
        assert sorted(order) == list(range(n))                             # a bijection of the layer's lines
        np.testing.assert_array_equal(order // tile, np.arange(n) // tile)  # each line stays in its tile
        for start in range(0, n, tile):
            block = order[start:start + tile]
            keys = list(zip(sign * current[block], block))     # rows ascending, columns descending; ties by index
            assert keys == sorted(keys)
        inv = inverse(order)
        np.testing.assert_array_equal(order[inv], np.arange(n))
        data = rng.integers(0, 100, (3, n))
        np.testing.assert_array_equal(data[:, order][:, inv], data)     # the inverse restores the order


def test_the_default_floorplan_keeps_the_default_order():
    rng = np.random.default_rng(3)
    w, x = rng.integers(-7, 8, (30, 12)), rng.integers(-7, 8, (4, 30))
    for a, b in zip(ir_drop_orders(w, x, 16, 8), ir_drop_orders(w, x, 16, 8, "last_row")):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="device.sense_amplifiers"):
        ir_drop_orders(w, x, 16, 8, "middle")


def test_inverse_refuses_what_is_not_a_permutation():
    with pytest.raises(ValueError, match="not a permutation"):
        inverse([0, 0, 2])


def test_expected_currents_follow_the_stated_rule():
    w = np.array([[1, -2], [0, 3]])
    x = np.array([[2, -1], [-4, 3]])                # mean |x| = (3, 2)
    rows, cols = expected_currents(w, x)
    np.testing.assert_allclose(rows, [3 * 3, 2 * 3])
    np.testing.assert_allclose(cols, [3 * 1 + 2 * 0, 3 * 2 + 2 * 3])


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    return net, net.meta["x_test"][:120], net.meta["x_calib"]


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_reordering_is_invisible_without_wire_resistance(digits, preset):
    """Ideal wires: the golden model (noise-free) and the physics model with ideal devices give the same codes
    with and without the reordering, though the weights sit elsewhere on the tiles."""
    net, x, calib = digits
    base = load_preset(preset)
    plain = map_network(net, _with(base, order="off", device=device_preset("ideal")), calib)
    moved = map_network(net, _with(base, order="on", device=device_preset("ideal")), calib)
    assert any(not np.array_equal(a.weight_codes, b.weight_codes) for a, b in zip(plain.layers, moved.layers))
    assert all(l.row_order is not None and l.col_order is not None for l in moved.layers)
    backends = (lambda m: GoldenBackend(m, noise=False), lambda m: PhysicsBackend(m, calib_x=calib))
    for backend in backends:
        for a, b in zip(backend(plain).run_codes(x), backend(moved).run_codes(x)):
            np.testing.assert_array_equal(a.codes, b.codes)


def _first_layer_wire_error(spec, net, calib):
    """The first layer's codes w, its calibration inputs' codes x, and error(row_order, col_order): the
    relative RMS error of its MVM through the wires (ideal devices) with the layer placed in those orders."""
    layer = map_network(net, spec, calib).layers[0]
    n_in, n_out = layer.in_features, layer.out_features
    w = layer.weight_codes[:n_in, :n_out]
    x = np.abs(np.round(calib / layer.x_scale))

    def error(row_order, col_order) -> float:
        placed = np.zeros((spec.tile.rows, spec.tile.cols), dtype=np.int64)
        placed[:n_in, :n_out] = w[row_order][:, col_order]
        read = PhysicsCrossbar(spec, placed, 0, active=(n_in, n_out)).conductances(1.0)
        xs = x[:, row_order]
        exact = xs @ placed[:n_in, :n_out]
        return float(np.sqrt(np.mean((xs @ read - exact) ** 2) / np.mean(exact ** 2)))

    return w, x, error


def test_reordering_lowers_the_ir_drop_error_of_the_first_layer(digits):
    """On tile64 at 10 ohm per segment the rule cuts the first layer's IR-drop error; the reverse order raises
    it (a check that the rule points the right way, drivers at the left, sense amplifiers at the bottom)."""
    net, _, calib = digits
    spec = _with(load_preset("tile64"), order="off", device=device_preset("ideal"), wire_r_ohm=10.0)
    w, x, error = _first_layer_wire_error(spec, net, calib)
    rows, cols = ir_drop_orders(w, x, spec.tile.rows, spec.tile.cols)
    plain, ruled = error(np.arange(w.shape[0]), np.arange(w.shape[1])), error(rows, cols)
    reverse = error(rows[::-1], cols[::-1])
    assert ruled < 0.8 * plain and reverse > plain


def test_first_row_sense_amplifiers_lower_the_error_and_their_rule_points_their_way(digits):
    """On tile64 at 10 ohm the first layer (64 rows, a full tile) with the sense amplifiers next to row 0:
    the first_row rule cuts the error, and the last_row rule's order (heaviest rows at the far end) does worse
    than the first_row one."""
    net, _, calib = digits
    spec = _with(load_preset("tile64"), order="off", device=dataclasses.replace(
        device_preset("ideal"), sense_amplifiers="first_row"), wire_r_ohm=10.0)
    w, x, error = _first_layer_wire_error(spec, net, calib)
    rows, cols = ir_drop_orders(w, x, spec.tile.rows, spec.tile.cols, "first_row")
    last_rows, _ = ir_drop_orders(w, x, spec.tile.rows, spec.tile.cols, "last_row")
    plain = error(np.arange(w.shape[0]), np.arange(w.shape[1]))
    ruled, wrong_end = error(rows, cols), error(last_rows, cols)
    assert ruled < 0.8 * plain and wrong_end > ruled
    # The mapping follows the floorplan: its first layer carries the first_row rule's orders.
    moved = map_network(net, _with(spec, order="on", device=spec.device, wire_r_ohm=10.0), calib).layers[0]
    np.testing.assert_array_equal(moved.row_order, rows)


def test_ir_drop_is_a_source_the_physics_backend_applies(digits):
    """device.wire_r_ohm reaches the accuracy run's tiles, and Sources(ir_drop=False) takes it out."""
    net, x, calib = digits
    spec = _with(load_preset("tile64"), order="off", device=device_preset("ideal"), wire_r_ohm=30.0)
    mapping = map_network(net, spec, calib)
    wired = PhysicsBackend(mapping, calib_x=calib).run(x)[0]
    ideal = PhysicsBackend(mapping, calib_x=calib, sources=Sources().without("ir_drop")).run(x)[0]
    assert device_with_sources(mapping.layers[0].spec, Sources().without("ir_drop")).device.wire_r_ohm == 0.0
    assert np.mean(np.abs(wired - ideal)) > 0.05 * np.mean(np.abs(ideal))
    no_wires = map_network(net, _with(spec, order="off", wire_r_ohm=0.0), calib)
    np.testing.assert_array_equal(ideal, PhysicsBackend(no_wires, calib_x=calib).run(x)[0])


def test_a_mapping_for_a_chip_grid_refuses_the_reordering(digits):
    """Only the mapping for a chip's grid: deployment maps with the option off and orders the chain itself
    (tests/test_ir_drop_deploy.py)."""
    net, _, calib = digits
    spec = load_preset("default").replace(device={"ir_drop_order": "on"})
    with pytest.raises(SpecError, match="device.ir_drop_order"):
        map_network(net, spec, calib, grid=(spec.array.row_tiles, spec.array.col_tiles))


def _spec_file(tmp_path, **device) -> str:
    path = tmp_path / "design.toml"
    path.write_text(spec_toml.dumps(load_preset("default").replace(device=device)))
    return str(path)


def test_evaluate_applies_the_spec_files_wires_and_order(tmp_path):
    """`aimcgen evaluate --spec FILE` with device.wire_r_ohm and device.ir_drop_order: the layers are reordered
    and IR drop shows as a noise source of its own in the attribution."""
    spec = _spec_file(tmp_path, wire_r_ohm=60.0, ir_drop_order="on")
    assert main(["evaluate", "--spec", spec, "--seeds", "1", "--no-plots", "--out", str(tmp_path / "out")]) == 0
    out = tmp_path / "out" / load_preset("default").name / "evaluation"
    report = json.loads((out / "report.json").read_text())
    assert all(any("device.ir_drop_order" in n for n in l["notes"]) for l in report["mapping"]["layers"])
    ir_drop = next(s for s in report["attribution"]["sources"] if s["source"] == "ir_drop")
    assert min(d["mean"] for d in ir_drop["alone_layer_error_added"]) > 0.01


def test_a_bad_order_value_is_refused_by_name(tmp_path, capsys):
    spec = _spec_file(tmp_path)
    text = open(spec).read().replace('ir_drop_order = "off"', 'ir_drop_order = "sideways"')
    open(spec, "w").write(text)
    assert main(["evaluate", "--spec", spec, "--seeds", "1", "--no-plots", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aimcgen: error: ") and err.count("\n") == 1 and "device.ir_drop_order" in err


def test_a_bad_sense_amplifier_end_is_refused_by_name(tmp_path, capsys):
    spec = _spec_file(tmp_path)
    text = open(spec).read()
    assert 'sense_amplifiers = "last_row"' in text
    open(spec, "w").write(text.replace('sense_amplifiers = "last_row"', 'sense_amplifiers = "left"'))
    assert main(["evaluate", "--spec", spec, "--seeds", "1", "--no-plots", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aimcgen: error: ") and err.count("\n") == 1 and "device.sense_amplifiers" in err
    assert "last_row" in err and "first_row" in err
