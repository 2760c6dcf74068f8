"""Input double buffer: vectors come out whole, in order, from streamed and from addressed writes."""

import numpy as np
from amaranth.sim import Simulator

from aimcgen.rtl.input_buffer import InputBuffer

from amaranth_streams import send


def test_streamed_and_written_vectors_come_out_in_order():
    dut = InputBuffer(rows=5, bits=6)
    rng = np.random.default_rng(0)
    vectors = rng.integers(-31, 32, (6, 5))
    seen = []

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
            await ctx.tick().repeat(7 + n)           # the tiles take a while
            ctx.set(dut.active_release, 1)
            await ctx.tick()
            ctx.set(dut.active_release, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert seen == vectors.tolist()
