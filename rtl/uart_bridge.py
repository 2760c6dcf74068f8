"""A UART-to-Wishbone bridge: the host link of the FPGA emulation (protocol: aimcgen/contract/uart_protocol.py).

`UartBridge(addr_width)` takes received bytes on `rx` (a stream, from rtl.uart.UartRx), sends response
bytes on `tx` (to rtl.uart.UartTx) and is a Wishbone classic initiator on `bus` (rtl.wishbone). The frame
format, the CRC and the status codes are defined once, in aimcgen/contract/uart_protocol.py; this module only
implements them. The host sends one request and waits for its response: bytes that arrive while a frame
executes or while its response goes out are dropped. The request's TAG and CMD bytes are kept in registers
and echoed in the response header (two more header states, one byte each, at the same pace as every other
byte), so a host can tell a late response from the answer it waits for.

Per request frame: the data bytes are received into a byte-wide MAX_BURST-word buffer (a block RAM) while
the CRC runs; after the CRC byte the command is checked (CRC, reserved bit, address alignment) and, if good,
the burst runs one classic cycle per word (`adr` = (ADDR >> 2) + i, `sel` all ones); a read stores the data
in the buffer. Then the response goes out, data bytes from the buffer. A word address beyond the bus's
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

from aimcgen.contract import uart_protocol as proto
from aimcgen.rtl.wishbone import WishboneSignature

DEFAULT_BUS_TIMEOUT = 1 << 20


def crc8_next(crc, byte):
    """The CRC-8 of aimcgen/contract/uart_protocol.py after one more byte, as an Amaranth expression (one cycle).

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
        # Byte-wide: frames are bytes, so bytes go in and out without a word shifter or a byte mux; only
        # the bus side assembles and splits words (four cycles each, hidden behind the UART's pace).
        # An asynchronous read port and a register rather than a synchronous port: Yosys merges them into
        # the block RAM's read port and, told no_rw_check (a byte read in the cycle it is written is never
        # used), builds no read-first emulation. A second register follows: an ECP5 block RAM without its
        # output register takes about 5.8 ns from clock to data, too slow to feed the CRC and the UART's
        # shift register in one cycle at 100 MHz. Reads therefore take two cycles (SETUP, FETCH/LATCH).
        m.submodules.buffer = buffer = Memory(shape=8, depth=proto.MAX_BURST * proto.WORD_BYTES, init=[],
                                              attrs={"no_rw_check": 1})
        rd_port = buffer.read_port(domain="comb")
        rd_ram = Signal(8)
        rd_data = Signal(8)
        m.d.sync += [rd_ram.eq(rd_port.data), rd_data.eq(rd_ram)]
        wr = buffer.write_port()

        crc = Signal(8)
        tag = Signal(8)
        cmd = Signal(8)
        word = Signal(32)
        byte_index = Signal(2)
        index = Signal(range(proto.MAX_BURST))      # word of the burst
        done = Signal(range(proto.MAX_BURST + 1))
        status = Signal(8)
        timer = Signal(range(max(self.frame_timeout, self.bus_timeout) + 1))
        last = Signal()
        bus_adr = Signal(self.addr_width)
        beyond = Signal()          # the word address is past the bus's range
        misaligned = Signal()      # ADDR is not a multiple of 4
        write = cmd[7]
        count_m1 = cmd[:6]
        m.d.comb += [
            rd_port.addr.eq(Cat(byte_index, index)), wr.addr.eq(Cat(byte_index, index)),
            last.eq(index == count_m1),
        ]
        shifted = Cat(word[8:], rd_data)            # the word moves out (and in) a byte at a time

        # The request straight from flip-flops (no gating: cyc and stb alone say when it counts).
        m.d.comb += [bus.we.eq(write), bus.adr.eq(bus_adr), bus.sel.eq((1 << len(bus.sel)) - 1),
                     bus.dat_w.eq(word)]

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

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += receiving.eq(1)
                with m.If(got & (byte == proto.REQUEST_SYNC)):
                    m.d.sync += crc.eq(0)
                    m.next = "TAG"
            with m.State("TAG"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += tag.eq(byte)
                    m.next = "CMD"
            with m.State("CMD"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [cmd.eq(byte), byte_index.eq(0), index.eq(0), beyond.eq(0)]
                    m.next = "ADDR"
            with m.State("ADDR"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += byte_index.eq(byte_index + 1)
                    self._address_byte(m, byte, byte_index, bus_adr, beyond, misaligned)
                    with m.If((byte_index == 3) & write):
                        m.next = "DATA"
                    with m.Elif(byte_index == 3):
                        m.next = "CRC"
            with m.State("DATA"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.comb += [wr.en.eq(1), wr.data.eq(byte)]
                    m.d.sync += byte_index.eq(byte_index + 1)
                    with m.If(byte_index == 3):
                        m.d.sync += index.eq(index + 1)
                        with m.If(last):
                            m.next = "CRC"
            with m.State("CRC"):
                m.d.comb += [self.busy.eq(1), receiving.eq(1)]
                self._frame_timeout(m, got, timer)
                with m.If(got):
                    m.d.sync += [index.eq(0), byte_index.eq(0), done.eq(0)]
                    with m.If(byte != crc):
                        m.d.sync += status.eq(proto.STATUS_CHECKSUM_ERROR)
                        m.next = "RESPOND"
                    with m.Elif((cmd & proto.CMD_RESERVED).any() | misaligned):
                        m.d.sync += status.eq(proto.STATUS_BAD_COMMAND)
                        m.next = "RESPOND"
                    with m.Else():
                        m.d.sync += status.eq(proto.STATUS_OK)
                        m.next = "SETUP"
            with m.State("SETUP"):                  # the read port fetches bytes 0 and 1 of `index` (two cycles)
                m.d.comb += self.busy.eq(1)
                m.d.sync += [timer.eq(0), byte_index.eq(byte_index + 1)]
                with m.If(beyond):
                    m.d.sync += status.eq(proto.STATUS_BUS_ERROR)
                    m.next = "RESPOND"
                with m.Elif(byte_index == 1):
                    m.next = "GATHER"
            with m.State("GATHER"):                 # bytes 0..3 into `word`: the bus starts from flip-flops
                m.d.comb += self.busy.eq(1)
                m.d.sync += [timer.eq(0), word.eq(shifted), byte_index.eq(byte_index + 1)]
                with m.If(byte_index == 1):         # the read address runs two bytes ahead of rd_data
                    m.next = "ACCESS"
            with m.State("ACCESS"):
                m.d.comb += [self.busy.eq(1), bus.cyc.eq(1), bus.stb.eq(1)]
                with m.If(bus.ack & ~write):
                    m.d.sync += [word.eq(bus.dat_r), byte_index.eq(0)]
                    m.next = "STORE"
                with m.Elif(bus.ack):
                    self._next_word(m, done, index, byte_index, bus_adr, beyond, last)
                with m.Elif(bus.err):
                    m.d.sync += status.eq(proto.STATUS_BUS_ERROR)
                    m.next = "RESPOND"
                with m.Elif(timer == self.bus_timeout - 1):
                    m.d.sync += status.eq(proto.STATUS_TIMEOUT)
                    m.next = "RESPOND"
            with m.State("STORE"):                  # the read word into the buffer, byte 0 first
                m.d.comb += [self.busy.eq(1), wr.en.eq(1), wr.data.eq(word[:8])]
                m.d.sync += [word.eq(shifted), byte_index.eq(byte_index + 1)]
                with m.If(byte_index == 3):
                    self._next_word(m, done, index, byte_index, bus_adr, beyond, last)
            with m.State("RESPOND"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(proto.RESPONSE_SYNC)]
                m.d.sync += [index.eq(0), byte_index.eq(0)]
                with m.If(tx.ready):
                    m.d.sync += crc.eq(0)           # the CRC starts after SYNC
                    m.next = "ECHO_TAG"
            with m.State("ECHO_TAG"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(tag)]
                with m.If(tx.ready):
                    m.next = "ECHO_CMD"
            with m.State("ECHO_CMD"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(cmd)]
                with m.If(tx.ready):
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
            with m.State("FETCH"):                  # the read port fetches the next byte
                m.d.comb += self.busy.eq(1)
                m.next = "LATCH"
            with m.State("LATCH"):                  # ... and the output register takes it
                m.d.comb += self.busy.eq(1)
                m.next = "BYTE"
            with m.State("BYTE"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(rd_data)]
                with m.If(tx.ready):
                    m.d.sync += byte_index.eq(byte_index + 1)
                    with m.If(byte_index == 3):
                        m.d.sync += index.eq(index + 1)
                        with m.If(index + 1 == done):
                            m.next = "CHECK"
                        with m.Else():
                            m.next = "FETCH"
                    with m.Else():
                        m.next = "FETCH"
            with m.State("CHECK"):
                m.d.comb += [self.busy.eq(1), tx.valid.eq(1), tx.payload.eq(crc)]
                with m.If(tx.ready):
                    m.d.sync += self.error.eq(status != proto.STATUS_OK)
                    m.next = "IDLE"
        return m

    def _address_byte(self, m, byte, byte_index, bus_adr, beyond, misaligned):
        """Byte k of ADDR: its bits go straight to the word address, the alignment and range flags."""
        with m.Switch(byte_index):
            for k in range(proto.ADDRESS_BYTES):
                with m.Case(k):
                    high = []
                    for b in range(8):
                        bit = 8 * k + b
                        if 2 <= bit < 2 + self.addr_width:
                            m.d.sync += bus_adr[bit - 2].eq(byte[b])
                        elif bit >= 2 + self.addr_width:
                            high.append(byte[b])
                    if high:
                        m.d.sync += beyond.eq(beyond | Cat(*high).any())
                    if k == 0:
                        m.d.sync += misaligned.eq(byte[:2].any())

    def _next_word(self, m, done, index, byte_index, bus_adr, beyond, last):
        """A word of the burst is done: count it, step the address, go on (from byte 0) or answer."""
        m.d.sync += [done.eq(done + 1), index.eq(index + 1), byte_index.eq(0),
                     Cat(bus_adr, beyond).eq(Cat(bus_adr, beyond) + 1)]
        with m.If(last):
            m.next = "RESPOND"
        with m.Else():
            m.next = "SETUP"

    def _frame_timeout(self, m, got, timer):
        """A frame stalled for frame_timeout cycles is dropped without a response (inside a receiving state)."""
        with m.If(~got & (timer >= self.frame_timeout - 1)):
            m.next = "IDLE"

