# amaranth: UnusedElaboratable=no
"""Register bank: every access kind, windows with fast and slow targets, bus errors, Wishbone timing."""

import pytest
from amaranth.back import verilog
from amaranth.hdl import signed
from amaranth.lib import wiring
from amaranth.sim import Simulator

from aimcgen.presets import load_preset
from aimcgen.rtl.register_bank import RegisterBank
from aimcgen.contract.register_map import Field, Register, RegisterMap, Window
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.rtl.wishbone import WishboneSignature

MAP = RegisterMap("t", (
    Register("ID", 0x0, (Field("magic", 0, 32, "const", 0x1234ABCD),)),
    Register("CFG", 0x4, (Field("mode", 0, 3, "rw", 5), Field("level", 8, 8, "rw"), Field("rev", 24, 8, "const", 7))),
    Register("CMD", 0x8, (Field("go", 0, 1, "wo"), Field("arg", 12, 8, "wo"))),
    Register("STAT", 0xC, (Field("count", 0, 16, "ro"), Field("ready", 31, 1, "ro"))),
    Register("ERR", 0x10, (Field("a", 0, 1, "w1c"), Field("b", 1, 1, "w1c"), Field("code", 8, 4, "w1c"))),
    Register("ERR2", 0x14, (Field("a", 0, 1, "w1c"),)),         # the same field as ERR.a, another flag
), (
    Window("MEM", 0x40, 5, "rw", 12, True),     # 0x40..0x53, span to 0x5f; a target that takes 2 cycles
    Window("OUT", 0x60, 3, "ro", 8),            # 0x60..0x6b, span to 0x6f; answers combinationally
    Window("QUEUE", 0x70, 4, "wo"),             # 0x70..0x7f; accepts when the test lets it
))


class BusError(Exception):
    pass


async def wb_cycle(ctx, bus, address, data=None, sel=0xF, abort_after=None):
    """One Wishbone classic access by byte address: (ack, err, read data, cycles).

    `cycles` counts the clock cycles of the access, from the one presenting the request to the one
    showing the answer (the master samples both at clock edges): 2 when the answer comes in the next cycle.
    """
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    ctx.set(bus.adr, address >> 2)
    ctx.set(bus.we, data is not None)
    ctx.set(bus.dat_w, 0 if data is None else data & 0xFFFFFFFF)
    ctx.set(bus.sel, sel)
    cycles = 0
    while True:
        _, _, ack, err, dat_r = await ctx.tick().sample(bus.ack, bus.err, bus.dat_r)
        cycles += 1
        assert not (ack and err), "ack and err together"
        if ack or err or cycles == abort_after:
            break
        assert cycles < 100, f"no answer from {address:#x}"
    ctx.set(bus.cyc, 0)
    ctx.set(bus.stb, 0)
    ctx.set(bus.we, 0)
    return ack, err, dat_r, cycles


async def wb_write(ctx, bus, address, data, sel=0xF):
    ack, err, _, _ = await wb_cycle(ctx, bus, address, data, sel)
    if err:
        raise BusError(f"write {address:#x}")


async def wb_read(ctx, bus, address):
    ack, err, data, _ = await wb_cycle(ctx, bus, address)
    if err:
        raise BusError(f"read {address:#x}")
    return data


def simulate(dut, *testbenches, processes=()):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for process in processes:
        sim.add_process(process)
    for bench, background in testbenches:
        sim.add_testbench(bench, background=background)
    sim.run()


def test_registers():
    dut = RegisterBank(MAP)
    bus = dut.bus
    pulses, errors, done = [], [0], []

    async def monitor(ctx):
        async for _, _, go, arg, bus_error in ctx.tick().sample(dut.cmd_go, dut.cmd_arg, dut.bus_error):
            if go or arg:
                pulses.append((go, arg))
            errors[0] += bus_error

    async def host(ctx):
        # const and rw, with byte lanes
        assert await wb_read(ctx, bus, 0x0) == 0x1234ABCD
        assert await wb_read(ctx, bus, 0x4) == 7 << 24 | 5
        await wb_write(ctx, bus, 0x4, 0xFFFF_2A03)
        assert (ctx.get(dut.cfg_mode), ctx.get(dut.cfg_level)) == (3, 0x2A)
        await wb_write(ctx, bus, 0x4, 0x0000_7706, sel=0b0010)        # byte lane 1 only
        assert await wb_read(ctx, bus, 0x4) == 7 << 24 | 0x7703

        # wo: one pulse per write of the written (and enabled) bits; reads 0
        await wb_write(ctx, bus, 0x8, 0x000A_B001)
        await wb_write(ctx, bus, 0x8, 0xFFFF_FFFF, sel=0b0010)       # go is in lane 0, arg[3:0] in lane 1
        assert await wb_read(ctx, bus, 0x8) == 0

        # ro: hardware drives it; a write to a register without writable fields is an error
        ctx.set(dut.stat_count, 999)
        ctx.set(dut.stat_ready, 1)
        assert await wb_read(ctx, bus, 0xC) == 1 << 31 | 999
        with pytest.raises(BusError):
            await wb_write(ctx, bus, 0xC, 1)
        with pytest.raises(BusError):
            await wb_write(ctx, bus, 0x0, 1)
        assert await wb_read(ctx, bus, 0x0) == 0x1234ABCD

        # w1c: hardware sets, writing 1 clears, 0s and disabled lanes leave bits alone
        ctx.set(dut.err_a_set, 1)
        ctx.set(dut.err_code_set, 0b0101)
        await ctx.tick()
        ctx.set(dut.err_a_set, 0)
        ctx.set(dut.err_code_set, 0)
        assert await wb_read(ctx, bus, 0x10) == 0b0101 << 8 | 1
        await wb_write(ctx, bus, 0x10, 0x0100)
        assert await wb_read(ctx, bus, 0x10) == 0b0100 << 8 | 1
        await wb_write(ctx, bus, 0x10, 0xFFFF, sel=0b0010)
        assert await wb_read(ctx, bus, 0x10) == 1
        # a set in the very cycle of a clear wins
        for name, value in (("cyc", 1), ("stb", 1), ("we", 1), ("adr", 0x10 >> 2), ("dat_w", 1), ("sel", 0xF)):
            ctx.set(getattr(bus, name), value)
        ctx.set(dut.err_a_set, 1)
        await ctx.tick()
        ctx.set(dut.err_a_set, 0)
        assert (await ctx.tick().sample(bus.ack))[2] == 1
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        ctx.set(bus.we, 0)
        assert await wb_read(ctx, bus, 0x10) == 1
        ctx.set(dut.err2_a_set, 1)
        await ctx.tick()
        ctx.set(dut.err2_a_set, 0)
        await wb_write(ctx, bus, 0x10, 0x1)
        assert await wb_read(ctx, bus, 0x10) == 0
        assert await wb_read(ctx, bus, 0x14) == 1
        await wb_write(ctx, bus, 0x14, 0x1)
        assert await wb_read(ctx, bus, 0x14) == 0

        # nothing mapped here
        for address in (0x18, 0x1C, 0x3C):
            with pytest.raises(BusError):
                await wb_read(ctx, bus, address)
        done.append(True)

    simulate(dut, (monitor, True), (host, False))
    assert done
    assert pulses == [(1, 0xAB), (0, 0xF)]
    assert errors[0] == 5


def test_windows_and_timing():
    dut = RegisterBank(MAP)
    bus = dut.bus
    mem, queue, accept = {}, [], [True]
    done = []

    async def out_window(ctx):                          # combinational: ack in the first cycle of stb
        async for stb, addr in ctx.changed(dut.out_stb, dut.out_addr):
            ctx.set(dut.out_ack, stb)
            ctx.set(dut.out_rdata, 0xF0 | addr)

    async def mem_window(ctx):                          # answers in the second cycle of stb
        waited = 0
        async for _, _, stb, we, addr, wdata, ack in ctx.tick().sample(
                dut.mem_stb, dut.mem_we, dut.mem_addr, dut.mem_wdata, dut.mem_ack):
            if ack or not stb:
                ctx.set(dut.mem_ack, 0)
                waited = 0
                continue
            waited += 1
            if waited == 2:
                if we:
                    mem[addr] = wdata
                ctx.set(dut.mem_rdata, mem.get(addr, 0))
                ctx.set(dut.mem_ack, 1)

    async def queue_window(ctx):                        # takes a write when the test allows it
        async for _, _, stb, wdata, ack in ctx.tick().sample(dut.queue_stb, dut.queue_wdata, dut.queue_ack):
            if ack or not stb or not accept[0]:
                ctx.set(dut.queue_ack, 0)
                continue
            queue.append(wdata)
            ctx.set(dut.queue_ack, 1)

    async def host(ctx):
        # registers answer in the cycle after the request; windows in the cycle after their ack
        assert (await wb_cycle(ctx, bus, 0x4))[3] == 2
        assert (await wb_cycle(ctx, bus, 0x18))[1:4:2] == (1, 2)             # err, next cycle
        assert await wb_cycle(ctx, bus, 0x64) == (1, 0, 0xF1, 2)             # window acks at once
        assert (await wb_cycle(ctx, bus, 0x48, -5))[1:4:2] == (0, 4)        # window acks 2 cycles late

        # signed 12-bit words: sign-extended reads, writes must fit and be whole words
        assert mem == {2: -5}
        assert await wb_read(ctx, bus, 0x48) == 0xFFFF_FFFB
        await wb_write(ctx, bus, 0x40, 2047)
        await wb_write(ctx, bus, 0x50, -2048)
        assert mem == {0: 2047, 2: -5, 4: -2048}
        assert await wb_read(ctx, bus, 0x50) == 0xFFFF_F800
        for address, data, sel in [(0x40, 2048, 0xF), (0x40, -2049, 0xF), (0x40, 1, 0b0001),
                                   (0x54, 1, 0xF), (0x5C, None, 0xF),   # past the depth, inside the span
                                   (0x60, 1, 0xF), (0x6C, None, 0xF),   # OUT is read-only, 3 words
                                   (0x70, None, 0xF)]:                   # QUEUE is write-only
            assert (await wb_cycle(ctx, bus, address, data, sel))[:2] == (0, 1), hex(address)
        assert mem == {0: 2047, 2: -5, 4: -2048}
        assert not queue

        # a busy target stalls the bus; an abandoned cycle leaves no trace
        accept[0] = False
        assert (await wb_cycle(ctx, bus, 0x74, 0xDEAD_BEEF, abort_after=5))[:2] == (0, 0)
        await ctx.tick()
        assert ctx.get(dut.queue_stb) == 0 and ctx.get(bus.ack) == 0
        accept[0] = True
        await wb_write(ctx, bus, 0x7C, 0xDEAD_BEEF)
        assert queue == [0xDEAD_BEEF]

        # back-to-back requests: stb stays high, the next request starts in the cycle after ack
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        ctx.set(bus.we, 0)
        answers = []
        for address in (0x0, 0x64, 0x4):
            ctx.set(bus.adr, address >> 2)
            for cycles in range(1, 10):
                _, _, ack, err, dat_r = await ctx.tick().sample(bus.ack, bus.err, bus.dat_r)
                if ack or err:
                    answers.append((ack, dat_r, cycles))
                    break
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        assert answers == [(1, 0x1234ABCD, 2), (1, 0xF1, 2), (1, 7 << 24 | 5, 2)]
        done.append(True)

    simulate(dut, (mem_window, True), (queue_window, True), (host, False), processes=[out_window])
    assert done


def test_window_ports_follow_the_map():
    dut = RegisterBank(MAP)
    assert dut.mem_wdata.shape() == signed(12) and dut.mem_rdata.shape() == signed(12)
    assert dut.out_rdata.shape().width == 8 and not dut.out_rdata.shape().signed
    assert dut.window_port("QUEUE", "ack") is dut.queue_ack
    assert dut.signature.members["bus"].signature == WishboneSignature(5).flip()


def test_aimc_map_on_the_bus():
    spec = load_preset("default")
    regmap = aimc_register_map(spec)
    dut = RegisterBank(regmap)
    got = {}

    async def host(ctx):
        for name in ("ID", "SPEC_HASH", "TILE"):
            got[name] = await wb_read(ctx, dut.bus, regmap.register(name).address)
        prog = regmap.register("PROG_CTRL")
        await wb_write(ctx, dut.bus, prog.address, 3 << prog.field("max_retries").offset_bit | 2)
        got["prog"] = (ctx.get(dut.prog_ctrl_tolerance), ctx.get(dut.prog_ctrl_max_retries))
        ctx.set(dut.errors_bus_error_set, 1)
        await ctx.tick()
        ctx.set(dut.errors_bus_error_set, 0)
        got["errors"] = await wb_read(ctx, dut.bus, regmap.register("ERRORS").address)

    simulate(dut, (host, False))
    assert got["ID"] == 0x41494D43
    assert got["SPEC_HASH"] == regmap.register("SPEC_HASH").field("hash").reset
    assert got["TILE"] == regmap.register("TILE").reset
    assert got["prog"] == (2, 3)
    assert got["errors"] == regmap.register("ERRORS").field("bus_error").mask


@pytest.mark.parametrize("preset", ["default", "tile64"])
def test_converts_to_verilog(preset):
    text = verilog.convert(RegisterBank(aimc_register_map(load_preset(preset))), name="regs")
    assert "module regs" in text and "ctrl_start" in text


def test_rejects_bad_maps():
    with pytest.raises(TypeError, match="regmap must be a RegisterMap"):
        RegisterBank({"ID": 0})
    clash = RegisterMap("c", (Register("A_B", 0, (Field("c", 0, 1, "rw"),)),
                              Register("A", 4, (Field("b_c", 0, 1, "ro"),))))
    with pytest.raises(ValueError, match="port a_b_c of field A.b_c clashes with the port of field A_B.c"):
        RegisterBank(clash)


def test_wishbone_signature():
    sig = WishboneSignature(10)
    assert {name: (m.flow, m.shape) for name, m in sig.members.items()} == {
        "cyc": (wiring.Out, 1), "stb": (wiring.Out, 1), "we": (wiring.Out, 1), "adr": (wiring.Out, 10),
        "dat_w": (wiring.Out, 32), "sel": (wiring.Out, 4), "ack": (wiring.In, 1), "err": (wiring.In, 1),
        "dat_r": (wiring.In, 32)}
    assert WishboneSignature(8, 64, 16).members["sel"].shape == 4
    assert sig == WishboneSignature(10) and sig != WishboneSignature(11)
    with pytest.raises(ValueError, match="data_width = 24"):
        WishboneSignature(8, 24)
    with pytest.raises(ValueError, match="granularity = 32: must be one of .* and at most data_width = 16"):
        WishboneSignature(8, 16, 32)
    with pytest.raises(TypeError, match="addr_width must be an integer"):
        WishboneSignature(8.0)
