"""The accelerator in Amaranth's simulator as firmware sees it: register access by name, and a run with the
analog macros served by Python models."""

from amaranth.sim import Simulator

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
