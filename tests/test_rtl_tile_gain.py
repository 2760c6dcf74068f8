# amaranth: UnusedElaboratable=no
"""Per-row-tile gain trims in the RTL (rtl.tile_gain, rtl.accelerator_core): the trim unit follows
contract.tile_gain bit for bit; the accelerator with trims written through the TILE_GAIN window gives the golden
model's outputs (= its accumulators here: unity scale, no activation, wide outputs), reads the trims back as
written (UNITY after reset), and flags the accumulator overflow that a trim alone causes."""

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from aimcgen.contract.tile_gain import tile_gain_on, trim, unity_gain
from aimcgen.presets import load_preset
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.accelerator_core import AcceleratorCore
from aimcgen.rtl.tile_gain import TileGainTrim
from aimcgen.sim.models.golden import GoldenAccelerator
from amaranth_registers import Host, signed32

ACC_OVERFLOW = 0b1                  # ERRORS.acc_overflow (w1c)


def trim_spec(row_tiles: int, col_tiles: int, gain_bits: int = 10, acc_bits: int = 9):
    """The default preset (16 x 16 tiles) on a row_tiles x col_tiles grid with trims; a 9-bit accumulator (the
    least the preset allows) so that a trim near 2.0 of a full-scale partial sum clamps; outputs = accumulators
    (no activation, outputs wider than the accumulator, unity scale by default)."""
    return load_preset("default").replace(
        array={"row_tiles": row_tiles, "col_tiles": col_tiles},
        accumulator={"bits": acc_bits, "tile_gain_bits": gain_bits},
        postproc={"activation": "none", "output_bits": acc_bits + 1})


@pytest.mark.parametrize("gain_bits,acc_bits", [(2, 9), (10, 9), (10, 20), (16, 12)])
def test_trim_unit_equals_the_contract(gain_bits, acc_bits):
    spec = trim_spec(2, 1, gain_bits, acc_bits)
    rng = np.random.default_rng(gain_bits + acc_bits)
    top, low = (1 << (acc_bits - 1)) - 1, -(1 << (acc_bits - 1))
    partials = np.concatenate([rng.integers(low, top + 1, 300), [low, top, 0, -1, 1, low + 1, top - 1]])
    gains = np.concatenate([rng.integers(0, 1 << gain_bits, 300),
                            [(1 << gain_bits) - 1, (1 << gain_bits) - 1, 0, unity_gain(spec), 3, 1, 2]])
    expected, clipped = trim(partials, gains, spec)
    assert clipped.any() and not clipped.all()          # both cases are exercised
    dut = TileGainTrim(spec)
    got = []

    async def bench(ctx):
        ctx.set(dut.en, 1)
        for p, g in zip(partials, gains):
            ctx.set(dut.partial, int(p))
            ctx.set(dut.gain, int(g))
            await ctx.tick()                                    # the product register
            got.append((ctx.get(dut.trimmed), ctx.get(dut.clipped)))
        ctx.set(dut.en, 0)                                      # en low: the register holds
        ctx.set(dut.partial, 0)
        await ctx.tick()
        got.append((ctx.get(dut.trimmed), ctx.get(dut.clipped)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got[-1] == got[-2]
    np.testing.assert_array_equal(np.array([v for v, _ in got[:-1]]), expected)
    np.testing.assert_array_equal(np.array([c for _, c in got[:-1]], dtype=bool), clipped)


def test_trims_are_built_only_when_on():
    assert not hasattr(AcceleratorCore(trim_spec(1, 2)), "tile_gain_addr")         # one row tile
    assert not hasattr(AcceleratorCore(trim_spec(2, 1, gain_bits=0)), "tile_gain_addr")
    assert hasattr(AcceleratorCore(trim_spec(2, 1)), "tile_gain_addr")
    with pytest.raises(ValueError, match="no tile gain trims"):
        TileGainTrim(trim_spec(1, 1))


def test_one_trim_unit_per_row_tile_not_per_tile():
    """The sequencer selects a row tile's partial sum of the current column group before trimming it: a 3x2
    grid (6 tiles) has row_tiles - 1 = 2 multipliers."""
    parts = Fragment.get(AcceleratorCore(trim_spec(3, 2)), None).subfragments
    trims = [name for fragment, name, *_ in parts if isinstance(fragment.origins[0], TileGainTrim)]
    assert trims == ["tile_gain_trim_1", "tile_gain_trim_2"]


def _stimulus(spec, rng):
    """Random weights, trims around unity and inputs; column `hot` gets full-scale weights, the largest trim in
    the last row tile and a vector that drives only that row tile at full scale: its trimmed partial sum clamps
    while the untrimmed sum stays in range."""
    L, rows, cols = spec.tile.conductance_levels, spec.tile.rows, spec.logical_cols
    w = rng.integers(-L, L + 1, (spec.logical_rows, cols))
    hot = cols - 1
    w[:, hot] = L
    unity = unity_gain(spec)
    gains = rng.integers(unity * 3 // 4, unity * 5 // 4, (spec.array.row_tiles - 1, cols))
    gains[-1, hot] = (1 << spec.accumulator.tile_gain_bits) - 1
    gains[0, 0] = 0                                     # a row tile switched off in column 0
    xs = rng.integers(-3, 4, (2, spec.logical_rows))
    x_hot = np.zeros(spec.logical_rows, dtype=np.int64)
    x_hot[(spec.array.row_tiles - 1) * rows:] = spec.input.max_magnitude
    return w, gains, np.vstack([xs, x_hot[None]]), hot


@pytest.mark.parametrize("grid,coefficient_copy,stall", [((2, 1), False, 0.0), ((2, 1), True, 0.0),
                                                         ((3, 2), False, 0.7)],
                         ids=["2x1", "2x1_fpga_copy", "3x2_stream_stalls"])
def test_trims_through_the_bus_equal_golden(grid, coefficient_copy, stall):
    """stall > 0: the outputs go to the output stream too, whose sink is not ready with that probability, so
    the trim stage and the beat register hold columns while the post-processor's buffer is full."""
    spec = trim_spec(*grid)
    assert tile_gain_on(spec)
    rng = np.random.default_rng(sum(grid))
    w, gains, xs, hot = _stimulus(spec, rng)
    cols = spec.logical_cols
    dut = Accelerator(spec, init_weights=w, coefficient_copy=coefficient_copy,
                      copy_port="sync" if coefficient_copy else None)       # the ECP5 boards' copy port
    got, streamed, info = [], [], {}

    async def sink(ctx):
        ready_rng, vector = np.random.default_rng(7), []
        while True:
            ready = int(ready_rng.random() >= stall)
            ctx.set(dut.out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            if valid and ready:
                vector.append(payload.value)
                if payload.last:
                    streamed.append(vector)
                    vector = []

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", int(stall > 0))                  # outputs to the stream too when stalling
        info["at_reset"] = [await host.read_window("TILE_GAIN", i) for i in (0, gains.size - 1)]
        for i, g in enumerate(gains.ravel()):
            await host.write_window("TILE_GAIN", i, int(g))
        info["read_back"] = [await host.read_window("TILE_GAIN", i) for i in range(gains.size)]
        for x in xs[:-1]:
            got.append(await host.mvm(x, cols))
        info["errors_random"] = await host.read("ERRORS")
        await host.write("ERRORS", ACC_OVERFLOW)
        got.append(await host.mvm(xs[-1], cols))
        info["errors_hot"] = await host.read("ERRORS")

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(firmware)
    sim.add_testbench(sink, background=True)
    sim.run()
    chip = GoldenAccelerator(spec, w)
    chip.set_tile_gains(gains)
    random, hot_run = chip.run(xs[:-1]), chip.run(xs[-1:])
    plain = GoldenAccelerator(spec, w)
    plain.run(xs[:-1])
    untrimmed = plain.run(xs[-1:])                              # the same noise, no trims
    assert info["at_reset"] == [unity_gain(spec)] * 2
    assert info["read_back"] == gains.ravel().tolist()
    expected = np.vstack([random.outputs, hot_run.outputs])
    np.testing.assert_array_equal(expected, np.vstack([random.accumulator, hot_run.accumulator]))
    np.testing.assert_array_equal(np.array([[signed32(v, 32) for v in row] for row in got]), expected)
    if stall:
        np.testing.assert_array_equal(np.array(streamed), expected)
    # the hot column: the trim alone clamps (the untrimmed sum is in range), and ERRORS says so
    part = untrimmed.tiles[-1].accumulator[0, hot % spec.tile.cols]
    assert trim(np.array([part]), np.array([gains[-1, hot]]), spec)[1][0]
    assert not untrimmed.overflow[0, hot] and hot_run.overflow[0, hot]
    assert info["errors_hot"] & ACC_OVERFLOW
    assert bool(info["errors_random"] & ACC_OVERFLOW) == bool(random.overflow.any())
