"""The tile controller with an analog-speed macro model: accumulators equal the golden model bit for bit,
noise included, and MVMs run back to back at the serial command bound."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.contract.schedule import serial_schedule_commands, tail_commands
from aimcgen.rtl.tile_controller import ProgOp, TileController
from aimcgen.sim.verify.amaranth_macro import run_tile_mvms, serve_macro
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.spec import from_dict

from amaranth_streams import send

SPECS = {
    "bit_serial_sar": {"tile": {"rows": 8, "cols": 8}, "input": {"bits": 4}, "adc": {"count": 2}},
    "pwm_flash": {"tile": {"rows": 8, "cols": 6}, "input": {"bits": 3, "encoding": "pwm"},
                  "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32},
                  "accumulator": {"bits": 8}},
    # one flash ADC per column: a step's conversions are a single command (x_done must not lag)
    "pwm_flash_per_column": {"tile": {"rows": 8, "cols": 3}, "input": {"bits": 3, "encoding": "pwm"},
                             "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32},
                             "accumulator": {"bits": 8}},
    "bit_serial_ramp": {"tile": {"rows": 6, "cols": 4}, "input": {"bits": 3},
                        "adc": {"kind": "ramp", "bits": 4, "count": 2, "full_scale": 8},
                        "accumulator": {"bits": 6}},
}


def make_spec(name, sigma=2.0):
    tables = {k: dict(v) for k, v in SPECS[name].items()}
    tables["noise"] = {"sigma_lsb": sigma, "seed": 11}
    return from_dict(tables)


@pytest.mark.parametrize("name", list(SPECS))
def test_accumulators_equal_golden_and_run_at_the_command_bound(name):
    spec = make_spec(name)
    rng = np.random.default_rng(1)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (6, spec.tile.rows))
    acc, ovf, starts, macro = run_tile_mvms(spec, w, xs)
    golden = GoldenTile(spec, w).run(xs)
    np.testing.assert_array_equal(acc, golden.accumulator)
    np.testing.assert_array_equal(ovf, golden.overflow)
    periods = np.diff(starts)
    # The first MVM ends tail_commands before its last conversion's final comparisons, which the second
    # MVM's INTEGRATEs precede (contract.schedule).
    bound, tail = serial_schedule_commands(spec), tail_commands(spec)
    assert periods.tolist() == [bound - tail] + [bound] * (len(xs) - 2), periods
    assert macro.commands == serial_schedule_commands(spec) * len(xs)


@pytest.mark.parametrize("name", list(SPECS))
def test_random_macro_and_bank_stalls_change_nothing(name):
    spec = make_spec(name)
    rng = np.random.default_rng(2)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    xs = rng.integers(-m, m + 1, (5, spec.tile.rows))
    stalls = np.random.default_rng(3).random(100_000) < 0.3
    acc, ovf, _, _ = run_tile_mvms(spec, w, xs, stall=lambda c: bool(stalls[c]), bank_delay=40)
    golden = GoldenTile(spec, w).run(xs)
    np.testing.assert_array_equal(acc, golden.accumulator)
    np.testing.assert_array_equal(ovf, golden.overflow)


def test_programming_port_writes_and_reads_back():
    spec = make_spec("bit_serial_sar")
    dut = TileController(spec)
    macro = MacroModel(spec)
    targets = {(1, 2): 5, (7, 7): -7, (0, 0): 3}
    read = {}

    async def host(ctx):
        for (row, col), value in targets.items():
            for op in (ProgOp.WRITE, ProgOp.READ):
                await send(ctx, dut.prog, [{"op": op, "row": row, "col": col, "target": value}])
            ctx.set(dut.prog_resp.ready, 1)
            *_, data = await ctx.tick().sample(dut.prog_resp.payload).until(dut.prog_resp.valid)
            read[(row, col)] = data
            ctx.set(dut.prog_resp.ready, 0)

    async def macro_server(ctx):
        await serve_macro(ctx, dut.analog, macro)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(macro_server, background=True)
    sim.add_testbench(host)
    sim.run()
    assert read == targets
    assert macro.weights[1, 2] == 5 and macro.weights[7, 7] == -7
