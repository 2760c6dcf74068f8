"""Input double buffer: vectors come out whole, in order, from streamed and from addressed writes."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.rtl.input_buffer import InputBuffer

from amaranth_streams import send


@pytest.mark.parametrize("waits", ["growing", "random"])
def test_streamed_and_written_vectors_come_out_in_order(waits):
    """With growing waits the load buffer is full at every release (the copy on the release's cycle); with
    random ones (0 included) releases also come while it fills, and on the cycle a vector arrives."""
    dut = InputBuffer(rows=5, bits=6)
    rng = np.random.default_rng(0)
    vectors = rng.integers(-31, 32, (12, 5))
    delays = [6 + n for n in range(12)] if waits == "growing" else rng.integers(0, 9, 12).tolist()
    seen, released = [], []

    async def producer(ctx):
        for n, v in enumerate(vectors):
            if n % 3 == 2:                           # every third vector by addressed writes + commit
                await ctx.tick().until(dut.load_free)
                for i in reversed(range(5)):
                    ctx.set(dut.wr_addr, i)
                    ctx.set(dut.wr_data, int(v[i]))
                    ctx.set(dut.wr_en, 1)
                    await ctx.tick()
                ctx.set(dut.wr_en, 0)
                ctx.set(dut.commit, 1)
                await ctx.tick()
                ctx.set(dut.commit, 0)
            else:
                await send(ctx, dut.inp, [int(value) for value in v])

    async def consumer(ctx):
        for n in range(len(vectors)):
            *_, active = await ctx.tick().sample(dut.active).until(dut.active_valid)
            seen.append([active[i] for i in range(5)])
            await ctx.tick().repeat(delays[n] + 1)    # the tiles take a while
            held = ctx.get(dut.active)                # unchanged until the release
            released.append([held[i] for i in range(5)])
            ctx.set(dut.active_release, 1)
            await ctx.tick()
            ctx.set(dut.active_release, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert seen == released == vectors.tolist()
