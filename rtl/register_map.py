"""Register maps as data: the single description behind the register bank RTL, the JSON map, docs and C.

A map has registers (32-bit words of named fields with an access kind) and windows (word arrays that the
bank forwards to memories or engines, e.g. per-column coefficients). Addresses are byte addresses; the bus
is 32-bit word addressed (Wishbone `adr` = byte address >> 2).

Access kinds: const (a read-only constant, e.g. a design parameter), ro (hardware drives it), rw (software
state), wo (a write pulses the written bits for one cycle; reads 0), w1c (sticky bits set by hardware,
cleared by writing 1).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

ACCESS_KINDS = ("const", "ro", "rw", "wo", "w1c")
WINDOW_ACCESS = ("ro", "rw", "wo")
SCHEMA = "aimcgen-register-map/1"


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    access: str
    reset: int = 0
    doc: str = ""

    @property
    def mask(self) -> int:
        return ((1 << self.width) - 1) << self.lsb


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    fields: tuple[Field, ...]
    doc: str = ""

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


@dataclass(frozen=True)
class Window:
    """`depth` words at `address`; word i holds an integer of `width` bits (sign-extended if `signed`)."""
    name: str
    address: int
    depth: int
    access: str
    width: int = 32
    signed: bool = False
    doc: str = ""

    @property
    def span(self) -> int:
        """Bytes the window decodes: depth words rounded up to a power of two (cheap address decode)."""
        return 4 * (1 << max(0, (self.depth - 1).bit_length()))


@dataclass(frozen=True)
class RegisterMap:
    name: str
    registers: tuple[Register, ...]
    windows: tuple[Window, ...] = field(default=())
    doc: str = ""

    def __post_init__(self):
        names = [r.name for r in self.registers] + [w.name for w in self.windows]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"register map {self.name}: duplicate names {sorted(dup)}")
        spans = []
        for r in self.registers:
            if r.address % 4:
                raise ValueError(f"register {r.name}: address {r.address:#x} is not word aligned")
            used = 0
            for f in r.fields:
                if f.access not in ACCESS_KINDS:
                    raise ValueError(f"{r.name}.{f.name}: access {f.access!r} not one of {ACCESS_KINDS}")
                if f.width < 1 or f.lsb < 0 or f.lsb + f.width > 32:
                    raise ValueError(f"{r.name}.{f.name}: bits {f.lsb}..{f.lsb + f.width - 1} outside 0..31")
                if used & f.mask:
                    raise ValueError(f"{r.name}.{f.name}: overlaps another field")
                if not 0 <= f.reset < (1 << f.width):
                    raise ValueError(f"{r.name}.{f.name}: reset {f.reset} does not fit {f.width} bits")
                used |= f.mask
            spans.append((r.address, r.address + 4, r.name))
        for w in self.windows:
            if w.access not in WINDOW_ACCESS:
                raise ValueError(f"window {w.name}: access {w.access!r} not one of {WINDOW_ACCESS}")
            if w.depth < 1 or not 1 <= w.width <= 32:
                raise ValueError(f"window {w.name}: needs depth >= 1 and width 1..32")
            if w.address % w.span:
                raise ValueError(f"window {w.name}: address {w.address:#x} not aligned to its span "
                                 f"{w.span:#x}")
            spans.append((w.address, w.address + w.span, w.name))
        spans.sort()
        for (a0, a1, n0), (b0, b1, n1) in zip(spans, spans[1:]):
            if b0 < a1:
                raise ValueError(f"register map {self.name}: {n0} ({a0:#x}..{a1 - 1:#x}) overlaps {n1} "
                                 f"({b0:#x}..{b1 - 1:#x})")

    @property
    def size(self) -> int:
        """Bytes of address space the map decodes (a power of two)."""
        end = max([r.address + 4 for r in self.registers] + [w.address + w.span for w in self.windows])
        return 1 << max(2, (end - 1).bit_length())

    @property
    def addr_width(self) -> int:
        """Wishbone word-address bits."""
        return max(1, self.size.bit_length() - 1 - 2)

    def register(self, name: str) -> Register:
        return next(r for r in self.registers if r.name == name)

    def window(self, name: str) -> Window:
        return next(w for w in self.windows if w.name == name)

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "doc": self.doc,
            "size": self.size,
            "data_width": 32,
            "addressing": "byte addresses; the Wishbone bus is 32-bit word addressed (adr = address >> 2)",
            "registers": [{
                "name": r.name, "address": r.address, "doc": r.doc,
                "fields": [{**asdict(f), "mask": f.mask} for f in r.fields],
            } for r in self.registers],
            "windows": [{**asdict(w), "span": w.span} for w in self.windows],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @staticmethod
    def from_dict(d: dict) -> "RegisterMap":
        if d.get("schema") != SCHEMA:
            raise ValueError(f"register map: schema {d.get('schema')!r}, expected {SCHEMA!r}")
        registers = tuple(Register(r["name"], r["address"], tuple(
            Field(f["name"], f["lsb"], f["width"], f["access"], f["reset"], f["doc"]) for f in r["fields"]),
            r["doc"]) for r in d["registers"])
        windows = tuple(Window(w["name"], w["address"], w["depth"], w["access"], w["width"], w["signed"],
                               w["doc"]) for w in d["windows"])
        return RegisterMap(d["name"], registers, windows, d["doc"])

    @staticmethod
    def from_json(text: str) -> "RegisterMap":
        return RegisterMap.from_dict(json.loads(text))

    def to_markdown(self) -> str:
        """A human-readable register document."""
        lines = [f"# Register map: {self.name}", "", self.doc, "",
                 "Byte addresses; 32-bit registers; the Wishbone bus is word addressed (adr = address >> 2).",
                 "", "| address | register | field | bits | access | reset | description |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.registers:
            lines.append(f"| {r.address:#06x} | {r.name} | | | | | {r.doc} |")
            for f in r.fields:
                bits = f"{f.lsb + f.width - 1}:{f.lsb}" if f.width > 1 else f"{f.lsb}"
                lines.append(f"| | | {f.name} | {bits} | {f.access} | {f.reset:#x} | {f.doc} |")
        lines += ["", "| address | window | words | access | word format | description |", "|---|---|---|---|---|---|"]
        for w in self.windows:
            fmt = f"{'signed' if w.signed else 'unsigned'} {w.width}-bit"
            lines.append(f"| {w.address:#06x} | {w.name} | {w.depth} | {w.access} | {fmt} | {w.doc} |")
        return "\n".join(lines) + "\n"
