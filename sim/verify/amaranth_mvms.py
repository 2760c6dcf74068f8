"""MVMs back to back through the accelerator in Amaranth's simulator: when each one's last output leaves.

One loop for the cycle counts that benchmarks/sim_speed.py times and tests/test_parallel_adc_schedule.py
checks: input vectors offered on every cycle the accelerator takes them, outputs always taken.
"""

from __future__ import annotations

import time

import numpy as np
from amaranth.sim import Simulator

from aimcgen.rtl.accelerator import Accelerator


def back_to_back_ends(spec, xs: np.ndarray, *, clock_ns: float = 10.0) -> tuple[list[tuple[int, float]], float]:
    """(cycle, time.perf_counter()) at the last output beat of each MVM, for the input vectors `xs` (one per
    row, spec.logical_rows values each) sent back to back, neither stream ever stalling; and the seconds it
    took to build the accelerator and the simulator."""
    started = time.perf_counter()
    dut = Accelerator(spec)
    sim = Simulator(dut)
    sim.add_clock(clock_ns * 1e-9)
    build_s = time.perf_counter() - started
    ends = []

    async def source(ctx):
        for x in xs:
            for v in x:
                ctx.set(dut.inp.payload, int(v))
                ctx.set(dut.inp.valid, 1)
                await ctx.tick().until(dut.inp.ready)
        ctx.set(dut.inp.valid, 0)

    async def sink(ctx):
        ctx.set(dut.out.ready, 1)
        cycle = 0
        while len(ends) < len(xs):
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            cycle += 1
            if valid and payload.last:
                ends.append((cycle, time.perf_counter()))

    sim.add_testbench(source, background=True)
    sim.add_testbench(sink)
    sim.run()
    return ends, build_s
