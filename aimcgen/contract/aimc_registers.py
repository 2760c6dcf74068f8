"""The register map of an aimcgen accelerator, derived from its design spec.

Software discovers the design from it (ID, version, spec hash, every datapath parameter), controls and
observes the datapath, and reaches the per-column coefficients, the input and output vectors and the
weight programming engine through windows.
"""

from __future__ import annotations

import hashlib

from aimcgen import __version__
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.register_map import Field, Register, RegisterMap, Window
from aimcgen.spec import DesignSpec

MAGIC = 0x41494D43                      # 'AIMC'
ENCODINGS = {"pwm": 0, "bit_serial": 1}
ADC_KINDS = {"sar": 0, "ramp": 1, "flash": 2}
MAX_RETRIES_BITS = 4                   # PV_CTRL.max_retries: 0..15 retries after the first write
REGISTER_SPAN = 0x100                   # plain registers live below this; windows above


def spec_hash(spec: DesignSpec) -> int:
    """First 32 bits of the SHA-256 of the resolved spec TOML: software checks it matches its build."""
    from aimcgen.spec_toml import dumps
    return int.from_bytes(hashlib.sha256(dumps(spec).encode()).digest()[:4], "big")


def version_word() -> int:
    major, minor, patch = (int(p) for p in __version__.split(".")[:3])
    return major << 16 | minor << 8 | patch


def col_stride(spec: DesignSpec) -> int:
    """Words per weight row in the WEIGHTS window: logical columns rounded up to a power of two."""
    return 1 << max(0, (spec.logical_cols - 1).bit_length())


def _const(name, lsb, width, value, doc=""):
    return Field(name, lsb, width, "const", value, doc)


def _ro(name, lsb, width, doc=""):
    return Field(name, lsb, width, "ro", 0, doc)


def aimc_register_map(spec: DesignSpec) -> RegisterMap:
    fmt = datapath_formats(spec)
    t, a, inp, adc, post = spec.tile, spec.array, spec.input, spec.adc, spec.postproc
    registers = [
        Register("ID", 0x00, (_const("magic", 0, 32, MAGIC, "'AIMC'"),), "identifies an aimcgen accelerator"),
        Register("VERSION", 0x04, (_const("version", 0, 24, version_word(), "major.minor.patch, 8 bits each"),),
                 "aimcgen version that generated the RTL"),
        Register("SPEC_HASH", 0x08, (_const("hash", 0, 32, spec_hash(spec)),),
                 "first 32 bits of sha256(resolved spec TOML)"),
        Register("TILE", 0x0C, (_const("rows", 0, 11, t.rows), _const("cols", 11, 11, t.cols),
                                _const("weight_bits", 22, 4, t.weight_bits)), "tile geometry"),
        Register("ARRAY", 0x10, (_const("row_tiles", 0, 7, a.row_tiles), _const("col_tiles", 7, 7, a.col_tiles)),
                 "tile grid; logical matrix = (rows*row_tiles) x (cols*col_tiles)"),
        Register("INPUT_FORMAT", 0x14, (_const("bits", 0, 4, inp.bits),
                                 _const("encoding", 4, 1, ENCODINGS[inp.encoding], "0 pwm, 1 bit_serial")),
                 "input format (sign-magnitude)"),
        Register("ADC", 0x18, (_const("kind", 0, 2, ADC_KINDS[adc.kind], "0 sar, 1 ramp, 2 flash"),
                               _const("bits", 2, 4, adc.bits), _const("count", 6, 11, adc.count),
                               _const("lsb_shift", 17, 6, adc.lsb_shift)), "ADCs per tile"),
        Register("DATAPATH", 0x1C, (_const("acc_bits", 0, 6, fmt.accumulator.bits),
                                    _const("output_bits", 6, 6, post.output_bits),
                                    _const("scale_bits", 12, 5, post.scale_bits),
                                    _const("scale_frac_bits", 17, 6, post.scale_frac_bits),
                                    _const("offset_bits", 23, 6, post.offset_bits)), "datapath widths"),
        Register("CTRL", 0x20, (Field("start", 0, 1, "wo", 0,
                                      "run an MVM on the vector written to the INPUT window"),),
                 "commands"),
        Register("CONFIG", 0x24, (Field("out_stream", 0, 1, "rw", 1,
                                        "1: outputs also go to the output stream (which then must be read)"),),
                 "configuration"),
        Register("STATUS", 0x28, (_ro("busy", 0, 1, "an MVM or its outputs are in flight"),
                                  _ro("in_free", 1, 1, "the INPUT window may be written"),
                                  _ro("prog_busy", 2, 1, "program-and-verify is running")), "status"),
        Register("ERRORS", 0x2C, (Field("acc_overflow", 0, 1, "w1c", 0, "an accumulator saturated"),
                                  Field("output_saturated", 1, 1, "w1c", 0, "an output was clamped"),
                                  Field("prog_verify_fail", 2, 1, "w1c", 0, "a weight missed its tolerance"),
                                  Field("bus_error", 3, 1, "w1c", 0, "an access hit no register or window")),
                 "sticky error flags; write 1 to clear"),
        Register("OUT_COUNT", 0x30, (_ro("count", 0, 32, "output vectors produced since reset"),),
                 "completed MVMs"),
        Register("PROG_CTRL", 0x34, (Field("tolerance", 0, 8, "rw", 0, "accepted |read back - target|"),
                                     Field("max_retries", 8, MAX_RETRIES_BITS, "rw", 3,
                                           "rewrites after the first write")), "program-and-verify"),
        Register("PROG_STATUS", 0x38, (_ro("failures", 0, 16, "weights that missed tolerance"),),
                 "program-and-verify results"),
        Register("PROG_FAIL_ADDR", 0x3C, (_ro("row", 0, 16), _ro("col", 16, 16)),
                 "logical address of the last weight that missed tolerance"),
        Register("LAYER_COUNT", 0x40, (Field("count", 0, 5, "rw", 1,
                                             f"layers the sequencer chains per input vector, "
                                             f"1..{spec.array.max_layers}"),),
                 "layer sequencer"),
    ]
    registers += [
        Register(f"LAYER_{i}", 0x44 + 4 * i, (
            Field("start", 0, 16, "rw", 0, "first logical output column of the layer"),
            Field("count", 16, 16, "rw", 0, "output columns (0: up to the last column); a layer that is "
                                           "not the last feeds them back as input rows 0..count-1"),
        ), f"layer {i} descriptor") for i in range(spec.array.max_layers)]
    windows = []
    address = REGISTER_SPAN

    def add(name, depth, access, width, signed, doc):
        nonlocal address
        w = Window(name, 0, depth, access, width, signed, doc)
        address = -(-address // w.span) * w.span        # align to the window's span
        windows.append(Window(name, address, depth, access, width, signed, doc))
        address += w.span

    add("SCALE", spec.logical_cols, "rw", fmt.scale.bits, True,
        f"per-column affine scale, {post.scale_frac_bits} fraction bits; 1.0 after configuration on FPGAs "
        f"and in simulation, undefined after ASIC power-up: load it before the first MVM")
    add("OFFSET", spec.logical_cols, "rw", fmt.offset.bits, True,
        f"per-column affine offset, {post.scale_frac_bits} fraction bits")
    add("INPUT", spec.logical_rows, "wo", inp.bits, True, "next input vector; then write CTRL.start")
    add("OUTPUT", spec.logical_cols, "ro", post.output_bits, True, "last output vector")
    add("WEIGHTS", spec.logical_rows * col_stride(spec), "wo", t.weight_bits, True,
        f"signed weight codes; word row*{col_stride(spec)} + col; a write runs program-and-verify")
    return RegisterMap(spec.name, tuple(registers), tuple(windows),
                       f"register map of aimcgen accelerator {spec.name}")
