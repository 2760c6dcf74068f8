"""The accelerator in Amaranth's simulator as firmware sees it: register access by name, and a run with the
analog macros served by Python models."""

import numpy as np
from amaranth.sim import Simulator

from aimcgen.contract.aimc_registers import col_stride
from aimcgen.sim.verify.amaranth_macro import serve_macro
from aimcgen.sim.verify.wishbone_master import wb_read, wb_write


def signed32(value, bits=32):
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


class Host:
    """Register access by name over the accelerator's Wishbone bus (its regmap), as firmware would do it."""

    def __init__(self, ctx, dut):
        self.ctx, self.bus, self.map = ctx, dut.bus, dut.regmap

    async def read(self, register):
        return await wb_read(self.ctx, self.bus, self.map.register(register).address)

    async def write(self, register, value):
        await wb_write(self.ctx, self.bus, self.map.register(register).address, value)

    async def write_window(self, window, index, value):
        await wb_write(self.ctx, self.bus, self.map.window(window).address + 4 * index, int(value) & 0xFFFFFFFF)

    async def read_window(self, window, index):
        return await wb_read(self.ctx, self.bus, self.map.window(window).address + 4 * index)

    async def write_weights(self, spec, w):
        """Every logical weight w[r, c] through the WEIGHTS window (row stride col_stride(spec))."""
        for (r, c), value in np.ndenumerate(w):
            await self.write_window("WEIGHTS", r * col_stride(spec) + c, value)

    async def mvm(self, x, outputs):
        """One MVM as firmware runs it: inputs, CTRL.start, poll OUT_COUNT, read `outputs` signed outputs."""
        count = await self.read("OUT_COUNT")
        for i, value in enumerate(x):
            await self.write_window("INPUT", i, value)
        await self.write("CTRL", 1)
        while await self.read("OUT_COUNT") == count:
            pass
        return [signed32(await self.read_window("OUTPUT", c), 32) for c in range(outputs)]


def simulate(dut, *testbenches, macros=()):
    """Run `testbenches` (async functions of ctx) on `dut` with a 100 MHz clock; macro i (a MacroModel) answers
    the analog boundary `analog_<i>` in the background."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for i, macro in enumerate(macros):
        async def server(ctx, i=i, macro=macro):
            await serve_macro(ctx, getattr(dut, f"analog_{i}"), macro)
        sim.add_testbench(server, background=True)
    for bench in testbenches:
        sim.add_testbench(bench)
    sim.run()
