"""Register bank and register map: access kinds, windows, bus errors; map validation and JSON."""

import pytest
from amaranth.sim import Simulator

from aimcgen.presets import load_preset, preset_names
from aimcgen.rtl.aimc_registers import MAGIC, aimc_register_map, spec_hash
from aimcgen.rtl.register_bank import RegisterBank
from aimcgen.rtl.register_map import Field, Register, RegisterMap, Window
from aimcgen.sim.wishbone_master import WishboneError, wb_read, wb_write

MAP = RegisterMap("t", (
    Register("ID", 0x0, (Field("magic", 0, 32, "const", 0x1234ABCD),)),
    Register("CFG", 0x4, (Field("mode", 0, 3, "rw", 5), Field("level", 8, 8, "rw", 0))),
    Register("CMD", 0x8, (Field("go", 0, 1, "wo"), Field("arg", 4, 4, "wo"))),
    Register("STAT", 0xC, (Field("count", 0, 16, "ro"),)),
    Register("ERR", 0x10, (Field("a", 0, 1, "w1c"), Field("b", 1, 1, "w1c"))),
), (Window("MEM", 0x40, 5, "rw", 16, True), Window("OUT", 0x60, 3, "ro")))


def test_access_kinds_windows_and_errors():
    dut = RegisterBank(MAP)
    memory = {}
    pulses = []
    log = {}

    async def window_comb(ctx):
        # The windows answer in the same cycle (combinational read), like a LUT RAM.
        async for mem_stb, mem_addr, out_stb, out_addr in ctx.changed(dut.mem_stb, dut.mem_addr, dut.out_stb,
                                                                       dut.out_addr):
            ctx.set(dut.mem_ack, mem_stb)
            ctx.set(dut.mem_rdata, memory.get(mem_addr, 0))
            ctx.set(dut.out_ack, out_stb)
            ctx.set(dut.out_rdata, 0xFEED0000 + out_addr)

    async def memory_writer(ctx):
        async for _, _, stb, we, addr, wdata, go, arg in ctx.tick().sample(
                dut.mem_stb, dut.mem_we, dut.mem_addr, dut.mem_wdata, dut.cmd_go, dut.cmd_arg):
            if stb and we:
                memory[addr] = wdata
            if go or arg:
                pulses.append((go, arg))

    async def host(ctx):
        bus = dut.bus
        assert await wb_read(ctx, bus, 0x0) == 0x1234ABCD
        assert await wb_read(ctx, bus, 0x4) == 5
        await wb_write(ctx, bus, 0x4, 0x0000_2A03)
        assert ctx.get(dut.cfg_mode) == 3 and ctx.get(dut.cfg_level) == 0x2A
        await wb_write(ctx, bus, 0x4, 0x0000_7700, sel=0b0010)   # byte lane 1 only
        assert await wb_read(ctx, bus, 0x4) == 0x7703
        await wb_write(ctx, bus, 0x8, 0x51)
        ctx.set(dut.stat_count, 999)
        assert await wb_read(ctx, bus, 0xC) == 999
        ctx.set(dut.err_a_set, 1)
        ctx.set(dut.err_b_set, 1)
        await ctx.tick()
        ctx.set(dut.err_a_set, 0)
        ctx.set(dut.err_b_set, 0)
        assert await wb_read(ctx, bus, 0x10) == 0b11
        await wb_write(ctx, bus, 0x10, 0b01)
        assert await wb_read(ctx, bus, 0x10) == 0b10
        await wb_write(ctx, bus, 0x48, 0xBEEF)
        assert memory == {2: 0xBEEF}
        assert await wb_read(ctx, bus, 0x48) == 0xBEEF
        assert await wb_read(ctx, bus, 0x64) == 0xFEED0001
        for address, data in [(0x0, 1), (0xC, 1), (0x54, None), (0x60, 7), (0x200 - 4, None), (0x6C, None)]:
            with pytest.raises(WishboneError):
                if data is None:
                    await wb_read(ctx, bus, address)
                else:
                    await wb_write(ctx, bus, address, data)
        log["done"] = True

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(window_comb)
    sim.add_testbench(memory_writer, background=True)
    sim.add_testbench(host)
    sim.run()
    assert log.get("done")
    assert pulses == [(1, 5)]


def test_map_validation_errors():
    with pytest.raises(ValueError, match="overlaps"):
        RegisterMap("x", (Register("A", 0, ()), Register("B", 0, ())))
    with pytest.raises(ValueError, match="not word aligned"):
        RegisterMap("x", (Register("A", 2, ()),))
    with pytest.raises(ValueError, match="A.g: overlaps another field"):
        RegisterMap("x", (Register("A", 0, (Field("f", 0, 4, "rw"), Field("g", 0, 4, "rw"))),))
    with pytest.raises(ValueError, match=r"bits 30..33 outside 0..31"):
        RegisterMap("x", (Register("A", 0, (Field("f", 30, 4, "rw"),)),))
    with pytest.raises(ValueError, match="not aligned to its span"):
        RegisterMap("x", (), (Window("W", 0x10, 8, "rw"),))
    with pytest.raises(ValueError, match="overlaps"):
        RegisterMap("x", (Register("A", 0x40, ()),), (Window("W", 0x40, 4, "rw"),))


@pytest.mark.parametrize("preset", preset_names())
def test_aimc_register_map_round_trips_and_describes_the_spec(preset):
    spec = load_preset(preset)
    regmap = aimc_register_map(spec)
    assert RegisterMap.from_json(regmap.to_json()) == regmap
    assert regmap.register("ID").field("magic").reset == MAGIC
    assert regmap.register("SPEC_HASH").field("hash").reset == spec_hash(spec)
    assert regmap.register("TILE").field("rows").reset == spec.tile.rows
    assert regmap.window("WEIGHTS").depth >= spec.logical_rows * spec.logical_cols
    assert regmap.window("SCALE").depth == spec.logical_cols
