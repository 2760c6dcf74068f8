"""Program-and-verify: retries until the read-back lands within tolerance, reports devices that never do."""

from amaranth.sim import Simulator

from aimcgen.rtl.program_verify import ProgramVerifyEngine
from aimcgen.rtl.tile_controller import TileController
from aimcgen.sim.verify.amaranth_macro import serve_macro
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.spec import from_dict
from amaranth.hdl import Module
from amaranth.lib import wiring

from amaranth_streams import send


def test_retries_and_failures_are_reported():
    spec = from_dict({"tile": {"rows": 4, "cols": 4}, "adc": {"count": 1}})
    m = Module()
    m.submodules.tile = tile = TileController(spec)
    m.submodules.pv = pv = ProgramVerifyEngine(spec)
    wiring.connect(m, pv.prog, tile.prog)
    wiring.connect(m, tile.prog_resp, pv.prog_resp)
    writes = {}

    def write_error(row, col, target):
        # (0, 0): lands 2 off on the first two writes, then on target; (3, 3): always 3 off.
        writes[(row, col)] = writes.get((row, col), 0) + 1
        if (row, col) == (0, 0):
            return 2 if writes[(0, 0)] <= 2 else 0
        return 3 if (row, col) == (3, 3) else 0

    macro = MacroModel(spec, write_error=write_error)
    results = []

    async def host(ctx):
        ctx.set(pv.tolerance, 1)
        ctx.set(pv.max_retries, 3)
        ctx.set(pv.result.ready, 1)
        for row, col, target in [(0, 0, 5), (1, 2, -4), (3, 3, 1)]:
            await send(ctx, pv.req, [{"row": row, "col": col, "target": target}])
            *_, r = await ctx.tick().sample(pv.result.payload).until(pv.result.valid)
            results.append((r.ok, r.row, r.col, r.attempts))

    async def macro_server(ctx):
        await serve_macro(ctx, tile.analog, macro)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(macro_server, background=True)
    sim.add_testbench(host)
    sim.run()
    assert results == [(1, 0, 0, 3), (1, 1, 2, 1), (0, 3, 3, 4)]
    assert macro.weights[0, 0] == 5 and macro.weights[3, 3] == 4
