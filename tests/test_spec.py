"""Spec validation: valid specs round-trip through TOML; invalid ones are rejected naming the field."""

import dataclasses

import pytest
from hypothesis import given, settings, strategies as st

from aimcgen import spec_toml
from aimcgen.presets import load_preset, preset_names, preset_text
from aimcgen.spec import MAX_DEVICES, MAX_TILES, SECTIONS, DesignSpec, SpecError, from_dict, to_dict


@st.composite
def valid_tables(draw):
    """Random valid spec tables: each field drawn in its range, then the cross-field rules satisfied."""
    rows = draw(st.integers(2, 1024))
    cols = draw(st.integers(1, 1024))
    adc_count = draw(st.sampled_from([d for d in range(1, cols + 1) if cols % d == 0]))
    kind = draw(st.sampled_from(["sar", "ramp", "flash"]))
    adc_bits = draw(st.integers(1, 8 if kind == "flash" else 14))
    in_bits = draw(st.integers(2, 12))
    encoding = draw(st.sampled_from(["pwm", "bit_serial"]))
    steps = 1 if encoding == "pwm" else in_bits - 1
    weight_bits = draw(st.integers(2, 9))
    levels = (1 << (weight_bits - 1)) - 1
    if encoding == "pwm":
        while rows * levels * ((1 << (in_bits - 1)) - 1) > 1 << 40:
            in_bits -= 1
    acc_bits = draw(st.integers(adc_bits + steps - 1 if adc_bits + steps - 1 >= 4 else 4, 44))
    scale_bits = draw(st.integers(2, min(24, 60 - acc_bits)))
    output_bits = draw(st.integers(2, 32))
    row_tiles = draw(st.integers(1, min(64, MAX_DEVICES // (rows * cols))))
    col_tiles = draw(st.integers(1, min(64, MAX_TILES // row_tiles, MAX_DEVICES // (rows * cols * row_tiles))))
    return {
        "design": {"name": draw(st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True)),
                   "clock_mhz": draw(st.floats(1.0, 1000.0))},
        "tile": {"rows": rows, "cols": cols, "weight_bits": weight_bits},
        "input": {"bits": in_bits, "encoding": encoding},
        "adc": {"kind": kind, "bits": adc_bits, "count": adc_count,
                "full_scale": 1 << draw(st.integers(adc_bits - 1, 40))},
        "accumulator": {"bits": acc_bits},
        "postproc": {"scale_bits": scale_bits, "scale_frac_bits": draw(st.integers(0, min(32, scale_bits + 16))),
                     "offset_bits": draw(st.integers(2, 32)),
                     "activation": draw(st.sampled_from(["none", "relu", "clip"])),
                     "clip_max": draw(st.integers(0, (1 << (output_bits - 1)) - 1)),
                     "output_bits": output_bits},
        "array": {"row_tiles": row_tiles, "col_tiles": col_tiles},
        "device": {"model": draw(st.sampled_from(["pcm", "rram", "ideal"])),
                   "stuck_set_fraction": draw(st.floats(0.0, 0.25)),
                   "read_noise_rel": draw(st.floats(0.0, 1.0))},
        "noise": {"sigma_lsb": draw(st.floats(0.0, 65536.0)), "seed": draw(st.integers(1, (1 << 32) - 1))},
        "twin": {"programming_error": draw(st.sampled_from(["off", "on"])),
                 "stuck": draw(st.sampled_from(["off", "on"]))},
        "program_verify": {"tolerance": draw(st.integers(0, 255)), "max_retries": draw(st.integers(0, 15))},
    }


@settings(max_examples=200, deadline=None)
@given(valid_tables())
def test_valid_specs_round_trip_through_toml(tables):
    spec = from_dict(tables)
    text = spec_toml.dumps(spec)
    assert spec_toml.loads(text) == spec
    assert from_dict(to_dict(spec)) == spec


# (section, field, bad value, words the message must contain)
BAD_FIELDS = [
    ("tile", "rows", 0, "2..1024"),
    ("tile", "rows", 1.5, "integer"),
    ("tile", "cols", 5000, "1..1024"),
    ("tile", "weight_bits", 10, "2..9"),
    ("input", "bits", True, "integer"),
    ("input", "encoding", "thermometer", "'pwm', 'bit_serial'"),
    ("adc", "kind", "delta_sigma", "'sar', 'ramp', 'flash'"),
    ("adc", "bits", 0, "1..14"),
    ("adc", "full_scale", 48, "power of two"),
    ("adc", "count", 3, "must divide tile.cols"),
    ("postproc", "activation", "gelu", "'none', 'relu', 'clip'"),
    ("postproc", "clip_max", 1000, "largest output code"),
    ("design", "name", "My Design", "lower-case identifier"),
    ("design", "clock_mhz", float("nan"), "number"),
    ("device", "model", "flash_cell", "'pcm', 'rram', 'ideal'"),
    ("device", "prog_noise_us", [1, 2, 3, 4, 5, 6], "list of 1 to 5"),
    ("device", "drift_mu", [0, 0, 0.2, 0.1], "lo <= hi"),
    ("noise", "sigma_lsb", -1.0, "0.0..65536.0"),
    ("noise", "seed", 0, "1..4294967295"),
    ("twin", "programming_error", "yes", "'off', 'on'"),
    ("twin", "stuck", 1, "'off', 'on'"),
    ("program_verify", "tolerance", 256, "0..255"),
    ("program_verify", "max_retries", 16, "0..15"),
]


@pytest.mark.parametrize("section,name,value,words", BAD_FIELDS)
def test_bad_field_is_named_with_allowed_values(section, name, value, words):
    with pytest.raises(SpecError) as err:
        from_dict({section: {name: value}})
    message = str(err.value)
    assert message.startswith(f"{section}.{name}") and words in message, message


@settings(max_examples=100, deadline=None)
@given(valid_tables(), st.sampled_from([(s, f.name) for s, c in SECTIONS.items() for f in dataclasses.fields(c)
                                        if f.metadata["kind"] in ("int", "float")]))
def test_out_of_range_numbers_are_rejected(tables, target):
    section, name = target
    meta = next(f.metadata for f in dataclasses.fields(SECTIONS[section]) if f.name == name)
    tables[section][name] = meta["hi"] * 2 + 1
    with pytest.raises(SpecError) as err:
        from_dict(tables)
    assert f"{section}.{name}" in str(err.value)


def test_cross_field_rules():
    with pytest.raises(SpecError, match=r"adc.bits = 10 with adc.kind = 'flash'"):
        from_dict({"adc": {"kind": "flash", "bits": 10, "full_scale": 512}})
    with pytest.raises(SpecError, match=r"accumulator.bits = 8: must be >= adc.bits \+ bit planes - 1 = 10"):
        from_dict({"input": {"bits": 6}, "adc": {"bits": 6}, "accumulator": {"bits": 8}})
    with pytest.raises(SpecError, match=r"adc.count = 3: must divide tile.cols = 16 \(allowed: 1, 2, 4, 8, 16\)"):
        from_dict({"adc": {"count": 3}})


def test_unknown_sections_and_fields_and_bad_toml():
    with pytest.raises(SpecError, match=r"unknown section \[tiles\]"):
        from_dict({"tiles": {}})
    with pytest.raises(SpecError, match=r"tile.colums: unknown field \(allowed: cols, rows, weight_bits\)"):
        from_dict({"tile": {"colums": 4}})
    with pytest.raises(SpecError, match="not valid TOML"):
        spec_toml.loads("[tile\nrows = 4")
    with pytest.raises(SpecError, match="cannot read spec file"):
        spec_toml.load("/nonexistent/design.toml")


def test_device_model_selects_preset_defaults_and_keeps_overrides():
    spec = from_dict({"device": {"model": "rram", "g_max_us": 30.0}})
    assert spec.device.model == "rram" and spec.device.g_max_us == 30.0
    assert spec.device.read_noise_rel == 0.01          # from the RRAM preset
    assert from_dict({"device": {"model": "ideal"}}).device.prog_noise_us == (0.0,)


def test_presets_are_valid_and_cover_the_required_designs():
    names = preset_names()
    assert {"default", "tile64", "hermes256"} <= set(names)
    hermes = load_preset("hermes256")
    assert (hermes.tile.rows, hermes.tile.cols, hermes.input.bits, hermes.input.encoding) == (256, 256, 8, "pwm")
    assert load_preset("tile64").tile.rows == 64
    with pytest.raises(SpecError, match="no such preset"):
        preset_text("huge")


def test_python_built_spec_is_canonical_and_validated():
    spec = DesignSpec()
    assert spec.replace(tile={"rows": 32}).tile.rows == 32
    with pytest.raises(SpecError, match="tile.rows"):
        spec.replace(tile={"rows": 1})
    assert hash(spec) == hash(from_dict(to_dict(spec)))


@pytest.mark.parametrize("name", ["evil\n", "aimc\n", "a b", ""])
def test_design_name_must_match_whole(name):
    """`$` would accept a trailing newline, which Yosys then rejects as a module name."""
    with pytest.raises(SpecError, match="design.name"):
        from_dict({"design": {"name": name}})
