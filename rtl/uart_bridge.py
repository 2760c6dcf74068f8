"""A UART-to-Wishbone bridge: the host link of the FPGA emulation (protocol: rtl/uart_protocol.py).

`UartBridge(addr_width)` takes received bytes on `rx` (a stream, from rtl.uart.UartRx), sends response
bytes on `tx` (to rtl.uart.UartTx) and is a Wishbone classic initiator on `bus` (rtl.wishbone). The frame
format, the CRC and the status codes are defined once, in rtl/uart_protocol.py; this module only
implements them. The host sends one request and waits for its response: bytes that arrive while a frame
executes or while its response goes out are dropped.

Per request frame: the bytes are received into a MAX_BURST-word buffer (a block RAM) while the CRC runs;
after the CRC byte the command is checked (CRC, reserved bit, address alignment) and, if good, the burst
runs one classic cycle per word (`adr` = (ADDR >> 2) + i, `sel` all ones); a read stores the data in the
buffer. Then the response goes out, data words from the buffer. A word address beyond the bus's
`addr_width` bits answers a bus error without a bus cycle; a cycle that gets neither ack nor err within
`bus_timeout` cycles is dropped and answered STATUS_TIMEOUT. A frame stalled for `frame_timeout` cycles
between two bytes is dropped silently (the bridge goes back to hunting for SYNC).

Status outputs (for LEDs): `busy` is high from a frame's SYNC to the end of its response; `error` is high
from a response with a status other than ok until the next ok response.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.rtl import uart_protocol as proto
from aimcgen.rtl.wishbone import DATA_WIDTH, WishboneSignature

DEFAULT_BUS_TIMEOUT = 1 << 20


def crc8_next(crc, byte):
    """The CRC-8 of rtl/uart_protocol.py after one more byte, as an Amaranth expression (one cycle).

    The byte step is linear over GF(2) in v = crc ^ byte: output bit j is the XOR of the bits of v that
    flip it, taken from the protocol's own `crc8_update` applied to each single bit.
    """
    value = crc ^ byte
    columns = [proto.crc8_update(0, 1 << i) for i in range(8)]
    bits = []
    for j in range(8):
        taps = [value[i] for i in range(8) if columns[i] >> j & 1]
        bit = taps[0]
        for tap in taps[1:]:
            bit = bit ^ tap
        bits.append(bit)
    return Cat(*bits)


class UartBridge(wiring.Component):
    """UART bytes in/out, Wishbone classic initiator of `addr_width` word-address bits."""

    def __init__(self, addr_width: int, *, frame_timeout: int = 1 << 16, bus_timeout: int = DEFAULT_BUS_TIMEOUT):
        for name, value in (("frame_timeout", frame_timeout), ("bus_timeout", bus_timeout)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"UartBridge: {name} = {value!r}: must be an integer >= 2 (clock cycles)")
        if not 1 <= addr_width <= 30:
            raise ValueError(f"UartBridge: addr_width = {addr_width}: must be 1..30 (32-bit byte addresses)")
        self.addr_width, self.frame_timeout, self.bus_timeout = addr_width, frame_timeout, bus_timeout
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "bus": Out(WishboneSignature(addr_width)),
            "busy": Out(1),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        rx, tx, bus = self.rx, self.tx, self.bus
        m.submodules.buffer = buffer = Memory(shape=DATA_WIDTH, depth=proto.MAX_BURST, init=[])
        rd = buffer.read_port()
        wr = buffer.write_port()

        crc = Signal(8)
        cmd = Signal(8)
        addr = Signal(32)
        word = Signal(32)
        byte_index = Signal(2)
        index = Signal(range(proto.MAX_BURST))      # word of the burst: buffer address
        done = Signal(range(proto.MAX_BURST + 1))
        status = Signal(8)
        timer = Signal(range(max(self.frame_timeout, self.bus_timeout) + 1))
        last = Signal()
        bus_adr = Signal(self.addr_width)
        write = cmd[7]
        count_m1 = cmd[:6]
        m.d.comb += [rd.addr.eq(index), wr.addr.eq(index), last.eq(index == count_m1)]

        byte = rx.payload
        receiving = Signal()       # in IDLE..CRC; other bytes are dropped
        got = Signal()             # a byte of the frame arrives this cycle
        m.d.comb += [rx.ready.eq(1), got.eq(rx.valid & receiving)]
        with m.If(got):
            m.d.sync += timer.eq(0)
        with m.Else():
            m.d.sync += timer.eq(timer + 1)

        sent = Signal()            # the response byte on tx is taken this cycle (never while receiving)
        m.d.comb += sent.eq(tx.valid & tx.ready)
        with m.If(got | sent):     # one CRC unit for both directions
            m.d.sync += crc.eq(crc8_next(crc, Mux(receiving, byte, tx.payload)))

        # The word address: the bus's bits count up; `beyond` marks an address past the bus's range.
        beyond = Signal()

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += receiving.eq(1)
                with m.If(got & (byte == proto.REQUEST_SYNC)):
                    m.d.sync += crc.eq(0)
                    m.next = "CMD"
            with m.State("CMD"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [cmd.eq(byte), byte_index.eq(0), index.eq(0)]
                    m.next = "ADDR"
            with m.State("ADDR"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [addr.eq(Cat(addr[8:], byte)), byte_index.eq(byte_index + 1)]
                    with m.If((byte_index == 3) & write):
                        m.next = "DATA"
                    with m.Elif(byte_index == 3):
                        m.next = "CRC"
            with m.State("DATA"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [word.eq(Cat(word[8:], byte)), byte_index.eq(byte_index + 1)]
                    with m.If(byte_index == 3):
                        m.d.comb += [wr.en.eq(1), wr.data.eq(Cat(word[8:], byte))]
                        m.d.sync += index.eq(index + 1)
                        with m.If(last):
                            m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [index.eq(0), done.eq(0), timer.eq(0)]
                    with m.If(byte != crc):
                        m.d.sync += status.eq(proto.STATUS_CHECKSUM_ERROR)
                        m.next = "RESPOND"
                    with m.Elif((cmd & proto.CMD_RESERVED).any() | addr[:2].any()):
                        m.d.sync += status.eq(proto.STATUS_BAD_COMMAND)
                        m.next = "RESPOND"
                    with m.Else():
                        m.d.sync += [status.eq(proto.STATUS_OK), bus_adr.eq(addr[2:]),
                                     beyond.eq(addr[2 + self.addr_width:].any())]
                        m.next = "SETUP"
            with m.State("SETUP"):                  # the buffer's read port fetches word `index`
                m.d.comb += self.busy.eq(1)
                m.next = "LATCH"
            with m.State("LATCH"):                  # register the request: the bus starts from flip-flops
                m.d.comb += self.busy.eq(1)
                m.d.sync += [timer.eq(0), word.eq(rd.data)]
                with m.If(beyond):
                    m.d.sync += status.eq(proto.STATUS_BUS_ERROR)
                    m.next = "RESPOND"
                with m.Else():
                    m.next = "ACCESS"
            with m.State("ACCESS"):
                m.d.comb += [
                    self.busy.eq(1),
                    bus.cyc.eq(1), bus.stb.eq(1), bus.we.eq(write), bus.adr.eq(bus_adr),
                    bus.sel.eq((1 << len(bus.sel)) - 1), bus.dat_w.eq(word),
                ]
                with m.If(bus.ack):
                    m.d.comb += [wr.en.eq(~write), wr.data.eq(bus.dat_r)]
                    m.d.sync += [done.eq(done + 1), index.eq(index + 1),
                                 Cat(bus_adr, beyond).eq(Cat(bus_adr, beyond) + 1)]
                    with m.If(last):
                        m.next = "RESPOND"
                    with m.Else():
                        m.next = "SETUP"
                with m.Elif(bus.err):
                    m.d.sync += status.eq(proto.STATUS_BUS_ERROR)
                    m.next = "RESPOND"
                with m.Elif(timer == self.bus_timeout - 1):
                    m.d.sync += status.eq(proto.STATUS_TIMEOUT)
                    m.next = "RESPOND"
            with m.State("RESPOND"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(proto.RESPONSE_SYNC)]
                m.d.sync += [index.eq(0), byte_index.eq(0)]
                with m.If(tx.ready):
                    m.d.sync += crc.eq(0)           # the CRC starts after SYNC
                    m.next = "STATUS"
            with m.State("STATUS"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(status)]
                with m.If(tx.ready):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(done)]
                with m.If(tx.ready):
                    with m.If(~write & (done != 0)):
                        m.next = "FETCH"
                    with m.Else():
                        m.next = "CHECK"
            with m.State("FETCH"):                  # the read port fetches word `index`
                m.d.comb += self.busy.eq(1)
                m.next = "LOAD"
            with m.State("LOAD"):                   # and the word goes to a register (short timing paths)
                m.d.comb += self.busy.eq(1)
                m.d.sync += word.eq(rd.data)
                m.next = "WORD"
            with m.State("WORD"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(word.word_select(byte_index, 8))]
                with m.If(tx.ready):
                    m.d.sync += byte_index.eq(byte_index + 1)
                    with m.If(byte_index == 3):
                        m.d.sync += index.eq(index + 1)
                        with m.If(index + 1 == done):
                            m.next = "CHECK"
                        with m.Else():
                            m.next = "FETCH"
            with m.State("CHECK"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(crc)]
                with m.If(tx.ready):
                    m.d.sync += self.error.eq(status != proto.STATUS_OK)
                    m.next = "IDLE"
        return m

    def _frame_timeout(self, m, got, timer):
        """A frame stalled for frame_timeout cycles is dropped without a response (inside a receiving state)."""
        with m.If(~got & (timer >= self.frame_timeout - 1)):
            m.next = "IDLE"

