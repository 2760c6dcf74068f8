# amaranth: UnusedElaboratable=no
"""The RTL noise generator replays the golden model's TileNoise draw for draw, whatever the gaps between draws."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.rtl.noise import NoiseGenerator, draw_register, leap_cycles, noise_positions, value_pipeline
from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.noise import TileNoise, noise_multiplier
from aimcgen.spec import from_dict


def _spec(sigma):
    return from_dict({"noise": {"sigma_lsb": sigma, "seed": 11}, "adc": {"count": 4},
                      "array": {"row_tiles": 2, "col_tiles": 2}})


def _run(dut, bench):
    """Simulate `dut` clocked at 1 MHz under the testbench `bench`."""
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _rtl_draws(dut, count, seed):
    gaps = np.random.default_rng(seed).integers(0, 4, count).tolist()
    values = []

    async def bench(ctx):
        for gap in gaps:
            while not ctx.get(dut.ready):       # a multi-cycle leap: wait for it
                await ctx.tick()
            values.append(ctx.get(dut.value))
            ctx.set(dut.draw, 1)
            await ctx.tick()
            ctx.set(dut.draw, 0)
            if gap:
                await ctx.tick().repeat(gap)

    _run(dut, bench)
    return values


@pytest.mark.parametrize("sigma", [0.5, 37.0])
@pytest.mark.parametrize("tile, adc", [(0, 0), (3, 2)])
def test_draws_match_golden(sigma, tile, adc):
    spec = _spec(sigma)
    expected = TileNoise(spec, tile).draw(200)[adc].tolist()
    assert _rtl_draws(NoiseGenerator(spec, tile, adc), 200, seed=tile * 10 + adc) == expected
    assert any(expected)


@pytest.mark.parametrize("pipeline, registered", [(0, 0), (2, 0), (2, 1)])
@pytest.mark.parametrize("cycles", [1, 2, 4, 32])
def test_leap_over_several_cycles_matches_golden(cycles, pipeline, registered):
    spec = _spec(0.5)
    expected = TileNoise(spec, 1).draw(60)[2].tolist()
    dut = NoiseGenerator(spec, 1, 2, leap_cycles=cycles, pipeline=pipeline, registered_draw=registered)
    assert _rtl_draws(dut, 60, seed=cycles) == expected


@pytest.mark.parametrize("registered", [0, 1])
@pytest.mark.parametrize("cycles", [1, 4])
def test_pipelined_value_is_ready_two_cycles_after_the_leap(cycles, registered):
    dut = NoiseGenerator(_spec(0.5), 0, 0, leap_cycles=cycles, pipeline=2, registered_draw=registered)
    readiness = []

    async def bench(ctx):
        for _ in range(3):
            readiness.append(ctx.get(dut.ready))
            await ctx.tick()
        ctx.set(dut.draw, 1)
        await ctx.tick()
        ctx.set(dut.draw, 0)
        for _ in range(cycles + 2 + registered):
            readiness.append(ctx.get(dut.ready))
            await ctx.tick()

    _run(dut, bench)
    # Two cycles after reset; then low for leap - 1 + 2 (+ 1 with the registered draw) cycles after the draw.
    assert readiness == [0, 0, 1] + [0] * (cycles + 1 + registered) + [1]


def test_leap_cycles_hide_in_one_conversion():
    def kind(kind, bits):
        return from_dict({"adc": {"kind": kind, "bits": bits, "full_scale": 256}})
    # Conversions of 3 or more cycles leave 2 cycles for the value pipeline (rtl.noise.value_pipeline).
    assert [value_pipeline(kind("sar", b)) for b in (2, 3, 8)] == [0, 2, 2]
    assert [leap_cycles(kind("sar", b)) for b in (2, 3, 4, 6, 8)] == [2, 1, 2, 4, 4]
    assert leap_cycles(kind("flash", 4)) == 1 and leap_cycles(kind("ramp", 6)) == 32
    # A registered draw only where leap + pipeline + 1 still fits (SAR b: b cycles; 6 -> 4 + 2, no room).
    assert [draw_register(kind("sar", b)) for b in (2, 3, 4, 6, 7, 8)] == [0, 0, 0, 0, 1, 1]
    assert draw_register(kind("flash", 4)) == 0 and draw_register(kind("ramp", 6)) == 1
    for k in [kind("sar", b) for b in (2, 3, 4, 6, 7, 8)] + [kind("flash", 4), kind("ramp", 6)]:
        assert leap_cycles(k) + value_pipeline(k) + draw_register(k) <= conversion_cycles(k.adc)
    with pytest.raises(ValueError, match="registered_draw = 1"):
        NoiseGenerator(_spec(1.0), 0, 0, leap_cycles=4, pipeline=0, registered_draw=1)
    with pytest.raises(ValueError, match="leap_cycles = 3"):
        NoiseGenerator(_spec(1.0), 0, 0, leap_cycles=3)


def test_zero_sigma_gives_zeros():
    spec = _spec(0.0)
    assert noise_multiplier(spec) == 0
    dut = NoiseGenerator(spec, 1, 3)
    values = []

    async def bench(ctx):
        # No state register is built, so there is no clock domain to tick: the value is constant.
        for draw in [1, 0, 1, 1]:
            ctx.set(dut.draw, draw)
            await ctx.delay(1e-6)
            values.append(ctx.get(dut.value))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    assert values == [0] * 4
    from aimcgen.rtl.noise_ready import NoiseReady
    assert NoiseReady(spec, leap_cycles=4, pipeline=2).stateless     # its ready is the constant 1, too


def test_parameters_are_checked():
    spec = _spec(1.0)
    with pytest.raises(ValueError, match="tile_index = 4"):
        NoiseGenerator(spec, 4, 0)
    with pytest.raises(ValueError, match="adc_index = 4"):
        NoiseGenerator(spec, 0, 4)
    with pytest.raises(TypeError, match="spec must be a DesignSpec"):
        NoiseGenerator({}, 0, 0)


@pytest.mark.parametrize("cycles, pipeline, registered", [(1, 0, 0), (4, 0, 0), (1, 2, 0), (4, 2, 0), (32, 2, 0),
                                                     (1, 2, 1), (4, 2, 1)])
def test_ready_rises_the_first_cycle_the_value_is_final(cycles, pipeline, registered):
    """rtl/noise_ready.py, the rule `ready` follows (and the tile's copy of it): never before the value is the
    golden next draw's, and not a cycle later than needed, for draws after random gaps."""
    spec = _spec(37.0)
    golden = TileNoise(spec, 0).draw(40)[1].tolist()
    dut = NoiseGenerator(spec, 0, 1, leap_cycles=cycles, pipeline=pipeline, registered_draw=registered)
    gaps = np.random.default_rng(cycles + pipeline + registered).integers(0, 3, 39).tolist()
    traces = []                             # per draw: (value, ready) in each cycle from the draw's edge on

    async def bench(ctx):
        while not ctx.get(dut.ready):
            await ctx.tick()
        for gap in gaps:
            ctx.set(dut.draw, 1)
            await ctx.tick()
            ctx.set(dut.draw, 0)
            trace = [(ctx.get(dut.value), ctx.get(dut.ready))]
            while not trace[-1][1]:
                await ctx.tick()
                trace.append((ctx.get(dut.value), ctx.get(dut.ready)))
            traces.append(trace)
            if gap:
                await ctx.tick().repeat(gap)

    _run(dut, bench)
    wait = cycles - 1 + pipeline + registered
    for k, trace in enumerate(traces):
        assert len(trace) == wait + 1
        assert trace[-1][0] == golden[k + 1]
    if wait:    # one cycle earlier the value was not yet final for some draw
        assert any(trace[-2][0] != golden[k + 1] for k, trace in enumerate(traces))


def test_position_values_scale_each_draw_by_their_gains():
    """With device read noise through the pipeline, value[p] is the draw scaled by gain[p]
    (contract.device_read_noise.scale_draws), for gains that change between draws."""
    from aimcgen.contract.device_read_noise import RAW_GAIN, gain_max, scale_draws
    spec = from_dict({"tile": {"rows": 8, "cols": 8}, "adc": {"kind": "sar", "bits": 6, "count": 2},
                      "twin": {"read_noise": "on", "integrate": "parallel_adc"}, "noise": {"seed": 5}})
    assert noise_positions(spec) == 4 and value_pipeline(spec) == 2
    noise = TileNoise(spec, 0)
    noise.multiplier = RAW_GAIN
    raw = noise.draw(30)[1]
    gains = np.random.default_rng(2).integers(0, gain_max(spec) + 1, (30, 4))
    dut = NoiseGenerator(spec, 0, 1, leap_cycles=leap_cycles(spec), pipeline=2, positions=4)
    seen = []

    async def bench(ctx):
        for k in range(30):
            for p in range(4):
                ctx.set(dut.gain[p], int(gains[k, p]))
            await ctx.tick().repeat(2)              # the gain reaches the value register
            while not ctx.get(dut.ready):
                await ctx.tick()
            seen.append([ctx.get(dut.value[p]) for p in range(4)])
            ctx.set(dut.draw, 1)
            await ctx.tick()
            ctx.set(dut.draw, 0)

    _run(dut, bench)
    expected = scale_draws(raw[:, None], gains)
    assert np.array_equal(np.array(seen), expected) and expected.any()
    with pytest.raises(ValueError, match="positions = 4"):
        NoiseGenerator(spec, 0, 1, leap_cycles=1, pipeline=0, positions=4)
