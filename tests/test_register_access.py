"""The one register-access rule (aimcgen/contract/register_access.py): fields and window words as bus words.

The host driver used to decode a signed window word from its low `width` bits, the cocotb benches from all
32 bits; both now call the contract. The property tests show that on every word the register bank sends
(the value sign- or zero-extended to 32 bits) the two former rules and the contract give the same value.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aimcgen.contract import register_access as access
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.register_map import Field, Register, RegisterMap, Window
from aimcgen.presets import load_preset


def former_host_rule(window: Window, raw: int) -> int:
    """sim/host/driver.py before: the low `width` bits, two's complement when signed."""
    if window.signed:
        raw &= (1 << window.width) - 1
        return raw - (1 << window.width) if raw >> (window.width - 1) & 1 else raw
    return raw & ((1 << window.width) - 1)


def former_cocotb_rule(window: Window, raw: int) -> int:
    """sim/verify/cocotb_wishbone.py before: the whole 32-bit word, two's complement when signed."""
    if window.signed:
        raw &= 0xFFFFFFFF
        return raw - (1 << 32) if raw >> 31 else raw
    return raw


@st.composite
def window_and_value(draw):
    width = draw(st.integers(1, 32))
    signed = draw(st.booleans())
    window = Window("W", 0, 1, "rw", width, signed)
    low, high = access.word_range(window)
    return window, draw(st.integers(low, high))


@given(window_and_value())
def test_the_former_rules_agree_on_every_word_the_bank_sends(case):
    window, value = case
    raw = access.encode_word(window, value)
    assert 0 <= raw <= 0xFFFFFFFF
    # what the bank puts on the bus: the width-bit word sign- (signed) or zero-extended to 32 bits
    extended = value & 0xFFFFFFFF
    assert raw == extended
    assert access.decode_word(window, raw) == former_host_rule(window, raw) == former_cocotb_rule(window, raw) \
        == value


@given(window_and_value(), st.integers(0, 0xFFFFFFFF))
def test_decode_reads_the_low_width_bits_only(case, noise):
    window, value = case
    raw = (access.encode_word(window, value) & ((1 << window.width) - 1)) | (noise >> window.width << window.width)
    assert access.decode_word(window, raw) == value == former_host_rule(window, raw)


@given(window_and_value())
def test_out_of_range_values_raise_unless_unchecked(case):
    window, _ = case
    low, high = access.word_range(window)
    for bad in (low - 1, high + 1):
        with pytest.raises(ValueError, match=f"window W: value {bad} does not fit its word format"):
            access.encode_word(window, bad)
        assert access.encode_word(window, bad, check=False) == bad & 0xFFFFFFFF


@given(st.integers(0, 31), st.data())
def test_fields_encode_and_decode(offset, data):
    width = data.draw(st.integers(1, 32 - offset))
    value = data.draw(st.integers(0, (1 << width) - 1))
    base = data.draw(st.integers(0, 0xFFFFFFFF))
    f = Field("f", offset, width, "rw")
    word = access.encode_field(f, value, base)
    assert access.decode_field(f, word) == value
    assert word & ~f.mask == base & ~f.mask
    with pytest.raises(ValueError, match=r"register R\.f: value .* does not fit"):
        access.encode_field(f, 1 << width, where="R")
    assert access.decode_field(f, access.encode_field(f, 1 << width, check=False)) == 0


def test_codec_by_name_on_the_accelerator_map():
    regmap = aimc_register_map(load_preset("default"))
    codec = access.RegisterCodec(regmap)
    assert codec.encode_fields("PROG_CTRL", {"tolerance": 2, "max_retries": 5}) == 2 | 5 << 8
    assert codec.decode_fields("PROG_CTRL", 2 | 5 << 8) == {"tolerance": 2, "max_retries": 5} | {
        f.name: 0 for f in regmap.register("PROG_CTRL").fields if f.name not in ("tolerance", "max_retries")}
    with pytest.raises(KeyError, match="no field 'bogus'"):
        codec.encode_fields("CONFIG", {"bogus": 1})
    with pytest.raises(KeyError, match="no window 'NOPE'"):
        codec.decode_word("NOPE", 0)
    assert codec.encode_word("OFFSET", -1) == 0xFFFFFFFF and codec.decode_word("OFFSET", 0xFFFFFFFF) == -1
    weights = regmap.window("WEIGHTS")
    assert codec.window_address("WEIGHTS", 2) == weights.address + 8
    with pytest.raises(IndexError):
        codec.window_address("WEIGHTS", weights.depth)
    assert codec.locate(weights.address + 8) == (weights, 2)
    assert codec.locate(0) == (regmap.register("ID"), 0)
    assert codec.locate(regmap.size + 4) is None


def test_read_modify_write_keeps_only_the_other_rw_fields():
    reg = Register("R", 0, (Field("a", 0, 4, "rw"), Field("b", 4, 4, "rw"), Field("go", 8, 1, "wo"),
                            Field("flags", 9, 2, "w1c"), Field("st", 11, 3, "ro")))
    assert access.keep_mask(reg, ("a",)) == 0xF0
    assert access.keep_mask(reg, ("a", "b")) == 0
    assert access.keep_mask(reg) == 0xFF
    current = 0xFFFFFFFF
    assert access.encode_fields(reg, {"a": 3}, current & access.keep_mask(reg, ("a",))) == 0xF3
    codec = access.RegisterCodec(RegisterMap("m", (reg,)))
    assert codec.decode_field("R", "st", 0b101 << 11) == 0b101
    with pytest.raises(TypeError):
        access.RegisterCodec("not a map")
