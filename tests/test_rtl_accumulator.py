"""Shift-add accumulators: random code streams give sim.models.golden.shift_add's sums and overflow flags bit for
bit (saturation included), and the result bank stalls only the `last` transfer while it is occupied."""

import gc
import warnings

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from aimcgen.presets import load_preset
from aimcgen.rtl.accumulator import ShiftAddAccumulator
from aimcgen.contract.encoding import step_weights
from aimcgen.sim.models.golden import shift_add
from aimcgen.spec import from_dict

from amaranth_streams import transfer

SPECS = {
    # 3 bit planes, 4-bit codes into 6-bit accumulators: 7 + 14 + 28 > 31, so sums saturate often.
    "bit_serial": {"tile": {"rows": 4, "cols": 6}, "input": {"bits": 4},
                   "adc": {"bits": 4, "count": 2, "full_scale": 8}, "accumulator": {"bits": 6}},
    "pwm": {"tile": {"rows": 4, "cols": 6}, "input": {"bits": 4, "encoding": "pwm"},
            "adc": {"bits": 5, "count": 3, "full_scale": 16}, "accumulator": {"bits": 5}},
    "one_column_per_adc": {"tile": {"rows": 4, "cols": 3}, "input": {"bits": 3},
                           "adc": {"bits": 3, "count": 3, "full_scale": 4}, "accumulator": {"bits": 4}},
    # Two columns per ADC and several bit planes: a column's transfers two cycles apart (a pipeline that
    # writes two stages after its operand read must forward across that distance).
    "two_columns_per_adc": {"tile": {"rows": 4, "cols": 4}, "input": {"bits": 4},
                            "adc": {"bits": 4, "count": 2, "full_scale": 8}, "accumulator": {"bits": 6}},
}


def run(spec, codes, *, valid_gap=None, bank_delay=0):
    """Feed codes (mvms, steps, cols) in hardware order; read every bank. Returns (acc, overflow, trace)."""
    dut = ShiftAddAccumulator(spec)
    mvms, steps, cols = codes.shape
    count, group = spec.adc.count, spec.columns_per_adc
    banks, trace = [], {"stalled_not_last": 0, "last_accepted": [], "released": []}
    cycle = [0]

    async def counter(ctx):
        async for _ in ctx.tick():
            cycle[0] += 1

    async def feeder(ctx):
        i = 0
        for m in range(mvms):
            for k in range(steps):
                for g in range(group):
                    if valid_gap and valid_gap(i):
                        ctx.set(dut.inp.valid, 0)
                        await ctx.tick().repeat(valid_gap(i))
                    last = k == steps - 1 and g == group - 1
                    ticks = await transfer(ctx, dut.inp, {
                        "codes": [int(codes[m, k, a * group + g]) for a in range(count)],
                        "col_sel": g, "shift": k, "first": k == 0, "last": last})
                    trace["stalled_not_last"] += (ticks - 1) * (not last)
                    if last:
                        trace["last_accepted"].append(cycle[0])
                    i += 1
        ctx.set(dut.inp.valid, 0)

    async def reader(ctx):
        for _ in range(mvms):
            await ctx.tick().until(dut.bank_valid)
            if bank_delay:
                await ctx.tick().repeat(bank_delay)
            acc, ovf = [], []
            for c in range(cols):
                ctx.set(dut.rd_col, c)
                acc.append(ctx.get(dut.rd_acc))
                ovf.append(ctx.get(dut.rd_overflow))
            banks.append((acc, ovf))
            ctx.set(dut.bank_release, 1)
            await ctx.tick()
            trace["released"].append(cycle[0])
            ctx.set(dut.bank_release, 0)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(counter)
    sim.add_testbench(feeder)
    sim.add_testbench(reader)
    sim.run()
    return np.array([b[0] for b in banks]), np.array([b[1] for b in banks], dtype=bool), trace


def random_codes(spec, mvms, seed):
    adc = spec.adc
    rng = np.random.default_rng(seed)
    codes = rng.integers(adc.code_min, adc.code_max + 1, (mvms, spec.input.steps, spec.tile.cols))
    codes[0] = adc.code_max            # all-max and all-min MVMs saturate every column of a narrow accumulator
    codes[1] = adc.code_min
    return codes


def golden(spec, codes):
    acc, ovf = shift_add(codes.transpose(1, 0, 2), step_weights(spec.input), spec)   # (steps, batch, cols)
    return acc, ovf


@pytest.mark.parametrize("name", list(SPECS))
def test_random_streams_equal_golden_shift_add(name):
    spec = from_dict(SPECS[name])
    codes = random_codes(spec, 12, 1)
    gaps = np.random.default_rng(3).integers(0, 3, 10_000) * (np.random.default_rng(4).random(10_000) < 0.3)
    acc, ovf, trace = run(spec, codes, valid_gap=lambda i: int(gaps[i]))
    want_acc, want_ovf = golden(spec, codes)
    np.testing.assert_array_equal(acc, want_acc)
    np.testing.assert_array_equal(ovf, want_ovf)
    if name == "bit_serial":
        assert want_ovf.any() and not want_ovf.all()    # the test exercises both outcomes
    assert trace["stalled_not_last"] == 0


@pytest.mark.parametrize("name", ["bit_serial", "pwm"])
def test_occupied_bank_stalls_only_the_last_transfer(name):
    spec = from_dict(SPECS[name])
    codes = random_codes(spec, 5, 2)
    delay = 30
    acc, ovf, trace = run(spec, codes, bank_delay=delay)
    want_acc, want_ovf = golden(spec, codes)
    np.testing.assert_array_equal(acc, want_acc)
    np.testing.assert_array_equal(ovf, want_ovf)
    assert trace["stalled_not_last"] == 0
    # Each later MVM's last transfer waits for the release of the previous bank and is accepted on the
    # cycle after the release pulse (inp.ready depends on registers only).
    last, released = trace["last_accepted"], trace["released"]
    assert last[1:] == [r + 1 for r in released[:-1]]
    assert all(b - a > delay for a, b in zip(last, last[1:]))


def test_parameter_checks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(TypeError, match="DesignSpec"):
            ShiftAddAccumulator({"accumulator": {"bits": 8}})
        gc.collect()


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_verilog_conversion(preset):
    assert "module" in verilog.convert(ShiftAddAccumulator(load_preset(preset)), name="acc")
