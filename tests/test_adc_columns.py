"""contract.adc_columns: the column-to-ADC assignment is a bijection with the documented examples, and
contract.sparsity's layer_columns converts exactly the positions that hold a column of the layer."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from aimcgen.contract.adc_columns import adc_column, adc_major_index, column_adc, column_table
from aimcgen.contract.sparsity import column_positions, conversion_plan, position_span
from aimcgen.presets import load_preset
from aimcgen.sim.models.physics import PhysicsCrossbar
from aimcgen.spec import SpecError, from_dict

ASSIGNMENTS = ("blocks", "interleaved")


@st.composite
def tile_shapes(draw):
    """(cols, adc.count, assignment) of a legal spec: count divides cols."""
    cols = draw(st.integers(1, 96))
    count = draw(st.sampled_from([d for d in range(1, cols + 1) if cols % d == 0]))
    return cols, count, draw(st.sampled_from(ASSIGNMENTS))


def spec_of(cols, count, assignment, layer_columns="on"):
    return from_dict({"tile": {"rows": 4, "cols": cols}, "adc": {"count": count, "column_assignment": assignment},
                      "sparsity": {"layer_columns": layer_columns}})


@settings(max_examples=150, deadline=None)
@given(tile_shapes())
def test_assignment_is_a_bijection(shape):
    spec = spec_of(*shape)
    table = column_table(spec)
    cols, count = spec.tile.cols, spec.adc.count
    assert table.shape == (count, cols // count)
    assert sorted(table.ravel().tolist()) == list(range(cols))          # every column exactly once
    for a in range(count):
        for p in range(spec.columns_per_adc):
            assert column_adc(spec, adc_column(spec, a, p)) == (a, p)
    a, p = column_adc(spec, np.arange(cols))
    np.testing.assert_array_equal(adc_column(spec, a, p), np.arange(cols))
    np.testing.assert_array_equal(table.ravel()[adc_major_index(spec)], np.arange(cols))


def test_documented_examples():
    blocks, interleaved = spec_of(64, 8, "blocks"), spec_of(64, 8, "interleaved")
    assert column_adc(blocks, 10) == (1, 2) and adc_column(blocks, 1, 2) == 10
    assert column_adc(interleaved, 10) == (2, 1) and adc_column(interleaved, 2, 1) == 10
    np.testing.assert_array_equal(column_table(interleaved)[:, 0], np.arange(8))   # position 0: columns 0..7
    # one ADC, or one column per ADC: both assignments are the same
    for cols, count in ((8, 1), (8, 8)):
        np.testing.assert_array_equal(column_table(spec_of(cols, count, "blocks")),
                                      column_table(spec_of(cols, count, "interleaved")))


@settings(max_examples=150, deadline=None)
@given(tile_shapes(), st.data())
def test_layer_columns_convert_exactly_the_positions_of_the_layer(shape, data):
    spec = spec_of(*shape)
    cols = spec.tile.cols
    lo = data.draw(st.integers(0, cols))
    hi = data.draw(st.integers(0, cols))
    held = {int(column_adc(spec, j)[1]) for j in range(lo, hi)}
    positions = column_positions(spec, lo, hi)
    assert set(np.flatnonzero(positions).tolist()) == held
    first, n = position_span(spec, lo, hi)
    assert n == len(held) and 0 <= first < spec.columns_per_adc
    if spec.adc.column_assignment == "interleaved":
        assert first + n <= spec.columns_per_adc                       # the span never wraps
        if hi > lo:
            assert (first, n) == (lo // spec.adc.count, (hi - 1) // spec.adc.count - lo // spec.adc.count + 1)


def test_interleaved_plan_on_tile64():
    """The issue's case: a 10-column and a 32-column layer on 64 columns and 8 ADCs convert 2 and 4 of the
    8 positions interleaved, all 8 in blocks."""
    tile64 = load_preset("tile64").replace(sparsity={"layer_columns": "on"})
    interleaved = tile64.replace(adc={"column_assignment": "interleaved"})
    x = np.ones((1, tile64.tile.rows), dtype=np.int64)
    for (lo, hi), n_blocks, n_interleaved in (((0, 10), 8, 2), ((0, 32), 8, 4), ((5, 6), 1, 1), ((9, 17), 8, 2)):
        assert conversion_plan(x, tile64, (lo, hi)).positions.sum() == n_blocks
        plan = conversion_plan(x, interleaved, (lo, hi))
        assert plan.positions.sum() == n_interleaved
        assert plan.first[0] == lo // 8
    idle = conversion_plan(x, interleaved, (64, 64))
    assert not idle.positions.any() and idle.first[0] == 0


def test_bad_assignment_is_a_spec_error():
    with pytest.raises(SpecError, match=r"adc.column_assignment = \"rows\": must be one of"):
        from_dict({"adc": {"column_assignment": "rows"}})


def test_physics_model_gives_each_column_its_own_adcs_errors():
    """With ADC errors, the float physics tile converts column j with the thresholds of ADC column_adc(j)[0]
    under either assignment: the same chip (seed) with a different assignment moves the tables with the
    columns."""
    base = {"tile": {"rows": 4, "cols": 8}, "adc": {"count": 4, "gain_sigma": 0.05, "offset_sigma_lsb": 1.0},
            "device": {"model": "ideal"}}
    w = np.zeros((4, 8), dtype=np.int64)
    tables = {}
    for assignment in ASSIGNMENTS:
        spec = from_dict({**base, "adc": {**base["adc"], "column_assignment": assignment}})
        tables[assignment] = PhysicsCrossbar(spec, w, 3)._adc_table
    per_adc_blocks = tables["blocks"][::2]                  # blocks: columns 0, 2, 4, 6 are ADCs 0..3
    per_adc_interleaved = tables["interleaved"][:4]         # interleaved: columns 0..3 are ADCs 0..3
    np.testing.assert_array_equal(per_adc_blocks, per_adc_interleaved)
    assert not np.array_equal(tables["blocks"], tables["interleaved"])
