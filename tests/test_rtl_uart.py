"""The UART (rtl/uart.py): 8N1 framing both ways, loopback, glitches, framing errors, overrun, divisors."""

import pytest
from amaranth.hdl import Module
from amaranth.sim import Simulator

from aimcgen.rtl.uart import UartRx, UartTx, _divisor, uart_divisor

from amaranth_streams import send

DIV = 6


async def send_byte(ctx, line, byte, div=DIV, stop=1):
    for bit in [0] + [byte >> i & 1 for i in range(8)] + [stop]:
        ctx.set(line, bit)
        await ctx.tick().repeat(div)


def collect(stream, got, each_cycle=None):
    """A background testbench: always ready, appends every payload of `stream` to `got`; `each_cycle(ctx)`
    runs after every clock edge too."""
    async def testbench(ctx):
        ctx.set(stream.ready, 1)
        while True:
            await ctx.tick()
            if ctx.get(stream.valid):
                got.append(ctx.get(stream.payload))
            if each_cycle is not None:
                each_cycle(ctx)
    return testbench


def run(dut, *testbenches, background=()):
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)
    sim.run()


def test_divisor_rounding_and_errors():
    assert uart_divisor(24e6, 115200) == 208
    assert uart_divisor(12e6, 1e6) == 12
    with pytest.raises(ValueError, match="at least 4"):
        uart_divisor(12e6, 4e6)
    with pytest.raises(ValueError, match="off by"):
        uart_divisor(10e6, 1.5e6)              # 6.67 cycles per bit: 7 gives 4.8 % error
    with pytest.raises(ValueError):
        _divisor(3, None, None)
    with pytest.raises(TypeError):
        _divisor(8, None, 9600)
    rx = UartRx(clk_freq=48e6, baud=3e6)
    rx._MustUse__silence = True
    assert rx.divisor == 16


def test_tx_frames_bytes_lsb_first_with_exact_bit_times():
    dut = UartTx(divisor=DIV)
    seen = []

    async def producer(ctx):
        await send(ctx, dut.data, (0x55, 0xA3, 0x00, 0xFF))

    async def line(ctx):
        # Record the line value at every cycle; decode afterwards.
        for _ in range(4 * 10 * DIV + 20):
            await ctx.tick()
            seen.append(ctx.get(dut.tx))

    run(dut, producer, line)
    # Find start bits and decode in the middle of each bit.
    got, i = [], 0
    while i < len(seen) and len(got) < 4:
        if seen[i] == 0:
            bits = [seen[i + DIV // 2 + DIV * k] for k in range(10)]
            assert bits[0] == 0 and bits[9] == 1
            got.append(sum(b << k for k, b in enumerate(bits[1:9])))
            # each bit lasts exactly DIV cycles
            assert all(seen[i + DIV * k + j] == bits[k] for k in range(10) for j in range(DIV))
            i += 10 * DIV
        else:
            i += 1
    assert got == [0x55, 0xA3, 0x00, 0xFF]


def test_rx_receives_and_flags_framing_error_and_ignores_glitch():
    dut = UartRx(divisor=DIV)
    got, flags = [], {"framing": 0, "overrun": 0}

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(5)
        await send_byte(ctx, dut.rx, 0x3C)
        ctx.set(dut.rx, 0)                       # a glitch shorter than half a bit
        await ctx.tick().repeat(DIV // 2 - 2)
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * DIV)
        await send_byte(ctx, dut.rx, 0x81, stop=0)  # framing error: dropped
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(2 * DIV)
        await send_byte(ctx, dut.rx, 0xE7)
        await ctx.tick().repeat(3 * DIV)

    def count_framing_errors(ctx):
        flags["framing"] += ctx.get(dut.framing_error)

    run(dut, sender, background=[collect(dut.data, got, count_framing_errors)])
    assert got == [0x3C, 0xE7]
    assert flags["framing"] == 1


def test_rx_overrun_keeps_the_newest_byte():
    dut = UartRx(divisor=DIV)
    info = {"overrun": 0}

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        await send_byte(ctx, dut.rx, 0x11)
        await send_byte(ctx, dut.rx, 0x22)        # nobody reads: overrun
        await ctx.tick().repeat(DIV)
        info["payload"] = ctx.get(dut.data.payload)
        info["valid"] = ctx.get(dut.data.valid)

    async def watch(ctx):
        while True:
            await ctx.tick()
            info["overrun"] += ctx.get(dut.overrun)

    run(dut, sender, background=[watch])
    assert info == {"overrun": 1, "payload": 0x22, "valid": 1}


def test_loopback_stream_of_bytes():
    m = Module()
    m.submodules.tx = tx = UartTx(divisor=DIV)
    m.submodules.rx = rx = UartRx(divisor=DIV)
    m.d.comb += rx.rx.eq(tx.tx)
    data = list(range(0, 256, 7)) + [0, 255]
    got = []

    async def producer(ctx):
        await send(ctx, tx.data, data)
        await ctx.tick().repeat(12 * DIV)

    run(m, producer, background=[collect(rx.data, got)])
    assert got == data


def test_rx_tolerates_a_faster_sender():
    """A sender 4 % fast (bit time 25 vs 26 cycles) is still received, byte after byte."""
    dut = UartRx(divisor=26)
    got = []

    async def sender(ctx):
        ctx.set(dut.rx, 1)
        await ctx.tick().repeat(3)
        for byte in (0xA5, 0x5A, 0xFF, 0x01):
            await send_byte(ctx, dut.rx, byte, div=25)
        await ctx.tick().repeat(30)

    run(dut, sender, background=[collect(dut.data, got)])
    assert got == [0xA5, 0x5A, 0xFF, 0x01]
