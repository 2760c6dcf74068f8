# amaranth: UnusedElaboratable=no
"""ADC errors on the emulated chip (contract.adc_errors, rtl/adc_thresholds.py): the accelerator with the
emulated tile and the periphery's own SAR / ramp / flash controllers equals the golden model bit for bit, the
chip's draws are seeded and distributed as documented, and without errors the tile builds no threshold logic."""

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment

from aimcgen.contract.adc import adc_code
from aimcgen.contract.adc_errors import (THRESHOLD_FRAC_BITS, chip_draws, chip_thresholds, column_thresholds,
                                         comparator_thresholds, convert)
from aimcgen.contract.formats import datapath_formats
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.sim.models.golden import GoldenAccelerator, GoldenTile
from aimcgen.spec import from_dict
from test_rtl_accelerator_core import run_core

ERROR_SPECS = {
    # 2x1 grid (two tiles, two chips' worth of tables), bit-serial SAR with mismatch.
    "sar": {"tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2}, "input": {"bits": 4},
            "adc": {"kind": "sar", "count": 2, "bits": 5, "full_scale": 16, "gain_sigma": 0.1,
                    "offset_sigma_lsb": 1.5, "cap_mismatch_sigma": 0.08}},
    # The same with interleaved columns (contract.adc_columns): each column converts with its own ADC's table.
    "sar_interleaved": {"tile": {"rows": 4, "cols": 4}, "input": {"bits": 4},
                        "adc": {"kind": "sar", "count": 2, "bits": 5, "full_scale": 16, "gain_sigma": 0.1,
                                "offset_sigma_lsb": 1.5, "cap_mismatch_sigma": 0.08,
                                "column_assignment": "interleaved"}},
    "ramp": {"tile": {"rows": 4, "cols": 4}, "input": {"bits": 3},
             "adc": {"kind": "ramp", "count": 2, "bits": 4, "full_scale": 8, "gain_sigma": 0.1,
                     "offset_sigma_lsb": 1.0, "ramp_inl_lsb": 1.5}},
    "flash": {"tile": {"rows": 6, "cols": 4}, "input": {"bits": 3, "encoding": "pwm"},
              "adc": {"kind": "flash", "bits": 5, "count": 4, "full_scale": 32, "gain_sigma": 0.1,
                      "offset_sigma_lsb": 1.5},
              "accumulator": {"bits": 8}, "postproc": {"output_bits": 6}},
}


def _spec(name, seed=3):
    tables = {k: dict(v) for k, v in ERROR_SPECS[name].items()}
    tables["noise"] = {"sigma_lsb": 1.0, "seed": seed}
    return from_dict(tables)


@pytest.mark.parametrize("name", list(ERROR_SPECS))
def test_emulated_accelerator_with_adc_errors_equals_golden(name):
    spec = _spec(name)
    rng = np.random.default_rng(21)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    scale = np.full(spec.logical_cols, 1 << spec.postproc.scale_frac_bits)
    offset = np.zeros(spec.logical_cols, dtype=np.int64)
    xs = rng.integers(-m, m + 1, (6, spec.logical_rows))
    golden = GoldenAccelerator(spec, w, scale, offset)
    expected = golden.run(xs).outputs
    # The errors must change this workload's outputs, or the test would not see them.
    ideal = GoldenAccelerator(spec.replace(adc={"gain_sigma": 0.0, "offset_sigma_lsb": 0.0,
                                                "cap_mismatch_sigma": 0.0, "ramp_inl_lsb": 0.0}),
                              w, scale, offset).run(xs).outputs
    assert np.any(expected != ideal)
    got = run_core(spec, w, scale, offset, xs, emulated=True)
    np.testing.assert_array_equal(got, expected)


def _submodule_names(spec):
    fragment = Fragment.get(EmulatedCrossbar(spec), None)
    return [name for _, name, _ in fragment.subfragments]


def test_without_errors_the_tile_builds_no_threshold_logic():
    with_errors = _spec("sar")
    ideal = with_errors.replace(adc={"gain_sigma": 0.0, "offset_sigma_lsb": 0.0, "cap_mismatch_sigma": 0.0})
    assert chip_thresholds(ideal, 0) is None and GoldenTile(ideal, np.zeros((4, 4), int)).adc_table is None
    assert not [n for n in _submodule_names(ideal) if n.startswith("thresholds_")]
    assert [n for n in _submodule_names(with_errors) if n.startswith("thresholds_")] == ["thresholds_0",
                                                                                         "thresholds_1"]


def test_chip_draws_are_seeded_per_chip_and_tile_and_standard_normal():
    spec = from_dict({"tile": {"rows": 4, "cols": 1024}, "adc": {"count": 1024, "bits": 6, "full_scale": 32,
                                                                 "gain_sigma": 0.05}, "noise": {"seed": 7}})
    d = chip_draws(spec, 0)
    np.testing.assert_array_equal(d.z_cap, chip_draws(spec, 0).z_cap)          # deterministic
    assert not np.array_equal(d.z_gain, chip_draws(spec, 1).z_gain)            # per tile
    assert not np.array_equal(d.z_gain, chip_draws(spec.replace(noise={"seed": 8}), 0).z_gain)   # per chip
    z = np.concatenate([d.z_gain, d.z_offset, d.z_cap.ravel()])                # 8192 draws
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1.0) < 0.05 and np.abs(z).max() < 6.0
    # Pairs of draws are uncorrelated.
    assert abs(np.corrcoef(d.z_gain, d.z_offset)[0, 1]) < 0.1


def test_chip_draws_follow_the_documented_hash():
    """Draw d = 1 (z_offset) of ADC 2 of tile 1, seed 5, computed from the docstring's formulas by hand."""
    spec = from_dict({"tile": {"cols": 4}, "adc": {"count": 4, "bits": 3, "full_scale": 4,
                                                    "offset_sigma_lsb": 1.0}, "noise": {"seed": 5}})
    mask = 0xFFFFFFFF
    total = 0
    for i in range(12):
        key = ((1 * 1024 + 2) * 32 + 1) * 16 + i
        x = (5 * 0x9E3779B9 + key * 0x85EBCA6B + 0x2545F491) & mask
        x ^= x >> 16
        x = (x * 0x85EBCA6B) & mask
        x ^= x >> 13
        x = (x * 0xC2B2AE35) & mask
        total += x ^ (x >> 16)
    assert chip_draws(spec, 1).z_offset[2] == total / 2 ** 32 - 6


def test_comparator_thresholds_give_the_fixed_point_answers():
    """h >= ceil(T_q / 2^8) (clamped to the sample's range) answers exactly as h * 2^8 >= T_q."""
    spec = _spec("sar")
    charge = datapath_formats(spec).charge
    table = chip_thresholds(spec, 0)[0]
    table = np.concatenate([table, [charge.max * 256 + 300, charge.min * 256 - 300, 5 * 256, 5 * 256 + 1]])
    t_c = comparator_thresholds(table, spec)
    h = np.arange(charge.min, charge.max + 1)[:, None]
    np.testing.assert_array_equal(h >= t_c, (h << THRESHOLD_FRAC_BITS) >= table)


def test_count_conversion_is_the_thermometer_sum_and_the_first_crossing_when_monotone():
    """ramp/flash: u = #(T(u') <= q) for any table (the RTL's summed comparators); for a non-decreasing
    table it equals the number of consecutive passes from u' = 1 (where a ramp first passes q)."""
    rng = np.random.default_rng(4)
    spec = _spec("ramp")
    adc = spec.adc
    n = 1 << adc.bits
    q = rng.integers(-80, 80, size=(500, 3))
    shuffled = rng.integers(-60 * 256, 60 * 256, size=(3, n))                   # not monotone
    passed = (q[..., None] << THRESHOLD_FRAC_BITS) >= shuffled[:, 1:]
    np.testing.assert_array_equal(convert(q, shuffled, adc), passed.sum(-1) + adc.code_min)
    monotone = np.sort(shuffled, axis=-1)
    passed = (q[..., None] << THRESHOLD_FRAC_BITS) >= monotone[:, 1:]
    np.testing.assert_array_equal(convert(q, monotone, adc), np.cumprod(passed, -1).sum(-1) + adc.code_min)


def test_golden_tile_converts_each_column_with_its_adcs_table():
    spec = _spec("flash")
    rng = np.random.default_rng(2)
    w = rng.integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    tile = GoldenTile(spec.replace(noise={"sigma_lsb": 0.0}), w)
    x = rng.integers(-3, 4, (50, spec.tile.rows))
    charges = tile.charges(x)
    table = column_thresholds(spec, 0)
    np.testing.assert_array_equal(tile.run(x).codes, convert(charges, table, spec.adc))
    assert np.any(tile.run(x).codes != adc_code(charges, spec.adc))


@pytest.mark.parametrize("name", ["sar", "flash"])
def test_tile_with_adc_errors_converts_to_verilog(name):
    """The threshold ROM (sar/ramp) and the thermometer (flash) are synthesizable as written."""
    text = verilog.convert(EmulatedCrossbar(_spec(name)), name="tile")
    assert "thresholds_0" in text and "thresholds_1" in text
