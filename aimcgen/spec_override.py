"""Spec fields overridden from the command line (`--set adc.bits=4,6,8`), for sweeps over designs.

Each value is read as a TOML value (`8`, `1.5`, `"sar"`, `[0.1, 0.2]`); a bare word such as `flash` is taken
as a string, so `--set adc.kind=sar,flash` works without quotes. Commas inside brackets do not split values.
Every point of the product of the overrides goes through the spec's own validation (`spec.from_dict`), so a
sweep fails before any work with the same message `aimcgen generate` would give.
"""

from __future__ import annotations

import dataclasses
import itertools
import tomllib
from typing import Any

from aimcgen.spec import SECTIONS, DesignSpec, SpecError, _coerce, from_dict, to_dict


def _split_values(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"[": 1, "]": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def _value(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def check_field(path: str) -> dataclasses.Field:
    """The dataclass field `path` (section.field) names; SpecError listing what is allowed if none."""
    section, _, name = path.partition(".")
    if section not in SECTIONS:
        raise SpecError(f"--set {path}: unknown section {section!r} (allowed: {', '.join(SECTIONS)})")
    allowed = [f.name for f in dataclasses.fields(SECTIONS[section])]
    if name not in allowed:
        raise SpecError(f"--set {path}: unknown field of [{section}] (allowed: {', '.join(allowed)})")
    return next(f for f in dataclasses.fields(SECTIONS[section]) if f.name == name)


def parse_override(text: str) -> tuple[str, list[Any]]:
    """`section.field=v1,v2,...` -> ("section.field", [v1, v2, ...])."""
    path, eq, values = text.partition("=")
    path = path.strip()
    if not eq or not values.strip():
        raise SpecError(f"--set {text!r}: expected section.field=value[,value...] (e.g. adc.bits=4,6,8)")
    check_field(path)
    parsed = [_value(v) for v in _split_values(values)]
    if any(v == "" for v in parsed):
        raise SpecError(f"--set {text!r}: empty value")
    return path, parsed


def apply(spec: DesignSpec, values: dict[str, Any]) -> DesignSpec:
    """The spec with the fields in `values` ({"adc.bits": 8}) replaced, validated. Setting device.model
    selects that preset's statistics for the device fields not set here, as `model = ...` does in TOML."""
    tables = to_dict(spec)
    if "device.model" in values:
        tables["device"] = {}
    for path, value in values.items():
        section, _, name = path.partition(".")
        tables[section][name] = value
    return from_dict(tables, source="sweep point")


def expand(spec: DesignSpec, overrides: dict[str, list[Any]]) -> list[tuple[dict[str, Any], DesignSpec]]:
    """Every combination of the override values, each with its validated spec. Each value's type and range
    are checked first, so an out-of-range value is named before a combination that merely conflicts."""
    for path, values in overrides.items():
        for v in values:
            _coerce(path, check_field(path), v)
    points = []
    for combo in itertools.product(*overrides.values()):
        values = dict(zip(overrides, combo))
        try:
            points.append((values, apply(spec, values)))
        except SpecError as exc:
            label = ", ".join(f"{k}={v}" for k, v in values.items())
            raise SpecError(f"sweep point {label}: {exc}") from None
    return points
