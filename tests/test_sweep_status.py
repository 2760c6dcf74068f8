"""rtl.sweep_pipeline.SweepStatus: the tile's ready inputs follow the sweep rule of its module docstring,
cycle by cycle, for any pattern of accepted INTEGRATEs."""

import pytest
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from aimcgen.presets import load_preset
from aimcgen.rtl.parallel_integrator import latency, sweep_steps
from aimcgen.rtl.sweep_pipeline import SweepStatus


def expected(begins: list[int], cycle: int, steps: int, depth: int, group: int):
    """(ready_positions bits, busy, accepting) in `cycle`, INTEGRATEs accepted in the cycles `begins`:
    position q of one accepted in cycle t is owed in cycles t+1 .. t+latency+q (it lands at the end of
    t+latency+q, latency = depth + 1), its sweep runs in cycles t+1 .. t+steps."""
    lat = depth + 1
    owed = [any(t < cycle <= t + lat + (q if steps > 1 else 0) for t in begins) for q in range(group)]
    busy = any(t < cycle <= t + lat + steps - 1 for t in begins)
    accepting = not any(t < cycle <= t + steps - 1 for t in begins)
    return sum(1 << q for q in range(group) if not owed[q]), busy, accepting


SPECS = {
    "default_parallel_adc": load_preset("default").replace(twin={"integrate": "parallel_adc"}),
    "default_parallel": load_preset("default").replace(twin={"integrate": "parallel"}),
    "tile64_parallel_adc": load_preset("tile64").replace(twin={"integrate": "parallel_adc"}),
}


@pytest.mark.parametrize("name", SPECS)
@settings(max_examples=12, deadline=None)
@given(wants=st.lists(st.booleans(), min_size=1, max_size=40))
def test_status_follows_the_sweep_rule(name, wants):
    spec = SPECS[name]
    steps, depth, group = sweep_steps(spec), latency(spec) - 1, spec.columns_per_adc
    dut = SweepStatus(spec, steps=steps, depth=depth)
    begins, seen = [], []

    async def bench(ctx):
        for cycle, want in enumerate(wants + [False] * (depth + steps + 2)):
            ready, busy, accepting = ctx.get(dut.ready_positions), ctx.get(dut.busy), ctx.get(dut.accepting)
            seen.append(((ready, busy, accepting), expected(begins, cycle, steps, depth, group)))
            begin = want and accepting
            ctx.set(dut.begin, begin)
            if begin:
                begins.append(cycle)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    for cycle, (got, want) in enumerate(seen):
        assert (got[0], bool(got[1]), bool(got[2])) == want, f"cycle {cycle}, begins {begins}"


def test_rejects_an_empty_sweep():
    with pytest.raises(ValueError, match="steps = 0"):
        SweepStatus(SPECS["default_parallel_adc"], steps=0, depth=2)
