"""Register access by name: the one rule for what a register field or a window word means as a bus word.

Pure Python (no cocotb, no serial). The host driver (sim/host/driver.py, over the UART link) and the cocotb
register access (sim/verify/cocotb_wishbone.py, over Wishbone) both encode and decode through this module,
so they cannot disagree on a value. The rules follow the definitions in register_map.py:

Field (`Field`: `width` bits at `offset_bit` of a 32-bit register word; always unsigned)
  decode  value = (word & mask) >> offset_bit.
  encode  the word with value << offset_bit in the field's bits and `base` elsewhere. The value must be
          0..2**width - 1 (ValueError), unless check=False: then it is truncated to the field's bits.
  read-modify-write  writing some fields of a register keeps its other rw fields (their bits come from
          a read of the register: `keep_mask`); wo and w1c fields not written are 0 (no command, no clear);
          const and ro bits are 0 (the bank ignores them). A register without such rw fields needs no read.

Window word (`Window`: a `width`-bit integer, two's complement when `signed`)
  On the bus the word is sign-extended (signed) or zero-extended (unsigned) to 32 bits: the register bank
  extends read data so, and answers err to a write whose upper bits are not such an extension.
  encode  value & 0xFFFFFFFF (a negative value becomes its 32-bit two's complement, i.e. sign-extended).
          The value must lie in `word_range(window)` (ValueError), unless check=False: then any integer is
          sent as its 32-bit two's complement (benches use that to exercise the hardware's own check).
  decode  the low `width` bits of the bus word, as two's complement when signed (`sign_extend`); the bits
          above `width` are ignored (on a well-formed word they are copies of the extension). For every
          word the bank sends this equals reading the whole 32-bit word as two's complement (signed) or as
          is (unsigned), so the former host rule (low `width` bits) and cocotb rule (32 bits) agree.

Names: `RegisterCodec(regmap)` applies these rules by register, field and window name (KeyError for an
unknown name, from RegisterMap/Register) and locates byte addresses (`locate`).
"""

from __future__ import annotations

from aimcgen.contract.register_map import DATA_WIDTH, Field, Register, RegisterMap, Window

DATA_MASK = (1 << DATA_WIDTH) - 1


def sign_extend(value: int, bits: int) -> int:
    """The low `bits` bits of `value` as a two's complement integer."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


# Fields ---------------------------------------------------------------------------------------------------

def decode_field(field: Field, word: int) -> int:
    return (word & field.mask) >> field.offset_bit


def encode_field(field: Field, value: int, base: int = 0, *, check: bool = True, where: str = "") -> int:
    """`base` with `field` set to `value` (see the module doc); `where` names the register in errors."""
    value = int(value)
    if check and not 0 <= value < (1 << field.width):
        raise ValueError(f"register {where}.{field.name}: value {value} does not fit {field.width} bit(s) "
                         f"(0..{(1 << field.width) - 1})")
    return ((base & ~field.mask) | ((value << field.offset_bit) & field.mask)) & DATA_MASK


def decode_fields(register: Register, word: int) -> dict[str, int]:
    return {f.name: decode_field(f, word) for f in register.fields}


def encode_fields(register: Register, fields: dict[str, int], base: int = 0, *, check: bool = True) -> int:
    """`base` with each named field set (KeyError for a field the register lacks)."""
    word = base & DATA_MASK
    for name, value in fields.items():
        word = encode_field(register.field(name), value, word, check=check, where=register.name)
    return word


def keep_mask(register: Register, written=()) -> int:
    """Bits a field write must read back and keep: the rw fields not among `written` (names)."""
    return sum(f.mask for f in register.fields if f.access == "rw" and f.name not in written)


# Window words ---------------------------------------------------------------------------------------------

def word_range(window: Window) -> tuple[int, int]:
    """The lowest and highest value a window word holds."""
    if window.signed:
        return -(1 << (window.width - 1)), (1 << (window.width - 1)) - 1
    return 0, (1 << window.width) - 1


def encode_word(window: Window, value: int, *, check: bool = True) -> int:
    """The 32-bit bus word of `value` (see the module doc)."""
    value = int(value)
    if check:
        low, high = word_range(window)
        if not low <= value <= high:
            raise ValueError(f"window {window.name}: value {value} does not fit its word format "
                             f"({'signed' if window.signed else 'unsigned'} {window.width} bits: {low}..{high})")
    return value & DATA_MASK


def decode_word(window: Window, raw: int) -> int:
    """The value of bus word `raw`: its low `width` bits, two's complement when signed."""
    if window.signed:
        return sign_extend(raw, window.width)
    return raw & ((1 << window.width) - 1)


# By name --------------------------------------------------------------------------------------------------

class RegisterCodec:
    """The rules above by name over one register map; no bus access."""

    def __init__(self, regmap: RegisterMap):
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, not {type(regmap).__name__}")
        self.map = regmap

    def register(self, name: str) -> Register:
        return self.map.register(name)

    def field(self, register: str, field: str) -> Field:
        return self.map.register(register).field(field)

    def window(self, name: str) -> Window:
        return self.map.window(name)

    def decode_field(self, register: str, field: str, word: int) -> int:
        return decode_field(self.field(register, field), word)

    def decode_fields(self, register: str, word: int) -> dict[str, int]:
        return decode_fields(self.register(register), word)

    def encode_fields(self, register: str, fields: dict[str, int], base: int = 0, *, check: bool = True) -> int:
        return encode_fields(self.register(register), fields, base, check=check)

    def keep_mask(self, register: str, written=()) -> int:
        return keep_mask(self.register(register), written)

    def encode_word(self, window: str, value: int, *, check: bool = True) -> int:
        return encode_word(self.window(window), value, check=check)

    def decode_word(self, window: str, raw: int) -> int:
        return decode_word(self.window(window), raw)

    def window_address(self, window: str, index: int, *, check: bool = True) -> int:
        """Byte address of word `index` (IndexError outside 0..depth-1 when `check`)."""
        w = self.window(window)
        if check and not 0 <= index < w.depth:
            raise IndexError(f"window {window}: index {index} outside 0..{w.depth - 1}")
        return w.address + 4 * index

    def locate(self, address: int) -> tuple[Register | Window, int] | None:
        """What byte `address` decodes to: (register, 0), (window, word index; may be >= depth) or None."""
        for r in self.map.registers:
            if r.address == address:
                return r, 0
        for w in self.map.windows:
            if w.address <= address < w.end:
                return w, (address - w.address) // 4
        return None
