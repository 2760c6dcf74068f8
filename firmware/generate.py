"""Firmware products of a design: the C register header, a SystemRDL description and the register document.

`write_firmware(spec, out_dir)` writes, from `aimc_register_map(spec)` and the spec itself:

  <name>_regs.h   C99 header: every register's byte offset, every field's shift/width/mask (plus the value
                  of const fields and the reset of rw/w1c fields), every window's base/depth/span/word
                  format, the WEIGHTS column stride, and the spec's datapath parameters as constants.
                  Names are design independent (prefix `AIMC_`), so the portable driver in firmware/
                  compiles against any design's header: `-DAIMC_REGS_HEADER='"<name>_regs.h"'`.
  <name>.rdl      SystemRDL 2.0 description of the same map (registers and `external mem` windows), for
                  PeakRDL tools (peakrdl-cheader, -html, -regblock ...). Checked with systemrdl-compiler.
  <name>_regs.md  the human-readable register document (`RegisterMap.to_markdown`).

Macro naming in the header (REG, FIELD, WIN are the map's names in upper case):
  AIMC_<REG>_ADDR                    byte offset of the register from the accelerator's base
  AIMC_<REG>_<FIELD>_SHIFT/_WIDTH    field position; AIMC_<REG>_<FIELD>_MASK = bits within the word
  AIMC_<REG>_<FIELD>_VALUE           const fields: the value the hardware reads back (discovery checks it)
  AIMC_<REG>_<FIELD>_RESET           rw and w1c fields: the value after reset
  AIMC_<WIN>_BASE/_DEPTH/_SPAN       window byte address, words, decoded bytes
  AIMC_<WIN>_WIDTH/_SIGNED           word format (bits, 1 if two's complement)
  AIMC_LAYER_ADDR(i)                 LAYER_i descriptor (the LAYER_<i> registers are consecutive words)
  AIMC_WEIGHTS_COL_STRIDE            words per weight row: WEIGHTS word = row * stride + col
  AIMC_CFG_*                         design parameters (tile, array, input, ADC, datapath formats)
  AIMC_SPEC_HASH_VALUE, AIMC_MAGIC_VALUE, AIMC_VERSION_VALUE    identification
"""

from __future__ import annotations

from pathlib import Path

from aimcgen import __version__
from aimcgen.spec import DesignSpec
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.aimc_registers import (ADC_KINDS, ENCODINGS, MAGIC, aimc_register_map, col_stride, spec_hash,
                                             version_word)

HEADER_SUFFIX = "_regs.h"


def _u32(value: int) -> str:
    return f"0x{value:08X}u"


def _define(name: str, value, comment: str = "") -> str:
    text = f"#define {name:<44} {value}"
    if comment:
        text += f"  /* {_c_comment(comment)} */"
    return text


def _c_comment(text: str) -> str:
    return " ".join(text.replace("*/", "* /").split())


def _int_literal(value: int) -> str:
    """A C literal of a (possibly negative) 32-bit-range integer that keeps its type int32/uint32 clean."""
    if value < 0:
        if value == -(1 << 31):
            return "(-2147483647 - 1)"
        return f"({value})"
    return f"{value}"


def design_parameters(spec: DesignSpec) -> list[tuple[str, int, str]]:
    """(name, value, doc) of the spec's parameters that firmware needs, as `AIMC_CFG_<name>`."""

    fmt = datapath_formats(spec)
    t, a, inp, adc, post = spec.tile, spec.array, spec.input, spec.adc, spec.postproc
    return [
        ("TILE_ROWS", t.rows, "crossbar rows per tile"),
        ("TILE_COLS", t.cols, "crossbar columns per tile"),
        ("WEIGHT_BITS", t.weight_bits, "signed weight bits"),
        ("WEIGHT_MAX", t.conductance_levels, "weights run -WEIGHT_MAX..WEIGHT_MAX"),
        ("ROW_TILES", a.row_tiles, "tiles along the input dimension"),
        ("COL_TILES", a.col_tiles, "tiles along the output dimension"),
        ("TILES", spec.tiles, "tiles in the grid"),
        ("LOGICAL_ROWS", spec.logical_rows, "inputs of one MVM (rows of the logical matrix)"),
        ("LOGICAL_COLS", spec.logical_cols, "outputs of one MVM (columns of the logical matrix)"),
        ("MAX_LAYERS", a.max_layers, "layer descriptors of the layer sequencer"),
        ("INPUT_BITS", inp.bits, "signed input bits (sign-magnitude)"),
        ("INPUT_MAX", inp.max_magnitude, "inputs run -INPUT_MAX..INPUT_MAX"),
        ("INPUT_ENCODING", ENCODINGS[inp.encoding], "0 pwm, 1 bit_serial"),
        ("INPUT_STEPS", inp.steps, "drive steps per MVM"),
        ("ADC_KIND", ADC_KINDS[adc.kind], "0 sar, 1 ramp, 2 flash"),
        ("ADC_BITS", adc.bits, "ADC resolution"),
        ("ADC_COUNT", adc.count, "ADCs per tile"),
        ("ADC_LSB_SHIFT", adc.lsb_shift, "log2 of the charge per ADC code"),
        ("ACC_BITS", fmt.accumulator.bits, "signed accumulator bits (saturating)"),
        ("SCALE_BITS", fmt.scale.bits, "signed per-column scale bits"),
        ("SCALE_FRAC_BITS", post.scale_frac_bits, "fraction bits of scale and offset"),
        ("SCALE_MIN", fmt.scale.min, "smallest scale code"),
        ("SCALE_MAX", fmt.scale.max, "largest scale code"),
        ("SCALE_ONE", 1 << post.scale_frac_bits, "the scale code of 1.0"),
        ("OFFSET_BITS", fmt.offset.bits, "signed per-column offset bits"),
        ("OFFSET_MIN", fmt.offset.min, "smallest offset code"),
        ("OFFSET_MAX", fmt.offset.max, "largest offset code"),
        ("OUTPUT_BITS", post.output_bits, "signed output bits (saturating)"),
        ("OUTPUT_MIN", post.output_min, "smallest output code"),
        ("OUTPUT_MAX", post.output_max, "largest output code"),
        ("WEIGHTS_COL_STRIDE", col_stride(spec), "words per weight row in the WEIGHTS window"),
    ]


def c_header(spec: DesignSpec, regmap=None) -> str:
    """The C99 register header of `spec` (see the module docstring for the names)."""

    regmap = regmap if regmap is not None else aimc_register_map(spec)
    guard = f"AIMC_{spec.name.upper()}_REGS_H"
    h = spec_hash(spec)
    lines = [
        "/*",
        f" * {spec.name}{HEADER_SUFFIX}: register map of aimcgen accelerator '{spec.name}'.",
        f" * GENERATED by aimcgen {__version__} (aimcgen.firmware.generate) from the design spec with hash "
        f"0x{h:08X}",
        " * (first 32 bits of sha256 of the resolved spec TOML). Do not edit: regenerate from the spec.",
        " *",
        " * Byte addresses relative to the accelerator's base; 32-bit registers; the Wishbone bus is word",
        " * addressed (adr = address >> 2). Field access: const, ro, rw, wo (write pulses, reads 0),",
        " * w1c (sticky, write 1 to clear). C99.",
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        "/* Identification */",
        _define("AIMC_REGS_DESIGN_NAME", f'"{spec.name}"'),
        _define("AIMC_MAGIC_VALUE", _u32(MAGIC), "'AIMC' in ID"),
        _define("AIMC_SPEC_HASH_VALUE", _u32(h), "SPEC_HASH of the design this header was made for"),
        _define("AIMC_VERSION_VALUE", _u32(version_word()), "aimcgen version (major.minor.patch bytes)"),
        _define("AIMC_MAP_SIZE", f"{regmap.size}u", "bytes decoded"),
        _define("AIMC_ADDR_WIDTH", f"{regmap.addr_width}u", "Wishbone word-address bits"),
        "",
        "/* Design parameters */",
    ]
    for name, value, doc in design_parameters(spec):
        lines.append(_define(f"AIMC_CFG_{name}", _int_literal(value), doc))
    lines += ["", "/* Registers */"]
    for r in regmap.registers:
        reg = r.name.upper()
        lines += ["", f"/* {reg}: {_c_comment(r.doc)} */" if r.doc else f"/* {reg} */",
                  _define(f"AIMC_{reg}_ADDR", f"0x{r.address:04X}u")]
        for f in r.fields:
            base = f"AIMC_{reg}_{f.name.upper()}"
            lines.append(_define(f"{base}_SHIFT", f"{f.lsb}u", f"{f.access}: {f.doc}" if f.doc else f.access))
            lines.append(_define(f"{base}_WIDTH", f"{f.width}u"))
            lines.append(_define(f"{base}_MASK", _u32(f.mask)))
            if f.access == "const":
                lines.append(_define(f"{base}_VALUE", _u32(f.reset)))
            elif f.access in ("rw", "w1c"):
                lines.append(_define(f"{base}_RESET", _u32(f.reset)))
    layers = [r for r in regmap.registers if r.name.startswith("LAYER_") and r.name[6:].isdigit()]
    if layers:
        first = layers[0].address
        assert all(r.address == first + 4 * i for i, r in enumerate(layers)), "LAYER_i must be consecutive"
        lines += ["", _define("AIMC_LAYER_ADDR(i)", f"(0x{first:04X}u + 4u * (uint32_t)(i))",
                              "LAYER_i descriptor, i < AIMC_CFG_MAX_LAYERS")]
    lines += ["", "/* Windows: word i of window W is at AIMC_W_BASE + 4 * i */"]
    for w in regmap.windows:
        win = w.name.upper()
        lines += ["", f"/* {win}: {_c_comment(w.doc)} */",
                  _define(f"AIMC_{win}_BASE", f"0x{w.address:04X}u"),
                  _define(f"AIMC_{win}_DEPTH", f"{w.depth}u", "words"),
                  _define(f"AIMC_{win}_SPAN", f"{w.span}u", "bytes decoded"),
                  _define(f"AIMC_{win}_WIDTH", f"{w.width}u", "bits per word"),
                  _define(f"AIMC_{win}_SIGNED", "1" if w.signed else "0"),
                  _define(f"AIMC_{win}_ACCESS_{w.access.upper()}", "1")]
    lines += ["", _define("AIMC_WEIGHTS_COL_STRIDE", f"{col_stride(spec)}u", "WEIGHTS word = row * stride + col"),
              "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- SystemRDL

_RDL_FIELD = {
    "const": "sw = r; hw = na;",
    "ro": "sw = r; hw = w;",
    "rw": "sw = rw; hw = r;",
    "wo": "sw = w; hw = r;",
    "w1c": "sw = rw; hw = w; onwrite = woclr;",
}
_RDL_MEM = {"ro": "r", "rw": "rw", "wo": "w"}


def _rdl_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rdl_id(name: str) -> str:
    # Escaped identifiers (\name) never collide with SystemRDL or SystemVerilog keywords.
    return "\\" + name


def systemrdl(spec: DesignSpec, regmap=None) -> str:
    """SystemRDL 2.0 of the register map: registers as `reg`, windows as `external mem` (32-bit entries)."""

    regmap = regmap if regmap is not None else aimc_register_map(spec)
    lines = [
        f"// {spec.name}.rdl: register map of aimcgen accelerator '{spec.name}' (SystemRDL 2.0).",
        f"// GENERATED by aimcgen {__version__} from the design spec with hash 0x{spec_hash(spec):08X}. "
        "Do not edit.",
        "// Windows are `external mem` of 32-bit entries; each entry holds a `width`-bit integer (see desc).",
        "",
        f"addrmap {_rdl_id(spec.name)} {{",
        f"    name = {_rdl_string(spec.name)};",
        f"    desc = {_rdl_string(regmap.doc)};",
        "    default regwidth = 32;",
        "    default accesswidth = 32;",
        "    addressing = regalign;",
    ]
    for r in regmap.registers:
        lines.append("    reg {")
        lines.append(f"        name = {_rdl_string(r.name)};")
        if r.doc:
            lines.append(f"        desc = {_rdl_string(r.doc)};")
        for f in r.fields:
            props = [_RDL_FIELD[f.access]]
            if f.access == "wo" and f.width == 1:
                props.append("singlepulse = true;")
            if f.doc:
                props.append(f"desc = {_rdl_string(f.doc)};")
            reset = f" = 0x{f.reset:X}" if f.access != "ro" else ""      # wo fields read 0
            lines.append(f"        field {{ {' '.join(props)} }} {_rdl_id(f.name)}[{f.msb}:{f.lsb}]{reset};")
        lines.append(f"    }} {_rdl_id(r.name)} @ 0x{r.address:X};")
    for w in regmap.windows:
        fmt = f"{'signed' if w.signed else 'unsigned'} {w.width}-bit words"
        lines += [
            "    external mem {",
            f"        name = {_rdl_string(w.name)};",
            f"        desc = {_rdl_string(f'{w.doc} ({fmt}; {w.span} bytes decoded)')};",
            f"        mementries = {w.depth};",
            "        memwidth = 32;",
            f"        sw = {_RDL_MEM[w.access]};",
            f"    }} {_rdl_id(w.name)} @ 0x{w.address:X};",
        ]
    lines += ["};", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- all products

def write_firmware(spec: DesignSpec, out_dir) -> dict[str, Path]:
    """Write `<name>_regs.h`, `<name>.rdl` and `<name>_regs.md` into `out_dir`; returns {kind: path}."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    regmap = aimc_register_map(spec)
    products = {
        "header": (out / f"{spec.name}{HEADER_SUFFIX}", c_header(spec, regmap)),
        "systemrdl": (out / f"{spec.name}.rdl", systemrdl(spec, regmap)),
        "markdown": (out / f"{spec.name}_regs.md", regmap.to_markdown()),
    }
    for path, text in products.values():
        path.write_text(text)
    return {kind: path for kind, (path, _) in products.items()}
