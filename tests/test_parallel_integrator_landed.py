"""rtl.parallel_integrator: with read noise and "parallel_adc", `landed_variance` is, every cycle, the V of
the position `landing_step` named in the cycle before, as that V stands now, written or not (the register
the position gains read instead of selecting among an ADC's V's, rtl/read_noise_variance.py)."""

import numpy as np
from amaranth.hdl import Module
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from aimcgen.contract.formats import datapath_formats
from aimcgen.presets import load_preset
from aimcgen.rtl.parallel_integrator import ParallelIntegrator

SPEC = load_preset("default").replace(twin={"integrate": "parallel_adc", "read_noise": "on"})
ROWS, COLS = SPEC.tile.rows, SPEC.tile.cols


def integrator_module(weights):
    """The integrator under test with these stored weights, in a module of its own."""
    m = Module()
    m.submodules.integrator = dut = ParallelIntegrator(SPEC, weights, (ROWS - 1).bit_length(),
                                                       (COLS - 1).bit_length())
    return m, dut


@settings(max_examples=10, deadline=None)
@given(commands=st.lists(st.tuples(st.booleans(), st.booleans(), st.integers(0, 2**ROWS - 1),
                                   st.integers(0, 2**ROWS - 1)), min_size=1, max_size=30),
       seed=st.integers(0, 2**16))
def test_landed_variance_is_the_landed_positions_v(commands, seed):
    top = (1 << (datapath_formats(SPEC).fine_weight.bits - 1)) - 1
    weights = np.random.default_rng(seed).integers(-top, top + 1, (ROWS, COLS))
    m, dut = integrator_module(weights)
    m.submodules.status = status = dut.status_copy()      # when the trees take an INTEGRATE
    checked, mismatches = [], []

    async def bench(ctx):
        landing = None
        for want, start, row_en, row_sign in commands + [(False, False, 0, 0)] * 12:
            if landing is not None:
                for a in range(SPEC.adc.count):
                    got, expect = ctx.get(dut.landed_variance[a]), ctx.get(dut.variance[a][landing])
                    checked.append(got)
                    if got != expect:
                        mismatches.append((a, landing, got, expect))
            begin = want and ctx.get(status.accepting)
            for port, value in ((dut.begin, begin), (status.begin, begin), (dut.start, start),
                                (dut.row_en, row_en), (dut.row_sign, row_sign)):
                ctx.set(port, value)
            landing = ctx.get(dut.landing_step)
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert not mismatches, mismatches[:5]
    assert checked


def test_some_landed_variance_is_nonzero():
    """The property above is not met by V's that stay 0: one INTEGRATE of every row lands nonzero V's."""
    m, dut = integrator_module(np.full((ROWS, COLS), 3))
    seen = []

    async def bench(ctx):
        ctx.set(dut.begin, 1)
        ctx.set(dut.start, 1)
        ctx.set(dut.row_en, 2**ROWS - 1)
        await ctx.tick()
        ctx.set(dut.begin, 0)
        for _ in range(20):
            await ctx.tick()
            seen.append(ctx.get(dut.landed_variance[0]))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert any(seen), seen
