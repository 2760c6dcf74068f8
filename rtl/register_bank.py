"""A Wishbone classic register bank built from a `RegisterMap`.

Ports are named `<register>_<field>` in lower case: `ro` fields are inputs, `rw` fields outputs holding the
software value, `wo` fields outputs that carry the written bits for the one cycle of the write, `w1c` fields
outputs plus a `<register>_<field>_set` input that sets bits (set wins over a clear in the same cycle).
`const` fields are constants. Windows are forwarded, one port group per window `<window>_{stb, we, addr,
wdata, rdata, ack}`: the bank holds stb until the window answers ack (a memory can answer at once, an engine
when it accepts), then acknowledges the bus. Every access answers ack or err one cycle after the request
(longer for a window that waits); err for unmapped addresses, writes to read-only registers or windows,
and reads of write-only windows, pulsing `bus_error`.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.rtl.register_map import RegisterMap
from aimcgen.rtl.wishbone import DATA_WIDTH, WishboneSignature


def port_name(register: str, field: str) -> str:
    return f"{register}_{field}".lower()


class RegisterBank(wiring.Component):
    def __init__(self, regmap: RegisterMap):
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, not {type(regmap).__name__}")
        self.regmap = regmap
        members = {"bus": In(WishboneSignature(regmap.addr_width)), "bus_error": Out(1)}
        for reg in regmap.registers:
            for f in reg.fields:
                name = port_name(reg.name, f.name)
                if f.access == "ro":
                    members[name] = In(f.width)
                elif f.access in ("rw", "wo"):
                    members[name] = Out(f.width, init=f.reset if f.access == "rw" else 0)
                elif f.access == "w1c":
                    members[name] = Out(f.width, init=f.reset)
                    members[name + "_set"] = In(f.width)
        for w in regmap.windows:
            prefix = w.name.lower()
            members.update({
                f"{prefix}_stb": Out(1), f"{prefix}_we": Out(1),
                f"{prefix}_addr": Out(range(max(2, w.span // 4))),
                f"{prefix}_wdata": Out(DATA_WIDTH), f"{prefix}_rdata": In(DATA_WIDTH), f"{prefix}_ack": In(1),
            })
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        ack, err = Signal(), Signal()
        dat_r = Signal(DATA_WIDTH)
        m.d.comb += [bus.ack.eq(ack), bus.err.eq(err), bus.dat_r.eq(dat_r), self.bus_error.eq(err)]
        m.d.sync += [ack.eq(0), err.eq(0)]
        request = Signal()
        m.d.comb += request.eq(bus.cyc & bus.stb & ~ack & ~err)
        byte_mask = Cat(*(bus.sel[i].replicate(8) for i in range(DATA_WIDTH // 8)))
        written = bus.dat_w & byte_mask

        # Hardware-side updates of w1c fields happen every cycle.
        for reg in self.regmap.registers:
            for f in reg.fields:
                if f.access == "w1c":
                    value = getattr(self, port_name(reg.name, f.name))
                    set_ = getattr(self, port_name(reg.name, f.name) + "_set")
                    clear = Signal(f.width, name=f"{port_name(reg.name, f.name)}_clear")
                    with m.If(request & bus.we & (bus.adr == reg.address >> 2)):
                        m.d.comb += clear.eq(written[f.lsb:f.lsb + f.width])
                    m.d.sync += value.eq((value & ~clear) | set_)

        with m.If(request):
            with m.Switch(bus.adr):
                for reg in self.regmap.registers:
                    with m.Case(reg.address >> 2):
                        self._register_access(m, reg, written, ack, err, dat_r)
                for w in self.regmap.windows:
                    with m.Case(self._window_pattern(w)):
                        self._window_access(m, w, ack, err, dat_r)
                with m.Default():
                    m.d.sync += err.eq(1)
        return m

    def _register_access(self, m, reg, written, ack, err, dat_r):
        bus = self.bus
        writable = [f for f in reg.fields if f.access in ("rw", "wo", "w1c")]
        readback = Const(0, DATA_WIDTH)
        parts = []
        for f in reg.fields:
            port = getattr(self, port_name(reg.name, f.name), None)
            if f.access == "const":
                parts.append((f, Const(f.reset, f.width)))
            elif f.access in ("ro", "rw", "w1c"):
                parts.append((f, port))
        for f, value in parts:
            readback = readback | (value.as_unsigned() << f.lsb)
        with m.If(bus.we & (not writable)):
            m.d.sync += err.eq(1)
        with m.Elif(bus.we):
            for f in writable:
                port = getattr(self, port_name(reg.name, f.name))
                bits = written[f.lsb:f.lsb + f.width]
                if f.access == "rw":
                    keep = ~self.bus.sel
                    mask = Cat(*(keep[i].replicate(8) for i in range(DATA_WIDTH // 8)))[f.lsb:f.lsb + f.width]
                    m.d.sync += port.eq((port & mask) | bits)
                elif f.access == "wo":
                    m.d.comb += port.eq(bits)
            m.d.sync += ack.eq(1)
        with m.Else():
            m.d.sync += [dat_r.eq(readback), ack.eq(1)]

    def _window_pattern(self, w) -> str:
        width = self.regmap.addr_width
        index_bits = (w.span // 4 - 1).bit_length()
        base = format(w.address >> 2 >> index_bits, f"0{width - index_bits}b") if width > index_bits else ""
        return base + "-" * index_bits

    def _window_access(self, m, w, ack, err, dat_r):
        bus = self.bus
        prefix = w.name.lower()
        stb, we, addr = (getattr(self, f"{prefix}_{n}") for n in ("stb", "we", "addr"))
        wdata, rdata, wack = (getattr(self, f"{prefix}_{n}") for n in ("wdata", "rdata", "ack"))
        index_bits = (w.span // 4 - 1).bit_length()
        index = bus.adr[:index_bits] if index_bits else Const(0, 1)
        allowed = (bus.we & int(w.access != "ro")) | (~bus.we & int(w.access != "wo"))
        with m.If((index >= w.depth) | ~allowed):
            m.d.sync += err.eq(1)
        with m.Else():
            m.d.comb += [stb.eq(1), we.eq(bus.we), addr.eq(index), wdata.eq(bus.dat_w)]
            with m.If(wack):
                m.d.sync += [ack.eq(1), dat_r.eq(rdata)]
