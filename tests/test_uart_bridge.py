"""The UART-to-Wishbone bridge (rtl/uart_bridge.py) at the byte level against a Wishbone target model.

Frames come from aimcgen/contract/uart_protocol.py (the host driver's encoder), so the RTL and the host agree by test.
"""

import random

import pytest
from amaranth.sim import Simulator

from aimcgen.contract import uart_protocol as proto
from aimcgen.rtl.uart_bridge import UartBridge

ADDR_WIDTH = 8                 # 256 words: byte addresses 0..0x3FC
ERR_WORDS = {0x30}             # word addresses the target answers with err
DEAD_WORDS = {0x31}            # ... and never answers


def test_protocol_helpers():
    assert proto.crc8(b"123456789") == 0xF4
    frame = proto.encode_write(0x40, [1, -1], tag=0x9E)
    assert frame[0] == proto.REQUEST_SYNC == 0xC3 and frame[1] == 0x9E and frame[2] == proto.CMD_WRITE | 1
    assert frame[3:7] == bytes([0x40, 0, 0, 0]) and frame[11:15] == b"\xff\xff\xff\xff"
    assert proto.crc8(frame[1:-1]) == frame[-1] and len(frame) == proto.REQUEST_OVERHEAD + 8 == 16
    assert proto.encode_read(0, 64)[1:3] == bytes([0, 63]) and len(proto.encode_read(0)) == 8
    for bad in ({"address": 2}, {"address": 0, "count": 65}, {"address": 0, "tag": 256}, {"address": 0, "tag": -1}):
        with pytest.raises(ValueError):
            proto.encode_read(**bad)
    assert proto.response_length(0x02, 3) == 6 + 12                       # a 3-word read
    assert proto.response_length(proto.CMD_WRITE | 2, 3) == 6             # a write: no DATA
    response = proto.encode_response(7, 0x01, proto.STATUS_OK, 2, [5, 0xFFFFFFFF])
    assert response[:5] == bytes([proto.RESPONSE_SYNC, 7, 0x01, 0, 2]) and response[-1] == proto.crc8(response[1:-1])
    assert proto.decode_response(response) == proto.Response(7, 0x01, proto.STATUS_OK, 2, (5, 0xFFFFFFFF))


class Harness:
    def __init__(self, *, bus_timeout=40, frame_timeout=60, ack_delay=1, stall_tx=False):
        self.dut = UartBridge(ADDR_WIDTH, bus_timeout=bus_timeout, frame_timeout=frame_timeout)
        self.mem = {}
        self.accesses = []
        self.ack_delay, self.stall_tx = ack_delay, stall_tx
        self.script = []          # ("send", bytes) | ("idle", cycles)
        self.rx_bytes = bytearray()
        self.busy_seen = False

    async def target(self, ctx):
        bus = self.dut.bus
        while True:
            await ctx.tick()
            if not (ctx.get(bus.cyc) and ctx.get(bus.stb)):
                continue
            adr, we, dat, sel = (ctx.get(bus.adr), ctx.get(bus.we), ctx.get(bus.dat_w), ctx.get(bus.sel))
            self.accesses.append((adr, we, dat if we else None, sel))
            if adr in DEAD_WORDS:
                while ctx.get(bus.cyc):
                    await ctx.tick()
                continue
            await ctx.tick().repeat(self.ack_delay - 1) if self.ack_delay > 1 else None
            if adr in ERR_WORDS:
                ctx.set(bus.err, 1)
            else:
                if we:
                    self.mem[adr] = dat
                ctx.set(bus.dat_r, self.mem.get(adr, 0xD0000000 | adr))
                ctx.set(bus.ack, 1)
            await ctx.tick()
            ctx.set(bus.ack, 0)
            ctx.set(bus.err, 0)

    async def host(self, ctx):
        rx = self.dut.rx
        for kind, arg in self.script:
            if kind == "idle":
                await ctx.tick().repeat(arg)
                continue
            for byte in arg:
                ctx.set(rx.payload, byte)
                ctx.set(rx.valid, 1)
                await ctx.tick()
                ctx.set(rx.valid, 0)
                await ctx.tick().repeat(2)          # bytes arrive with gaps, as from a UART
        await ctx.tick().repeat(3000)

    async def sink(self, ctx):
        tx, rng = self.dut.tx, random.Random(1)
        while True:
            ready = rng.random() < 0.3 if self.stall_tx else True
            ctx.set(tx.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(tx.valid, tx.payload)
            if ready and valid:
                self.rx_bytes.append(payload)
            self.busy_seen |= bool(ctx.get(self.dut.busy))

    def run(self):
        sim = Simulator(self.dut)
        sim.add_clock(1e-8)
        sim.add_testbench(self.host)
        sim.add_testbench(self.target, background=True)
        sim.add_testbench(self.sink, background=True)
        sim.run()
        return self

    def frames(self):
        """The received bytes split into responses (each checked against the layout: SYNC, length, CRC)."""
        out, data = [], bytes(self.rx_bytes)
        while data:
            n = proto.check_header(data[:proto.RESPONSE_HEADER])
            out.append(proto.decode_response(data[:n]))
            data = data[n:]
        return out

    def responses(self, reads, tags=None):
        """(status, done, words) per request; `reads` says which were reads, `tags` what TAG each sent (0)."""
        frames = self.frames()
        assert len(frames) == len(reads), frames
        for frame, read, tag in zip(frames, reads, tags or [0] * len(reads)):
            assert frame.tag == tag and frame.write != read, frame
        return [(f.status, f.done, list(f.words)) for f in frames]


@pytest.mark.parametrize("stall_tx", [False, True])
def test_write_then_read_burst(stall_tx):
    h = Harness(stall_tx=stall_tx, ack_delay=3)
    words = [0x01234567, 0xFFFFFFFF, 0x80000000]
    # one request at a time: the host waits for the response (here: long enough) before the next
    h.script = [("send", proto.encode_write(0x20, words)), ("idle", 600), ("send", proto.encode_read(0x20, 4))]
    h.run()
    (s1, d1, w1), (s2, d2, w2) = h.responses([False, True])
    assert (s1, d1, w1) == (proto.STATUS_OK, 3, [])
    assert (s2, d2) == (proto.STATUS_OK, 4)
    assert w2 == words + [0xD0000000 | 0x0B]
    assert [a[:3] for a in h.accesses[:3]] == [(8, 1, words[0]), (9, 1, words[1]), (10, 1, words[2])]
    assert all(a[3] == 0xF for a in h.accesses)
    assert h.busy_seen


def test_max_burst_and_garbage_before_sync():
    h = Harness()
    words = list(range(1000, 1000 + proto.MAX_BURST))
    # the host sends the read after the write's response (the burst takes about 7 cycles a word)
    h.script = [("send", b"\x00\x13\x5a"), ("send", proto.encode_write(0x100, words)), ("idle", 600),
                ("send", proto.encode_read(0x100, proto.MAX_BURST))]
    h.run()
    (s1, d1, _), (s2, d2, w2) = h.responses([False, True])
    assert (s1, d1, s2, d2) == (0, 64, 0, 64) and w2 == words


def test_checksum_error_touches_nothing():
    h = Harness()
    frame = bytearray(proto.encode_write(0x10, [7]))
    frame[-1] ^= 0x01
    h.script = [("send", bytes(frame)), ("idle", 100), ("send", proto.encode_read(0x10))]
    h.run()
    (s1, d1, w1), (s2, d2, w2) = h.responses([False, True])
    assert (s1, d1, w1) == (proto.STATUS_CHECKSUM_ERROR, 0, [])
    assert (s2, d2, w2) == (proto.STATUS_OK, 1, [0xD0000004])
    assert not any(a[1] for a in h.accesses)


def test_bus_error_stops_the_burst_and_returns_words_done():
    h = Harness()
    first = 0x2E * 4                              # words 0x2E, 0x2F ok, 0x30 err, 0x31 not reached
    h.script = [("send", proto.encode_read(first, 4))]
    h.run()
    [(status, done, words)] = h.responses([True])
    assert (status, done) == (proto.STATUS_BUS_ERROR, 2)
    assert words == [0xD000002E, 0xD000002F]
    assert [a[0] for a in h.accesses] == [0x2E, 0x2F, 0x30]


def test_address_beyond_the_bus_is_a_bus_error_without_a_cycle():
    h = Harness()
    h.script = [("send", proto.encode_write((1 << ADDR_WIDTH) * 4 - 4, [1, 2]))]
    h.run()
    [(status, done, _)] = h.responses([False])
    assert (status, done) == (proto.STATUS_BUS_ERROR, 1)
    assert [a[0] for a in h.accesses] == [(1 << ADDR_WIDTH) - 1]


def test_bad_command_and_timeout():
    h = Harness(bus_timeout=30)
    body = bytes([0, proto.CMD_RESERVED]) + (0).to_bytes(4, "little")
    reserved = bytes([proto.REQUEST_SYNC]) + body + bytes([proto.crc8(body)])
    body = bytes([0, 0]) + (6).to_bytes(4, "little")
    unaligned = bytes([proto.REQUEST_SYNC]) + body + bytes([proto.crc8(body)])
    h.script = [("send", reserved), ("idle", 100), ("send", unaligned), ("idle", 100),
                ("send", proto.encode_read(0x31 * 4, 2))]
    h.run()
    r1, r2, r3 = h.responses([True, True, True])
    assert r1 == (proto.STATUS_BAD_COMMAND, 0, []) and r2 == (proto.STATUS_BAD_COMMAND, 0, [])
    assert r3 == (proto.STATUS_TIMEOUT, 0, [])
    assert [a[0] for a in h.accesses] == [0x31]


def test_stalled_frame_is_dropped_silently():
    h = Harness(frame_timeout=50)
    frame = proto.encode_write(0x8, [5, 6])
    h.script = [("send", frame[:7]), ("idle", 200), ("send", proto.encode_read(0x8))]
    h.run()
    [(status, done, words)] = h.responses([True])
    assert (status, done, words) == (proto.STATUS_OK, 1, [0xD0000002])
    assert not any(a[1] for a in h.accesses)


def test_response_echoes_tag_and_command():
    """Each response carries its request's TAG and CMD as received, whatever the outcome (ok, checksum
    error, bad command, bus error), and the CRC covers them; a stalled frame still recovers."""
    h = Harness(frame_timeout=50)
    corrupted = bytearray(proto.encode_write(0x10, [7], tag=0x42))
    corrupted[-1] ^= 0x80
    body = bytes([0xFF, proto.CMD_RESERVED | 1]) + (0).to_bytes(4, "little")
    reserved = bytes([proto.REQUEST_SYNC]) + body + bytes([proto.crc8(body)])
    h.script = [("send", proto.encode_write(0x20, [11, 12], tag=0x00)), ("idle", 300),
                ("send", proto.encode_read(0x20, 2, tag=0xA5)), ("idle", 300),
                ("send", bytes(corrupted)), ("idle", 100),
                ("send", reserved), ("idle", 100),
                ("send", proto.encode_read(0x2E * 4, 3, tag=0x3C)), ("idle", 300),
                ("send", proto.encode_read(0x8, tag=0x77)[:4]), ("idle", 200),           # stalls: dropped
                ("send", proto.encode_read(0x8, tag=0x78))]
    h.run()
    frames = h.frames()
    assert [(f.tag, f.cmd, f.status, f.done, f.words) for f in frames] == [
        (0x00, proto.CMD_WRITE | 1, proto.STATUS_OK, 2, ()),
        (0xA5, 0x01, proto.STATUS_OK, 2, (11, 12)),
        (0x42, proto.CMD_WRITE, proto.STATUS_CHECKSUM_ERROR, 0, ()),
        (0xFF, proto.CMD_RESERVED | 1, proto.STATUS_BAD_COMMAND, 0, ()),
        (0x3C, 0x02, proto.STATUS_BUS_ERROR, 2, (0xD000002E, 0xD000002F)),
        (0x78, 0x00, proto.STATUS_OK, 1, (0xD0000002,)),
    ]
    for frame in frames:
        proto.check_answer(frame, frame.tag, frame.cmd)


def test_tag_echo_adds_no_cycles_per_byte():
    """With tx always ready, the response bytes leave back to back except the buffer fetches of DATA: the
    header (SYNC, TAG, CMD, STATUS, DONE) goes out one byte per cycle."""
    h = Harness()
    cycles = []

    async def timed_sink(ctx):
        tx, cycle = h.dut.tx, 0
        ctx.set(tx.ready, 1)
        while True:
            _, _, valid, payload = await ctx.tick().sample(tx.valid, tx.payload)
            cycle += 1
            if valid:
                h.rx_bytes.append(payload)
                cycles.append(cycle)

    h.sink = timed_sink
    h.script = [("send", proto.encode_read(0x4, 1, tag=0x5A))]
    h.run()
    [frame] = h.frames()
    assert (frame.tag, frame.status, frame.done) == (0x5A, proto.STATUS_OK, 1)
    header = cycles[:proto.RESPONSE_HEADER]
    assert header == list(range(header[0], header[0] + proto.RESPONSE_HEADER)), cycles
