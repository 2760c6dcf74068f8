"""A chip program (aimcgen.contract.chip_program) as C tables for the C driver.

`program_c_sources(program, spec, name=None) -> (header_text, source_text)` gives `<name>_program.h` and
`<name>_program.c`: one `const aimc_program_t <name>_program` (the struct of firmware/aimc_driver.h) with

- the logical weight matrix as int16 conductance codes, one table row per logical row (0 = unplaced);
- the post-processor's scale and offset codes of every logical column (int32);
- per segment its driver (AIMC_SEGMENT_*), layers, layer descriptors (aimc_layer_t: start, count) and the
  host steps before and after it as aimc_host_step_t codes (AIMC_STEP_NONE ends a list), and host_final;
- per layer its placement, feature counts, positions, host relu and convolution geometry;
- the input quantization constants (max_magnitude, x_scale, x_zero) as documentation: the caller quantizes
  (x_code = clip(round_half_even((x - x_zero) / x_scale), -m, m)) and passes codes to aimc_run_network;
- a workspace of 2 x <NAME>_PROGRAM_MAX_BATCH x stride int32 words (default batch 8, -D to change it).

The source refuses to compile (#error) against a register header of another design (AIMC_SPEC_HASH_VALUE);
aimc_load_program checks the chip's SPEC_HASH at run time as well. `write_program_c(program, spec, out_dir)`
writes both files. Use them with the driver:

    aimc_load_program(&dev, &<name>_program, 0, 3, &report);
    aimc_run_network(&dev, &<name>_program, x_codes, batch, y_codes, predictions);
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.contract.chip_program import ChipProgram
from aimcgen.spec import DesignSpec

STEP_CODES = {"relu": 1, "clamp": 2, "im2col": 3, "flatten": 4, "argmax": 5}
STEP_NAMES = {"relu": "AIMC_STEP_RELU", "clamp": "AIMC_STEP_CLAMP", "im2col": "AIMC_STEP_IM2COL",
              "flatten": "AIMC_STEP_FLATTEN", "argmax": "AIMC_STEP_ARGMAX"}
DRIVER_CODES = {"sequencer": 0, "host_per_position": 1}
DRIVER_NAMES = {"sequencer": "AIMC_SEGMENT_SEQUENCER", "host_per_position": "AIMC_SEGMENT_HOST_PER_POSITION"}
MAX_STEPS = 4                   # the step arrays of aimc_program_segment_t / aimc_program_t
DEFAULT_MAX_BATCH = 8
CONV_FIELDS = ("channels", "height", "width", "filters", "kernel_h", "kernel_w", "pad_top", "pad_left",
               "pad_bottom", "pad_right", "stride_h", "stride_w", "dilation_h", "dilation_w", "out_h", "out_w")


def c_name(text: str) -> str:
    """A C identifier from a network name: lower case, [a-z0-9_], not starting with a digit."""
    name = re.sub(r"[^0-9a-zA-Z_]+", "_", text).strip("_").lower() or "network"
    return f"n_{name}" if name[0].isdigit() else name


def step_codes(steps, where: str) -> list[int]:
    """The steps as aimc_host_step_t codes, padded with AIMC_STEP_NONE to MAX_STEPS."""
    unknown = [s for s in steps if s not in STEP_CODES]
    if unknown:
        raise ValueError(f"{where}: unknown host step(s) {unknown} (known: {sorted(STEP_CODES)})")
    if len(steps) >= MAX_STEPS:
        raise ValueError(f"{where}: {len(steps)} host steps; aimc_program_t holds at most {MAX_STEPS - 1}")
    return [STEP_CODES[s] for s in steps] + [0] * (MAX_STEPS - len(steps))


def conv_values(layer) -> dict[str, int]:
    """aimc_conv_t of a program layer (zeros for a dense layer)."""
    g = layer.conv
    if g is None:
        return dict.fromkeys(CONV_FIELDS, 0)
    f, c, kh, kw = g["kernel_shape"]
    _, h, w = g["in_shape"]
    t, l, b, r = g["pads"]
    (sh, sw), (dh, dw) = g["strides"], g["dilations"]
    oh = (h + t + b - dh * (kh - 1) - 1) // sh + 1
    ow = (w + l + r - dw * (kw - 1) - 1) // sw + 1
    return dict(zip(CONV_FIELDS, map(int, (c, h, w, f, kh, kw, t, l, b, r, sh, sw, dh, dw, oh, ow))))


def stride_of(program: ChipProgram) -> int:
    """Workspace words per inference: the widest code vector between segments (and the input)."""
    return max([program.layers[0].in_features] + [l.out_features for l in program.layers])


def check_program(program: ChipProgram, spec: DesignSpec) -> None:
    if program.spec_hash != spec_hash(spec):
        raise ValueError(f"program {program.network!r} was built for spec hash {program.spec_hash:#010x}, "
                         f"spec {spec.name!r} has {spec_hash(spec):#010x}")
    if tuple(program.logical_shape) != (spec.logical_rows, spec.logical_cols):
        raise ValueError(f"program logical shape {tuple(program.logical_shape)} is not the spec's "
                         f"{(spec.logical_rows, spec.logical_cols)}")
    for seg in program.segments:
        if seg.driver not in DRIVER_CODES:
            raise ValueError(f"segment {seg.index}: unknown driver {seg.driver!r}")
        step_codes(seg.host_before, f"segment {seg.index} host_before")
        step_codes(seg.host_after, f"segment {seg.index} host_after")
    step_codes(program.host_final, "host_final")


def _c_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rows(values, per_line: int, indent: str = "    ") -> str:
    values = [str(int(v)) for v in values]
    return "\n".join(indent + ", ".join(values[i:i + per_line]) + ","
                     for i in range(0, len(values), per_line))


def _steps(steps) -> str:
    names = [STEP_NAMES[s] for s in steps] + ["AIMC_STEP_NONE"] * (MAX_STEPS - len(steps))
    return "{" + ", ".join(names) + "}"


def program_c_sources(program: ChipProgram, spec: DesignSpec, name: str | None = None,
                      header_name: str | None = None) -> tuple[str, str]:
    """(header text, source text) of `<name>_program.h/.c` (name: the network's, as a C identifier)."""
    check_program(program, spec)
    name = c_name(name or program.network)
    header_name = header_name or f"{name}_program.h"
    upper = name.upper()
    guard = f"{upper}_PROGRAM_H"
    max_batch = f"{upper}_PROGRAM_MAX_BATCH"
    rows, cols = program.logical_shape
    weights = np.asarray(program.weights, dtype=np.int64)
    stride = stride_of(program)
    header = f"""/*
 * {header_name}: the chip program of network {program.network!r} for design {program.spec_name!r}
 * (SPEC_HASH 0x{program.spec_hash:08X}), generated by aimcgen.firmware.program_c. Do not edit.
 *
 *   aimc_load_program(&dev, &{name}_program, tolerance, max_retries, &report);
 *   aimc_run_network(&dev, &{name}_program, x_codes, batch, y_codes, predictions);
 *
 * x_codes: batch x {name.upper()}_PROGRAM_IN_FEATURES input codes, quantized by the caller:
 * x_code = clip(round_half_even((x - x_zero) / x_scale), -max_magnitude, max_magnitude) with the constants
 * of the struct; y_codes: batch x {name.upper()}_PROGRAM_OUT_FEATURES; batch <= {max_batch}.
 */
#ifndef {guard}
#define {guard}

#include "aimc_driver.h"

#ifndef {max_batch}
#define {max_batch} {DEFAULT_MAX_BATCH}u
#endif
#define {upper}_PROGRAM_IN_FEATURES {program.layers[0].in_features}u
#define {upper}_PROGRAM_OUT_FEATURES {program.layers[-1].out_features}u

#ifdef __cplusplus
extern "C" {{
#endif

extern const aimc_program_t {name}_program;

#ifdef __cplusplus
}}
#endif

#endif /* {guard} */
"""
    descriptor_tables, segment_items = [], []
    for seg in program.segments:
        ds = ", ".join(f"{{{int(s)}u, {int(c)}u}}" for s, c in seg.descriptors)
        descriptor_tables.append(f"static const aimc_layer_t {name}_seg{seg.index}_descriptors[] = {{{ds}}};")
        segment_items.append(
            f"    {{{DRIVER_NAMES[seg.driver]}, {min(seg.layers)}u, {max(seg.layers)}u, "
            f"{name}_seg{seg.index}_descriptors, {len(seg.descriptors)}u,\n"
            f"     {_steps(seg.host_before)},\n     {_steps(seg.host_after)}}},")
    layer_items = []
    for l in program.layers:
        g = conv_values(l)
        layer_items.append(
            f"    {{{'AIMC_LAYER_CONV' if l.kind == 'conv' else 'AIMC_LAYER_DENSE'}, {l.segment}u, "
            f"{l.row_range[0]}u, {l.row_range[1]}u, {l.col_range[0]}u, {l.col_range[1]}u, {l.in_features}u, "
            f"{l.out_features}u, {l.positions}u, {int(bool(l.host_relu))}u,\n"
            f"     {{{', '.join(f'{g[k]}u' for k in CONV_FIELDS)}}}}},")
    weight_rows = "\n".join(f"    /* row {r} */ " + ", ".join(str(int(v)) for v in weights[r]) + ","
                            for r in range(rows))
    inp = program.input
    source = f"""/*
 * {name}_program.c: the chip program of network {program.network!r} (see {header_name}), generated by
 * aimcgen.firmware.program_c. Do not edit.
 */
#include "{header_name}"

#if AIMC_SPEC_HASH_VALUE != 0x{program.spec_hash:08X}u
#error "{header_name}: the register header is of another design than this program's (SPEC_HASH differs)"
#endif
#if AIMC_CFG_LOGICAL_ROWS != {rows} || AIMC_CFG_LOGICAL_COLS != {cols}
#error "{header_name}: the register header's logical shape differs from this program's ({rows} x {cols})"
#endif

/* Conductance codes (G+ - G-), logical_rows x logical_cols, row major; 0 = unplaced (not programmed). */
static const int16_t {name}_weights[{rows * cols}] = {{
{weight_rows}
}};

/* Post-processor scale codes of the logical columns. */
static const int32_t {name}_scale[{cols}] = {{
{_rows(program.scale, 16)}
}};

/* Post-processor offset codes of the logical columns. */
static const int32_t {name}_offset[{cols}] = {{
{_rows(program.offset, 16)}
}};

/* Layers: kind, segment, rows start/end, columns start/end, in/out features, positions, host relu, conv. */
static const aimc_program_layer_t {name}_layers[{len(program.layers)}] = {{
{chr(10).join(layer_items)}
}};

{chr(10).join(descriptor_tables)}

/* Segments in run order: driver, first/last layer, descriptors, host steps before and after. */
static const aimc_program_segment_t {name}_segments[{len(program.segments)}] = {{
{chr(10).join(segment_items)}
}};

/* Between segments: 2 x max batch x {stride} codes. */
static int32_t {name}_workspace[2u * {max_batch} * {stride}u];

const aimc_program_t {name}_program = {{
    {_c_string(program.network)}, {_c_string(program.spec_name)}, 0x{program.spec_hash:08X}u, {rows}u, {cols}u,
    /* input quantization (the caller quantizes): max_magnitude, x_scale, x_zero */
    {int(inp['max_magnitude'])}u, {float(inp['x_scale'])!r}, {float(inp['x_zero'])!r},
    {name}_weights, {name}_scale, {name}_offset,
    {name}_layers, {len(program.layers)}u,
    {name}_segments, {len(program.segments)}u,
    {_steps(program.host_final)},
    {program.layers[0].in_features}u, {program.layers[-1].out_features}u, {stride}u,
    {name}_workspace, {max_batch}
}};
"""
    return header, source


def write_program_c(program: ChipProgram, spec: DesignSpec, out_dir, name: str | None = None) -> tuple[Path, Path]:
    """Write `<name>_program.h` and `<name>_program.c` into out_dir; returns their paths."""
    name = c_name(name or program.network)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    header, source = program_c_sources(program, spec, name)
    h, c = out / f"{name}_program.h", out / f"{name}_program.c"
    h.write_text(header)
    c.write_text(source)
    return h, c
