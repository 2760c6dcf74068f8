"""Register map description: validation, JSON round trip, and the accelerator's map for every preset."""

import hashlib
import json

import pytest

from aimcgen import __version__, spec_toml
from aimcgen.presets import load_preset, preset_names
from aimcgen.contract.register_map import (SCHEMA, Field, MatrixLayout, Register, RegisterMap, VectorLayout,
                                           Window)
from aimcgen.contract.aimc_registers import aimc_register_map, col_stride
from aimcgen.spec import from_dict

MAP = RegisterMap("demo", (
    Register("ID", 0x0, (Field("magic", 0, 32, "const", 0x1234ABCD, "identifies the block"),)),
    Register("CFG", 0x4, (Field("mode", 0, 3, "rw", 5), Field("level", 8, 8, "rw"), Field("rev", 24, 8, "const", 7))),
    Register("CMD", 0x8, (Field("go", 0, 1, "wo", doc="start"),)),
    Register("STAT", 0xC, (Field("count", 0, 16, "ro"),)),
    Register("ERR", 0x10, (Field("a", 0, 1, "w1c"), Field("b", 1, 1, "w1c", 1))),
), (Window("MEM", 0x40, 5, "rw", 12, True, "coefficients"), Window("OUT", 0x60, 3, "ro", 8),
    Window("MAT", 0x80, 12, "wo", 5, True, "a 3 x 3 matrix, rows 4 words apart", MatrixLayout(3, 3, 4))),
    "a demo map")


def fields(*specs):
    return tuple(Field(*s) for s in specs)


@pytest.mark.parametrize("build, message", [
    (lambda: Register("A", 2, fields(("f", 0, 1, "rw"))), r"register A: address 0x2 is not word aligned"),
    (lambda: Register("A", 0, ()), "register A: has no fields"),
    (lambda: Register("A", 0, fields(("f", 0, 4, "rw"), ("g", 3, 4, "rw"))),
     r"register A: field g \(bits 6..3\) overlaps field f \(bits 3..0\)"),
    (lambda: Register("A", 0, fields(("f", 0, 1, "rw"), ("f", 1, 1, "rw"))), "register A: two fields named f"),
    (lambda: Field("f", 30, 4, "rw"), r"field f: bits 33..30 do not fit a 32-bit register"),
    (lambda: Field("f", 32, 1, "rw"), r"field f: offset_bit = 32: must be 0..31"),
    (lambda: Field("f", 0, 0, "rw"), r"field f: width = 0: must be 1..32"),
    (lambda: Field("f", 0, 4, "rw", 16), r"field f: reset 0x10 does not fit 4 bits"),
    (lambda: Field("f", 0, 4, "rc"), r"field f: access 'rc' is not one of const, ro, rw, wo, w1c"),
    (lambda: Field("2f", 0, 4, "rw"), r"field name '2f': must be an identifier"),
    (lambda: Window("W", 0x10, 8, "rw"), r"window W: address 0x10 is not aligned to its span 0x20"),
    (lambda: Window("W", 0x0, 0, "rw"), r"window W: depth = 0: must be >= 1"),
    (lambda: Window("W", 0x0, 4, "w1c"), r"window W: access 'w1c' is not one of ro, rw, wo"),
    (lambda: Window("W", 0x0, 4, "rw", 40), r"window W: width = 40: must be 1..32"),
    (lambda: Window("W", 0x0, 4, "rw", 8, True, "", VectorLayout(3)),
     r"window W: layout \(vector of 3: word i = element i\) covers 3 words, the window has depth 4"),
    (lambda: Window("W", 0x0, 8, "wo", 8, True, "", MatrixLayout(2, 3, 3)),
     r"window W: layout \(2 x 3 matrix: word row\*3 \+ col\) covers 6 words, the window has depth 8"),
    (lambda: MatrixLayout(2, 5, 4), r"matrix layout: row_stride = 4: must be >= 5"),
    (lambda: MatrixLayout(0, 5, 8), r"matrix layout: rows = 0: must be >= 1"),
    (lambda: VectorLayout(0), r"vector layout: length = 0: must be >= 1"),
    (lambda: RegisterMap("x", (Register("A", 0, fields(("f", 0, 1, "rw"))),
                               Register("B", 0, fields(("f", 0, 1, "rw"))))),
     r"register map x: register A \(0x0..0x3\) overlaps register B \(0x0..0x3\)"),
    (lambda: RegisterMap("x", (Register("A", 0x44, fields(("f", 0, 1, "rw"))),), (Window("W", 0x40, 4, "rw"),)),
     r"register map x: window W \(0x40..0x4f\) overlaps register A \(0x44..0x47\)"),
    (lambda: RegisterMap("x", (), (Window("W", 0x40, 5, "rw"), Window("V", 0x58, 1, "rw"))),
     r"register map x: window W \(0x40..0x5f\) overlaps window V \(0x58..0x5b\)"),
    (lambda: RegisterMap("x", (Register("A", 0, fields(("f", 0, 1, "rw"))),), (Window("A", 0x40, 4, "rw"),)),
     "register map x: two registers or windows named A"),
    (lambda: RegisterMap("x", ()), "register map x: has no registers and no windows"),
])
def test_validation_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("build, message", [
    (lambda: Field("f", "0", 4, "rw"), "field f: offset_bit must be an integer, not str"),
    (lambda: Field("f", 0, True, "rw"), "field f: width must be an integer, not bool"),
    (lambda: Window("W", 0, 4, "rw", 8, 1), "window W: signed must be a bool"),
    (lambda: Window("W", 0, 4, "rw", 8, True, "", {"kind": "vector", "length": 4}),
     "window W: layout must be a VectorLayout or a MatrixLayout, not dict"),
    (lambda: Register("A", 0, ("f",)), "register A: fields must be a tuple of Field"),
    (lambda: RegisterMap("x", [Field("f", 0, 1, "rw")]), "register map x: registers must be a tuple of Register"),
])
def test_type_errors(build, message):
    with pytest.raises(TypeError, match=message):
        build()


def test_derived_values():
    assert MAP.size == 256 and MAP.addr_width == 6
    mem = MAP.window("MEM")
    assert (mem.span, mem.index_bits, mem.end) == (32, 3, 0x60)
    cfg = MAP.register("CFG")
    assert cfg.field("level").mask == 0xFF00 and cfg.field("level").lsb == 8
    assert cfg.reset == 7 << 24 | 5
    assert MAP.register("ERR").reset == 0b10 and MAP.register("STAT").reset == 0
    assert not MAP.register("STAT").writable and MAP.register("CMD").writable
    with pytest.raises(KeyError, match="no register 'NOPE'"):
        MAP.register("NOPE")
    with pytest.raises(KeyError, match="no field 'x'"):
        cfg.field("x")
    assert RegisterMap("one", (Register("A", 0, fields(("f", 0, 1, "rw"))),)).addr_width == 1
    assert mem.layout == VectorLayout(5)                         # the default layout: a vector of depth
    mat = MAP.window("MAT").layout
    assert (mat.words, mat.index(2, 1)) == (12, 9)
    with pytest.raises(IndexError, match=r"element \(0, 3\) is outside the 3 x 3 matrix"):
        mat.index(0, 3)


def test_json_round_trip_is_exact_and_stable():
    text = MAP.to_json()
    assert RegisterMap.from_json(text) == MAP
    assert RegisterMap.from_json(text).to_json() == text
    d = json.loads(text)
    assert d["schema"] == SCHEMA == "aimcgen-register-map/1"
    assert d["addr_width"] == 6 and d["size"] == 256 and d["data_width"] == 32
    assert [r["address"] for r in d["registers"]] == [0, 4, 8, 12, 16]
    level = d["registers"][1]["fields"][1]
    assert level == {"name": "level", "shift": 8, "width": 8, "mask": 0xFF00, "access": "rw", "reset": 0,
                     "doc": ""}
    assert d["windows"][0] == {"name": "MEM", "address": 0x40, "depth": 5, "span": 32, "access": "rw",
                               "width": 12, "signed": True, "layout": {"kind": "vector", "length": 5},
                               "doc": "coefficients"}
    assert d["windows"][2]["layout"] == {"kind": "matrix", "rows": 3, "cols": 3, "row_stride": 4}
    assert RegisterMap.from_json(text).window("MAT").layout == MatrixLayout(3, 3, 4)


def test_json_without_layouts_reads_as_vectors():
    """A map written before windows had layouts still loads: each window is a vector of its depth."""
    d = json.loads(MAP.to_json())
    for w in d["windows"]:
        del w["layout"]
    old = RegisterMap.from_dict(d)
    assert [w.layout for w in old.windows] == [VectorLayout(5), VectorLayout(3), VectorLayout(12)]
    assert old.window("MEM") == MAP.window("MEM")


def _edited(change):
    d = json.loads(MAP.to_json())
    change(d)
    return json.dumps(d)


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    (_edited(lambda d: d.update(schema="other/1")), "schema 'other/1', expected"),
    (_edited(lambda d: d["registers"][1]["fields"][0].pop("width")), r"registers\[1\].fields\[0\]: missing 'width'"),
    (_edited(lambda d: d["registers"][1]["fields"][0].update(mask=0xF)), r"mask 15 does not match shift and width"),
    (_edited(lambda d: d["windows"][0].update(span=64)), r"windows\[0\]: span 64 does not match depth"),
    (_edited(lambda d: d.update(addr_width=7)), "addr_width = 7 does not match the map"),
    (_edited(lambda d: d["registers"][0].update(address=6)), "address 0x6 is not word aligned"),
    (_edited(lambda d: d["registers"][0].update(address="0")), "address must be an integer"),
    (_edited(lambda d: d["windows"][2].update(layout={"kind": "tensor"})),
     r"windows\[2\].layout: kind 'tensor' is not one of vector, matrix"),
    (_edited(lambda d: d["windows"][2]["layout"].pop("row_stride")),
     r"windows\[2\].layout: a matrix layout has the keys kind, rows, cols, row_stride; missing 'row_stride'"),
    (_edited(lambda d: d["windows"][0]["layout"].update(rows=2)),
     r"windows\[0\].layout: a vector layout has the keys kind, length; unknown 'rows'"),
    (_edited(lambda d: d["windows"][2]["layout"].update(row_stride=3)),
     r"window MAT: layout \(3 x 3 matrix: word row\*3 \+ col\) covers 9 words, the window has depth 12"),
    (_edited(lambda d: d["windows"][0]["layout"].update(length="5")), "vector layout: length must be an integer"),
])
def test_from_json_errors(text, message):
    with pytest.raises(ValueError, match=message):
        RegisterMap.from_json(text)


def test_markdown_names_everything():
    text = MAP.to_markdown()
    for name in ("ID", "CFG", "mode", "level", "rev", "CMD", "go", "STAT", "ERR", "MEM", "OUT"):
        assert f"| {name} |" in text
    assert "| | | level | 15:8 | rw | 0x0 |  |" in text


@pytest.mark.parametrize("preset", preset_names())
def test_aimc_register_map_describes_the_spec(preset):
    spec = load_preset(preset)
    regmap = aimc_register_map(spec)
    assert RegisterMap.from_json(regmap.to_json()) == regmap

    def value(register, field):
        f = regmap.register(register).field(field)
        assert f.access == "const", f"{register}.{field}"
        return f.reset

    assert value("ID", "magic") == 0x41494D43
    major, minor, patch = (int(p) for p in __version__.split("."))
    assert value("VERSION", "version") == major << 16 | minor << 8 | patch
    digest = hashlib.sha256(spec_toml.dumps(spec).encode()).hexdigest()
    assert value("SPEC_HASH", "hash") == int(digest[:8], 16)
    assert (value("TILE", "rows"), value("TILE", "cols"), value("TILE", "weight_bits")) == (
        spec.tile.rows, spec.tile.cols, spec.tile.weight_bits)
    assert (value("ARRAY", "row_tiles"), value("ARRAY", "col_tiles")) == (spec.array.row_tiles,
                                                                          spec.array.col_tiles)
    assert value("INPUT_FORMAT", "bits") == spec.input.bits
    assert value("INPUT_FORMAT", "encoding") == ["pwm", "bit_serial"].index(spec.input.encoding)
    assert value("ADC", "kind") == ["sar", "ramp", "flash"].index(spec.adc.kind)
    assert (value("ADC", "bits"), value("ADC", "count")) == (spec.adc.bits, spec.adc.count)
    assert (value("DATAPATH", "acc_bits"), value("DATAPATH", "output_bits"),
            value("DATAPATH", "scale_frac_bits")) == (spec.accumulator.bits, spec.postproc.output_bits,
                                                      spec.postproc.scale_frac_bits)

    def access(register):
        return {f.name: f.access for f in regmap.register(register).fields}

    assert access("CTRL")["start"] == "wo"
    assert {access("STATUS")[n] for n in ("busy", "in_free")} == {"ro"}
    assert access("ERRORS") == dict.fromkeys(
        ("acc_overflow", "output_saturated", "prog_verify_fail", "bus_error", "start_dropped"), "w1c")
    assert set(access("PROG_CTRL").values()) == {"rw"} and set(access("PROG_STATUS").values()) == {"ro"}

    windows = {w.name: w for w in regmap.windows}
    cols, rows = spec.logical_cols, spec.logical_rows
    assert (windows["SCALE"].depth, windows["SCALE"].access, windows["SCALE"].width) == (
        cols, "rw", spec.postproc.scale_bits)
    assert (windows["OFFSET"].depth, windows["OFFSET"].width) == (cols, spec.postproc.offset_bits)
    assert (windows["INPUT"].depth, windows["INPUT"].access) == (rows, "wo")
    assert (windows["OUTPUT"].depth, windows["OUTPUT"].access) == (cols, "ro")
    assert windows["WEIGHTS"].depth >= rows * cols and windows["WEIGHTS"].signed
    for name, length in (("SCALE", cols), ("OFFSET", cols), ("INPUT", rows), ("OUTPUT", cols)):
        assert windows[name].layout == VectorLayout(length), name
    stride = col_stride(spec)
    assert windows["WEIGHTS"].layout == MatrixLayout(rows, cols, stride)
    assert stride >= cols and stride & (stride - 1) == 0 and stride < 2 * cols
    assert windows["WEIGHTS"].width == spec.tile.weight_bits and windows["INPUT"].width == spec.input.bits
    assert all(w.signed for w in windows.values())
    last = max(r.address for r in regmap.registers)
    assert all(w.address > last for w in regmap.windows)
    assert max(w.end for w in regmap.windows) <= 4 << regmap.addr_width == regmap.size


def test_aimc_register_map_fields_hold_the_largest_parameters():
    spec = from_dict({"tile": {"rows": 1024, "cols": 1024, "weight_bits": 9},
                      "input": {"bits": 12, "encoding": "bit_serial"},
                      "adc": {"kind": "sar", "bits": 14, "count": 1024, "full_scale": 1 << 13},
                      "accumulator": {"bits": 36},
                      "postproc": {"scale_bits": 24, "scale_frac_bits": 32, "offset_bits": 32,
                                   "output_bits": 32},
                      "array": {"row_tiles": 2, "col_tiles": 2}})
    regmap = aimc_register_map(spec)      # every Field checks that its value fits
    assert regmap.register("ADC").field("count").reset == 1024


def test_tile64_window_layouts_in_json():
    """The values a reader of regmap.json gets for the tile64 preset (64 x 64, 5-bit weights, 8-bit inputs)."""
    d = json.loads(aimc_register_map(load_preset("tile64")).to_json())
    windows = {w["name"]: w for w in d["windows"]}
    assert {n: (w["address"], w["depth"], w["width"], w["signed"], w["layout"]) for n, w in windows.items()} == {
        "SCALE": (0x100, 64, 12, True, {"kind": "vector", "length": 64}),
        "OFFSET": (0x200, 64, 24, True, {"kind": "vector", "length": 64}),
        "INPUT": (0x300, 64, 8, True, {"kind": "vector", "length": 64}),
        "OUTPUT": (0x400, 64, 8, True, {"kind": "vector", "length": 64}),
        "WEIGHTS": (0x4000, 4096, 5, True, {"kind": "matrix", "rows": 64, "cols": 64, "row_stride": 64}),
    }
    assert "-128 is accepted and driven as -127" in windows["INPUT"]["doc"]
    assert "e.g. 128) answers a bus error" in windows["INPUT"]["doc"]
    assert "e.g. 16) answers a bus error" in windows["WEIGHTS"]["doc"]
    assert "-16 is accepted and programmed as -15" in windows["WEIGHTS"]["doc"]


def test_weights_row_stride_pads_columns_to_a_power_of_two():
    spec = from_dict({"tile": {"rows": 8, "cols": 12}, "adc": {"count": 4}, "array": {"col_tiles": 2}})
    regmap = aimc_register_map(spec)
    weights = regmap.window("WEIGHTS")
    assert weights.layout == MatrixLayout(8, 24, 32) and weights.depth == 8 * 32
    assert "words with col >= 24 are acknowledged and dropped" in weights.doc
    assert RegisterMap.from_json(regmap.to_json()).window("WEIGHTS").layout == MatrixLayout(8, 24, 32)
