# amaranth: UnusedElaboratable=no
"""The emulated tile, driven over the analog boundary as the periphery will drive it, reproduces the golden
model's ADC codes bit for bit (noise included), answers comparator trials at the exact thresholds of contract.adc,
and programs and reads back its weights."""

import itertools
import time

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator

from aimcgen.presets import load_preset
from aimcgen.rtl.boundary import AnalogBoundarySignature, AnalogOp
from aimcgen.rtl.emulated_tile import EmulatedCrossbar
from aimcgen.rtl.noise import draw_register, leap_cycles, noise_positions, value_pipeline
from aimcgen.rtl.parallel_integrator import latency
from aimcgen.contract.adc import adc_code, comparator_threshold_x2
from aimcgen.contract.adc_columns import adc_column
from aimcgen.contract.schedule import col_sel_settled
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.spec import SpecError, from_dict

from amaranth_streams import send


class Periphery:
    """Testbench side of the boundary: one stream transfer per command, response read the cycle after.

    Like the ADC controllers, every command carries the current position as col_sel (a command that names
    none keeps it). With SAR and ramp ADCs a sampling command that names a new position puts it on the pins
    a cycle before offering the command (contract.schedule.col_sel_settled), and that cycle counts."""

    def __init__(self, dut, spec):
        self.dut, self.spec = dut, spec
        self.cycles = 0               # clock cycles spent in commands so far
        self.col_sel = 0              # the position on the pins

    async def command(self, ctx, op, *, start=0, col_sel=None, trial=None, row=0, col=0, target=0,
                      row_en=0, row_sign=0):
        dut = self.dut
        col_sel = self.col_sel if col_sel is None else col_sel
        # (a flash ADC's CONVERT reads the pins: col_sel_settled is False there)
        if col_sel_settled(self.spec) and op == AnalogOp.COMPARE and start and col_sel != self.col_sel:
            ctx.set(dut.cmd.payload.col_sel, col_sel)
            await ctx.tick()
            self.cycles += 1
        self.col_sel = col_sel
        ctx.set(dut.row_en, row_en)
        ctx.set(dut.row_sign, row_sign)
        self.cycles += await send(ctx, dut.cmd, [{
            "op": op, "start": start, "col_sel": col_sel, "row": row, "col": col, "target": target,
            "trial": trial if trial is not None else [0] * self.spec.adc.count,
        }])

    async def issued(self, ctx, op, **kw):
        """Cycles from issuing a command until the tile accepts it (what the one before it still occupies)."""
        before = self.cycles
        await self.command(ctx, op, **kw)
        return self.cycles - before

    async def wait_ready(self, ctx):
        while not ctx.get(self.dut.cmd.ready):
            await ctx.tick()
            self.cycles += 1

    async def compare(self, ctx, trial, *, start, col_sel):
        await self.command(ctx, AnalogOp.COMPARE, start=start, col_sel=col_sel, trial=trial)
        comp = ctx.get(self.dut.resp.comp)
        return [comp >> a & 1 for a in range(self.spec.adc.count)]

    async def convert(self, ctx, col_sel):
        """One conversion per ADC of column col_sel of its group, the way the periphery's ADC logic runs."""
        adc = self.spec.adc
        if adc.kind == "flash":
            await self.command(ctx, AnalogOp.CONVERT, col_sel=col_sel)
            return list(ctx.get(self.dut.resp.code))
        if adc.kind == "sar":
            offset = -adc.code_min
            u = [0] * adc.count                                 # offset-binary code, 0 = code_min
            for b in reversed(range(adc.bits)):
                trial = [v | 1 << b for v in u]
                comp = await self.compare(ctx, [t - offset for t in trial], start=b == adc.bits - 1,
                                          col_sel=col_sel)
                u = [t if c else v for t, v, c in zip(trial, u, comp)]
            return [v - offset for v in u]
        codes = [adc.code_min] * adc.count                      # ramp: climb until the comparator flips
        for t in range(adc.code_min + 1, adc.code_max + 1):
            comp = await self.compare(ctx, [t] * adc.count, start=t == adc.code_min + 1, col_sel=col_sel)
            codes = [t if c else code for code, c in zip(codes, comp)]
        return codes

    async def program(self, ctx, weights):
        for (i, j), w in np.ndenumerate(weights):
            await self.command(ctx, AnalogOp.PROG_WRITE, row=i, col=j, target=int(w))

    async def read(self, ctx, row, col):
        await self.command(ctx, AnalogOp.PROG_READ, row=row, col=col)
        return ctx.get(self.dut.resp.read_data)

    async def mvm_codes(self, ctx, x):
        """ADC codes (steps, cols) of one input vector, in the golden model's sampling order."""
        spec = self.spec
        inp, group = spec.input, spec.columns_per_adc
        magnitude, sign = np.abs(x), _bits(x < 0)
        codes = np.zeros((inp.steps, spec.tile.cols), dtype=np.int64)
        for k in range(inp.steps):
            if inp.encoding == "pwm":
                for c in range(inp.max_magnitude):
                    await self.command(ctx, AnalogOp.INTEGRATE, start=c == 0, row_en=_bits(magnitude > c),
                                       row_sign=sign)
            else:
                await self.command(ctx, AnalogOp.INTEGRATE, start=1, row_en=_bits(magnitude >> k & 1),
                                   row_sign=sign)
            for p in range(group):
                columns = [adc_column(spec, a, p) for a in range(spec.adc.count)]
                codes[k, columns] = await self.convert(ctx, p)
        return codes


def _bits(flags):
    return sum(1 << i for i, f in enumerate(np.asarray(flags).tolist()) if f)


def _run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def _spec(encoding, kind, *, input_bits=4, adc_bits=5, count=2, full_scale=32, weight_bits=4, sigma=2.5,
          rows=8, cols=8, col_tiles=1, integrate="serial", assignment="blocks"):
    return from_dict({
        "tile": {"rows": rows, "cols": cols, "weight_bits": weight_bits},
        "twin": {"integrate": integrate},
        "input": {"bits": input_bits, "encoding": encoding},
        "adc": {"kind": kind, "bits": adc_bits, "count": count, "full_scale": full_scale,
                "column_assignment": assignment},
        "array": {"col_tiles": col_tiles},
        "noise": {"sigma_lsb": sigma, "seed": 9},
    })


GOLDEN_CASES = {
    # lsb_shift 1: codes clip at +-32 while charges reach +-56 plus noise.
    "bit_serial_sar": (_spec("bit_serial", "sar", adc_bits=5, full_scale=32, sigma=2.5), 0),
    # PWM: 3 drive cycles per step; flash rounds half up with lsb_shift 2; four ADCs of two columns.
    "pwm_flash": (_spec("pwm", "flash", input_bits=3, adc_bits=5, count=4, full_scale=64, sigma=3.0,
                        col_tiles=2), 1),
    # Ramp with lsb_shift 2 and narrow codes (+-32): clipping is common.
    "bit_serial_ramp": (_spec("bit_serial", "ramp", adc_bits=4, full_scale=32, sigma=2.0), 0),
    # twin.integrate = parallel: all rows at once, PWM's drive cycles pipelined back to back; 7 rows make
    # an odd adder tree.
    "bit_serial_sar_parallel": (_spec("bit_serial", "sar", adc_bits=5, full_scale=32, sigma=2.5,
                                      integrate="parallel"), 0),
    "pwm_flash_parallel": (_spec("pwm", "flash", input_bits=3, adc_bits=5, count=4, full_scale=64, sigma=3.0,
                                 col_tiles=2, rows=7, integrate="parallel"), 1),
    # parallel_adc: one tree per ADC sweeping its 4 (2) columns; interleaved columns; PWM's drive cycles
    # 2 cycles apart.
    "bit_serial_sar_parallel_adc": (_spec("bit_serial", "sar", adc_bits=5, full_scale=32, sigma=2.5,
                                          integrate="parallel_adc", assignment="interleaved"), 0),
    # PWM into a SAR: INTEGRATEs whose rows change every G cycles, the samples waiting for the pipeline.
    "pwm_sar_parallel_adc": (_spec("pwm", "sar", input_bits=3, adc_bits=6, full_scale=64, sigma=2.5,
                                   integrate="parallel_adc"), 0),
    "pwm_flash_parallel_adc": (_spec("pwm", "flash", input_bits=3, adc_bits=5, count=4, full_scale=64,
                                     sigma=3.0, col_tiles=2, rows=7, integrate="parallel_adc"), 1),
}


@pytest.mark.parametrize("case", GOLDEN_CASES)
def test_mvm_codes_match_golden(case):
    spec, tile_index = GOLDEN_CASES[case]
    rng = np.random.default_rng(sum(map(ord, case)))
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    weights = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    weights[:, 0], weights[:, -1] = levels, -levels             # reach both ends of the charge range
    xs = rng.integers(-m, m + 1, (3, spec.tile.rows))
    xs[0] = m
    expected = GoldenTile(spec, weights, tile_index).run(xs).codes        # (steps, batch, cols)
    dut = EmulatedCrossbar(spec, tile_index)
    periphery = Periphery(dut, spec)
    got, readback = [], []
    probes = [(0, 0), (spec.tile.rows - 1, spec.tile.cols - 1), (3, 5), (5, 2)]

    async def bench(ctx):
        await periphery.program(ctx, weights)
        for row, col in probes:
            readback.append(await periphery.read(ctx, row, col))
        for x in xs:
            got.append(await periphery.mvm_codes(ctx, x))

    _run(dut, bench)
    assert readback == [weights[r, c] for r, c in probes]
    np.testing.assert_array_equal(np.stack(got, axis=1), expected)
    # The golden codes must reach both clipping ends, or this test would not cover the clip logic.
    assert expected.max() == spec.adc.code_max and expected.min() == spec.adc.code_min


@pytest.mark.parametrize("integrate", ["parallel", "parallel_adc"])
def test_an_integrate_right_after_the_last_write_sees_it(integrate):
    """parallel_adc stores a write one edge later (rtl.parallel_integrator); an INTEGRATE accepted as soon
    as the tile allows after the last PROG_WRITE must still sum the written weight, here one of the first
    column position, which the trees read first."""
    spec = _spec("bit_serial", "sar", adc_bits=5, full_scale=32, sigma=0.0, integrate=integrate)
    rng = np.random.default_rng(4)
    levels = spec.tile.conductance_levels
    weights = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    row, col = spec.tile.rows - 1, adc_column(spec, 0, 0)
    before = weights.copy()
    before[row, col] = -levels
    weights[row, col] = levels
    x = np.full(spec.tile.rows, spec.input.max_magnitude)
    expected = GoldenTile(spec, weights).run(x[None]).codes[:, 0]
    assert not np.array_equal(expected, GoldenTile(spec, before).run(x[None]).codes[:, 0])
    dut = EmulatedCrossbar(spec)
    periphery = Periphery(dut, spec)
    got = []

    async def bench(ctx):
        await periphery.program(ctx, before)
        await periphery.command(ctx, AnalogOp.PROG_WRITE, row=row, col=col, target=levels)
        got.append(await periphery.mvm_codes(ctx, x))

    _run(dut, bench)
    np.testing.assert_array_equal(got[0], expected)


# Weights of column j (every column alike): with per-row polarity and enables, every charge in -75..75
# is reachable, so the comparator can be probed at any threshold.
PROBE_WEIGHTS = [1, 2, 4, 8, 15, 15, 15, 15]
REACHABLE = {}
for _digits in itertools.product((-1, 0, 1), repeat=len(PROBE_WEIGHTS)):
    REACHABLE.setdefault(sum(d * w for d, w in zip(_digits, PROBE_WEIGHTS)), _digits)


@pytest.mark.parametrize("kind, shift", [("sar", 2), ("ramp", 1), ("flash", 0), ("flash", 2)])
def test_comparator_and_flash_thresholds(kind, shift):
    adc_bits = 4
    spec = _spec("bit_serial", kind, adc_bits=adc_bits, count=4, weight_bits=5, sigma=0.0,
                 full_scale=1 << (adc_bits - 1 + shift))
    adc, lsb = spec.adc, 1 << shift
    weights = np.array([[w] * spec.tile.cols for w in PROBE_WEIGHTS])
    dut = EmulatedCrossbar(spec, init_weights=weights)
    periphery = Periphery(dut, spec)
    charges = range(-spec.adc.full_scale - 2 * lsb, spec.adc.full_scale + 2 * lsb + 1)
    failures = []

    async def bench(ctx):
        for q in charges:
            digits = REACHABLE[q]
            await periphery.command(ctx, AnalogOp.INTEGRATE, start=1, row_en=_bits([d != 0 for d in digits]),
                                    row_sign=_bits([d < 0 for d in digits]))
            # The four ADCs probe the four trial codes around the sample's code; then the held sample is
            # probed again, each ADC with another of those trials, without resampling.
            base = (q + (lsb // 2 if kind == "flash" else 0)) // lsb
            # A flash macro has no comparators to probe, a SAR or ramp macro no flash bank.
            for start, offsets in ((1, (-1, 0, 1, 2)), (0, (2, 1, 0, -1))) if kind != "flash" else ():
                trial = [int(np.clip(base + d, adc.code_min, adc.code_max)) for d in offsets]
                comp = await periphery.compare(ctx, trial, start=start, col_sel=1)
                want = [int(2 * q >= comparator_threshold_x2(t, adc)) for t in trial]
                if comp != want:
                    failures.append(("compare", q, trial, comp, want))
            if kind != "flash":
                continue
            await periphery.command(ctx, AnalogOp.CONVERT, col_sel=0)
            code = list(ctx.get(dut.resp.code))
            want = adc_code(np.full(adc.count, q), adc).tolist()
            if code != want:
                failures.append(("convert", q, code, want))

    _run(dut, bench)
    assert not failures, failures[:5]


def test_timing_and_registered_responses():
    spec = _spec("bit_serial", "sar", adc_bits=5, full_scale=64, sigma=3.0)
    rng = np.random.default_rng(3)
    weights = rng.integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    dut = EmulatedCrossbar(spec, init_weights=weights)
    periphery = Periphery(dut, spec)
    rows = spec.tile.rows

    async def timed(ctx, op, **kw):
        before = periphery.cycles
        await periphery.command(ctx, op, **kw)
        await periphery.wait_ready(ctx)
        return periphery.cycles - before

    async def bench(ctx):
        assert await timed(ctx, AnalogOp.INTEGRATE, start=1, row_en=(1 << rows) - 1) == rows + 1
        assert await timed(ctx, AnalogOp.INTEGRATE, start=1, row_en=0b100) == 1 + 3
        assert await timed(ctx, AnalogOp.INTEGRATE, start=1, row_en=0) == 1
        assert await timed(ctx, AnalogOp.COMPARE, start=0, trial=[0, 0]) == 1
        assert await timed(ctx, AnalogOp.PROG_READ, row=2, col=3) == 1
        # Sampling commands (COMPARE with start, CONVERT) are at least leap_cycles + value_pipeline +
        # draw_register apart: the registered draw, the noise leap and its registers. A 5-bit SAR
        # conversion takes 5 cycles: never delayed.
        leap = leap_cycles(spec) + value_pipeline(spec) + draw_register(spec)
        assert (leap_cycles(spec), draw_register(spec), leap) == (2, 1, 5)
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, trial=[0, 0]) == 1
        for _ in range(leap - 1):
            assert await periphery.issued(ctx, AnalogOp.COMPARE, start=0, trial=[0, 0]) == 1
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, trial=[0, 0]) == 1
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, trial=[0, 0]) == leap
        assert await periphery.issued(ctx, AnalogOp.CONVERT) == 1                  # a SAR macro has no flash bank
        await ctx.tick().repeat(leap - 2)
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, trial=[0, 0]) == 1
        assert await timed(ctx, AnalogOp.PROG_WRITE, row=2, col=3, target=-5) == 2

        # Responses hold while no command is accepted (valid low), whatever the payload does meanwhile.
        assert await periphery.read(ctx, 2, 3) == -5
        await periphery.command(ctx, AnalogOp.CONVERT, col_sel=1)
        await periphery.command(ctx, AnalogOp.COMPARE, start=1, trial=[-3, 2])
        held = ctx.get(dut.resp)
        ctx.set(dut.cmd.payload.op, AnalogOp.CONVERT)
        ctx.set(dut.cmd.payload.row, 0)
        for _ in range(5):
            await ctx.tick()
            assert ctx.get(dut.resp) == held

    _run(dut, bench)


def test_parallel_integrate_takes_one_cycle_and_samples_wait_for_the_pipeline():
    spec = _spec("pwm", "sar", input_bits=4, adc_bits=5, full_scale=64, sigma=0.0, integrate="parallel")
    weights = np.random.default_rng(4).integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    dut = EmulatedCrossbar(spec, init_weights=weights)
    periphery = Periphery(dut, spec)
    depth = latency(spec)
    assert depth == 3                           # registered pins + ceil(3 adder levels / 2) stages for 8 rows

    async def bench(ctx):
        everything = (1 << spec.tile.rows) - 1
        for c in range(5):                       # back to back, whatever the rows: one cycle each
            assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=c == 0, row_en=everything >> c,
                                          row_sign=0b1010_0101) == 1
        # The sample waits until the last INTEGRATE has reached the charge, then reads all five.
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, trial=[0, 0]) == 1 + depth
        assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=1, row_en=1) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=0, col=0) == 1 + depth
        assert await periphery.issued(ctx, AnalogOp.PROG_WRITE, row=2, col=3, target=-5) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=2, col=3) == 2   # the write's second cycle

    _run(dut, bench)


@pytest.mark.parametrize("read_noise, late", [("off", 0), ("on", 2)])
def test_parallel_adc_sweeps_its_columns_and_samples_wait_for_their_position(read_noise, late):
    """With device read noise a sample also waits for its column's gain and scaled noise: 2 cycles more."""
    spec = _spec("pwm", "sar", input_bits=4, adc_bits=5, full_scale=64, sigma=0.0, integrate="parallel_adc")
    spec = spec.replace(twin={"read_noise": read_noise})
    assert noise_positions(spec) == (4 if read_noise == "on" else 0)
    weights = np.random.default_rng(5).integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    dut = EmulatedCrossbar(spec, init_weights=weights)
    periphery = Periphery(dut, spec)
    depth, group = latency(spec), spec.columns_per_adc
    assert (depth, group) == (3, 4)

    async def bench(ctx):
        assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=1, row_en=0xff) == 1
        for _ in range(3):                       # the trees sweep 4 positions: INTEGRATEs 4 cycles apart
            assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=0, row_en=0x0f, row_sign=0x03) == group
        # A comparison with the held sample waits for nothing; position 2 lands 2 cycles after position 0,
        # and a sample of it waits for it.
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=0, trial=[0, 0]) == 1
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, col_sel=2, trial=[0, 0]) == depth + 2 + late
        assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=1, row_en=1) == 1
        assert await periphery.issued(ctx, AnalogOp.COMPARE, start=1, col_sel=0, trial=[0, 0]) == 1 + depth + late
        assert await periphery.issued(ctx, AnalogOp.INTEGRATE, start=1, row_en=1) == 1
        assert await periphery.issued(ctx, AnalogOp.PROG_READ, row=0, col=0) == depth + group

    _run(dut, bench)


def test_init_weights_read_back_and_programming_clamps():
    spec = _spec("pwm", "flash", input_bits=3, count=4, sigma=0.0)
    rng = np.random.default_rng(8)
    weights = rng.integers(-7, 8, (spec.tile.rows, spec.tile.cols))
    dut = EmulatedCrossbar(spec, init_weights=weights)
    periphery = Periphery(dut, spec)
    got = np.zeros_like(weights)
    after = []

    async def bench(ctx):
        for i, j in np.ndindex(weights.shape):
            got[i, j] = await periphery.read(ctx, i, j)
        await periphery.command(ctx, AnalogOp.PROG_WRITE, row=4, col=6, target=-8)   # below -levels
        await periphery.command(ctx, AnalogOp.PROG_WRITE, row=4, col=7, target=7)
        after.extend([await periphery.read(ctx, 4, 6), await periphery.read(ctx, 4, 7),
                      await periphery.read(ctx, 4, 5)])

    _run(dut, bench)
    np.testing.assert_array_equal(got, weights)
    assert after == [-7, 7, weights[4, 5]]


def test_parameters_are_checked():
    spec = _spec("bit_serial", "sar")
    with pytest.raises(SpecError, match="shape"):
        EmulatedCrossbar(spec, init_weights=np.zeros((3, 3), dtype=int))
    with pytest.raises(SpecError, match="codes must lie"):
        EmulatedCrossbar(spec, init_weights=np.full((8, 8), 8))
    with pytest.raises(ValueError, match="tile_index = 1"):
        EmulatedCrossbar(spec, tile_index=1)
    with pytest.raises(TypeError, match="DesignSpec"):
        EmulatedCrossbar("default")


def test_connects_to_the_periphery_side():
    spec = _spec("bit_serial", "sar")

    class Periphery(wiring.Component):
        analog: Out(AnalogBoundarySignature(spec))

        def elaborate(self, platform):
            return Module()

    m = Module()
    m.submodules.periphery = periphery = Periphery()
    m.submodules.tile = tile = EmulatedCrossbar(spec)
    wiring.connect(m, periphery.analog, tile)
    verilog.convert(m, ports=[])


@pytest.mark.parametrize("preset", ["default", "tile64",
                                    pytest.param("hermes256", marks=pytest.mark.slow)])   # ~12 s
def test_converts_to_verilog(preset):
    start = time.monotonic()
    text = verilog.convert(EmulatedCrossbar(load_preset(preset)), name="emulated_tile")
    assert "module emulated_tile" in text
    # A guard against an elaboration that blows up (minutes), not a speed figure: 2 shared cores take ~60 s.
    assert time.monotonic() - start < 300
