# amaranth: UnusedElaboratable=no
"""The emulated tile as the devices' digital twin: programming error and stuck devices in the RTL, replayed
bit for bit by the golden model, and program-and-verify retrying against them as on silicon."""

import dataclasses

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from aimcgen.contract.device_twin import stuck_map, twin_active
from aimcgen.contract.device_twin_drift import drift_code, threshold_table
from aimcgen.contract.device_twin_flicker import flicker_on
from aimcgen.contract.encoding import drive_steps
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.boundary import AnalogOp
from aimcgen.rtl.drift_code_scanner import DriftCodeScanner
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.rtl.program_verify import ProgramVerifyEngine
from aimcgen.rtl.programming_noise import ProgrammingNoiseGenerator
from aimcgen.rtl.tile_controller import TileController
from aimcgen.sim.models.golden import GoldenAccelerator, GoldenTile
from aimcgen.spec import SpecError, device_preset, from_dict

from amaranth_registers import Host, simulate
from amaranth_streams import send
from test_rtl_emulated_tile import Periphery


def _twin_spec(*, error="on", stuck="on", prog_noise=(0.8, 4.0, -2.0), stuck_set=0.06, stuck_reset=0.06,
               rows=8, cols=8, weight_bits=4, seed=5):
    return from_dict({
        "tile": {"rows": rows, "cols": cols, "weight_bits": weight_bits},
        "input": {"bits": 4, "encoding": "bit_serial"},
        "adc": {"kind": "sar", "bits": 6, "count": 2, "full_scale": 32},
        "device": {"prog_noise_us": list(prog_noise), "stuck_set_fraction": stuck_set,
                   "stuck_reset_fraction": stuck_reset},
        "twin": {"programming_error": error, "stuck": stuck},
        "noise": {"sigma_lsb": 1.5, "seed": seed},
    })


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("error, stuck, integrate", [("on", "on", "serial"), ("on", "off", "serial"),
                                                     ("off", "on", "serial"), ("on", "on", "parallel"),
                                                     ("on", "on", "parallel_adc")])
def test_writes_reads_and_mvms_match_the_golden_twin(error, stuck, integrate):
    spec = _twin_spec(error=error, stuck=stuck).replace(twin={"integrate": integrate})
    rng = np.random.default_rng(21)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    init = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    targets = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (2, spec.tile.rows))
    golden = GoldenTile(spec, init, tile_index=0)
    preloaded = golden.weights.copy()
    dut = EmulatedCrossbar(spec, init_weights=init)
    periphery = Periphery(dut, spec)
    before, stored, after, codes = [], [], [], []

    async def bench(ctx):
        for i, j in [(0, 0), (3, 4), (7, 7)]:
            before.append(await periphery.read(ctx, i, j))
        # Every weight twice: the second write of a device draws fresh errors.
        for _ in range(2):
            for (i, j), w in np.ndenumerate(targets):
                await periphery.command(ctx, AnalogOp.PROG_WRITE, row=i, col=j, target=int(w))
                stored.append(await periphery.read(ctx, i, j))
        for i, j in np.ndindex(targets.shape):
            after.append(await periphery.read(ctx, i, j))
        for x in xs:
            codes.append(await periphery.mvm_codes(ctx, x))

    _run(dut, bench)
    assert before == [preloaded[0, 0], preloaded[3, 4], preloaded[7, 7]]
    expected = [golden.program(i, j, int(w)) for _ in range(2) for (i, j), w in np.ndenumerate(targets)]
    assert stored == expected
    np.testing.assert_array_equal(np.array(after).reshape(targets.shape), golden.weights)
    np.testing.assert_array_equal(np.stack(codes, axis=1), golden.run(xs).codes)
    # The test would not see the effects it is about if they were absent.
    missed = np.array(stored) != np.tile(targets.ravel(), 2)
    assert missed.any()
    if stuck == "on":
        assert (stuck_map(spec, 0) >= 0).any() and (preloaded != init).any()
    else:
        np.testing.assert_array_equal(preloaded, init)


def test_program_verify_retries_and_reports_like_the_golden_model():
    spec = _twin_spec(rows=6, cols=4)
    rng = np.random.default_rng(4)
    levels = spec.tile.conductance_levels
    targets = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    tolerance, max_retries = 0, 2
    m = Module()
    m.submodules.ctrl = ctrl = TileController(spec)
    m.submodules.pv = pv = ProgramVerifyEngine(spec)
    m.submodules.tile = tile = EmulatedCrossbar(spec)
    wiring.connect(m, pv.prog, ctrl.prog)
    wiring.connect(m, ctrl.prog_resp, pv.prog_resp)
    wiring.connect(m, ctrl.analog, tile)
    got = []

    async def bench(ctx):
        ctx.set(pv.tolerance, tolerance)
        ctx.set(pv.max_retries, max_retries)
        ctx.set(pv.result.ready, 1)
        for (i, j), w in np.ndenumerate(targets):
            await send(ctx, pv.req, [{"row": i, "col": j, "target": int(w)}])
            *_, r = await ctx.tick().sample(pv.result.payload).until(pv.result.valid)
            got.append((r.ok, r.row, r.col, r.attempts))

    _run(m, bench)
    golden = GoldenTile(spec, np.zeros_like(targets))
    expected = [golden.program_verify(i, j, int(w), tolerance, max_retries)
                for (i, j), w in np.ndenumerate(targets)]
    assert got == [(int(r.ok), r.row, r.col, r.attempts) for r in expected]
    attempts = {r.attempts for r in expected}
    # Some weights passed first time, some after a retry, some never (stuck devices among them).
    assert 1 in attempts and 2 in attempts and any(not r.ok for r in expected)


def test_twin_off_builds_nothing_and_keeps_the_two_cycle_write():
    spec = _twin_spec(error="off", stuck="off")
    assert not twin_active(spec)
    assert not twin_active(_twin_spec(error="on", prog_noise=(0.0,), stuck="on", stuck_set=0.0,
                                      stuck_reset=0.0))
    dut = EmulatedCrossbar(spec)
    periphery = Periphery(dut, spec)

    async def bench(ctx):
        before = periphery.cycles
        await periphery.command(ctx, AnalogOp.PROG_WRITE, row=1, col=2, target=5)
        await periphery.wait_ready(ctx)
        assert periphery.cycles - before == 2
        assert await periphery.read(ctx, 1, 2) == 5

    _run(dut, bench)


def test_write_timing_with_the_twin():
    dut = EmulatedCrossbar(_twin_spec())
    periphery = Periphery(dut, dut.spec)

    async def bench(ctx):
        # Accepted at once; the next command 7 cycles later, a next write 8 (the leap of the G- draw).
        assert await periphery.issued(ctx, AnalogOp.PROG_WRITE, row=1, col=2, target=5) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=1, col=2) == 7
        assert await periphery.issued(ctx, AnalogOp.PROG_WRITE, row=1, col=3, target=5) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_WRITE, row=1, col=3, target=5) == 8

    _run(dut, bench)


def test_generator_parameters_are_checked():
    spec = _twin_spec()
    with pytest.raises(ValueError, match="tile_index = 1"):
        ProgrammingNoiseGenerator(spec, 1)
    with pytest.raises(ValueError, match="leap_cycles = 3"):
        ProgrammingNoiseGenerator(spec, 0, leap_cycles=3)
    with pytest.raises(TypeError, match="DesignSpec"):
        ProgrammingNoiseGenerator("default")


def test_accelerator_reports_yield_and_failing_addresses_like_the_golden_model():
    spec = from_dict({
        "tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2},
        "noise": {"sigma_lsb": 1.0, "seed": 3},
        "device": {"prog_noise_us": [0.8, 4.0, -2.0], "stuck_set_fraction": 0.05, "stuck_reset_fraction": 0.05},
        "twin": {"programming_error": "on", "stuck": "on"},
        "program_verify": {"tolerance": 0, "max_retries": 2},
    })
    rng = np.random.default_rng(12)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (2, spec.logical_rows))
    dut = Accelerator(spec)
    got, info = [], {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        info["ctrl"] = await host.read("PROG_CTRL")          # the spec's reset values: no write needed
        await host.write_weights(spec, w)
        while (await host.read("STATUS")) & 0b100:
            pass
        for name in ("PROG_STATUS", "PROG_COUNT", "PROG_FAIL_ADDR", "PROG_FIRST_FAIL_ADDR", "ERRORS"):
            info[name] = await host.read(name)
        for x in xs:
            got.append(await host.mvm(x, spec.logical_cols))

    simulate(dut, firmware)
    golden = GoldenAccelerator(spec, np.zeros_like(w))
    report = golden.program_weights(w)
    failures = report.failures
    assert info["ctrl"] == 0 | 2 << 8
    assert info["PROG_COUNT"] == w.size and info["PROG_STATUS"] == len(failures) > 0
    assert info["PROG_FIRST_FAIL_ADDR"] == failures[0].col << 16 | failures[0].row
    assert info["PROG_FAIL_ADDR"] == failures[-1].col << 16 | failures[-1].row
    assert info["ERRORS"] & 0b100
    assert 0 < report.analog_yield < 1 and report.analog_yield == 1 - info["PROG_STATUS"] / info["PROG_COUNT"]
    np.testing.assert_array_equal(np.array(got), golden.run(xs).outputs)


@pytest.mark.parametrize("model, read_noise, integrate", [("pcm", "off", "serial"), ("pcm", "on", "serial"),
                                                         ("rram", "on", "serial"), ("pcm", "off", "parallel"),
                                                         ("rram", "off", "parallel_adc"),
                                                         ("pcm", "on", "parallel_adc")])
def test_drift_epochs_are_replayed_by_the_golden_model(model, read_noise, integrate):
    spec = _twin_spec().replace(twin={"drift": "on", "read_noise": read_noise, "integrate": integrate},
                                device={"model": model, "stuck_set_fraction": 0.05, "stuck_reset_fraction": 0.05})
    rng = np.random.default_rng(31)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    init = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    targets = rng.integers(-levels, levels + 1, (4, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (1, spec.tile.rows))
    golden = GoldenTile(spec, init)
    dut = EmulatedCrossbar(spec, init_weights=init)
    periphery = Periphery(dut, spec)
    seen = {}

    async def read_all(ctx):
        return np.array([[await periphery.read(ctx, i, j) for j in range(spec.tile.cols)]
                         for i in range(spec.tile.rows)])

    async def bench(ctx):
        # Rows 0..3 written at epoch 0, then the chip ages; row 4 is rewritten a year on.
        for (i, j), w in np.ndenumerate(targets):
            await periphery.command(ctx, AnalogOp.PROG_WRITE, row=i, col=j, target=int(w))
        for epoch in (0, 7, 12):
            ctx.set(dut.drift_epoch, epoch)
            seen[epoch] = (await read_all(ctx), await periphery.mvm_codes(ctx, xs[0]))
        for j in range(spec.tile.cols):
            await periphery.command(ctx, AnalogOp.PROG_WRITE, row=4, col=j, target=int(targets[0, j]))
        seen["rewritten"] = (await read_all(ctx), await periphery.mvm_codes(ctx, xs[0]))
        ctx.set(dut.drift_epoch, 0)
        seen["back"] = (await read_all(ctx), None)

    _run(dut, bench)
    for (i, j), w in np.ndenumerate(targets):
        golden.program(i, j, int(w))
    for epoch in (0, 7, 12):
        golden.set_drift_epoch(epoch)
        np.testing.assert_array_equal(seen[epoch][0], golden.weights)
        np.testing.assert_array_equal(seen[epoch][1], golden.run(xs).codes[:, 0])
    for j in range(spec.tile.cols):
        golden.program(4, j, int(targets[0, j]))
    np.testing.assert_array_equal(seen["rewritten"][0], golden.weights)
    np.testing.assert_array_equal(seen["rewritten"][1], golden.run(xs).codes[:, 0])
    golden.set_drift_epoch(0)
    np.testing.assert_array_equal(seen["back"][0], golden.weights)
    if model == "pcm":
        # Drift shrinks the weights: a year on, most are smaller in magnitude than after programming.
        assert np.abs(seen[12][0]).sum() < 0.8 * np.abs(seen[0][0]).sum()
    else:
        # RRAM relaxes (contract.device_twin_relaxation): a day on, written weights moved both ways.
        moved = seen[7][0][:4] - seen[0][0][:4]
        assert (moved > 0).any() and (moved < 0).any()
    # The integrators summed the fine weights: summing the whole weights would give other charges.
    golden.set_drift_epoch(12)
    drive = drive_steps(xs, spec.input)
    assert (golden.twin.charges(drive) != drive @ golden.weights).any()


def test_shared_flicker_refreshes_are_replayed_by_the_golden_model():
    # PCM has 1/f noise: every refresh draws each cell's shared part (contract.device_twin_flicker); a
    # second refresh to the same epoch draws anew, a write in between stores its devices without it.
    spec = _twin_spec().replace(twin={"drift": "on"},
                                device={"model": "pcm", "stuck_set_fraction": 0.05, "stuck_reset_fraction": 0.05})
    assert flicker_on(spec)
    rng = np.random.default_rng(41)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    init = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (1, spec.tile.rows))
    dut = EmulatedCrossbar(spec, init_weights=init)
    periphery = Periphery(dut, spec)
    steps = [("epoch", 7), ("epoch", 12), ("epoch", 7), ("write", 7), ("epoch", 1), ("epoch", 0)]
    seen = []

    async def read_all(ctx):
        return np.array([[await periphery.read(ctx, i, j) for j in range(spec.tile.cols)]
                         for i in range(spec.tile.rows)])

    async def bench(ctx):
        for kind, value in steps:
            if kind == "epoch":
                ctx.set(dut.drift_epoch, value)
            else:
                for j in range(spec.tile.cols):
                    await periphery.command(ctx, AnalogOp.PROG_WRITE, row=2, col=j, target=value - j)
            seen.append((await read_all(ctx), await periphery.mvm_codes(ctx, xs[0])))

    _run(dut, bench)
    golden, plain = GoldenTile(spec, init), GoldenTile(spec, init)
    plain.twin.flicker = None                   # the same devices without the shared 1/f part
    fine = []
    for (kind, value), (weights, codes) in zip(steps, seen):
        for tile in (golden, plain):
            if kind == "epoch":
                tile.set_drift_epoch(value)
            else:
                for j in range(spec.tile.cols):
                    tile.program(2, j, value - j)
        np.testing.assert_array_equal(weights, golden.weights)
        np.testing.assert_array_equal(codes, golden.run(xs).codes[:, 0])
        fine.append(golden.twin.fine.copy())
    assert (fine[0] != fine[2]).sum() > 10                      # two time points at 1 day: other draws
    np.testing.assert_array_equal(golden.twin.fine, plain.twin.fine)      # epoch 0: no shared part
    assert (fine[1] != plain_fine_at(spec, init, 12)).sum() > 10  # a year on, the shared part moved many


def plain_fine_at(spec, init, epoch):
    """Fine weights at `epoch` of the preloaded tile without the shared 1/f part."""
    tile = GoldenTile(spec, init)
    tile.twin.flicker = None
    tile.set_drift_epoch(epoch)
    return tile.twin.fine


def test_shared_flicker_logic_is_built_only_for_drift_with_1_over_f_noise():
    base = _twin_spec(rows=4, cols=4)
    drifting = base.replace(twin={"drift": "on"})
    cases = [(dataclasses.replace(drifting, device=device_preset("pcm")), True),
             (dataclasses.replace(drifting, device=device_preset("rram")), False),      # white read noise only
             (dataclasses.replace(base, device=device_preset("pcm")), False)]            # no drift: no refresh
    for spec, built in cases:
        text = rtlil.convert(EmulatedCrossbar(spec))
        assert ("flicker_noise" in text) == built == flicker_on(spec)


def test_drift_code_search_matches_the_contract():
    spec = _twin_spec().replace(twin={"drift": "on"}, device={"model": "pcm"})
    table = threshold_table(spec)
    rng = np.random.default_rng(2)
    cases = []
    for k, row in enumerate(table):
        edges = {max(min(t + d, 0xFFFF), 0) for t in row for d in (-1, 0, 1)} | {0, 0xFFFF}
        cases += [(k, int(u)) for u in sorted(edges)[::3]] + [(k, int(u)) for u in rng.integers(0, 1 << 16, 8)]
    dut = DriftCodeScanner(spec)
    got = []

    async def bench(ctx):
        for k, u in cases:
            ctx.set(dut.aimed, k)
            ctx.set(dut.uniform, u)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles = 0
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles += 1
            got.append((ctx.get(dut.code), cycles))

    _run(dut, bench)
    assert [c for c, _ in got] == [drift_code(u, table[k]) for k, u in cases]
    assert {n for _, n in got} == {7}
    assert len({c for c, _ in got}) > 20            # the cases reach many codes


def test_drift_epoch_register_ages_the_whole_grid():
    spec = from_dict({
        "tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2},
        "noise": {"sigma_lsb": 1.0, "seed": 8},
        "twin": {"programming_error": "on", "drift": "on"},
    })
    rng = np.random.default_rng(5)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (2, spec.logical_rows))
    dut = Accelerator(spec)
    got = {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        await host.write_weights(spec, w)
        while (await host.read("STATUS")) & 0b100:
            pass
        for epoch in (0, 12):
            await host.write("DRIFT_EPOCH", epoch)
            got[epoch] = [await host.mvm(x, spec.logical_cols) for x in xs]
        got["epoch"] = await host.read("DRIFT_EPOCH")

    simulate(dut, firmware)
    golden = GoldenAccelerator(spec, np.zeros_like(w))
    golden.program_weights(w)
    for epoch in (0, 12):
        golden.set_drift_epoch(epoch)
        np.testing.assert_array_equal(np.array(got[epoch]), golden.run(xs).outputs)
    assert got["epoch"] == 12 and got[0] != got[12]
    assert "DRIFT_EPOCH" not in [r.name for r in Accelerator(spec.replace(twin={"drift": "off"})).regmap.registers]


def test_write_and_refresh_timing_with_drift():
    spec = _twin_spec().replace(twin={"drift": "on"})
    dut = EmulatedCrossbar(spec)
    periphery = Periphery(dut, spec)
    cells = spec.tile.rows * spec.tile.cols

    async def bench(ctx):
        # Draws at 0 and 4 (errors), 8 and 16 (drift: each waits for the 7-cycle binary search of the
        # threshold row of the one before), the devices complete at 24, two pipeline stages, the store and
        # its negation: 29.
        assert await periphery.issued(ctx, AnalogOp.PROG_WRITE, row=1, col=2, target=5) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=1, col=2) == 29
        ctx.set(dut.drift_epoch, 9)
        # A refresh: a cycle to start, two per cell, two pipeline stages, the last negation, the accept.
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=1, col=2) == 1 + 2 * cells + 2 + 1 + 1

    _run(dut, bench)


def test_golden_drift_epoch_is_checked():
    golden = GoldenTile(_twin_spec().replace(twin={"drift": "on"}), np.zeros((8, 8), dtype=np.int64))
    with pytest.raises(SpecError, match=r"drift epoch = 16: must be an integer in 0..15"):
        golden.set_drift_epoch(16)
    with pytest.raises(SpecError, match="twin.drift = 'off'"):
        GoldenTile(_twin_spec(), np.zeros((8, 8), dtype=np.int64)).set_drift_epoch(1)


@pytest.mark.parametrize("model", ["pcm", "rram"])
def test_devices_above_the_top_level_are_replayed_by_the_golden_model(model):
    # With drift a device may hold up to L + H codes (contract.device_twin_drift's headroom): devices aimed
    # at +-L land above L about half the time, the integrators sum them unclamped, PROG_READ caps at L.
    spec = _twin_spec(stuck="off").replace(twin={"drift": "on"}, device={"model": model},
                                           noise={"sigma_lsb": 0.5})
    levels = spec.tile.conductance_levels
    top = levels + (levels + 3) // 4
    rows, cols = spec.tile.rows, spec.tile.cols
    targets = np.where(np.arange(rows)[:, None] % 2 == 0, levels, -levels) * np.ones((1, cols), dtype=np.int64)
    single = np.eye(rows, dtype=np.int64)           # one row driven at a time: its fine weights, rounded
    dut = EmulatedCrossbar(spec)
    periphery = Periphery(dut, spec)
    seen = {}

    async def bench(ctx):
        for (i, j), w in np.ndenumerate(targets):
            await periphery.command(ctx, AnalogOp.PROG_WRITE, row=i, col=j, target=int(w))
        for epoch in (0, 5, 12):
            ctx.set(dut.drift_epoch, epoch)
            reads = np.array([[await periphery.read(ctx, i, j) for j in range(cols)] for i in range(rows)])
            seen[epoch] = (reads, [await periphery.mvm_codes(ctx, x) for x in single])

    _run(dut, bench)
    golden = GoldenTile(spec, np.zeros((rows, cols), dtype=np.int64))
    for (i, j), w in np.ndenumerate(targets):
        golden.program(i, j, int(w))
    beyond = 0
    for epoch in (0, 5, 12):
        golden.set_drift_epoch(epoch)
        reads, codes = seen[epoch]
        np.testing.assert_array_equal(reads, golden.weights)
        for x, got in zip(single, codes):
            np.testing.assert_array_equal(got, golden.run(x[None]).codes[:, 0])
        fine = golden.twin.fine
        assert np.abs(fine).max() <= 16 * top and np.abs(golden.weights).max() <= levels
        beyond += int((np.abs(fine) > 16 * levels + 8).sum())
    assert beyond > 10              # many devices read above the top level, and RTL agrees on every one
