"""The IR-drop solver (sim.models.ir_drop) against ngspice, against a dense nodal solve, and its invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimcgen.presets import load_preset
from aimcgen.sim.models.ir_drop import (IrDropError, block_sense_segments, effective_conductances, interleave,
                                        tile_wires)
from aimcgen.sim.models.physics import PhysicsCrossbar, codes_to_conductances
from aimcgen.spec import device_preset
from required_tools import require_executables
from spice_crossbar import sense_currents

# ngspice prints 12 significant digits; the solver stops at 1e-12 of the largest current.
SPICE_RTOL = 1e-7


def dense_nodal(g_us: np.ndarray, wire_r_ohm: float, volts: np.ndarray,
                sense_amplifiers: str = "last_row") -> np.ndarray:
    """The same network by textbook nodal analysis: one dense matrix, one solve (small arrays only); the
    sense amplifiers one segment from tile row R - 1 ("last_row") or row 0 ("first_row")."""
    rows, cols = g_us.shape
    sensed = {"last_row": rows - 1, "first_row": 0}[sense_amplifiers]
    n = rows * cols
    a = np.zeros((2 * n, 2 * n))
    b = np.zeros(2 * n)
    gw = 1.0 / wire_r_ohm

    def link(p, q, g):
        a[p, p] += g
        a[q, q] += g
        a[p, q] -= g
        a[q, p] -= g

    for i in range(rows):
        for k in range(cols):
            r_node, c_node = i * cols + k, n + i * cols + k
            link(r_node, c_node, g_us[i, k] * 1e-6)
            if k + 1 < cols:
                link(r_node, r_node + 1, gw)
            if i + 1 < rows:
                link(c_node, c_node + cols, gw)
        a[i * cols, i * cols] += gw
        b[i * cols] += gw * volts[i]
    for k in range(cols):
        a[n + sensed * cols + k, n + sensed * cols + k] += gw
    v = np.linalg.solve(a, b)
    return v[n + sensed * cols:n + (sensed + 1) * cols] * gw


@pytest.mark.parametrize("rows, weight_cols, wire_r_ohm, sense_amplifiers",
                         [(8, 4, 2.0, "last_row"), (32, 16, 1.0, "last_row"), (32, 16, 20.0, "last_row"),
                          (8, 4, 2.0, "first_row"), (32, 16, 20.0, "first_row")])
def test_agrees_with_ngspice(tmp_path, rows, weight_cols, wire_r_ohm, sense_amplifiers):
    require_executables("ngspice")
    rng = np.random.default_rng(rows + weight_cols)
    g_plus = rng.uniform(0.0, 25.0, (rows, weight_cols))
    g_minus = rng.uniform(0.0, 25.0, (rows, weight_cols))
    g_minus[rng.random(g_minus.shape) < 0.3] = 0.0           # unprogrammed devices: no resistor at all
    volts = rng.uniform(-0.2, 0.2, rows)
    spice = sense_currents(interleave(g_plus, g_minus), wire_r_ohm, volts, tmp_path, sense_amplifiers)
    eff_plus, eff_minus = tile_wires(g_plus, g_minus, wire_r_ohm, sense_amplifiers=sense_amplifiers)
    ours = volts @ interleave(eff_plus, eff_minus) * 1e-6
    np.testing.assert_allclose(ours, spice, rtol=SPICE_RTOL, atol=1e-9 * np.max(np.abs(spice)))
    # The wires matter at these sizes: the ideal product is clearly different.
    ideal = volts @ interleave(g_plus, g_minus) * 1e-6
    assert np.max(np.abs(ideal - spice)) > 1e-4 * np.max(np.abs(spice))


@pytest.mark.parametrize("sense_amplifiers", ["last_row", "first_row"])
def test_agrees_with_dense_nodal_solve(sense_amplifiers):
    rng = np.random.default_rng(7)
    g = rng.uniform(0.0, 50.0, (5, 7))
    volts = rng.uniform(-1.0, 1.0, 5)
    np.testing.assert_allclose(volts @ effective_conductances(g, 30.0, sense_amplifiers=sense_amplifiers) * 1e-6,
                               dense_nodal(g, 30.0, volts, sense_amplifiers), rtol=1e-9, atol=1e-18)


def test_first_row_sense_amplifiers_are_the_row_flipped_tile():
    """Sense amplifiers next to tile row 0 are the mirror image of those next to row R - 1: the same currents
    as the row-reversed tile sensed at its last row, row for row; and different from the default floorplan."""
    rng = np.random.default_rng(11)
    g_plus, g_minus = rng.uniform(0.0, 25.0, (2, 24, 10))
    first = tile_wires(g_plus, g_minus, 20.0, sense_amplifiers="first_row")
    flipped = tile_wires(g_plus[::-1], g_minus[::-1], 20.0)
    last = tile_wires(g_plus, g_minus, 20.0)
    for f, m, l in zip(first, flipped, last):
        np.testing.assert_array_equal(f, m[::-1])
        assert np.max(np.abs(f - l)) > 1e-3
    # Rows nearest the sense amplifiers lose least: row 0 now keeps more of its current than row R - 1.
    g = np.full((24, 4), 25.0)
    first_row = effective_conductances(g, 20.0, sense_amplifiers="first_row")
    assert np.all(first_row[0] > first_row[-1])
    np.testing.assert_array_equal(effective_conductances(g, 0.0, sense_amplifiers="first_row"), g)


def test_zero_wire_resistance_is_the_conductance_matrix():
    g = np.arange(12.0).reshape(3, 4)
    np.testing.assert_array_equal(effective_conductances(g, 0.0), g)


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(1, 6), cols=st.integers(1, 8), seed=st.integers(0, 2**32 - 1),
       log_r=st.floats(-1.0, 2.0), scale=st.floats(0.1, 10.0))
def test_wires_only_lose_current_and_scale_with_r_times_g(rows, cols, seed, log_r, scale):
    """Every node lies between 0 V and the 1 V source, so no sense current is negative; and by Rayleigh's
    monotonicity the wires only lower the conductance from the source to ground, so a driven row's sense
    currents sum to at most its conductances' sum. Entry by entry no such bound holds: see the sneak-path
    test below."""
    g = np.random.default_rng(seed).uniform(0.0, 25.0, (rows, cols))
    r = 10.0 ** log_r
    eff = effective_conductances(g, r)
    assert np.all(eff >= -1e-9 * g.max())
    assert np.all(eff.sum(axis=1) <= g.sum(axis=1) + 1e-9 * g.max())
    assert eff.sum() <= effective_conductances(g, r / 2).sum() + 1e-9 * g.sum()
    # Only r x G matters: scaling G by s and r by 1/s scales every current per volt by s.
    np.testing.assert_allclose(effective_conductances(g * scale, r / scale), eff * scale, rtol=1e-8,
                               atol=1e-9 * g.max() * scale)


def test_a_nearly_unprogrammed_device_reads_above_its_conductance_through_sneak_paths():
    """Current from a driven row reaches a column through other rows' devices too: out of the row into
    other columns, up their raised column wires into undriven rows, and across into the column. For a device
    near 0 uS with large neighbours that path outweighs the wire loss, so its effective conductance exceeds
    its own (the dense nodal solve agrees); an entrywise bound eff <= G would be wrong."""
    g = np.array([[25.0, 25.0], [25.0, 0.01]])
    eff = effective_conductances(g, 50.0)
    np.testing.assert_allclose(eff[1], dense_nodal(g, 50.0, np.array([0.0, 1.0])) * 1e6, rtol=1e-9)
    assert eff[1, 1] > g[1, 1] and eff[1].sum() < g[1].sum()


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="wire_r_ohm"):
        effective_conductances(np.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match="finite"):
        effective_conductances(np.array([[np.nan]]), 1.0)
    with pytest.raises(ValueError, match="differ in shape"):
        interleave(np.ones((2, 2)), np.ones((2, 3)))


def test_a_network_that_drops_everything_is_refused_by_name():
    with pytest.raises(IrDropError, match="wire_r_ohm = 1000000.0"):
        effective_conductances(np.full((16, 16), 1000.0), 1e6)


def test_physics_model_reads_through_the_wires():
    """An ideal-device tile with resistive wires reads exactly the effective matrix of its whole tile; the
    unused devices of an active block still carry their wire segments, so the block reads the same."""
    base = load_preset("tile64")
    spec = dataclasses.replace(base, device=dataclasses.replace(device_preset("ideal"), wire_r_ohm=2.0))
    levels = spec.tile.conductance_levels
    rng = np.random.default_rng(5)
    weights = np.zeros((spec.tile.rows, spec.tile.cols), dtype=np.int64)
    weights[:40, :24] = rng.integers(-levels, levels + 1, size=(40, 24))
    g_plus, g_minus = codes_to_conductances(np.maximum(weights, 0), np.maximum(-weights, 0), levels, spec.device)
    eff_plus, eff_minus = tile_wires(g_plus, g_minus, 2.0)
    expected = (eff_plus - eff_minus) * levels / spec.device.g_max_us
    whole = PhysicsCrossbar(spec, weights, 0).conductances(1.0)
    np.testing.assert_allclose(whole, expected, rtol=1e-9, atol=1e-9)
    block = PhysicsCrossbar(spec, weights, 0, active=(40, 24)).conductances(1.0)
    np.testing.assert_allclose(block, expected[:40, :24], rtol=1e-9, atol=1e-9)
    assert np.max(np.abs(whole - weights)) > 0.05                   # the wires do change the reading
    ideal_wires = dataclasses.replace(spec, device=device_preset("ideal"))
    np.testing.assert_array_equal(PhysicsCrossbar(ideal_wires, weights, 0).conductances(1.0), weights)


@pytest.mark.parametrize("rows, cols, block_rows, block_cols", [(12, 6, 5, 3), (16, 4, 16, 2), (9, 5, 1, 5)])
def test_a_leading_block_solves_like_its_whole_tile(rows, cols, block_rows, block_cols):
    """Devices at 0 uS outside a leading block: the block alone, with the rows below it as series segments to
    the sense amplifiers, reads exactly what the whole tile reads on that block."""
    rng = np.random.default_rng(rows * cols + block_rows)
    g_plus, g_minus = np.zeros((rows, cols)), np.zeros((rows, cols))
    g_plus[:block_rows, :block_cols] = rng.uniform(0.0, 25.0, (block_rows, block_cols))
    g_minus[:block_rows, :block_cols] = rng.uniform(0.0, 25.0, (block_rows, block_cols))
    whole = tile_wires(g_plus, g_minus, 40.0)
    block = tile_wires(g_plus[:block_rows, :block_cols], g_minus[:block_rows, :block_cols], 40.0,
                       sense_segments=rows - block_rows + 1)
    for w, b in zip(whole, block):
        np.testing.assert_allclose(b, w[:block_rows, :block_cols], rtol=1e-9, atol=1e-12)
    # The series segments matter: a block read as if it were the whole tile reads differently.
    alone = tile_wires(g_plus[:block_rows, :block_cols], g_minus[:block_rows, :block_cols], 40.0)
    assert rows == block_rows or np.max(np.abs(alone[0] - whole[0][:block_rows, :block_cols])) > 1e-6


@pytest.mark.parametrize("rows, cols, block_rows, block_cols", [(12, 6, 5, 3), (16, 4, 16, 2), (9, 5, 1, 5)])
def test_a_leading_block_next_to_first_row_sense_amplifiers_solves_alone(rows, cols, block_rows, block_cols):
    """With the sense amplifiers at tile row 0 the rows below a leading block hang on the open end of the
    column wires: the block alone, 1 segment from the sense amplifiers, reads what the whole tile reads."""
    rng = np.random.default_rng(rows * cols + block_rows)
    g_plus, g_minus = np.zeros((rows, cols)), np.zeros((rows, cols))
    g_plus[:block_rows, :block_cols] = rng.uniform(0.0, 25.0, (block_rows, block_cols))
    g_minus[:block_rows, :block_cols] = rng.uniform(0.0, 25.0, (block_rows, block_cols))
    whole = tile_wires(g_plus, g_minus, 40.0, sense_amplifiers="first_row")
    segments = block_sense_segments(rows, block_rows, "first_row")
    assert segments == 1 and block_sense_segments(rows, block_rows) == rows - block_rows + 1
    block = tile_wires(g_plus[:block_rows, :block_cols], g_minus[:block_rows, :block_cols], 40.0,
                       sense_segments=segments, sense_amplifiers="first_row")
    for w, b in zip(whole, block):
        np.testing.assert_allclose(b, w[:block_rows, :block_cols], rtol=1e-9, atol=1e-12)


def test_physics_model_reads_through_first_row_sense_amplifiers():
    """device.sense_amplifiers = "first_row" reaches the physics model: an active block reads the whole tile's
    first_row solve, and a short block reads closer to its weights than with the default floorplan."""
    base = load_preset("tile64")
    levels = base.tile.conductance_levels
    weights = np.zeros((base.tile.rows, base.tile.cols), dtype=np.int64)
    weights[:20, :24] = np.random.default_rng(9).integers(-levels, levels + 1, size=(20, 24))

    def read(sense_amplifiers: str, active=None) -> np.ndarray:
        device = dataclasses.replace(device_preset("ideal"), wire_r_ohm=5.0, sense_amplifiers=sense_amplifiers)
        return PhysicsCrossbar(dataclasses.replace(base, device=device), weights, 0, active=active).conductances(1.0)

    first_whole, first_block = read("first_row"), read("first_row", (20, 24))
    np.testing.assert_allclose(first_block, first_whole[:20, :24], rtol=1e-9, atol=1e-9)
    g_plus, g_minus = codes_to_conductances(np.maximum(weights, 0), np.maximum(-weights, 0), levels, base.device)
    eff_plus, eff_minus = tile_wires(g_plus, g_minus, 5.0, sense_amplifiers="first_row")
    np.testing.assert_allclose(first_whole, (eff_plus - eff_minus) * levels / base.device.g_max_us,
                               rtol=1e-9, atol=1e-9)
    last_block = read("last_row", (20, 24))
    used = weights[:20, :24]
    assert np.abs(first_block - used).sum() < 0.7 * np.abs(last_block - used).sum()


@pytest.mark.parametrize("segments", [0, -1, 1.5, True])
def test_bad_sense_segments_are_refused(segments):
    with pytest.raises(ValueError, match="sense_segments"):
        effective_conductances(np.ones((2, 2)), 1.0, segments)


def test_a_bad_sense_end_is_refused():
    with pytest.raises(ValueError, match="device.sense_amplifiers = 'top'"):
        effective_conductances(np.ones((2, 2)), 1.0, sense_amplifiers="top")
    with pytest.raises(ValueError, match="does not fit"):
        block_sense_segments(4, 5)
