"""The design spec: the single source of truth for one AIMC accelerator.

Every downstream product (RTL, golden model, register map, firmware header, flow configs) reads its
parameters from a `DesignSpec`. A spec is a tree of frozen dataclasses, one per TOML table; each field
declares its allowed values in its metadata, so validation, documentation and the property tests all read
the same declaration.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from typing import Any

from aimcgen.devices import DEVICE_PRESETS, PCM as PCM_PRESET


class SpecError(ValueError):
    """A spec field (or a combination of fields) is invalid; the message names the field and the rule."""


def _int(lo: int, hi: int, doc: str, **kw) -> Any:
    return field(metadata={"kind": "int", "lo": lo, "hi": hi, "doc": doc}, **kw)


def _float(lo: float, hi: float, doc: str, **kw) -> Any:
    return field(metadata={"kind": "float", "lo": lo, "hi": hi, "doc": doc}, **kw)


def _choice(choices: tuple[str, ...], doc: str, **kw) -> Any:
    return field(metadata={"kind": "choice", "choices": choices, "doc": doc}, **kw)


def _name(doc: str, **kw) -> Any:
    return field(metadata={"kind": "name", "doc": doc}, **kw)


def _floats(min_len: int, max_len: int, doc: str, **kw) -> Any:
    return field(metadata={"kind": "floats", "min_len": min_len, "max_len": max_len, "doc": doc}, **kw)


NAME_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,31}")          # matched whole (fullmatch): no trailing newline
# RTL elaboration and the golden model grow with the tile count and the device count: 128 tiles of 16 x 16
# elaborate in about 100 s, 256 tiles overflow the Python stack in Amaranth; one 1024 x 1024 tile (1 Mi
# devices) takes about 3 min and 1.5 GB. Past these limits a legal spec would run for many minutes and
# gigabytes (64 x 64 tiles of 1024 x 1024) before failing.
MAX_TILES = 128
MAX_DEVICES = 4 << 20


@dataclass(frozen=True)
class DesignInfo:
    name: str = _name("design name: lower-case identifier, used for module and file names", default="aimc")
    clock_mhz: float = _float(1.0, 1000.0, "target clock of the digital periphery in MHz", default=50.0)


@dataclass(frozen=True)
class TileSpec:
    rows: int = _int(2, 1024, "crossbar rows (inputs)", default=16)
    cols: int = _int(1, 1024, "crossbar columns (outputs)", default=16)
    weight_bits: int = _int(2, 9, "signed weight bits; each weight is a differential pair of "
                            "(weight_bits-1)-bit conductance codes G+ and G-", default=4)

    @property
    def conductance_levels(self) -> int:
        """Largest conductance code of one device (codes run 0..levels)."""
        return (1 << (self.weight_bits - 1)) - 1


@dataclass(frozen=True)
class InputSpec:
    bits: int = _int(2, 12, "signed input bits, sign-magnitude: inputs run -(2^(bits-1)-1)..2^(bits-1)-1",
                     default=4)
    encoding: str = _choice(("pwm", "bit_serial"), "row drive: pwm holds row i active |x_i| cycles; "
                            "bit_serial drives one magnitude bit plane per step", default="bit_serial")

    @property
    def max_magnitude(self) -> int:
        return (1 << (self.bits - 1)) - 1

    @property
    def steps(self) -> int:
        """Drive/integrate/convert steps per MVM: one for PWM, one per magnitude bit plane otherwise."""
        return 1 if self.encoding == "pwm" else self.bits - 1


@dataclass(frozen=True)
class AdcSpec:
    kind: str = _choice(("sar", "ramp", "flash"), "ADC architecture", default="sar")
    bits: int = _int(1, 14, "ADC resolution (signed codes -2^(bits-1)..2^(bits-1)-1)", default=6)
    count: int = _int(1, 1024, "ADCs per tile, shared among the columns through a column mux; must divide "
                      "tile.cols", default=2)
    full_scale: int = _int(1, 1 << 40, "integrated column charge (in units of one conductance code for "
                           "one drive cycle) at the top of the ADC range; a power of two >= 2^(bits-1)",
                           default=32)
    gain_sigma: float = _float(0.0, 0.5, "per-ADC gain error spread, relative sigma (physics model, and the "
                               "emulated tile and golden model bit-exactly, drawn from noise.seed; "
                               "contract.adc_errors)", default=0.0)
    offset_sigma_lsb: float = _float(0.0, 64.0, "per-ADC offset spread (comparator offset) in LSB (physics "
                                     "model, emulated tile and golden model; contract.adc_errors)", default=0.0)
    cap_mismatch_sigma: float = _float(0.0, 0.2, "SAR unit-capacitor mismatch, relative sigma of one unit "
                                       "capacitor (sar only; physics model, emulated tile and golden model)",
                                       default=0.0)
    ramp_inl_lsb: float = _float(-16.0, 16.0, "ramp INL: bow of this many LSB at mid-scale, 0 at both ends "
                                 "(ramp only; physics model, emulated tile and golden model)", default=0.0)
    column_assignment: str = _choice(("blocks", "interleaved"), "which columns share an ADC's column mux "
                                     "(contract.adc_columns): blocks: ADC a serves columns a*G..a*G+G-1; "
                                     "interleaved: position p holds columns p*A..p*A+A-1 (A = count, "
                                     "G = tile.cols / count)", default="blocks")

    @property
    def lsb_shift(self) -> int:
        """log2 of the charge per ADC code (the ADC's LSB)."""
        return self.full_scale.bit_length() - 1 - (self.bits - 1)

    @property
    def code_min(self) -> int:
        return -(1 << (self.bits - 1))

    @property
    def code_max(self) -> int:
        return (1 << (self.bits - 1)) - 1


@dataclass(frozen=True)
class AccumulatorSpec:
    bits: int = _int(4, 48, "signed width of the shift-add accumulator (saturating)", default=16)
    tile_gain_bits: int = _int(0, 16, "width of the per-row-tile gain trims (TILE_GAIN window): row tile r >= 1's "
                               "partial sums are scaled by a trim of tile_gain_bits - 1 fraction bits before "
                               "they join the column sum, so calibration can match the row tiles' ADC gains "
                               "(contract.tile_gain); 0: not built", default=0)


@dataclass(frozen=True)
class PostprocSpec:
    scale_bits: int = _int(2, 24, "signed width of the per-column affine scale", default=12)
    scale_frac_bits: int = _int(0, 32, "fraction bits of the scale; the product is rounded (half up) by "
                                "this many bits", default=8)
    offset_bits: int = _int(2, 32, "signed width of the per-column offset, added with scale_frac_bits "
                            "fraction bits before rounding", default=20)
    activation: str = _choice(("none", "relu", "clip"), "activation after the affine correction",
                              default="none")
    clip_max: int = _int(0, (1 << 31) - 1, "upper bound of the clip activation (lower bound 0); 0 means "
                         "the largest output code", default=0)
    output_bits: int = _int(2, 32, "signed width of the output codes (saturating)", default=8)

    @property
    def output_min(self) -> int:
        return -(1 << (self.output_bits - 1))

    @property
    def output_max(self) -> int:
        return (1 << (self.output_bits - 1)) - 1

    @property
    def clip_high(self) -> int:
        return self.clip_max if self.clip_max else self.output_max


@dataclass(frozen=True)
class ArraySpec:
    row_tiles: int = _int(1, 64, "tiles stacked along the input dimension; their partial sums add; "
                          f"row_tiles x col_tiles <= {MAX_TILES} and the devices (tile.rows x row_tiles) x "
                          f"(tile.cols x col_tiles) <= {MAX_DEVICES} (4 Mi)", default=1)
    col_tiles: int = _int(1, 64, "tiles side by side along the output dimension; outputs concatenate "
                          "(same limits as row_tiles)", default=1)
    max_layers: int = _int(1, 16, "layer descriptors of the layer sequencer, which chains layers placed on "
                           "column ranges of the grid without the host", default=4)


@dataclass(frozen=True)
class DeviceSpec:
    """Statistics of the physical devices, used by the float physics model (sim.models.physics).

    The defaults are the PCM preset; `aimcgen.devices` holds every preset with the source of each constant.
    In the formulas g = G / g_max is the normalized conductance and t the time since programming.
    """
    model: str = _choice(("pcm", "rram", "ideal"), "device preset that supplies the defaults of the other "
                         "device fields (statistics of the float physics model only); 'ideal' does not turn "
                         "off the emulated tile's read noise in the RTL and golden model: set "
                         "noise.sigma_lsb = 0 for that", default="pcm")
    g_max_us: float = _float(0.1, 1000.0, "largest programmable conductance in microsiemens",
                               default=PCM_PRESET["g_max_us"])
    prog_noise_us: tuple[float, ...] = _floats(1, 5, "programming noise sigma in uS as polynomial "
                                               "coefficients c0 + c1 g + c2 g^2 + ..., fitted at this "
                                               "g_max_us (rescale them by hand when changing g_max_us)",
                                               default=PCM_PRESET["prog_noise_us"])
    drift_mu: tuple[float, ...] = _floats(4, 4, "drift exponent mean clamp(a ln g + b, lo, hi) as "
                                          "[a, b, lo, hi]", default=PCM_PRESET["drift_mu"])
    drift_sigma: tuple[float, ...] = _floats(4, 4, "drift exponent spread clamp(a ln g + b, lo, hi) as "
                                             "[a, b, lo, hi]", default=PCM_PRESET["drift_sigma"])
    drift_t0_s: float = _float(1e-6, 1e6, "drift reference time t0 in G(t) = G0 ((t + t0)/t0)^-nu (s)",
                               default=PCM_PRESET["drift_t0_s"])
    read_noise_q: tuple[float, ...] = _floats(3, 3, "accumulated 1/f read noise Q = min(c / max(g^e, 1e-3), "
                                              "qmax) as [c, e, qmax]; its band slower than 1 ms is one "
                                              "draw per time point, shared by that time's reads", default=PCM_PRESET["read_noise_q"])
    t_read_s: float = _float(1e-12, 1.0, "duration of one read (s), sets the 1/f noise bandwidth",
                             default=PCM_PRESET["t_read_s"])
    read_noise_rel: float = _float(0.0, 1.0, "white read noise per read: additive Gaussian sigma of one weight "
                                   "(G+ - G- pair) as a fraction of g_max, whatever G (each device carries "
                                   "1/sqrt(2) of it)", default=PCM_PRESET["read_noise_rel"])
    relax_us: tuple[float, ...] = _floats(1, 5, "conductance relaxation spread in uS reached at relax_time_s, "
                                          "as polynomial coefficients in g (grows with ln t before)",
                                          default=PCM_PRESET["relax_us"])
    relax_time_s: float = _float(1.0, 1e9, "time at which the relaxation spread is complete (s)",
                                 default=PCM_PRESET["relax_time_s"])
    stuck_set_fraction: float = _float(0.0, 0.5, "fraction of devices stuck at g_max (held there at every "
                                       "time: no drift or relaxation)", default=0.0)
    stuck_reset_fraction: float = _float(0.0, 0.5, "fraction of devices stuck at 0 (held there at every "
                                         "time: no drift or relaxation)", default=0.0)
    wire_r_ohm: float = _float(0.0, 100.0, "wire resistance per cell segment of the word and bit lines in ohm "
                               "(IR drop, float physics model only; 0 = ideal wires)", default=0.0)
    ir_drop_order: str = _choice(("off", "on"), "evaluation mapping against IR drop: on puts each tile's rows "
                                 "with the largest expected current nearest the sense amplifiers and its heaviest "
                                 "columns nearest the row drivers (rule in sim/eval/ir_drop_order.py); the host "
                                 "permutes inputs and outputs back, so only the wires see it; aimcgen deploy "
                                 "orders only the hidden units between chained layers "
                                 "(sim/deploy/ir_drop_chain.py)", default="off")
    sense_amplifiers: str = _choice(("last_row", "first_row"), "floorplan of the IR-drop wire model: which end "
                                    "of the bit lines the sense amplifiers sit at, next to tile row R - 1 "
                                    "(last_row) or tile row 0 (first_row, where a mapping puts a layer's first "
                                    "rows; rule in sim/models/ir_drop.py)", default="last_row")


@dataclass(frozen=True)
class NoiseSpec:
    """The emulated tile's deterministic read noise (see contract.noise for the bit-level generator)."""
    sigma_lsb: float = _float(0.0, 65536.0, "standard deviation of the emulated tile's noise added to each "
                              "sampled column charge, in charge units; the generator's gain is M = "
                              "round(sigma_lsb / sqrt(21845) * 2^16), float64, ties to even "
                              "(contract.noise). 0 turns it off; it is the only switch: device.model = "
                              "'ideal' leaves it on", default=1.0)
    seed: int = _int(1, (1 << 32) - 1, "seed of the noise generators", default=1)


@dataclass(frozen=True)
class TwinSpec:
    """The emulated tile as the devices' digital twin (bit-level rules in contract.device_twin); RTL and golden
    model only, the physics model has its own statistics. All effects off: the tile stores exact codes."""
    programming_error: str = _choice(("off", "on"), "each weight write lands with a programming error drawn in "
                                     "hardware from device.prog_noise_us (per-code sigma table, LFSR)",
                                     default="off")
    stuck: str = _choice(("off", "on"), "devices stuck at g_max / 0 at device.stuck_set_fraction / "
                         "device.stuck_reset_fraction, chosen by a hash of the device address", default="off")
    drift: str = _choice(("off", "on"), "per-device drift-exponent codes drawn at each write from "
                         "device.drift_mu / drift_sigma; reads see the devices at the DRIFT_EPOCH register's "
                         "time since programming (contract.device_twin_drift)", default="off")
    read_noise: str = _choice(("off", "on"), "each ADC sample's noise sized by its column's devices and drive "
                              "(PCM 1/f grows with conductance, RRAM white noise from g_max), from a variance "
                              "accumulated during INTEGRATE; replaces noise.sigma_lsb's fixed sigma "
                              "(contract.device_read_noise)", default="off")
    integrate: str = _choice(("serial", "parallel", "parallel_adc"),
                             "how the emulated tile sums a column's rows (rtl.parallel_integrator): serial reads "
                             "one weight row per cycle from block RAM (an INTEGRATE takes 1 + highest enabled "
                             "row + 1 cycles); parallel sums all rows of every column at once in pipelined "
                             "adder trees, weights in registers (one INTEGRATE per cycle, the analog bound); "
                             "parallel_adc has one tree per ADC sweeping its columns_per_adc columns, one per "
                             "cycle (an INTEGRATE every columns_per_adc cycles, a fraction of the logic)",
                             default="serial")


@dataclass(frozen=True)
class ProgramVerifySpec:
    """Reset values of program-and-verify's PROG_CTRL register (software may change them at run time)."""
    tolerance: int = _int(0, 255, "accepted |read back - target| in weight codes (PROG_CTRL.tolerance)",
                          default=0)
    max_retries: int = _int(0, 15, "rewrites after the first write before a weight is reported as failed "
                            "(PROG_CTRL.max_retries)", default=3)


@dataclass(frozen=True)
class SparsitySpec:
    """Work the tile controller skips when inputs or layers leave it nothing to do (contract.sparsity has
    the exact rules); each option is off by default, so existing designs stay bit-identical."""
    skip_zero_planes: str = _choice(("off", "on"), "bit_serial: skip the bit planes that are zero in every "
                                    "input of the tile (no drive, no conversion, no noise draw)", default="off")
    pwm_window: str = _choice(("off", "on"), "pwm: end the drive window after max(1, largest |x|) cycles of "
                              "the tile's inputs instead of 2^(bits-1)-1", default="off")
    skip_zero_tiles: str = _choice(("off", "on"), "a tile whose inputs are all zero neither integrates nor "
                                   "converts; its partial sums are 0", default="off")
    layer_columns: str = _choice(("off", "on"), "convert only the column positions holding the current "
                                 "layer's columns (layer descriptors); the others hold 0", default="off")

    @property
    def any(self) -> bool:
        return "on" in (self.skip_zero_planes, self.pwm_window, self.skip_zero_tiles, self.layer_columns)


SECTIONS: dict[str, type] = {
    "design": DesignInfo,
    "tile": TileSpec,
    "input": InputSpec,
    "adc": AdcSpec,
    "accumulator": AccumulatorSpec,
    "postproc": PostprocSpec,
    "array": ArraySpec,
    "device": DeviceSpec,
    "noise": NoiseSpec,
    "twin": TwinSpec,
    "program_verify": ProgramVerifySpec,
    "sparsity": SparsitySpec,
}


@dataclass(frozen=True)
class DesignSpec:
    """One accelerator: a grid of identical tiles and their digital periphery."""
    design: DesignInfo = field(default_factory=DesignInfo)
    tile: TileSpec = field(default_factory=TileSpec)
    input: InputSpec = field(default_factory=InputSpec)
    adc: AdcSpec = field(default_factory=AdcSpec)
    accumulator: AccumulatorSpec = field(default_factory=AccumulatorSpec)
    postproc: PostprocSpec = field(default_factory=PostprocSpec)
    array: ArraySpec = field(default_factory=ArraySpec)
    device: DeviceSpec = field(default_factory=DeviceSpec)
    noise: NoiseSpec = field(default_factory=NoiseSpec)
    twin: TwinSpec = field(default_factory=TwinSpec)
    program_verify: ProgramVerifySpec = field(default_factory=ProgramVerifySpec)
    sparsity: SparsitySpec = field(default_factory=SparsitySpec)

    def __post_init__(self):
        for section, cls in SECTIONS.items():
            obj = getattr(self, section)
            if not isinstance(obj, cls):
                raise SpecError(f"{section}: expected a {cls.__name__}, got {type(obj).__name__}")
            # Canonical types (tuples, floats) keep specs hashable and equal to their TOML round trip.
            canonical = cls(**{f.name: _coerce(f"{section}.{f.name}", f, getattr(obj, f.name))
                               for f in dataclasses.fields(cls)})
            object.__setattr__(self, section, canonical)
        validate(self)

    @property
    def name(self) -> str:
        return self.design.name

    @property
    def tiles(self) -> int:
        return self.array.row_tiles * self.array.col_tiles

    @property
    def columns_per_adc(self) -> int:
        return self.tile.cols // self.adc.count

    @property
    def logical_rows(self) -> int:
        return self.tile.rows * self.array.row_tiles

    @property
    def logical_cols(self) -> int:
        return self.tile.cols * self.array.col_tiles

    def replace(self, **sections: dict[str, Any]) -> "DesignSpec":
        """A copy with some fields changed: `spec.replace(adc={"bits": 8})`."""
        return from_dict(_merge(to_dict(self), sections))


def _merge(base: dict, changes: dict) -> dict:
    merged = {k: dict(v) for k, v in base.items()}
    for section, values in changes.items():
        merged.setdefault(section, {}).update(values)
    return merged


def to_dict(spec: DesignSpec) -> dict[str, dict[str, Any]]:
    """The spec as plain TOML-ready tables (tuples become lists)."""
    out = {}
    for section in SECTIONS:
        table = {}
        for f in dataclasses.fields(getattr(spec, section)):
            value = getattr(getattr(spec, section), f.name)
            table[f.name] = list(value) if isinstance(value, tuple) else value
        out[section] = table
    return out


def from_dict(tables: dict[str, Any], *, source: str = "spec") -> DesignSpec:
    """Build and validate a spec from nested tables; missing fields take their defaults.

    The device table is special: `model = "rram"` selects that preset's statistics as the defaults of the
    remaining device fields.
    """
    if not isinstance(tables, dict):
        raise SpecError(f"{source}: expected a table of sections, got {type(tables).__name__}")
    unknown = sorted(set(tables) - set(SECTIONS))
    if unknown:
        raise SpecError(f"{source}: unknown section [{unknown[0]}] (allowed: {', '.join(SECTIONS)})")
    sections = {}
    for section, cls in SECTIONS.items():
        table = tables.get(section, {})
        if not isinstance(table, dict):
            raise SpecError(f"{section}: expected a table, got {_show(table)}")
        defaults = _section_defaults(section, cls, table)
        allowed = {f.name for f in dataclasses.fields(cls)}
        extra = sorted(set(table) - allowed)
        if extra:
            raise SpecError(f"{section}.{extra[0]}: unknown field (allowed: {', '.join(sorted(allowed))})")
        values = {}
        for f in dataclasses.fields(cls):
            raw = table.get(f.name, defaults.get(f.name, _default_of(f)))
            values[f.name] = _coerce(f"{section}.{f.name}", f, raw)
        sections[section] = cls(**values)
    return DesignSpec(**sections)


def _section_defaults(section: str, cls: type, table: dict) -> dict[str, Any]:
    if section != "device":
        return {}
    model = table.get("model", "pcm")
    _check_choice("device.model", model, dataclasses.fields(cls)[0].metadata["choices"])
    return dataclasses.asdict(device_preset(model))


def check_tile_index(spec: "DesignSpec", tile_index) -> None:
    """A tile of the spec's grid (0..tiles-1, tile (r, c) has index r * col_tiles + c), or TypeError/ValueError."""
    if isinstance(tile_index, bool) or not isinstance(tile_index, int):
        raise TypeError(f"tile_index must be an integer, not {type(tile_index).__name__}")
    if not 0 <= tile_index < spec.tiles:
        raise ValueError(f"tile_index = {tile_index}: must lie in 0..{spec.tiles - 1} "
                         f"(the spec has {spec.tiles} tiles)")


def device_preset(model: str) -> DeviceSpec:
    """The DeviceSpec of a preset of aimcgen.devices ("pcm", "rram", "ideal")."""
    return DeviceSpec(**DEVICE_PRESETS[model])


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    return f.default_factory()


def _show(value: Any) -> str:
    return repr(value) if not isinstance(value, str) else f'"{value}"'


def _check_choice(path: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SpecError(f"{path} = {_show(value)}: must be one of {', '.join(repr(c) for c in choices)}")


def _coerce(path: str, f: dataclasses.Field, value: Any) -> Any:
    """Type- and range-check one field value, returning it in its canonical Python type."""
    meta = f.metadata
    kind = meta["kind"]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(f"{path} = {_show(value)}: must be an integer in {meta['lo']}..{meta['hi']}")
        if not meta["lo"] <= value <= meta["hi"]:
            raise SpecError(f"{path} = {value}: must be an integer in {meta['lo']}..{meta['hi']}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpecError(f"{path} = {_show(value)}: must be a number in {meta['lo']}..{meta['hi']}")
        if not meta["lo"] <= value <= meta["hi"]:
            raise SpecError(f"{path} = {value}: must be a number in {meta['lo']}..{meta['hi']}")
        return float(value)
    if kind == "choice":
        _check_choice(path, value, meta["choices"])
        return value
    if kind == "name":
        if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
            raise SpecError(f"{path} = {_show(value)}: must be a lower-case identifier of 1 to 32 "
                            f"characters (a-z first, then a-z, 0-9, _)")
        return value
    if kind == "floats":
        lo, hi = meta["min_len"], meta["max_len"]
        count = f"{lo}" if lo == hi else f"{lo} to {hi}"
        if (not isinstance(value, (list, tuple)) or not lo <= len(value) <= hi
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in value)):
            raise SpecError(f"{path} = {_show(value)}: must be a list of {count} finite numbers")
        return tuple(float(v) for v in value)
    raise AssertionError(kind)


def _check_fields(spec: DesignSpec) -> None:
    for section in SECTIONS:
        obj = getattr(spec, section)
        for f in dataclasses.fields(obj):
            _coerce(f"{section}.{f.name}", f, getattr(obj, f.name))


def validate(spec: DesignSpec) -> None:
    """Check every field and every cross-field rule; raise SpecError naming the first violation."""
    _check_fields(spec)
    tile, adc, inp, acc, post = spec.tile, spec.adc, spec.input, spec.accumulator, spec.postproc

    _check_size(spec)
    if adc.count > tile.cols or tile.cols % adc.count:
        raise SpecError(f"adc.count = {adc.count}: must divide tile.cols = {tile.cols} "
                        f"(allowed: {', '.join(str(d) for d in _divisors(tile.cols))})")
    if adc.kind == "flash" and adc.bits > 8:
        raise SpecError(f"adc.bits = {adc.bits} with adc.kind = 'flash': a flash ADC needs 2^bits-1 "
                        f"comparators; allowed 1..8 (use 'sar' or 'ramp' for more bits)")
    if adc.cap_mismatch_sigma and adc.kind != "sar":
        raise SpecError(f"adc.cap_mismatch_sigma = {adc.cap_mismatch_sigma}: capacitor mismatch applies to "
                        f"adc.kind = 'sar' only (this ADC is '{adc.kind}'); set it to 0")
    if adc.ramp_inl_lsb and adc.kind != "ramp":
        raise SpecError(f"adc.ramp_inl_lsb = {adc.ramp_inl_lsb}: ramp INL applies to adc.kind = 'ramp' only "
                        f"(this ADC is '{adc.kind}'); set it to 0")
    fs = adc.full_scale
    if fs & (fs - 1) or fs < (1 << (adc.bits - 1)):
        raise SpecError(f"adc.full_scale = {fs}: must be a power of two >= 2^(adc.bits-1) = "
                        f"{1 << (adc.bits - 1)} so that one ADC code is a whole power-of-two charge")
    max_charge = tile.rows * tile.conductance_levels * (inp.max_magnitude if inp.encoding == "pwm" else 1)
    if fs > (1 << 40) or max_charge > (1 << 40):
        raise SpecError(f"tile.rows x conductance levels x input cycles = {max_charge}: column charge must "
                        f"stay below 2^40")
    # The accumulator must hold the largest ADC code shifted to the top bit plane.
    need = adc.bits + inp.steps - 1
    if acc.bits < need:
        raise SpecError(f"accumulator.bits = {acc.bits}: must be >= adc.bits + bit planes - 1 = {need} "
                        f"to hold one full-scale ADC code at the top bit plane")
    if acc.tile_gain_bits == 1:
        raise SpecError("accumulator.tile_gain_bits = 1: allowed 0 (no trims) or 2..16 (one integer bit, the "
                        "rest fraction bits)")
    if post.scale_frac_bits > post.scale_bits + 16:
        raise SpecError(f"postproc.scale_frac_bits = {post.scale_frac_bits}: must be <= "
                        f"postproc.scale_bits + 16 = {post.scale_bits + 16}")
    if acc.bits + post.scale_bits > 60 or post.offset_bits > 60:
        raise SpecError(f"accumulator.bits + postproc.scale_bits = {acc.bits + post.scale_bits}: must be <= 60 "
                        f"(and postproc.offset_bits <= 60) so the affine product fits 64-bit arithmetic")
    if post.clip_max > post.output_max:
        raise SpecError(f"postproc.clip_max = {post.clip_max}: must be <= the largest output code "
                        f"2^(postproc.output_bits-1)-1 = {post.output_max}")
    if spec.sparsity.skip_zero_planes == "on" and inp.encoding != "bit_serial":
        raise SpecError("sparsity.skip_zero_planes = 'on': needs input.encoding = 'bit_serial' (PWM has one "
                        "drive step; use sparsity.pwm_window)")
    if spec.sparsity.pwm_window == "on" and inp.encoding != "pwm":
        raise SpecError("sparsity.pwm_window = 'on': needs input.encoding = 'pwm' (bit-serial drives one "
                        "cycle per plane; use sparsity.skip_zero_planes)")
    dev = spec.device
    for path, (_, _, lo, hi) in (("device.drift_mu", dev.drift_mu), ("device.drift_sigma", dev.drift_sigma)):
        if not 0.0 <= lo <= hi:
            raise SpecError(f"{path} = {list(getattr(dev, path.split('.')[1]))}: needs 0 <= lo <= hi "
                            f"(the last two entries)")
    if dev.stuck_set_fraction + dev.stuck_reset_fraction > 0.5:
        raise SpecError(f"device.stuck_set_fraction + device.stuck_reset_fraction = "
                        f"{dev.stuck_set_fraction + dev.stuck_reset_fraction}: must be <= 0.5")
    if dev.read_noise_q[0] < 0 or dev.read_noise_q[2] < 0:
        raise SpecError(f"device.read_noise_q = {list(dev.read_noise_q)}: c and qmax must be >= 0")


def _check_size(spec: DesignSpec) -> None:
    """Refuse grids too large to elaborate in reasonable time and memory (MAX_TILES, MAX_DEVICES)."""
    arr = spec.array
    if spec.tiles > MAX_TILES:
        raise SpecError(f"array.row_tiles x array.col_tiles = {arr.row_tiles} x {arr.col_tiles} = {spec.tiles} "
                        f"tiles: must be <= {MAX_TILES}")
    devices = spec.logical_rows * spec.logical_cols
    if devices > MAX_DEVICES:
        raise SpecError(f"(tile.rows x array.row_tiles) x (tile.cols x array.col_tiles) = {spec.logical_rows} x "
                        f"{spec.logical_cols} = {devices} devices: must be <= {MAX_DEVICES} (4 Mi)")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def describe_fields() -> list[tuple[str, str, str]]:
    """(field path, allowed values, meaning) for every spec field: feeds `aimcgen spec --fields` and docs."""
    rows = []
    for section, cls in SECTIONS.items():
        for f in dataclasses.fields(cls):
            m = f.metadata
            allowed = {
                "int": lambda: f"integer {m['lo']}..{m['hi']}",
                "float": lambda: f"number {m['lo']}..{m['hi']}",
                "choice": lambda: " | ".join(m["choices"]),
                "name": lambda: "identifier [a-z][a-z0-9_]{0,31}",
                "floats": lambda: f"list of {m['min_len']}..{m['max_len']} numbers",
            }[m["kind"]]()
            rows.append((f"{section}.{f.name}", allowed, m["doc"]))
    return rows
