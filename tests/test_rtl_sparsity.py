"""The [sparsity] options on the tile controller: accumulators equal the golden model bit for bit (noise
included, so the RTL draws exactly the samples contract.sparsity plans), the activity events equal
sim.models.activity's prediction, and the skipped work is really gone from the command stream."""

import numpy as np
import pytest
from aimcgen.rtl.tile_controller import TileController
from aimcgen.sim.models.activity import Activity, tile_activity
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.sim.models.mvm_cycles import tile_mvm_cycles
from aimcgen.sim.verify.amaranth_macro import read_banks, run_tile_mvms, simulate_tile
from aimcgen.sim.verify.macro_model import MacroModel

from aimcgen.contract.schedule import tail_commands
from aimcgen.contract.sparsity import conversion_plan
from aimcgen.spec import SpecError, from_dict

SPECS = {
    "bit_serial_planes": ({"tile": {"rows": 8, "cols": 8}, "input": {"bits": 5}, "adc": {"count": 2}},
                          {"skip_zero_planes": "on"}),
    "bit_serial_tiles": ({"tile": {"rows": 8, "cols": 8}, "input": {"bits": 4}, "adc": {"count": 2}},
                         {"skip_zero_tiles": "on"}),
    "pwm_window": ({"tile": {"rows": 8, "cols": 6}, "input": {"bits": 4, "encoding": "pwm"},
                    "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 64},
                    "accumulator": {"bits": 8}}, {"pwm_window": "on"}),
    "pwm_all": ({"tile": {"rows": 6, "cols": 6}, "input": {"bits": 3, "encoding": "pwm"},
                 "adc": {"kind": "ramp", "bits": 4, "count": 2, "full_scale": 16}, "accumulator": {"bits": 6}},
                {"pwm_window": "on", "skip_zero_tiles": "on", "layer_columns": "on"}),
    "bit_serial_all": ({"tile": {"rows": 8, "cols": 12}, "input": {"bits": 4}, "adc": {"count": 2}},
                       {"skip_zero_planes": "on", "skip_zero_tiles": "on", "layer_columns": "on"}),
    # adc.column_assignment = interleaved (contract.adc_columns): a layer's columns sit at few positions;
    # 3 ADCs, so the tile controller's lo // A is not a shift
    "bit_serial_all_interleaved": ({"tile": {"rows": 8, "cols": 12}, "input": {"bits": 4},
                                    "adc": {"count": 3, "column_assignment": "interleaved"}},
                                   {"skip_zero_planes": "on", "skip_zero_tiles": "on", "layer_columns": "on"}),
    "pwm_all_interleaved": ({"tile": {"rows": 6, "cols": 8}, "input": {"bits": 3, "encoding": "pwm"},
                             "adc": {"kind": "ramp", "bits": 4, "count": 2, "full_scale": 16,
                                     "column_assignment": "interleaved"}, "accumulator": {"bits": 6}},
                            {"pwm_window": "on", "skip_zero_tiles": "on", "layer_columns": "on"}),
    # one flash ADC per column: a converted step is a single command
    "flash_per_column": ({"tile": {"rows": 8, "cols": 3}, "input": {"bits": 4},
                          "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32},
                          "accumulator": {"bits": 9}},
                         {"skip_zero_planes": "on", "layer_columns": "on"}),
}


def make_spec(name, sigma=2.0):
    tables, sparsity = SPECS[name]
    tables = {k: dict(v) for k, v in tables.items()}
    tables["noise"] = {"sigma_lsb": sigma, "seed": 5}
    tables["sparsity"] = dict(sparsity)
    return from_dict(tables)


def sparse_inputs(spec, rng, count):
    """Vectors with 0..100 % zeros and random bit planes cleared, so every skip rule fires."""
    m, rows = spec.input.max_magnitude, spec.tile.rows
    xs = rng.integers(-m, m + 1, (count, rows))
    xs[rng.random((count, rows)) < rng.choice([0.0, 0.5, 0.8, 1.0], count)[:, None]] = 0
    planes = rng.integers(0, m + 1, count)[:, None]
    return np.sign(xs) * (np.abs(xs) & planes)


def random_columns(spec, rng, count):
    """Local column ranges [lo, hi), empty ones included."""
    cols = spec.tile.cols
    lo = rng.integers(0, cols + 1, count)
    hi = np.minimum(cols, lo + rng.integers(0, cols + 1, count))
    return list(zip(lo.tolist(), hi.tolist()))


def run_sparse_mvms(spec, w, xs, columns, stall=None):
    """MVMs through a TileController and a MacroModel: (accumulators, overflow flags, cycles from the first
    start to the last bank, the summed activity events, the macro)."""
    dut = TileController(spec)
    macro = MacroModel(spec, w)
    results, events, cycle, marks = [], Activity(), [0], {}

    async def clock_counter(ctx):
        nonlocal events
        async for _, _, act in ctx.tick().sample(dut.activity):
            cycle[0] += 1
            events = events + Activity.of_cycle(act.mvm, act.drive, int(act.row_en), act.conversion,
                                                spec.adc.count)

    async def feeder(ctx):
        for x, (lo, hi) in zip(xs, columns):
            ctx.set(dut.x, x.tolist())
            if spec.sparsity.layer_columns == "on":
                ctx.set(dut.col_lo, lo)
                ctx.set(dut.col_hi, hi)
            ctx.set(dut.start.valid, 1)
            *_, released = await ctx.tick().sample(dut.x_done).until(dut.start.ready)
            marks.setdefault("first", cycle[0])
            ctx.set(dut.start.valid, 0)
            if not released:                # an idle MVM with one-command steps releases x on its start
                await ctx.tick().until(dut.x_done)

    bank_reader = read_banks(dut, spec, len(xs), results, on_valid=lambda: marks.__setitem__("last", cycle[0]))
    acc, ovf = simulate_tile(dut, macro, stall, clock_counter, feeder, bank_reader, results)
    return acc, ovf, marks["last"] - marks["first"], events, macro


def golden_mvms(spec, w, xs, columns):
    """The golden tile run MVM by MVM (each with its own column range), and the predicted activity."""
    tile = GoldenTile(spec, w)
    acc, ovf, activity = [], [], Activity()
    for x, cols in zip(xs, columns):
        r = tile.run(x[None], cols if spec.sparsity.layer_columns == "on" else None)
        acc.append(r.accumulator[0])
        ovf.append(r.overflow[0])
        activity = activity + tile_activity(x[None], r.plan, spec)
    return np.array(acc), np.array(ovf), activity


@pytest.mark.parametrize("name", list(SPECS))
def test_sparse_tile_equals_golden_with_noise_and_counts(name):
    spec = make_spec(name)
    rng = np.random.default_rng(7)
    levels = spec.tile.conductance_levels
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = sparse_inputs(spec, rng, 14)
    xs[3] = 0                                           # an all-zero vector, always
    columns = random_columns(spec, rng, len(xs))
    acc, ovf, _, events, macro = run_sparse_mvms(spec, w, xs, columns)
    g_acc, g_ovf, predicted = golden_mvms(spec, w, xs, columns)
    np.testing.assert_array_equal(acc, g_acc)
    np.testing.assert_array_equal(ovf, g_ovf)
    assert events.mvms == predicted.mvms
    assert events.drive_cycles == predicted.drive_cycles
    assert events.row_activations == predicted.row_activations
    assert events.conversions == predicted.conversions
    assert macro.commands == predicted.analog_commands


@pytest.mark.parametrize("name", ["bit_serial_all", "pwm_all"])
def test_macro_stalls_change_nothing(name):
    spec = make_spec(name)
    rng = np.random.default_rng(8)
    levels = spec.tile.conductance_levels
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = sparse_inputs(spec, rng, 10)
    columns = random_columns(spec, rng, len(xs))
    stalls = np.random.default_rng(9).random(100_000) < 0.3
    acc, ovf, _, _, _ = run_sparse_mvms(spec, w, xs, columns, stall=lambda c: bool(stalls[c]))
    g_acc, g_ovf, _ = golden_mvms(spec, w, xs, columns)
    np.testing.assert_array_equal(acc, g_acc)
    np.testing.assert_array_equal(ovf, g_ovf)


def test_skipping_saves_the_cycles_it_claims():
    """Sparse vectors run in fewer cycles than dense ones on the same spec with the options off."""
    rng = np.random.default_rng(10)
    sparse, dense = make_spec("bit_serial_all"), make_spec("bit_serial_all").replace(
        sparsity={"skip_zero_planes": "off", "skip_zero_tiles": "off", "layer_columns": "off"})
    w = rng.integers(-7, 8, (8, 12))
    xs = sparse_inputs(sparse, rng, 8)
    columns = [(0, 3)] * len(xs)
    _, _, cycles_sparse, events, _ = run_sparse_mvms(sparse, w, xs, columns)
    _, _, cycles_dense, dense_events, _ = run_sparse_mvms(dense, w, xs, columns)
    assert dense_events.conversions == len(xs) * dense.input.steps * dense.tile.cols
    assert events.conversions < dense_events.conversions / 2
    assert cycles_sparse < cycles_dense / 2


def test_plan_rules():
    spec = make_spec("bit_serial_all")                  # 12 columns, 2 ADCs: G = 6
    x = np.array([[0, 2, 0, -2, 0, 0, 0, 0], [0] * 8])
    plan = conversion_plan(x, spec, (4, 8))
    assert plan.steps.tolist() == [[False, True, False], [False, False, False]]
    assert plan.positions[0].tolist() == [True, True, False, False, True, True]   # columns 4, 5, 6, 7
    assert not plan.positions[1].any() and plan.drive.tolist() == [1, 0]
    assert not conversion_plan(x[:1], spec, (5, 5)).steps.any()                   # no columns: idle
    pwm = make_spec("pwm_all")
    assert conversion_plan(np.array([[0, 1, -3, 0, 0, 0], [0] * 6]), pwm).drive.tolist() == [3, 0]


def test_options_need_their_encoding():
    with pytest.raises(SpecError, match="sparsity.skip_zero_planes"):
        from_dict({"input": {"encoding": "pwm"}, "sparsity": {"skip_zero_planes": "on"}})
    with pytest.raises(SpecError, match="sparsity.pwm_window"):
        from_dict({"sparsity": {"pwm_window": "on"}})
    with pytest.raises(SpecError, match=r"sparsity.layer_columns = \"yes\": must be one of"):
        from_dict({"sparsity": {"layer_columns": "yes"}})


@pytest.mark.parametrize("name", ["bit_serial_planes", "bit_serial_tiles"])
def test_back_to_back_period_is_the_planned_commands_plus_the_zero_pass(name):
    """With a macro that keeps pace an MVM takes exactly its planned macro commands, plus one digital cycle
    per column position it clears without converting: what benchmarks/sparsity.py counts. (This holds while
    the result banks drain in time: an MVM of a few cycles, e.g. a 1-cycle PWM window and 2 flash
    conversions, waits for the bank reader instead.)"""
    spec = make_spec(name)
    rng = np.random.default_rng(11)
    w = rng.integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    xs = sparse_inputs(spec, rng, 10)
    xs[4] = 0
    _, _, starts, _ = run_tile_mvms(spec, w, xs)
    plans = [conversion_plan(x[None], spec) for x in xs]
    # An MVM that converts ends before its last conversion's final tail_commands comparisons; they follow
    # the next MVM's zero pass (in its cycles) and INTEGRATEs, and an idle MVM passes on what its zero pass
    # did not absorb.
    expected, carry, tail = [], 0, tail_commands(spec)
    for x, p in zip(xs, plans):
        cleared = int(spec.columns_per_adc - p.positions.sum())
        drained = max(carry - cleared, 0)
        carry = tail if p.positions.any() else drained
        expected.append(tile_activity(x[None], p, spec).analog_commands + cleared + drained - carry)
    assert tail > 0 and any(not p.positions.any() for p in plans)
    assert np.diff(starts).tolist() == expected[:-1]
    # sim.models.mvm_cycles (the latency estimates' count) states the same rule
    assert tile_mvm_cycles(conversion_plan(xs, spec), spec).tolist() == expected
