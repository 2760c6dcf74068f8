"""A Wishbone classic register bank generated from a `RegisterMap` (aimcgen/contract/register_map.py).

The map is the single description of the registers; this component turns it into hardware so that the
RTL, the JSON map, the docs and the C header cannot disagree. Ports are flat and named after the map,
`<register>_<field>` in lower case (e.g. `ctrl_start`, `errors_bus_error`):

  const  no port: the bank reads back the field's reset value
  ro     In(width): hardware drives the value software reads
  rw     Out(width, init=reset): the value software last wrote (byte lanes honoured through `sel`)
  wo     Out(width): the written bits for exactly one cycle (the cycle in which the bus sees ack), else 0
  w1c    Out(width, init=reset): the sticky flags; plus `<register>_<field>_set: In(width)`, whose 1 bits
         set flags every cycle (a set wins over a clear by software in the same cycle)

Windows are not stored here: each window `W` gets a request port the top connects to a memory, coefficient
registers or an engine, with the data shaped as the map's word format (signed or unsigned `width` bits):

  w_stb  Out(1)   a request is pending: held, with w_we/w_addr/w_wdata stable, until the target acks
  w_we   Out(1)   1 write, 0 read
  w_addr Out      word index within the window (0..depth-1)
  w_wdata Out     write data (the bus word, checked to fit the word format)
  w_rdata In      read data, sampled when w_ack is high (sign- or zero-extended to 32 bits on the bus)
  w_ack  In(1)    the target took the write / has the read data; may be high in the first stb cycle
                  (combinational memory, register) or later (synchronous memory, busy engine)

w_we, w_addr and w_wdata follow the bus in every cycle (no gating logic): they count only with w_stb.

Timing: a register access answers ack or err in the clock cycle after the request; a window access in the
cycle after the window's ack. `err` answers addresses that decode to nothing (including words between a
window's depth and its span), writes to registers without writable fields, writes to read-only windows,
reads of write-only windows, window writes that are not whole words (sel not all ones) and window writes
whose value does not fit the word format. Every err pulses `bus_error` for one cycle (the top sets a sticky
error flag with it). A cycle that ends (cyc low) before its answer is abandoned; the window port sees its
stb fall without an ack.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.register_map import RegisterMap, Window
from aimcgen.rtl.wishbone import DATA_WIDTH, GRANULARITY, WishboneSignature

WINDOW_PORTS = ("stb", "we", "addr", "wdata", "rdata", "ack")


def port_name(register: str, field: str) -> str:
    return f"{register}_{field}".lower()


def window_shape(window: Window):
    return signed(window.width) if window.signed else unsigned(window.width)


class RegisterBank(wiring.Component):
    """Wishbone classic target for the plain registers of `regmap`; forwards window accesses (see above)."""

    def __init__(self, regmap: RegisterMap):
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, not {type(regmap).__name__}")
        self.regmap = regmap
        members = {"bus": In(WishboneSignature(regmap.addr_width)), "bus_error": Out(1)}
        owners = {"bus": "the bus", "bus_error": "the bus error pulse"}

        def add(name, member, owner):
            if name in owners:
                raise ValueError(f"register map {regmap.name}: port {name} of {owner} clashes with the port "
                                 f"of {owners[name]}; rename one of them")
            owners[name] = owner
            members[name] = member

        for reg in regmap.registers:
            for f in reg.fields:
                name, owner = port_name(reg.name, f.name), f"field {reg.name}.{f.name}"
                if f.access == "ro":
                    add(name, In(f.width), owner)
                elif f.access in ("rw", "w1c"):
                    add(name, Out(f.width, init=f.reset), owner)
                elif f.access == "wo":
                    add(name, Out(f.width), owner)
                if f.access == "w1c":
                    add(name + "_set", In(f.width), owner)
        for w in regmap.windows:
            shape, owner = window_shape(w), f"window {w.name}"
            for port, member in zip(WINDOW_PORTS, (Out(1), Out(1), Out(range(max(2, w.depth))), Out(shape),
                                                   In(shape), In(1))):
                add(f"{w.name.lower()}_{port}", member, owner)
        super().__init__(members)

    def window_port(self, window: str, port: str):
        """`bank.window_port("SCALE", "stb")` is `bank.scale_stb`."""
        return getattr(self, f"{window.lower()}_{port}")

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        ack, err = Signal(), Signal()
        dat_r = Signal(DATA_WIDTH)
        m.d.comb += [bus.ack.eq(ack), bus.err.eq(err), bus.dat_r.eq(dat_r), self.bus_error.eq(err)]
        m.d.sync += [ack.eq(0), err.eq(0)]

        # A request is served once: in the cycle that shows its answer it is masked.
        request = Signal()
        m.d.comb += request.eq(bus.cyc & bus.stb & ~ack & ~err)
        lanes = Signal(DATA_WIDTH)
        m.d.comb += lanes.eq(Cat(*(bus.sel[i].replicate(GRANULARITY) for i in range(DATA_WIDTH // GRANULARITY))))
        written = Signal(DATA_WIDTH)
        m.d.comb += written.eq(bus.dat_w & lanes)

        # Per-cycle behaviour of pulses and sticky flags; the bus decode below overrides it.
        clears = {}
        for reg in self.regmap.registers:
            for f in reg.fields:
                port = getattr(self, port_name(reg.name, f.name), None)
                if f.access == "wo":
                    m.d.sync += port.eq(0)
                elif f.access == "w1c":
                    clears[reg.name, f.name] = clear = Signal(f.width, name=f"{port_name(reg.name, f.name)}_clear")
                    m.d.sync += port.eq((port & ~clear) | getattr(self, port_name(reg.name, f.name) + "_set"))

        # Read data is sampled every cycle from the addressed register or window: it only counts in the
        # cycle after a request (with ack), so it needs neither an enable nor a hold.
        readback = Signal(DATA_WIDTH)
        with m.Switch(bus.adr):
            for reg in self.regmap.registers:
                with m.Case(reg.address >> 2):
                    m.d.comb += readback.eq(self._register_word(reg))
            for w in self.regmap.windows:
                with m.Case(self._window_pattern(w)):
                    m.d.comb += readback.eq(self.window_port(w.name, "rdata"))
        m.d.sync += dat_r.eq(readback)
        # Window requests carry the bus's address, direction and data as they are; `stb` qualifies them.
        for w in self.regmap.windows:
            m.d.comb += [self.window_port(w.name, "we").eq(bus.we),
                         self.window_port(w.name, "addr").eq(bus.adr[:w.index_bits]),
                         self.window_port(w.name, "wdata").eq(bus.dat_w)]

        with m.If(request):
            with m.Switch(bus.adr):
                for reg in self.regmap.registers:
                    with m.Case(reg.address >> 2):
                        self._register_access(m, reg, written, lanes, clears, ack, err)
                for w in self.regmap.windows:
                    with m.Case(self._window_pattern(w)):
                        self._window_access(m, w, ack, err)
                with m.Default():
                    m.d.sync += err.eq(1)
        return m

    def _register_word(self, reg):
        word = Const(0, DATA_WIDTH)
        for f in reg.fields:
            if f.access == "const":
                value = Const(f.reset, f.width)
            elif f.access in ("ro", "rw", "w1c"):
                value = getattr(self, port_name(reg.name, f.name))
            else:
                continue
            word = word | (value.as_unsigned() << f.offset_bit)
        return word

    def _register_access(self, m, reg, written, lanes, clears, ack, err):
        bus = self.bus
        with m.If(~bus.we):
            m.d.sync += ack.eq(1)
        with m.Else():
            if not reg.writable:
                m.d.sync += err.eq(1)
                return
            m.d.sync += ack.eq(1)
            for f in reg.fields:
                port = getattr(self, port_name(reg.name, f.name), None)
                bits = written[f.offset_bit:f.offset_bit + f.width]
                if f.access == "rw":
                    keep = ~lanes[f.offset_bit:f.offset_bit + f.width]
                    m.d.sync += port.eq((port & keep) | bits)
                elif f.access == "wo":
                    m.d.sync += port.eq(bits)
                elif f.access == "w1c":
                    m.d.comb += clears[reg.name, f.name].eq(bits)

    def _window_pattern(self, w: Window) -> str:
        width = self.regmap.addr_width
        if w.index_bits >= width:
            return "-" * width
        base = (w.address >> 2) >> w.index_bits
        return format(base, f"0{width - w.index_bits}b") + "-" * w.index_bits

    def _window_access(self, m, w: Window, ack, err):
        bus = self.bus
        stb, wack = self.window_port(w.name, "stb"), self.window_port(w.name, "ack")
        index = bus.adr[:w.index_bits]
        # A write must carry a whole word whose value the word format holds.
        if w.width == DATA_WIDTH:
            fits = Const(1)
        elif w.signed:
            top = bus.dat_w[w.width - 1:]
            fits = (top == 0) | (top == (1 << len(top)) - 1)
        else:
            fits = bus.dat_w[w.width:] == 0
        whole = bus.sel == (1 << len(bus.sel)) - 1
        ok = Signal(name=f"{w.name.lower()}_request_ok")
        if w.access == "ro":
            m.d.comb += ok.eq(~bus.we)
        elif w.access == "wo":
            m.d.comb += ok.eq(bus.we & whole & fits)
        else:
            m.d.comb += ok.eq(~bus.we | (whole & fits))
        in_range = (index < w.depth) if w.depth < (1 << w.index_bits) else Const(1)
        with m.If(ok & in_range):
            m.d.comb += stb.eq(1)
            with m.If(wack):
                m.d.sync += ack.eq(1)
        with m.Else():
            m.d.sync += err.eq(1)
