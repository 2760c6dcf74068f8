"""The chip program: everything needed to run a placed, quantized network on one chip, as one file.

File `program.aimc`, schema "aimcgen-chip-program/1": a ZIP archive (readable with numpy.load, like an .npz)
of four members:

    header.json   UTF-8 JSON, below
    weights.npy   int16 (logical_rows, logical_cols): the conductance code (G+ - G-) of every logical weight
                  (row tile r, column tile c hold block [r*tile.rows:(r+1)*tile.rows, c*tile.cols:...]);
                  unplaced weights are 0
    scale.npy     int32 (logical_cols,): the post-processor's fixed-point scale code of every column
    offset.npy    int32 (logical_cols,): its offset code; unplaced columns have scale = offset = 0

header.json keys:

    schema          "aimcgen-chip-program/1"
    network         name of the network
    spec            {"name": design name, "hash": aimcgen.contract.aimc_registers.spec_hash(spec), the
                    32-bit hash the chip's SPEC_HASH register reads}
    logical_shape   [logical_rows, logical_cols]; tile_shape [tile.rows, tile.cols]; grid [row_tiles, col_tiles]
    input           {"max_magnitude": m, "x_scale", "x_zero"}: input codes are
                    x_code = clip(round_half_even((x - x_zero) / x_scale), -m, m) of the flat input
                    (NCHW order for images)
    layers          per layer, in network order: index; kind "dense" | "conv"; segment; row_range [0, in) and
                    col_range [start, start + out) of its crossbar matrix on the logical matrix (half-open);
                    tiles it touches (row tile * col_tiles + col tile); in_features and out_features as the
                    host sees them (a conv: C*H*W and F*oh*ow); activation (of the float network); host_relu
                    (the host applies it); positions (MVMs per input vector); conv geometry or null
                    ({"kernel_shape": [F, C, kh, kw], "in_shape": [C, H, W], "pads": [top, left, bottom, right],
                    "strides": [h, w], "dilations": [h, w]}); x_scale, x_zero (its input codes:
                    x = x_scale * code + x_zero) and y_scale, y_zero (its output codes: y = y_scale * code + y_zero)
    segments        per segment, in run order: index; layers (indices); driver "sequencer" (write the
                    descriptors to LAYER_COUNT / LAYER_i and stream the input: the chip chains the layers,
                    feeding a result in columns start..start+count-1 back as input rows 0..count-1 clamped to
                    +-m) or "host_per_position" (one MVM per im2col patch, the single descriptor); descriptors
                    [[start, count], ...]; host_before and host_after: the host steps around it
    host_final      host steps after the last segment

Host steps: "im2col" turns the segment input (C*H*W codes) into one patch per output position, positions
row-major, patch order (channel, kernel row, kernel column), padding code 0 (sim.eval.network.ConvLayer);
each patch, padded with zeros to logical_rows, is one MVM. "relu" max(code, 0). "clamp" clip to +-m, as the
sequencer does between layers (before a next segment). "flatten" the per-position outputs (positions, F)
become F x oh x ow in NCHW order. "argmax" the prediction is the index of the largest output code (y_scale > 0).
Segment inputs are zero padded to logical_rows; a segment's result is the post-processor codes of its last
descriptor's columns.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from aimcgen.contract.aimc_registers import spec_hash
from aimcgen.spec import DesignSpec

SCHEMA = "aimcgen-chip-program/1"
ARRAYS = {"weights": np.int16, "scale": np.int32, "offset": np.int32}


class ProgramError(ValueError):
    """A program file cannot be used with this spec; the message names the file and the problem."""


@dataclass
class ProgramLayer:
    index: int
    kind: str                       # "dense" | "conv"
    segment: int
    row_range: tuple[int, int]
    col_range: tuple[int, int]
    tiles: list[int]
    in_features: int
    out_features: int
    activation: str
    host_relu: bool
    positions: int
    conv: dict | None
    x_scale: float
    x_zero: float
    y_scale: float
    y_zero: float

    def __post_init__(self):
        self.row_range, self.col_range = tuple(self.row_range), tuple(self.col_range)


@dataclass
class ProgramSegment:
    index: int
    layers: list[int]
    driver: str                     # "sequencer" | "host_per_position"
    descriptors: list[tuple[int, int]]
    host_before: list[str] = field(default_factory=list)
    host_after: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.descriptors = [tuple(d) for d in self.descriptors]


@dataclass
class ChipProgram:
    network: str
    spec_name: str
    spec_hash: int
    logical_shape: tuple[int, int]
    tile_shape: tuple[int, int]
    grid: tuple[int, int]
    input: dict
    layers: list[ProgramLayer]
    segments: list[ProgramSegment]
    host_final: list[str]
    weights: np.ndarray             # int16 (logical_rows, logical_cols)
    scale: np.ndarray               # int32 (logical_cols,)
    offset: np.ndarray              # int32 (logical_cols,)

    def header(self) -> dict:
        return {"schema": SCHEMA, "network": self.network,
                "spec": {"name": self.spec_name, "hash": self.spec_hash},
                "logical_shape": list(self.logical_shape), "tile_shape": list(self.tile_shape),
                "grid": list(self.grid), "input": self.input,
                "layers": [asdict(l) for l in self.layers], "segments": [asdict(s) for s in self.segments],
                "host_final": self.host_final}

    @classmethod
    def from_header(cls, header: dict, arrays: dict) -> "ChipProgram":
        return cls(header["network"], header["spec"]["name"], int(header["spec"]["hash"]),
                   tuple(header["logical_shape"]), tuple(header["tile_shape"]), tuple(header["grid"]),
                   header["input"], [ProgramLayer(**l) for l in header["layers"]],
                   [ProgramSegment(**s) for s in header["segments"]], header["host_final"],
                   arrays["weights"], arrays["scale"], arrays["offset"])


def write_program(path, program: ChipProgram) -> Path:
    path = Path(path)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", json.dumps(program.header(), indent=2) + "\n")
        for name, dtype in ARRAYS.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(getattr(program, name), dtype=dtype),
                                      allow_pickle=False)
            z.writestr(f"{name}.npy", buf.getvalue())
    return path


def read_program(path, spec: DesignSpec) -> ChipProgram:
    """The program in `path`, checked against `spec`: schema, spec hash, array shapes and types."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            missing = [m for m in ["header.json", *(f"{n}.npy" for n in ARRAYS)] if m not in names]
            if missing:
                raise ProgramError(f"{path}: not a chip program: no {', '.join(missing)} in the archive")
            header = json.loads(z.read("header.json"))
            arrays = {n: np.lib.format.read_array(io.BytesIO(z.read(f"{n}.npy")), allow_pickle=False)
                      for n in ARRAYS}
    except (zipfile.BadZipFile, json.JSONDecodeError, ValueError, OSError) as exc:
        if isinstance(exc, ProgramError):
            raise
        raise ProgramError(f"{path}: not a chip program ({exc})") from exc
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        found = header.get("schema") if isinstance(header, dict) else None
        raise ProgramError(f"{path}: schema {found!r}, expected {SCHEMA!r}")
    want = spec_hash(spec)
    got = header.get("spec", {}).get("hash")
    if got != want:
        raise ProgramError(f"{path}: built for spec {header.get('spec', {}).get('name')!r} with hash "
                           f"{_hex(got)}, but spec {spec.name!r} has hash {_hex(want)}: deploy the network "
                           f"again for this spec")
    shapes = {"weights": (spec.logical_rows, spec.logical_cols), "scale": (spec.logical_cols,),
              "offset": (spec.logical_cols,)}
    for name, dtype in ARRAYS.items():
        a = arrays[name]
        if a.shape != shapes[name] or a.dtype != dtype:
            raise ProgramError(f"{path}: {name}.npy is {a.dtype} {a.shape}, expected "
                               f"{np.dtype(dtype)} {shapes[name]}")
    try:
        return ChipProgram.from_header(header, arrays)
    except (KeyError, TypeError) as exc:
        raise ProgramError(f"{path}: header.json is incomplete or malformed ({exc!r})") from exc


def _hex(value) -> str:
    return f"0x{value:08x}" if isinstance(value, int) else repr(value)


# --- the host's steps, as every loader performs them (sim.deploy.run, the host and C drivers, benches)

HOST_STEPS_AFTER = ("relu", "clamp", "flatten")


def conv_out_hw(geometry: dict) -> tuple[int, int]:
    """Output positions (oh, ow) of a program layer's convolution geometry (contract.chip_program)."""
    _, kh, kw = geometry["kernel_shape"][1:]
    _, h, w = geometry["in_shape"]
    t, l, b, r = geometry["pads"]
    (sh, sw), (dh, dw) = geometry["strides"], geometry["dilations"]
    return (h + t + b - dh * (kh - 1) - 1) // sh + 1, (w + l + r - dw * (kw - 1) - 1) // sw + 1


def im2col(geometry: dict, x: np.ndarray) -> np.ndarray:
    """The host's im2col step (contract.chip_program): (batch, C*H*W) -> (batch * positions, C*kh*kw),
    positions row major, patch order (channel, kernel row, kernel column), padding code 0."""
    c, h, w = geometry["in_shape"]
    kh, kw = geometry["kernel_shape"][2:]
    t, l, b, r = geometry["pads"]
    (sh, sw), (dh, dw) = geometry["strides"], geometry["dilations"]
    x = np.pad(np.asarray(x).reshape(len(x), c, h, w), ((0, 0), (0, 0), (t, b), (l, r)))
    oh, ow = conv_out_hw(geometry)
    rows = (np.arange(oh) * sh)[:, None] + np.arange(kh) * dh
    cols = (np.arange(ow) * sw)[:, None] + np.arange(kw) * dw
    p = x[:, :, rows[:, None, :, None], cols[None, :, None, :]]          # (batch, C, oh, ow, kh, kw)
    return p.transpose(0, 2, 3, 1, 4, 5).reshape(len(x) * oh * ow, c * kh * kw)


def flatten(geometry: dict, y: np.ndarray) -> np.ndarray:
    """The host's flatten step: (batch * positions, F) -> (batch, F*oh*ow) in NCHW order."""
    oh, ow = conv_out_hw(geometry)
    return y.reshape(-1, oh, ow, y.shape[1]).transpose(0, 3, 1, 2).reshape(-1, y.shape[1] * oh * ow)


def host_steps_after(codes: np.ndarray, steps, max_magnitude: int, geometry: dict | None = None) -> np.ndarray:
    """A segment's host steps after its MVMs, in order: "relu" max(code, 0), "clamp" clip to +-max_magnitude,
    "flatten" (needs the segment's last layer's conv geometry)."""
    for step in steps:
        if step == "relu":
            codes = np.maximum(codes, 0)
        elif step == "clamp":
            codes = np.clip(codes, -max_magnitude, max_magnitude)
        elif step == "flatten":
            codes = flatten(geometry, codes)
        else:
            raise ValueError(f"unknown host step {step!r} (known: {', '.join(HOST_STEPS_AFTER)})")
    return codes
