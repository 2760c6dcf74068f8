"""Affine post-processor: bit-exact to sim.postproc at the format corners, under stalls on both streams."""

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from aimcgen.formats import datapath_formats
from aimcgen.presets import load_preset
from aimcgen.rtl.postproc import AffinePostProcessor
from aimcgen.sim.postproc import postprocess
from aimcgen.spec import from_dict


def corner_values(fmt, n, rng):
    values = rng.integers(fmt.min, fmt.max + 1, n)
    values[:4] = [fmt.min, fmt.max, 0, -1]
    return values


@pytest.mark.parametrize("activation", ["none", "relu", "clip"])
@pytest.mark.parametrize("frac", [0, 5])
def test_matches_golden_with_stalls(activation, frac):
    spec = from_dict({"accumulator": {"bits": 12}, "postproc": {
        "scale_bits": 8, "scale_frac_bits": frac, "offset_bits": 10, "activation": activation,
        "clip_max": 50, "output_bits": 8}})
    fmt = datapath_formats(spec)
    rng = np.random.default_rng(frac + len(activation))
    n = 120
    acc, scale, offset = (corner_values(f, n, rng) for f in (fmt.accumulator, fmt.scale, fmt.offset))
    overflow = rng.integers(0, 2, n)
    expected, saturated = postprocess(acc, scale, offset, spec)
    dut = AffinePostProcessor(spec)
    got = []

    async def source(ctx):
        for i in range(n):
            ctx.set(dut.inp.payload, {"acc": int(acc[i]), "scale": int(scale[i]), "offset": int(offset[i]),
                                      "overflow": int(overflow[i]), "last": int(i == n - 1)})
            ctx.set(dut.inp.valid, 1)
            await ctx.tick().until(dut.inp.ready)
            ctx.set(dut.inp.valid, 0)
            if rng.random() < 0.3:
                await ctx.tick()

    async def sink(ctx):
        while len(got) < n:
            ready = int(rng.random() < 0.6)
            ctx.set(dut.out.ready, ready)
            _, _, valid, p = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            if valid and ready:
                got.append((p.value, p.saturated, p.overflow, p.last))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    assert [g[0] for g in got] == expected.tolist()
    assert [g[1] for g in got] == saturated.astype(int).tolist()
    assert [g[2] for g in got] == overflow.tolist()
    assert [g[3] for g in got] == [0] * (n - 1) + [1]


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_converts_to_verilog(preset):
    assert "module" in verilog.convert(AffinePostProcessor(load_preset(preset)), name="postproc")
