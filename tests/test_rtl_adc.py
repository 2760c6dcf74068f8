"""ADC controllers against a Python macro that answers per rtl.boundary: every code equals contract.adc.adc_code,
conversions run back to back at conversion_cycles per conversion, and random stalls change nothing."""

import gc
import warnings

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Fragment, UnusedElaboratable
from amaranth.sim import Simulator

from aimcgen.presets import load_preset
from aimcgen.rtl.adc_controller import AdcController, adc_controller
from aimcgen.rtl.boundary import AnalogOp
from aimcgen.rtl.flash_adc import FlashAdcController
from aimcgen.rtl.ramp_adc import RampAdcController
from aimcgen.rtl.sar_adc import SarAdcController
from aimcgen.contract.adc import adc_code, comparator_threshold_x2, conversion_cycles
from aimcgen.spec import from_dict

from amaranth_streams import transfer

KINDS = ["sar", "ramp", "flash"]
SHAPES = {  # (adc bits, adc count, tile cols): lsb_shift 2 throughout, so rounding and clipping both show
    "1b_x1": (1, 1, 2),
    "3b_x2": (3, 2, 6),
    "5b_x3": (5, 3, 6),
}


def make_spec(kind, shape):
    bits, count, cols = SHAPES[shape]
    return from_dict({"tile": {"rows": 4, "cols": cols},
                      "adc": {"kind": kind, "bits": bits, "count": count, "full_scale": 1 << (bits + 1)},
                      "accumulator": {"bits": 8}})


def run(spec, cols, *, cmd_stall=None, req_gap=None, result_stall=None, max_cycles=20_000):
    """Convert column positions `cols` in order; the macro holds charges[n][tile column] at sample n.

    Returns (results, expected codes, accepted commands as (cycle, payload)).
    """
    dut = adc_controller(spec)
    adc, group = spec.adc, spec.columns_per_adc
    lsb = 1 << adc.lsb_shift
    rng = np.random.default_rng(len(cols) * 7 + adc.bits)
    charges = rng.integers((adc.code_min - 2) * lsb, (adc.code_max + 3) * lsb, (len(cols), spec.tile.cols))
    held_of = [charges[n][np.arange(adc.count) * group + c] for n, c in enumerate(cols)]
    expected = [adc_code(h, adc).tolist() for h in held_of]
    results, commands = [], []

    async def macro(ctx):
        held, samples, cycle = None, 0, 0
        ctx.set(dut.cmd.ready, 0 if cmd_stall and cmd_stall(cycle) else 1)
        async for _, _, valid, ready, cmd in ctx.tick().sample(dut.cmd.valid, dut.cmd.ready, dut.cmd.payload):
            if valid and ready:
                commands.append((cycle, cmd))
                if cmd.start:
                    held = charges[samples][np.arange(adc.count) * group + cmd.col_sel]
                    samples += 1
                if cmd.op == AnalogOp.COMPARE:
                    comp = [int(2 * h >= comparator_threshold_x2(cmd.trial[a], adc)) for a, h in enumerate(held)]
                    ctx.set(dut.resp.comp, sum(b << a for a, b in enumerate(comp)))
                elif cmd.op == AnalogOp.CONVERT:
                    for a, code in enumerate(adc_code(held, adc)):
                        ctx.set(dut.resp.code[a], int(code))
            cycle += 1
            ctx.set(dut.cmd.ready, 0 if cmd_stall and cmd_stall(cycle) else 1)

    async def requester(ctx):
        for n, c in enumerate(cols):
            if req_gap and req_gap(n):
                ctx.set(dut.req.valid, 0)
                await ctx.tick().repeat(req_gap(n))
            await transfer(ctx, dut.req, c)
        ctx.set(dut.req.valid, 0)

    async def consumer(ctx):
        cycle = 0
        ctx.set(dut.result.ready, 0 if result_stall and result_stall(cycle) else 1)
        async for _, _, valid, ready, codes in ctx.tick().sample(
                dut.result.valid, dut.result.ready, dut.result.payload):
            if valid and ready:
                results.append((cycle, [codes[a] for a in range(adc.count)]))
                if len(results) == len(cols):
                    return
            cycle += 1
            assert cycle < max_cycles, "conversions stopped"
            ctx.set(dut.result.ready, 0 if result_stall and result_stall(cycle) else 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(macro, background=True)
    sim.add_testbench(requester)
    sim.add_testbench(consumer)
    sim.run()
    return results, expected, commands


def check_command_stream(spec, cols, commands):
    """Exactly conversion_cycles commands per conversion, well formed, in request order."""
    n = conversion_cycles(spec.adc)
    assert len(commands) == n * len(cols)
    op = AnalogOp.CONVERT if spec.adc.kind == "flash" else AnalogOp.COMPARE
    for i, (_, cmd) in enumerate(commands):
        k = i % n
        assert cmd.op == op and cmd.start == (k == 0)
        if k == 0:                                       # col_sel means something to a sample only
            assert cmd.col_sel == cols[i // n]
        assert cmd.row == 0 and cmd.col == 0 and cmd.target == 0
        trials = [cmd.trial[a] for a in range(spec.adc.count)]
        if spec.adc.kind == "ramp":
            assert trials == [spec.adc.code_min + 1 + k] * spec.adc.count
        elif spec.adc.kind == "flash":
            assert trials == [0] * spec.adc.count


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("kind", KINDS)
def test_back_to_back_codes_equal_sim_adc(kind, shape):
    spec = make_spec(kind, shape)
    n = conversion_cycles(spec.adc)
    conversions = max(6, 160 // n)
    cols = np.random.default_rng(5).integers(0, spec.columns_per_adc, conversions).tolist()
    results, expected, commands = run(spec, cols)
    assert [r[1] for r in results] == expected
    check_command_stream(spec, cols, commands)
    # No idle command cycle: the first command on cycle 0 (req accepted with it), then one per cycle.
    assert [c for c, _ in commands] == list(range(n * conversions))
    # Each result is on `result` the cycle its last comparator answer arrives.
    assert [c for c, _ in results] == [n * (i + 1) for i in range(conversions)]


@pytest.mark.parametrize("shape", ["1b_x1", "3b_x2"])
@pytest.mark.parametrize("kind", KINDS)
def test_random_stalls_give_the_same_codes(kind, shape):
    spec = make_spec(kind, shape)
    conversions = 40 if kind == "ramp" else 60
    cols = np.random.default_rng(6).integers(0, spec.columns_per_adc, conversions).tolist()
    rng = np.random.default_rng(7)
    cmd_stalls, result_stalls = rng.random(20_000) < 0.3, rng.random(20_000) < 0.4
    gaps = rng.integers(0, 4, conversions) * (rng.random(conversions) < 0.3)
    results, expected, commands = run(spec, cols, cmd_stall=lambda c: bool(cmd_stalls[c]),
                                      req_gap=lambda i: int(gaps[i]),
                                      result_stall=lambda c: bool(result_stalls[c]))
    assert [r[1] for r in results] == expected
    check_command_stream(spec, cols, commands)


@pytest.mark.parametrize("kind", KINDS)
def test_full_result_buffer_stops_conversions(kind):
    """With result never taken, one conversion fills the result register and one more waits in the
    working registers; no third conversion starts until results are taken."""
    spec = make_spec(kind, "3b_x2")
    n = conversion_cycles(spec.adc)
    cols = [0, 1, 0, 1, 1]
    hold = 4 * n + 20
    results, expected, commands = run(spec, cols, result_stall=lambda c: c < hold)
    assert [r[1] for r in results] == expected
    assert sum(c < hold for c, _ in commands) == 2 * n
    check_command_stream(spec, cols, commands)


def test_factory_and_parameter_checks():
    for kind, cls in (("sar", SarAdcController), ("ramp", RampAdcController), ("flash", FlashAdcController)):
        dut = adc_controller(make_spec(kind, "3b_x2"))
        assert type(dut) is cls and isinstance(dut, AdcController)
        Fragment.get(dut, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)     # the half-built instances below
        with pytest.raises(ValueError, match="adc.kind"):
            SarAdcController(make_spec("ramp", "3b_x2"))
        with pytest.raises(TypeError, match="DesignSpec"):
            adc_controller({"adc": {"kind": "sar"}})
        gc.collect()


@pytest.mark.parametrize("preset", ["default", "tile64"])
@pytest.mark.parametrize("kind", KINDS)
def test_verilog_conversion(preset, kind):
    spec = load_preset(preset).replace(adc={"kind": kind})
    assert "module" in verilog.convert(adc_controller(spec), name=f"adc_{kind}")
