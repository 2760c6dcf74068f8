"""The register map of an aimcgen accelerator, derived from its design spec.

Software discovers the design from it (ID, version, spec hash, every datapath parameter), controls and
observes the datapath, and reaches the per-column coefficients, the input and output vectors and the
weight programming engine through windows. Windows (contract.register_map gives the word format and the
layouts), with R = logical rows (tile.rows * row_tiles) and C = logical columns (tile.cols * col_tiles):

  SCALE    rw  vector of C, signed postproc.scale_bits       per-column scale, scale_frac_bits fraction bits
  OFFSET   rw  vector of C, signed postproc.offset_bits      per-column offset, scale_frac_bits fraction bits
  INPUT    wo  vector of R, signed input.bits                the next input vector (then CTRL.start)
  OUTPUT   ro  vector of C, signed postproc.output_bits      the last output vector
  WEIGHTS  wo  matrix R x C, signed tile.weight_bits,        word row * S + col, S = col_stride(spec): C
               row_stride S                                  rounded up to a power of two (S >= C)
  TILE_GAIN rw vector of (row_tiles - 1) * C, unsigned      word (r - 1) * C + j: the gain trim of row tile
               accumulator.tile_gain_bits                    r >= 1 in logical column j (contract.tile_gain);
                                                             only when tile_gain_bits > 0 and row_tiles > 1

Out-of-range writes to INPUT and WEIGHTS (b = input.bits, resp. tile.weight_bits; the window's width is b):
- a value outside -2^(b-1)..2^(b-1)-1, e.g. +2^(b-1), answers a bus error (Wishbone err, ERRORS.bus_error
  set) and changes nothing: the register bank checks the whole 32-bit word, whose bits 31..b-1 must all
  equal the sign (rtl/register_bank.py);
- the most negative code -2^(b-1) is accepted (ack, no bus error) although sign-magnitude inputs and
  differential weights only reach -(2^(b-1)-1): an input -2^(b-1) drives its row as -(2^(b-1)-1)
  (rtl/row_driver.py); the emulated tile programs a weight -2^(b-1) as -(2^(b-1)-1) (rtl/emulated_tile.py;
  a real macro receives the code as written) and reads that back, so program-and-verify
  (rtl/program_verify.py) sees |read back - target| = 1 and, with PROG_CTRL.tolerance = 0 (the default
  reset value, spec program_verify.tolerance), rewrites it max_retries times and then reports a failure (ERRORS.prog_verify_fail set,
  PROG_STATUS.failures incremented, PROG_FAIL_ADDR = its row and column); with tolerance >= 1 it passes.
  The golden model (sim.models.golden) rejects both codes (SpecError).
- WEIGHTS words whose column lies in the padding (col >= C, possible when C is not a power of two) are
  acknowledged and dropped (rtl/accelerator.py); words at or beyond R * S answer err.

Starting MVMs, STATUS.busy and ERRORS.start_dropped (rtl/accelerator_core.py, rtl/input_buffer.py):
- The input vectors are double-buffered: the active buffer holds the vector the tiles run, the load buffer
  the INPUT window (or the input stream). CTRL.start takes effect in the cycle after its write is
  acknowledged: it queues the load buffer (the tiles take it as soon as the active buffer is free) and, with
  LAYER_COUNT > 1, the queued vector runs the whole layer chain.
- STATUS.busy is 1 from the cycle a CTRL.start write is acknowledged (so the first STATUS read after the
  write reads busy = 1) for as long as any work is pending: a start or a complete streamed vector is queued,
  an MVM or a layer chain is running, or its outputs are not yet all in OUTPUT and counted in OUT_COUNT
  (busy is also 1 while program-and-verify drives a tile). OUTPUT and OUT_COUNT are updated at the same
  clock edge as busy falls, so "write CTRL.start; poll STATUS until busy = 0; read OUTPUT" reads that
  start's outputs, and OUT_COUNT has advanced by one for it (unless the start was dropped, below).
- A start that cannot be queued is dropped: it sets ERRORS.start_dropped (sticky, write 1 to clear) and is
  otherwise ignored (nothing runs for it; the queued and the running vectors are unaffected). A start cannot
  be queued when, in the cycle it takes effect, the load buffer still holds a queued vector (a previous start
  or a complete streamed vector that the tiles have not taken yet), or when it is acknowledged while a layer
  chain runs (the chain owns the load buffer). E.g. with an MVM running and a second start queued (STATUS:
  busy = 1, in_free = 0), a third CTRL.start is dropped. Firmware that writes CTRL.start only while
  STATUS.in_free = 1 or right after its INPUT writes (which wait for in_free on the bus), with the input
  stream idle, never has a start dropped.

PROG_CTRL.tolerance is 8 bits wide, the weight codes tile.weight_bits = b: program-and-verify accepts a weight
when |read back - target| <= min(tolerance, 2^b - 1). 2^b - 1 is the largest difference two b-bit codes can
have, so any tolerance >= 2^b - 1 accepts every read back (e.g. with b = 4 a tolerance of 16 acts as 15); the
field reads back as written (rtl/accelerator.py saturates it into the engine's b-bit port).
"""

from __future__ import annotations

import hashlib

from aimcgen import __version__
from aimcgen.contract.tile_gain import tile_gain_on, unity_gain
from aimcgen.contract.device_twin_drift import EPOCH_BITS
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.register_map import Field, MatrixLayout, Register, RegisterMap, VectorLayout, Window
from aimcgen.spec import DesignSpec
from aimcgen.spec_toml import dumps

MAGIC = 0x41494D43                      # 'AIMC'
ENCODINGS = {"pwm": 0, "bit_serial": 1}
ADC_KINDS = {"sar": 0, "ramp": 1, "flash": 2}
MAX_RETRIES_BITS = 4                   # PV_CTRL.max_retries: 0..15 retries after the first write
REGISTER_SPAN = 0x100                   # plain registers live below this; windows above
# The activity counters: (register, address, counter, what it counts); the counter names are the fields of
# rtl.activity_counters and sim.models.activity.Activity.
ACTIVITY_COUNTERS = (
    ("MVM_COUNT", 0xA0, "mvms", "MVMs of the tile grid (one per input vector and layer)"),
    ("DRIVE_CYCLES", 0xA4, "drive_cycles", "INTEGRATE commands accepted, added over the tiles"),
    ("ROW_ACTIVATIONS", 0xA8, "row_activations", "rows enabled in those INTEGRATE commands, added over "
                                                 "the tiles"),
    ("CONVERSIONS", 0xAC, "conversions", "ADC samples taken (one per ADC per converted column position and "
                                         "drive step)"),
    ("CONVERSIONS_SKIPPED", 0xB0, "skipped", "ADC samples the [sparsity] options skipped: tile MVMs x "
                                             "steps x tile.cols - CONVERSIONS"),
)


def spec_hash(spec: DesignSpec) -> int:
    """First 32 bits of the SHA-256 of the resolved spec TOML: software checks it matches its build."""
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
                                      "run an MVM (with LAYER_COUNT > 1 the layer chain) on the vector "
                                      "written to the INPUT window; queued behind a running MVM, one at a "
                                      "time: a start that cannot be queued (a vector still queued, or a "
                                      "chain running) sets ERRORS.start_dropped and is ignored"),),
                 "commands"),
        Register("CONFIG", 0x24, (Field("out_stream", 0, 1, "rw", 1,
                                        "1: outputs also go to the output stream (which then must be read)"),),
                 "configuration"),
        Register("STATUS", 0x28, (_ro("busy", 0, 1, "work is pending, from the cycle a CTRL.start write is "
                                              "acknowledged: a start or streamed vector queued, an MVM or "
                                              "layer chain running, or its outputs not yet in OUTPUT and "
                                              "OUT_COUNT (also while program-and-verify drives a tile); "
                                              "0: OUTPUT holds the last output vector"),
                                  _ro("in_free", 1, 1, "the INPUT window may be written"),
                                  _ro("prog_busy", 2, 1, "program-and-verify is running")), "status"),
        Register("ERRORS", 0x2C, (Field("acc_overflow", 0, 1, "w1c", 0, "an accumulator saturated"),
                                  Field("output_saturated", 1, 1, "w1c", 0, "an output was clamped"),
                                  Field("prog_verify_fail", 2, 1, "w1c", 0, "a weight missed its tolerance"),
                                  Field("bus_error", 3, 1, "w1c", 0, "an access hit no register or window"),
                                  Field("start_dropped", 4, 1, "w1c", 0,
                                        "a CTRL.start could not be queued (a vector still queued, or a layer "
                                        "chain running) and was ignored")),
                 "sticky error flags; write 1 to clear"),
        Register("OUT_COUNT", 0x30, (_ro("count", 0, 32, "output vectors produced since reset"),),
                 "completed MVMs"),
        Register("PROG_CTRL", 0x34, (Field("tolerance", 0, 8, "rw", spec.program_verify.tolerance,
                                           f"accepted |read back - target|; saturates at "
                                           f"2^weight_bits - 1 = {(1 << t.weight_bits) - 1} (any larger "
                                           f"value accepts every read back); reset value "
                                           f"program_verify.tolerance"),
                                     Field("max_retries", 8, MAX_RETRIES_BITS, "rw",
                                           spec.program_verify.max_retries,
                                           "rewrites after the first write; reset value "
                                           "program_verify.max_retries")), "program-and-verify"),
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
    # Program-and-verify report, after the largest layer table (LAYER_15 at 0x80): the analog yield is
    # 1 - PROG_STATUS.failures / PROG_COUNT.weights (contract.device_twin.analog_yield).
    registers += [
        Register("PROG_COUNT", 0x90, (_ro("weights", 0, 32, "weights that ran program-and-verify (WEIGHTS "
                                                       "window writes in the matrix) since reset"),),
                 "program-and-verify: weights programmed"),
        Register("PROG_FIRST_FAIL_ADDR", 0x94, (_ro("row", 0, 16), _ro("col", 16, 16)),
                 "logical address of the first weight that missed tolerance since reset (valid while "
                 "PROG_STATUS.failures > 0)"),
    ]
    if spec.twin.drift == "on":
        registers.append(Register("DRIFT_EPOCH", 0x98, (Field(
            "epoch", 0, EPOCH_BITS, "rw", 0,
            "time since programming of the emulated devices, as an epoch of "
            "contract.device_twin_drift.EPOCH_SECONDS (0: no drift, 5: 1 h, 7: 1 day, 12: 1 year); a write "
            "re-reads every device of every tile (about 2 x rows x cols cycles): write it while idle"),),
            "digital twin: drift epoch (emulated tile only; spec twin.drift = 'on')"))
    # Activity counters (sim.models.activity predicts them): free-running 32-bit counts since reset that wrap;
    # software takes differences modulo 2^32 around the work it measures.
    registers += [Register(name, address, (_ro("count", 0, 32, doc),), f"activity: {doc}")
                  for name, address, _, doc in ACTIVITY_COUNTERS]
    windows = []
    address = REGISTER_SPAN

    def add(name, layout, access, width, signed, doc):
        nonlocal address
        w = Window(name, 0, layout.words, access, width, signed, doc, layout)
        address = -(-address // w.span) * w.span        # align to the window's span
        windows.append(Window(name, address, layout.words, access, width, signed, doc, layout))
        address += w.span

    rows, cols, stride = spec.logical_rows, spec.logical_cols, col_stride(spec)
    top = 1 << (inp.bits - 1)
    add("SCALE", VectorLayout(cols), "rw", fmt.scale.bits, True,
        f"per-column affine scale (word i = logical column i), {post.scale_frac_bits} fraction bits; 1.0 "
        f"after configuration on FPGAs and in simulation, undefined after ASIC power-up: load it before the "
        f"first MVM")
    add("OFFSET", VectorLayout(cols), "rw", fmt.offset.bits, True,
        f"per-column affine offset (word i = logical column i), {post.scale_frac_bits} fraction bits")
    add("INPUT", VectorLayout(rows), "wo", inp.bits, True,
        f"next input vector, word i = logical row i, sign-magnitude -{top - 1}..{top - 1}; then write "
        f"CTRL.start. A value outside -{top}..{top - 1} (the 32-bit word read as two's complement; e.g. "
        f"{top}) answers a bus error and is not written; -{top} is accepted and driven as -{top - 1}")
    add("OUTPUT", VectorLayout(cols), "ro", post.output_bits, True,
        "last output vector, word i = logical column i")
    levels = t.conductance_levels
    add("WEIGHTS", MatrixLayout(rows, cols, stride), "wo", t.weight_bits, True,
        f"signed weight codes -{levels}..{levels} (G+ - G-); word row*{stride} + col for logical input "
        f"row `row` and logical output column `col` (row_stride {stride} = {cols} columns rounded up to a "
        f"power of two); a write runs program-and-verify. A value outside -{levels + 1}..{levels} (the 32-bit "
        f"word read as two's complement; e.g. {levels + 1}) answers a bus error and is not written; "
        f"-{levels + 1} is accepted and programmed as -{levels} by the emulated tile (a real macro gets "
        f"-{levels + 1}), which program-and-verify reports as a failure when PROG_CTRL.tolerance = 0"
        + (f"; words with col >= {cols} are acknowledged and dropped" if stride > cols else ""))
    if tile_gain_on(spec):
        add("TILE_GAIN", VectorLayout((spec.array.row_tiles - 1) * cols), "rw", spec.accumulator.tile_gain_bits,
            False, f"per-row-tile gain trims (word (r - 1) * {cols} + j: row tile r >= 1, logical column j), "
            f"unsigned, {spec.accumulator.tile_gain_bits - 1} fraction bits; {unity_gain(spec)} (1.0) after "
            f"configuration on FPGAs and in simulation, undefined after ASIC power-up; rule in "
            f"contract.tile_gain")
    return RegisterMap(spec.name, tuple(registers), tuple(windows),
                       f"register map of aimcgen accelerator {spec.name}")
