"""Serve a `MacroModel` on an Amaranth component's analog boundary port inside an Amaranth simulation."""

from __future__ import annotations

import numpy as np
from amaranth.sim import Simulator

from aimcgen.sim.verify.macro_model import MacroModel, SettledColSel
from aimcgen.rtl.tile_controller import TileController


async def serve_macro(ctx, analog, macro: MacroModel, stall=None):
    """Testbench coroutine: accept commands on `analog` (periphery side) and answer like the macro.

    `stall(cycle) -> bool` holds ready low on chosen cycles (random stalls); default: keep pace.
    Responses are set right after the clock edge that accepted the command, i.e. registered.
    """
    cycle = 0
    rule = SettledColSel(macro.spec)
    ctx.set(analog.cmd.ready, 0 if stall and stall(cycle) else 1)
    async for _, _, valid, ready, cmd, row_en, row_sign in ctx.tick().sample(
            analog.cmd.valid, analog.cmd.ready, analog.cmd.payload, analog.row_en, analog.row_sign):
        rule.see(valid, cmd.op.value, cmd.start, cmd.col_sel)
        if valid and ready:
            r = macro.execute(cmd.op.value, start=cmd.start, col_sel=cmd.col_sel,
                              trial=[cmd.trial[a] for a in range(macro.spec.adc.count)],
                              row=cmd.row, col=cmd.col, target=cmd.target, row_en=row_en, row_sign=row_sign)
            ctx.set(analog.resp.comp, r.comp)
            for a, code in enumerate(r.code):
                ctx.set(analog.resp.code[a], code)
            ctx.set(analog.resp.read_data, r.read_data)
        cycle += 1
        ctx.set(analog.cmd.ready, 0 if stall and stall(cycle) else 1)


def read_banks(dut, spec, count: int, results: list, *, delay: int = 0, on_valid=None):
    """Testbench coroutine factory: `count` times wait for the TileController's bank_valid, call
    on_valid() if given, wait `delay` cycles, read every column's (accumulator, overflow) into `results`
    and release the bank for one cycle."""

    async def reader(ctx):
        for _ in range(count):
            await ctx.tick().until(dut.bank_valid)
            if on_valid is not None:
                on_valid()
            if delay:
                await ctx.tick().repeat(delay)
            acc, ovf = [], []
            for c in range(spec.tile.cols):
                ctx.set(dut.rd_col, c)
                acc.append(ctx.get(dut.rd_acc))
                ovf.append(ctx.get(dut.rd_overflow))
            results.append((acc, ovf))
            ctx.set(dut.bank_release, 1)
            await ctx.tick()
            ctx.set(dut.bank_release, 0)

    return reader


def run_tile_mvms(spec, w, xs, *, stall=None, bank_delay=0):
    """Run MVMs xs through a TileController and a MacroModel.

    Returns (accumulators, overflow flags, the cycle each MVM started, the macro).
    """

    dut = TileController(spec)
    macro = MacroModel(spec, w)
    results, starts = [], []
    cycle = [0]

    async def clock_counter(ctx):
        async for _ in ctx.tick():
            cycle[0] += 1

    async def feeder(ctx):
        for x in xs:
            ctx.set(dut.x, x.tolist())
            ctx.set(dut.start.valid, 1)
            await ctx.tick().until(dut.start.ready)
            starts.append(cycle[0])
            ctx.set(dut.start.valid, 0)
            await ctx.tick().until(dut.x_done)

    acc, ovf = simulate_tile(dut, macro, stall, clock_counter, feeder,
                             read_banks(dut, spec, len(xs), results, delay=bank_delay), results)
    return acc, ovf, starts, macro


def simulate_tile(dut, macro: MacroModel, stall, clock_counter, feeder, bank_reader, results: list):
    """Run a TileController at 100 MHz: `clock_counter` as a process, `macro` answering its analog port in the
    background, then `feeder` and `bank_reader` (read_banks, filling `results`); returns the banks read as
    (accumulators, overflow flags) arrays."""
    async def macro_server(ctx):
        await serve_macro(ctx, dut.analog, macro, stall)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(clock_counter)
    sim.add_testbench(macro_server, background=True)
    sim.add_testbench(feeder)
    sim.add_testbench(bank_reader)
    sim.run()
    return np.array([r[0] for r in results]), np.array([r[1] for r in results], dtype=bool)
