"""A cocotb Wishbone B4 classic master for the generated top, with register access by name.

The top's bus is a flattened Amaranth interface: ports `bus__cyc`, `bus__stb`, `bus__we`, `bus__adr` (WORD
address), `bus__dat_w`, `bus__sel`, `bus__ack`, `bus__err`, `bus__dat_r` (rtl/wishbone.py).

`WishboneMaster(dut)` does single classic cycles by byte address: it raises cyc/stb with adr, we, dat_w and
sel right after a clock edge, samples ack/err/dat_r once they have settled before each following edge
(ReadOnly) and drops cyc/stb right after the edge at which ack or err was seen. `read`/`write` return the
data or raise `WishboneError` (err answered; the message names the access and, when a register map is
known, the register or window at that address) or `WishboneTimeout` (no answer within `timeout_cycles`).
Accesses are serialized by a lock, so several coroutines may share one master.

`RegisterAccess(master, regmap)` (or `RegisterAccess.from_json(master, "build/x/regmap.json")`) gives
firmware-style access by name, from the register map JSON that `aimcgen generate` writes:

    await regs.write("CONFIG", out_stream=1)      # fields by name; other rw fields keep their value
    await regs.write("ERRORS", 0b1000)            # or a whole word
    busy = await regs.read_field("STATUS", "busy")
    fields = await regs.read_fields("STATUS")     # {"busy": 0, "in_free": 1, "prog_busy": 0}
    await regs.write_window("WEIGHTS", index, -3) # signed words are sign-extended to 32 bits
    value = await regs.read_window("OUTPUT", 5)   # and read back as signed Python ints

Field values and window words are checked against their widths before the bus sees them (ValueError),
unless `check=False` (benches that test the hardware's own checks pass it). Encoding and decoding follow
aimcgen/contract/register_access.py, the rule the host driver uses too.
"""

from __future__ import annotations

from typing import Any

from aimcgen.contract.register_access import DATA_MASK, RegisterCodec, decode_field, keep_mask
from aimcgen.contract.register_map import Register, RegisterMap, Window
from aimcgen.sim.verify.cocotb_macro import read_unsigned
from aimcgen.sim.verify.wishbone_master import WishboneError

__all__ = ["DATA_MASK", "RegisterAccess", "WishboneError", "WishboneMaster", "WishboneTimeout"]


class WishboneTimeout(WishboneError):
    """The target answered neither ack nor err in time."""


class WishboneMaster:
    """Wishbone classic single accesses on the ports `<prefix>__*` of `dut`; see the module docstring.

    `describe(address) -> str` (e.g. a RegisterMap-aware `RegisterAccess.describe`) names addresses in
    error messages. `accesses`, `errors` and `busy_cycles` count what the master did.
    """

    def __init__(self, dut, *, clock=None, prefix: str = "bus", timeout_cycles: int = 100_000, describe=None):
        from cocotb.triggers import Lock

        self.dut = dut
        self.clock = dut.clk if clock is None else clock

        def port(name):
            handle = getattr(dut, f"{prefix}__{name}", None)
            if handle is None:
                raise AttributeError(f"{dut._name} has no port {prefix}__{name}: is `{prefix}` a Wishbone bus?")
            return handle

        self.cyc, self.stb, self.we, self.adr = port("cyc"), port("stb"), port("we"), port("adr")
        self.dat_w, self.sel, self.ack, self.err, self.dat_r = (port("dat_w"), port("sel"), port("ack"),
                                                                port("err"), port("dat_r"))
        self.addr_width = len(self.adr)
        self.sel_width = len(self.sel)
        self.timeout_cycles = timeout_cycles
        self.describe = describe or (lambda address: f"address {address:#x}")
        self.accesses = self.errors = self.busy_cycles = 0
        self._lock = Lock()
        for handle in (self.cyc, self.stb, self.we, self.adr, self.dat_w, self.sel):
            handle.value = 0

    async def access(self, address: int, data: int | None = None, *, sel: int | None = None) -> int | None:
        """One classic cycle at byte `address`: a write when `data` is given (returns None), else a read."""
        from cocotb.triggers import ReadOnly, RisingEdge

        write = data is not None
        if address % 4:
            raise ValueError(f"Wishbone access to {self.describe(address)}: byte address {address:#x} is not "
                             f"word aligned")
        word = address >> 2
        if word >> self.addr_width:
            raise ValueError(f"Wishbone access to byte address {address:#x}: beyond the {self.addr_width}-bit "
                             f"word address bus")
        sel = (1 << self.sel_width) - 1 if sel is None else sel
        async with self._lock:
            self.cyc.value = 1
            self.stb.value = 1
            self.we.value = int(write)
            self.adr.value = word
            self.dat_w.value = (data & DATA_MASK) if write else 0
            self.sel.value = sel
            for _ in range(self.timeout_cycles):
                await ReadOnly()
                ack, err = read_unsigned(self.ack), read_unsigned(self.err)
                rdata = read_unsigned(self.dat_r) if ack and not write else None
                await RisingEdge(self.clock)
                self.busy_cycles += 1
                if ack or err:
                    break
            else:
                ack = err = 0
            self.cyc.value = 0
            self.stb.value = 0
            self.we.value = 0
            self.accesses += 1
        what = f"{'write of ' + format(data & DATA_MASK, '#x') + ' to' if write else 'read of'} " \
               f"{self.describe(address)}"
        if err:
            self.errors += 1
            raise WishboneError(f"Wishbone {what} answered err", address, write)
        if not ack:
            raise WishboneTimeout(f"Wishbone {what}: neither ack nor err within {self.timeout_cycles} cycles",
                                  address, write)
        return None if write else rdata

    async def read(self, address: int) -> int:
        return await self.access(address)

    async def write(self, address: int, data: int, *, sel: int | None = None) -> None:
        await self.access(address, data, sel=sel)


# ----------------------------------------------------------------------------- access by name

class RegisterAccess:
    """Registers, fields and windows of `regmap` by name through `master` (see the module docstring)."""

    def __init__(self, master: WishboneMaster, regmap: RegisterMap):
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, not {type(regmap).__name__}")
        self.master, self.map = master, regmap
        self.codec = RegisterCodec(regmap)
        if master.addr_width != regmap.addr_width:
            raise ValueError(f"register map {regmap.name} has a {regmap.addr_width}-bit word address, the "
                             f"bus of {master.dut._name} {master.addr_width} bits: map and Verilog disagree")
        master.describe = self.describe

    @classmethod
    def from_json(cls, master: WishboneMaster, source) -> "RegisterAccess":
        """From the JSON text or the path of a regmap.json file."""
        from pathlib import Path

        text = source
        if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("{")):
            text = Path(source).read_text()
        return cls(master, RegisterMap.from_json(text))

    # -- names and addresses
    def register(self, name: str) -> Register:
        return self.map.register(name)

    def window(self, name: str) -> Window:
        return self.map.window(name)

    def window_address(self, name: str, index: int, *, check: bool = True) -> int:
        return self.codec.window_address(name, index, check=check)

    def describe(self, address: int) -> str:
        """'register CTRL (0x20)', 'window WEIGHTS[5] (0x414)', 'window INPUT word 17 beyond its depth 16
        (0x1c4)' or 'unmapped address 0x48'."""
        found = self.codec.locate(address)
        if found is None:
            return f"unmapped address {address:#x}"
        item, index = found
        if isinstance(item, Register):
            kinds = sorted({f.access for f in item.fields})
            return f"register {item.name} ({address:#x}, {'/'.join(kinds)})"
        if index < item.depth:
            return f"window {item.name}[{index}] ({address:#x}, {item.access})"
        return f"window {item.name} word {index} beyond its depth {item.depth} ({address:#x})"

    # -- registers
    async def read(self, name: str) -> int:
        """The whole 32-bit word of register `name`."""
        return await self.master.read(self.register(name).address)

    async def read_fields(self, name: str) -> dict[str, int]:
        return self.codec.decode_fields(name, await self.read(name))

    async def read_field(self, name: str, field: str) -> int:
        f = self.register(name).field(field)
        return decode_field(f, await self.read(name))

    def encode(self, name: str, fields: dict[str, int], *, base: int = 0, check: bool = True) -> int:
        """The word with `fields` (by name) placed into `base`."""
        return self.codec.encode_fields(name, fields, base, check=check)

    async def write(self, name: str, value: int | None = None, *, check: bool = True, **fields: int) -> int:
        """Write register `name`: a whole word `value`, or `fields` by name. With fields, rw fields that are
        not named keep their current value (read-modify-write); wo and w1c fields not named write 0 (no
        command, no clear). Returns the word written."""
        reg = self.register(name)
        if value is not None and fields:
            raise TypeError(f"register {name}: give a whole word or fields, not both")
        if value is None:
            keep = keep_mask(reg, fields)
            base = await self.master.read(reg.address) & keep if keep else 0
            value = self.encode(name, fields, base=base, check=check)
        elif check and not 0 <= value <= DATA_MASK:
            raise ValueError(f"register {name}: word {value} does not fit 32 bits")
        await self.master.write(reg.address, value & DATA_MASK)
        return value & DATA_MASK

    # -- windows
    def encode_word(self, name: str, value: int, *, check: bool = True) -> int:
        return self.codec.encode_word(name, value, check=check)

    def decode_word(self, name: str, raw: int) -> int:
        return self.codec.decode_word(name, raw)

    async def write_window(self, name: str, index: int, value: int, *, check: bool = True,
                           sel: int | None = None) -> None:
        await self.master.write(self.window_address(name, index, check=check),
                                self.encode_word(name, value, check=check), sel=sel)

    async def read_window(self, name: str, index: int, *, check: bool = True) -> int:
        raw = await self.master.read(self.window_address(name, index, check=check))
        return self.decode_word(name, raw)

    # -- helpers
    async def poll(self, name: str, field: str, until: Any, *, max_reads: int = 1_000_000) -> int:
        """Read `name.field` until it equals `until` (or `until(value)` is true); returns the reads made."""
        test = until if callable(until) else (lambda v: v == until)
        for n in range(1, max_reads + 1):
            if test(await self.read_field(name, field)):
                return n
        raise WishboneTimeout(f"{name}.{field} did not reach {until!r} in {max_reads} reads",
                              self.register(name).address, False)
