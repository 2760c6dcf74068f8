"""The per-row-tile gain trims (contract.tile_gain): unity is the identity, the rounding and the saturation
follow the docstring's rule, the golden model applies them, the register map has the window only when built."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hs

from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.tile_gain import check_gains, combine_row_tiles, tile_gain_on, trim, unity_gain, unity_gains
from aimcgen.presets import load_preset
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import SpecError


def _spec(bits=10, row_tiles=2, col_tiles=1):
    return load_preset("default").replace(accumulator={"tile_gain_bits": bits},
                                          array={"row_tiles": row_tiles, "col_tiles": col_tiles})


@settings(max_examples=60, deadline=None)
@given(bits=hs.integers(2, 16), values=hs.lists(hs.integers(-2048, 2047), min_size=1, max_size=20))
def test_unity_trim_is_the_identity(bits, values):
    spec = _spec(bits)
    p = np.array(values, dtype=np.int64)
    out, clipped = trim(p, np.full(p.shape, unity_gain(spec)), spec)
    assert np.array_equal(out, p) and not clipped.any()


def test_trim_rounds_half_up_and_saturates():
    spec = _spec(4)                     # T = 4: 3 fraction bits, unity 8
    p = np.array([3, -3, 5, 2047, -2048])
    g = np.array([12, 12, 9, 15, 15])   # 1.5, 1.5, 1.125, 1.875, 1.875
    out, clipped = trim(p, g, spec)
    # 4.5 -> 5 (half up), -4.5 -> -4 (half up), 5.625 -> 6; the last two clamp at the 12-bit accumulator
    assert out.tolist() == [5, -4, 6, 2047, -2048]
    assert clipped.tolist() == [False, False, False, True, True]


def test_combine_sums_in_r_order_with_trims():
    spec = _spec(8, row_tiles=3)
    fmt = datapath_formats(spec).accumulator
    parts = [np.array([[100, -7]]), np.array([[10, 3]]), np.array([[2047, 1]])]
    flags = [np.zeros((1, 2), bool)] * 3
    gains = np.array([[64, 192], [128, 0]])         # 0.5, 1.5; 1.0, 0.0
    acc, overflow = combine_row_tiles(parts, flags, gains, spec)
    assert acc.tolist() == [[min(100 + 5 + 2047, fmt.max), -7 + 5 + 0]]
    assert overflow.tolist() == [[True, False]]


def test_golden_applies_the_trims():
    spec = _spec(10, row_tiles=2).replace(noise={"sigma_lsb": 0.0})
    rng = np.random.default_rng(3)
    L = spec.tile.conductance_levels
    w = rng.integers(-L, L + 1, (spec.logical_rows, spec.logical_cols))
    x = rng.integers(-7, 8, (5, spec.logical_rows))
    plain = GoldenAccelerator(spec, w).run(x)
    chip = GoldenAccelerator(spec, w)
    gains = rng.integers(400, 700, (1, spec.logical_cols))
    chip.set_tile_gains(gains)
    trimmed = chip.run(x)
    parts = [t.accumulator for t in plain.tiles]
    expected, _ = trim(parts[1], gains[0], spec)
    expected, _ = datapath_formats(spec).accumulator.saturate(parts[0] + expected)
    assert np.array_equal(trimmed.accumulator, expected)
    chip.set_tile_gains(unity_gains(spec))
    assert np.array_equal(chip.run(x).accumulator, GoldenAccelerator(spec, w).run(x).accumulator)


def test_gains_are_checked():
    spec = _spec(6)
    with pytest.raises(SpecError, match="0..63"):
        check_gains(spec, np.full((1, spec.logical_cols), 64))
    with pytest.raises(SpecError, match="shape"):
        check_gains(spec, np.full((2, spec.logical_cols), 32))
    with pytest.raises(SpecError, match="has none"):
        check_gains(_spec(0), 32)
    with pytest.raises(SpecError, match="tile_gain_bits = 1"):
        _spec(1)


def test_window_exists_only_when_built():
    assert not tile_gain_on(_spec(10, row_tiles=1))
    assert "TILE_GAIN" not in {w.name for w in aimc_register_map(_spec(10, row_tiles=1)).windows}
    assert "TILE_GAIN" not in {w.name for w in aimc_register_map(_spec(0, row_tiles=2)).windows}
    spec = _spec(10, row_tiles=3, col_tiles=2)
    window = {w.name: w for w in aimc_register_map(spec).windows}["TILE_GAIN"]
    assert (window.depth, window.width, window.signed) == (2 * spec.logical_cols, 10, False)
