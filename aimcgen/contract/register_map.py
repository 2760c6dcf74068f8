"""Register maps as data: the single description behind the register bank RTL, the JSON map, docs and C.

Plain Python (no Amaranth), so documentation and firmware generators can use it without the HDL. A map has
registers (32-bit words of named fields) and windows (word arrays that the bank forwards to memories or
engines: per-column coefficients, input and output vectors, weight programming).

Addresses are byte addresses; registers are 32-bit words at word-aligned addresses. The Wishbone bus is
word addressed: `adr` = byte address >> 2, and `RegisterMap.addr_width` is the number of `adr` bits.

Field access kinds (what software sees; the register bank gives each a port, see rtl/register_bank.py):
  const  read-only constant (a design parameter): reads `reset`; no port
  ro     read-only, driven by hardware through an input port; writes are ignored (err if nothing else in
         the register is writable)
  rw     software state: reads back what was written, drives an output port; starts at `reset`
  wo     write-only command: a write pulses the written bits on an output port for one cycle; reads 0
  w1c    sticky flags: hardware sets bits through a set input, software clears them by writing 1
Window access kinds: ro, rw, wo (whole words; the word format is `width` bits, `signed` or not).

Word format of a window: each word holds one `width`-bit integer in its low bits. A read returns it sign-
(`signed`) or zero-extended to 32 bits. A write must carry all four byte lanes and a value the format holds,
checked on the whole 32-bit bus word: signed, bits 31..width-1 all equal (the value lies in
-2^(width-1)..2^(width-1)-1); unsigned, bits 31..width all zero; any other write answers err (a bus error)
and changes nothing. The window's doc says what its target does with a value the format holds but the
datapath does not (e.g. the code -2^(width-1) of a sign-magnitude input or weight).

Window layouts (`Window.layout`): how the words map onto the data.
  vector  VectorLayout(length): word i holds element i, i = 0..length-1; length == depth
  matrix  MatrixLayout(rows, cols, row_stride): word row * row_stride + col holds element (row, col),
          row = 0..rows-1, col = 0..cols-1; cols <= row_stride and depth == rows * row_stride, so the words
          with col >= cols in each row are padding (the window's doc says how they answer)

A window of `depth` words decodes a power-of-two span (depth rounded up) aligned to that span, so the
decoder compares only the upper address bits; words between depth and the span answer err.

JSON schema `aimcgen-register-map/1` (`RegisterMap.to_json`; every address in bytes, every number an
integer). The window key "layout" was added to schema /1 without a version bump: readers that predate it
ignore it, and `from_json` of a document without it takes a vector of `depth` elements:
  {"schema": "aimcgen-register-map/1", "name": str, "doc": str,
   "data_width": 32, "addr_width": int (Wishbone word-address bits), "size": int (bytes decoded),
   "addressing": str (the rule above, for people),
   "registers": [{"name": str, "address": int, "doc": str,
                  "fields": [{"name": str, "shift": int, "width": int, "mask": int (mask << shift
                              already applied: the bits of the field within the word),
                              "access": "const"|"ro"|"rw"|"wo"|"w1c", "reset": int, "doc": str}]}],
   "windows": [{"name": str, "address": int, "depth": int (words), "span": int (bytes decoded),
                "access": "ro"|"rw"|"wo", "width": int (bits per word, in the word's low bits),
                "signed": bool (two's complement, sign-extended on reads),
                "layout": {"kind": "vector", "length": int}
                        | {"kind": "matrix", "rows": int, "cols": int, "row_stride": int}
                          (word index = row * row_stride + col),
                "doc": str}]}
Registers and windows appear in declaration order; `from_json` rebuilds an equal map and checks the
derived numbers (mask, span, size, addr_width) against it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any

ACCESS_KINDS = ("const", "ro", "rw", "wo", "w1c")
WINDOW_ACCESS = ("ro", "rw", "wo")
SCHEMA = "aimcgen-register-map/1"
DATA_WIDTH = 32
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def _check_int(what: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be an integer, not {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        limit = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{what} = {value}: must be {limit}")


def _check_name(what: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string, not {type(value).__name__}")
    if not _NAME.match(value):
        raise ValueError(f"{what} {value!r}: must be an identifier (a letter, then letters, digits, _)")


def _check_doc(what: str, value: Any) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what}: doc must be a string, not {type(value).__name__}")


@dataclass(frozen=True)
class Field:
    """`width` bits at bit `offset_bit` of a register; `reset` is the value after reset (for const: always)."""
    name: str
    offset_bit: int
    width: int
    access: str
    reset: int = 0
    doc: str = ""

    def __post_init__(self):
        _check_name("field name", self.name)
        what = f"field {self.name}"
        _check_int(f"{what}: offset_bit", self.offset_bit, 0, DATA_WIDTH - 1)
        _check_int(f"{what}: width", self.width, 1, DATA_WIDTH)
        if self.offset_bit + self.width > DATA_WIDTH:
            raise ValueError(f"{what}: bits {self.offset_bit + self.width - 1}..{self.offset_bit} do not fit "
                             f"a {DATA_WIDTH}-bit register (bits 31..0)")
        if self.access not in ACCESS_KINDS:
            raise ValueError(f"{what}: access {self.access!r} is not one of {', '.join(ACCESS_KINDS)}")
        _check_int(f"{what}: reset", self.reset, 0)
        if self.reset >> self.width:
            raise ValueError(f"{what}: reset {self.reset:#x} does not fit {self.width} bits")
        _check_doc(what, self.doc)

    @property
    def lsb(self) -> int:
        """Alias of offset_bit."""
        return self.offset_bit

    @property
    def msb(self) -> int:
        return self.offset_bit + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits within the register word."""
        return ((1 << self.width) - 1) << self.offset_bit


@dataclass(frozen=True)
class Register:
    """One 32-bit word at byte `address` (a multiple of 4), made of non-overlapping fields."""
    name: str
    address: int
    fields: tuple[Field, ...]
    doc: str = ""

    def __post_init__(self):
        _check_name("register name", self.name)
        what = f"register {self.name}"
        _check_int(f"{what}: address", self.address, 0)
        if self.address % 4:
            raise ValueError(f"{what}: address {self.address:#x} is not word aligned (a multiple of 4)")
        if not isinstance(self.fields, (tuple, list)) or not all(isinstance(f, Field) for f in self.fields):
            raise TypeError(f"{what}: fields must be a tuple of Field")
        object.__setattr__(self, "fields", tuple(self.fields))
        if not self.fields:
            raise ValueError(f"{what}: has no fields")
        used, names = 0, set()
        for f in self.fields:
            if f.name in names:
                raise ValueError(f"{what}: two fields named {f.name}")
            if used & f.mask:
                other = next(g for g in self.fields if g.mask & f.mask)
                raise ValueError(f"{what}: field {f.name} (bits {f.msb}..{f.offset_bit}) overlaps field "
                                 f"{other.name} (bits {other.msb}..{other.offset_bit})")
            used |= f.mask
            names.add(f.name)
        _check_doc(what, self.doc)

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r} (fields: "
                       f"{', '.join(f.name for f in self.fields)})")

    @property
    def reset(self) -> int:
        """The word read right after reset, with hardware-driven (ro) fields at 0."""
        return sum(f.reset << f.offset_bit for f in self.fields if f.access in ("const", "rw", "w1c"))

    @property
    def writable(self) -> bool:
        return any(f.access in ("rw", "wo", "w1c") for f in self.fields)


@dataclass(frozen=True)
class VectorLayout:
    """Word i of the window holds element i of a vector of `length` elements."""
    length: int

    kind = "vector"

    def __post_init__(self):
        _check_int("vector layout: length", self.length, 1)

    @property
    def words(self) -> int:
        return self.length

    def to_dict(self) -> dict:
        return {"kind": self.kind, "length": self.length}

    def describe(self) -> str:
        return f"vector of {self.length}: word i = element i"


@dataclass(frozen=True)
class MatrixLayout:
    """Word `row * row_stride + col` holds element (row, col) of a `rows` x `cols` matrix, row-major."""
    rows: int
    cols: int
    row_stride: int

    kind = "matrix"

    def __post_init__(self):
        _check_int("matrix layout: rows", self.rows, 1)
        _check_int("matrix layout: cols", self.cols, 1)
        _check_int("matrix layout: row_stride", self.row_stride, self.cols)

    @property
    def words(self) -> int:
        return self.rows * self.row_stride

    def index(self, row: int, col: int) -> int:
        """The word index of element (row, col)."""
        if not (0 <= row < self.rows and 0 <= col < self.cols):
            raise IndexError(f"element ({row}, {col}) is outside the {self.rows} x {self.cols} matrix")
        return row * self.row_stride + col

    def to_dict(self) -> dict:
        return {"kind": self.kind, "rows": self.rows, "cols": self.cols, "row_stride": self.row_stride}

    def describe(self) -> str:
        return f"{self.rows} x {self.cols} matrix: word row*{self.row_stride} + col"


LAYOUTS = {"vector": VectorLayout, "matrix": MatrixLayout}


def layout_from_dict(d: Any, where: str = "layout") -> VectorLayout | MatrixLayout:
    """A layout from its `to_dict` form; ValueError names what is off."""
    if not isinstance(d, dict) or d.get("kind") not in LAYOUTS:
        found = d.get("kind") if isinstance(d, dict) else type(d).__name__
        raise ValueError(f"register map JSON: {where}: kind {found!r} is not one of {', '.join(LAYOUTS)}")
    cls = LAYOUTS[d["kind"]]
    keys = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(d) - set(keys) - {"kind"})
    missing = [k for k in keys if k not in d]
    if missing or extra:
        raise ValueError(f"register map JSON: {where}: a {d['kind']} layout has the keys "
                         f"{', '.join(['kind', *keys])}" + (f"; missing {missing[0]!r}" if missing else
                                                            f"; unknown {extra[0]!r}"))
    return cls(**{k: d[k] for k in keys})


@dataclass(frozen=True)
class Window:
    """`depth` words at byte `address`; each word holds a `width`-bit integer (sign-extended if `signed`).

    Word i is at `address + 4 * i`. The window decodes `span` bytes (depth rounded up to a power of two
    words) and its address must be a multiple of `span`. `layout` maps the words onto the data (default:
    a vector of `depth` elements); its word count must equal `depth`.
    """
    name: str
    address: int
    depth: int
    access: str
    width: int = DATA_WIDTH
    signed: bool = False
    doc: str = ""
    layout: VectorLayout | MatrixLayout | None = None

    def __post_init__(self):
        _check_name("window name", self.name)
        what = f"window {self.name}"
        _check_int(f"{what}: address", self.address, 0)
        _check_int(f"{what}: depth", self.depth, 1)
        if self.layout is None:
            object.__setattr__(self, "layout", VectorLayout(self.depth))
        if not isinstance(self.layout, (VectorLayout, MatrixLayout)):
            raise TypeError(f"{what}: layout must be a VectorLayout or a MatrixLayout, not "
                            f"{type(self.layout).__name__}")
        if self.layout.words != self.depth:
            raise ValueError(f"{what}: layout ({self.layout.describe()}) covers {self.layout.words} words, "
                             f"the window has depth {self.depth}")
        if self.access not in WINDOW_ACCESS:
            raise ValueError(f"{what}: access {self.access!r} is not one of {', '.join(WINDOW_ACCESS)}")
        _check_int(f"{what}: width", self.width, 1, DATA_WIDTH)
        if not isinstance(self.signed, bool):
            raise TypeError(f"{what}: signed must be a bool, not {type(self.signed).__name__}")
        if self.address % self.span:
            raise ValueError(f"{what}: address {self.address:#x} is not aligned to its span {self.span:#x} "
                             f"({self.depth} words rounded up to a power of two)")
        _check_doc(what, self.doc)

    @property
    def index_bits(self) -> int:
        """Word-index bits within the span."""
        return (self.depth - 1).bit_length()

    @property
    def span(self) -> int:
        """Bytes the window decodes: depth words rounded up to a power of two (cheap address decode)."""
        return 4 << self.index_bits

    @property
    def end(self) -> int:
        """First byte address after the decoded span."""
        return self.address + self.span


@dataclass(frozen=True)
class RegisterMap:
    """Registers and windows with distinct names and non-overlapping address ranges."""
    name: str
    registers: tuple[Register, ...]
    windows: tuple[Window, ...] = field(default=())
    doc: str = ""

    def __post_init__(self):
        _check_name("register map name", self.name)
        for attr, cls in (("registers", Register), ("windows", Window)):
            items = getattr(self, attr)
            if not isinstance(items, (tuple, list)) or not all(isinstance(i, cls) for i in items):
                raise TypeError(f"register map {self.name}: {attr} must be a tuple of {cls.__name__}")
            object.__setattr__(self, attr, tuple(items))
        if not self.registers and not self.windows:
            raise ValueError(f"register map {self.name}: has no registers and no windows")
        _check_doc(f"register map {self.name}", self.doc)
        seen = set()
        for item in self.registers + self.windows:
            if item.name in seen:
                raise ValueError(f"register map {self.name}: two registers or windows named {item.name}")
            seen.add(item.name)
        ranges = sorted([(r.address, r.address + 4, f"register {r.name}") for r in self.registers]
                        + [(w.address, w.end, f"window {w.name}") for w in self.windows])
        for (a0, a1, n0), (b0, b1, n1) in zip(ranges, ranges[1:]):
            if b0 < a1:
                raise ValueError(f"register map {self.name}: {n0} ({a0:#x}..{a1 - 1:#x}) overlaps {n1} "
                                 f"({b0:#x}..{b1 - 1:#x})")

    @property
    def size(self) -> int:
        """Bytes of address space the map decodes: its last byte address rounded up to a power of two."""
        end = max([r.address + 4 for r in self.registers] + [w.end for w in self.windows])
        return 1 << max(2, (end - 1).bit_length())

    @property
    def addr_width(self) -> int:
        """Wishbone word-address bits (at least 1)."""
        return max(1, self.size.bit_length() - 1 - 2)

    def register(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(f"register map {self.name} has no register {name!r}")

    def window(self, name: str) -> Window:
        for w in self.windows:
            if w.name == name:
                return w
        raise KeyError(f"register map {self.name} has no window {name!r}")

    # JSON ---------------------------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "doc": self.doc,
            "data_width": DATA_WIDTH,
            "addr_width": self.addr_width,
            "size": self.size,
            "addressing": "byte addresses; 32-bit registers; the Wishbone bus is word addressed "
                          "(adr = address >> 2)",
            "registers": [{
                "name": r.name, "address": r.address, "doc": r.doc,
                "fields": [{"name": f.name, "shift": f.offset_bit, "width": f.width, "mask": f.mask,
                            "access": f.access, "reset": f.reset, "doc": f.doc} for f in r.fields],
            } for r in self.registers],
            "windows": [{"name": w.name, "address": w.address, "depth": w.depth, "span": w.span,
                         "access": w.access, "width": w.width, "signed": w.signed,
                         "layout": w.layout.to_dict(), "doc": w.doc}
                        for w in self.windows],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @staticmethod
    def from_dict(d: dict) -> "RegisterMap":
        """Rebuild a map from `to_dict` output; ValueError if the schema, a key or a derived value is off."""
        if not isinstance(d, dict) or d.get("schema") != SCHEMA:
            found = d.get("schema") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"register map JSON: schema {found!r}, expected {SCHEMA!r}")

        def get(obj: dict, key: str, where: str):
            if not isinstance(obj, dict) or key not in obj:
                raise ValueError(f"register map JSON: {where}: missing {key!r}")
            return obj[key]

        try:
            registers = []
            for i, r in enumerate(get(d, "registers", "top level")):
                where = f"registers[{i}]"
                fields = []
                for j, f in enumerate(get(r, "fields", where)):
                    fw = f"{where}.fields[{j}]"
                    fields.append(Field(get(f, "name", fw), get(f, "shift", fw), get(f, "width", fw),
                                        get(f, "access", fw), get(f, "reset", fw), get(f, "doc", fw)))
                    if get(f, "mask", fw) != fields[-1].mask:
                        raise ValueError(f"register map JSON: {fw}: mask {f['mask']!r} does not match shift "
                                         f"and width ({fields[-1].mask:#x})")
                registers.append(Register(get(r, "name", where), get(r, "address", where), tuple(fields),
                                          get(r, "doc", where)))
            windows = []
            for i, w in enumerate(get(d, "windows", "top level")):
                where = f"windows[{i}]"
                layout = layout_from_dict(w["layout"], f"{where}.layout") if "layout" in w else None
                windows.append(Window(get(w, "name", where), get(w, "address", where), get(w, "depth", where),
                                      get(w, "access", where), get(w, "width", where), get(w, "signed", where),
                                      get(w, "doc", where), layout))
                if get(w, "span", where) != windows[-1].span:
                    raise ValueError(f"register map JSON: {where}: span {w['span']!r} does not match depth "
                                     f"({windows[-1].span})")
            regmap = RegisterMap(get(d, "name", "top level"), tuple(registers), tuple(windows),
                                 get(d, "doc", "top level"))
        except TypeError as exc:
            raise ValueError(f"register map JSON: {exc}") from None
        for key in ("data_width", "addr_width", "size"):
            expected = DATA_WIDTH if key == "data_width" else getattr(regmap, key)
            if get(d, key, "top level") != expected:
                raise ValueError(f"register map JSON: {key} = {d[key]} does not match the map ({expected})")
        return regmap

    @staticmethod
    def from_json(text: str) -> "RegisterMap":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"register map JSON: not valid JSON: {exc}") from None
        return RegisterMap.from_dict(d)

    # Documentation ------------------------------------------------------------------------------------

    def to_markdown(self) -> str:
        """A human-readable register document."""
        lines = [f"# Register map: {self.name}", "", self.doc, "",
                 f"Byte addresses; 32-bit registers; the Wishbone bus is word addressed (adr = address >> 2, "
                 f"{self.addr_width} bits; {self.size} bytes decoded). Access: const (read-only constant), ro "
                 f"(read-only, hardware status), rw, wo (write pulses a command, reads 0), w1c (sticky, write 1 "
                 f"to clear).", "",
                 "| address | register | field | bits | access | reset | description |",
                 "|---|---|---|---|---|---|---|"]
        for r in self.registers:
            lines.append(f"| {r.address:#06x} | {r.name} | | | | | {r.doc} |")
            for f in r.fields:
                bits = f"{f.msb}:{f.offset_bit}" if f.width > 1 else f"{f.offset_bit}"
                lines.append(f"| | | {f.name} | {bits} | {f.access} | {f.reset:#x} | {f.doc} |")
        if self.windows:
            lines += ["", "| address | window | words | access | word format | layout | description |",
                      "|---|---|---|---|---|---|---|"]
        for w in self.windows:
            fmt = f"{'signed' if w.signed else 'unsigned'} {w.width}-bit"
            lines.append(f"| {w.address:#06x}..{w.address + 4 * w.depth - 1:#06x} | {w.name} | {w.depth} | "
                         f"{w.access} | {fmt} | {w.layout.describe()} | {w.doc} |")
        return "\n".join(lines) + "\n"
