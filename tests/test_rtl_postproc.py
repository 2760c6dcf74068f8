# amaranth: UnusedElaboratable=no
"""Affine post-processor: bit-exact to contract.postproc at the format corners, under stalls on both streams."""

import itertools
import re

import numpy as np
import pytest
from amaranth.back import rtlil, verilog
from amaranth.sim import Simulator

from aimcgen.contract.formats import datapath_formats
from aimcgen.presets import load_preset
from aimcgen.rtl.postproc import BUFFER_DEPTH, LATENCY, PRODUCT_STYLES, STAGES, AffinePostProcessor
from aimcgen.sim.eval import estimates
from aimcgen.contract.postproc import postprocess
from aimcgen.spec import from_dict

from amaranth_streams import send


def corners(fmt):
    return sorted({fmt.min, fmt.min + 1, -1, 0, 1, fmt.max - 1, fmt.max})


def ties(spec):
    """Products whose fraction is exactly one half (where half up and half down differ), where they fit."""
    fmt, f = datapath_formats(spec), spec.postproc.scale_frac_bits
    if not f:
        return []
    halves = [k << (f - 1) for k in (-5, -3, -1, 1, 3, 5)]
    cases = [(a, s, 0) for a in (-1, 1) for s in halves] + [(a, 0, o) for a in (0, 7) for o in halves]
    return [c for c in cases if all(g.min <= v <= g.max for g, v in
                                    zip((fmt.accumulator, fmt.scale, fmt.offset), c))]


def stimulus(spec, n_random, rng):
    """Every combination of the corners of acc, scale and offset, rounding ties, uniform random codes."""
    fmt = datapath_formats(spec)
    formats = (fmt.accumulator, fmt.scale, fmt.offset)
    grid = list(itertools.product(*(corners(f) for f in formats))) + ties(spec)
    rand = np.stack([rng.integers(f.min, f.max + 1, n_random) for f in formats])
    acc, scale, offset = np.concatenate([np.array(grid, dtype=np.int64).T, rand], axis=1)
    return acc, scale, offset, rng.integers(0, 2, len(acc))


def run(spec, acc, scale, offset, overflow, *, p_in_idle=0.0, p_out_ready=1.0, seed=0, style=None):
    """Stream the columns through; returns [(value, saturated, overflow, last)] and the cycle count."""
    rng = np.random.default_rng(seed)
    n = len(acc)
    dut = AffinePostProcessor(spec, product_style=style)
    got, cycles = [], [0]

    async def source(ctx):
        for i in range(n):
            while rng.random() < p_in_idle:
                await ctx.tick()
            await send(ctx, dut.inp, [{"acc": int(acc[i]), "scale": int(scale[i]), "offset": int(offset[i]),
                                       "overflow": int(overflow[i]), "last": int(i == n - 1)}])

    async def sink(ctx):
        held = None                     # (payload) offered but not taken in the previous cycle
        while len(got) < n:
            ready = int(rng.random() < p_out_ready)
            ctx.set(dut.out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            cycles[0] += 1
            assert cycles[0] < 20 * n + 100, "pipeline stopped"
            word = (payload.value, payload.saturated, payload.overflow, payload.last)
            if held is not None:
                assert valid and word == held, "out changed while valid and not ready"
            held = word if valid and not ready else None
            if valid and ready:
                got.append(word)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(source)
    sim.add_testbench(sink)
    sim.run()
    return got, cycles[0]


def check(spec, acc, scale, offset, overflow, got):
    expected, saturated = postprocess(acc, scale, offset, spec)
    n = len(acc)
    assert [g[0] for g in got] == expected.tolist()
    assert [g[1] for g in got] == saturated.astype(int).tolist()
    assert [g[2] for g in got] == overflow.tolist()
    assert [g[3] for g in got] == [0] * (n - 1) + [1]


@pytest.mark.parametrize("style", PRODUCT_STYLES)
@pytest.mark.parametrize("activation", ["none", "relu", "clip"])
@pytest.mark.parametrize("frac", [0, 5])
def test_matches_golden_with_stalls(activation, frac, style):
    spec = from_dict({"accumulator": {"bits": 12}, "postproc": {
        "scale_bits": 8, "scale_frac_bits": frac, "offset_bits": 10, "activation": activation,
        "clip_max": 50, "output_bits": 8}})
    rng = np.random.default_rng(frac * 7 + len(activation))
    acc, scale, offset, overflow = stimulus(spec, 100, rng)
    got, _ = run(spec, acc, scale, offset, overflow, p_in_idle=0.3, p_out_ready=0.6, seed=frac, style=style)
    check(spec, acc, scale, offset, overflow, got)


@pytest.mark.parametrize("tables", [
    # more fraction bits than the offset has bits: the rounding constant is wider than the offset
    {"adc": {"bits": 2}, "accumulator": {"bits": 6},
     "postproc": {"scale_bits": 4, "scale_frac_bits": 9, "offset_bits": 5, "activation": "clip", "clip_max": 0,
                  "output_bits": 3}},
    # the widest fraction the spec allows: every product rounds to 0 or -1
    {"adc": {"bits": 2}, "accumulator": {"bits": 4},
     "postproc": {"scale_bits": 2, "scale_frac_bits": 18, "offset_bits": 2, "output_bits": 2}},
    # 32-bit outputs: nothing saturates except the extreme products
    {"accumulator": {"bits": 24}, "postproc": {"scale_bits": 16, "scale_frac_bits": 3, "offset_bits": 32,
                                                "activation": "relu", "output_bits": 32}},
    # the widest scale: 24 partial products and the offset term, 25 of the sum tree's 27
    {"accumulator": {"bits": 20}, "postproc": {"scale_bits": 24, "scale_frac_bits": 20, "offset_bits": 32,
                                                "output_bits": 16}},
], ids=["frac_wider_than_offset", "frac_max", "wide", "widest_scale"])
@pytest.mark.parametrize("style", PRODUCT_STYLES)
def test_matches_golden_at_odd_formats(tables, style):
    spec = from_dict(tables)
    acc, scale, offset, overflow = stimulus(spec, 40, np.random.default_rng(1))
    got, _ = run(spec, acc, scale, offset, overflow, p_in_idle=0.2, p_out_ready=0.5, seed=2, style=style)
    check(spec, acc, scale, offset, overflow, got)


@pytest.mark.parametrize("preset", ["default", "tile64", "hermes256"])
def test_presets_one_column_per_cycle(preset):
    """Without stalls the pipeline takes and delivers a column every cycle, after LATENCY cycles."""
    spec = load_preset(preset)
    acc, scale, offset, overflow = stimulus(spec, 20, np.random.default_rng(3))
    got, cycles = run(spec, acc, scale, offset, overflow)
    check(spec, acc, scale, offset, overflow, got)
    assert cycles == len(acc) + LATENCY


def measure_latency(spec) -> tuple[int, int]:
    """(cycles from the accepting cycle to out.valid, the component's `latency`), measured on an idle pipeline
    in Amaranth's simulator with out.ready high."""
    dut = AffinePostProcessor(spec)
    seen = {}

    async def bench(ctx):
        ctx.set(dut.out.ready, 1)
        await ctx.tick().repeat(3)
        ctx.set(dut.inp.payload, {"acc": 5, "scale": 1, "offset": 0, "overflow": 0, "last": 1})
        ctx.set(dut.inp.valid, 1)
        cycle = 0
        while "accepted" not in seen or "out" not in seen:
            assert cycle < 50, "no output"
            _, _, ready, valid = await ctx.tick().sample(dut.inp.ready, dut.out.valid)
            if valid and "out" not in seen:
                seen["out"] = cycle
            if ready and "accepted" not in seen:
                seen["accepted"] = cycle
                ctx.set(dut.inp.valid, 0)
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return seen["out"] - seen["accepted"], dut.latency


@pytest.mark.parametrize("preset", ["default", "tile64", "hermes256"])
def test_latency_attribute_is_measured(preset):
    """The latency the component states (and the estimates use) is the one the simulator measures."""
    measured, stated = measure_latency(load_preset(preset))
    assert measured == stated == LATENCY == len(STAGES) == estimates.POSTPROC_LATENCY_CYCLES


def test_out_ready_enables_no_stage_and_input_ready_is_registered():
    """With the sink stalled the stages still drain into the buffer; inp.ready falls only when the buffer
    cannot take what is in flight, and every word comes out in order once the sink is ready."""
    spec = load_preset("default")
    dut = AffinePostProcessor(spec)
    trace = []

    async def bench(ctx):
        ctx.set(dut.out.ready, 0)
        ctx.set(dut.inp.valid, 1)
        for i in range(BUFFER_DEPTH + 3):
            ctx.set(dut.inp.payload, {"acc": i, "scale": 1 << spec.postproc.scale_frac_bits, "offset": 0,
                                      "overflow": 0, "last": 0})
            _, _, ready = await ctx.tick().sample(dut.inp.ready)
            trace.append(ready)
        ctx.set(dut.inp.valid, 0)
        values = []
        ctx.set(dut.out.ready, 1)
        for _ in range(BUFFER_DEPTH):
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            assert valid
            values.append(payload.value)
        assert values == list(range(BUFFER_DEPTH))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert trace == [1] * BUFFER_DEPTH + [0] * 3


def test_rejects_non_spec_and_unknown_style():
    with pytest.raises(TypeError, match="DesignSpec"):
        AffinePostProcessor({"postproc": {}})
    with pytest.raises(ValueError, match="product_style 'booth'"):
        AffinePostProcessor(load_preset("default"), product_style="booth")


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_converts_to_verilog(preset):
    assert "module postproc" in verilog.convert(AffinePostProcessor(load_preset(preset)), name="postproc")


def _signal_multipliers(text):
    """The $mul cells of an RTLIL text that multiply two signals (buffer[wr_ptr], the output buffer's write,
    multiplies the pointer by the constant word width: such cells do not count)."""
    muls = re.findall(r"cell \$mul .*?\n  end", text, flags=re.S)
    operands = [re.findall(r"connect \\([AB]) (\S+)", cell) for cell in muls]
    return [ports for ports in operands if not any(re.fullmatch(r"\d+'[01]+", v) for _, v in ports)]


class _Platform:
    def __init__(self, family):
        self.family = family


@pytest.mark.parametrize("preset", ["default", "tile64", "hermes256"])
def test_select_style_on_ecp5_infers_no_multiplier(preset):
    """On an ECP5 platform stage 1 selects partial products instead of multiplying: no multiplier of two
    signals reaches synthesis, so no DSP block (a fixed site with a slow combinational multiply) lands in the
    pipeline. Without a platform (ASIC) and on iCE40 it multiplies 2-bit scale slices."""
    spec = load_preset(preset)
    for dut, platform in ((AffinePostProcessor(spec), _Platform("ecp5")),
                          (AffinePostProcessor(spec, product_style="select"), None)):
        text = rtlil.convert(dut, name="postproc", platform=platform)
        assert "cell $add" in text and not _signal_multipliers(text)
    slices = -(-spec.postproc.scale_bits // 2)
    for platform in (None, _Platform("iCE40")):
        text = rtlil.convert(AffinePostProcessor(spec), name="postproc", platform=platform)
        assert len(_signal_multipliers(text)) == slices
