"""TOML reading and writing of design specs.

Reading uses the standard library's tomllib; writing needs only scalars, strings and lists of numbers, so
a small emitter keeps the project free of another dependency and round-trips exactly (floats via repr).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from aimcgen.spec import SECTIONS, DesignSpec, SpecError, from_dict, to_dict


def loads(text: str, *, source: str = "<string>") -> DesignSpec:
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    return from_dict(tables, source=source)


def load(path: str | Path) -> DesignSpec:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file: {exc.strerror}") from None
    return loads(text, source=str(path))


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(spec: DesignSpec) -> str:
    """The whole spec, every field written out, as TOML that `loads` turns back into an equal spec."""
    lines = [f"# aimcgen design spec '{spec.name}'"]
    for section, table in to_dict(spec).items():
        assert section in SECTIONS
        lines += ["", f"[{section}]"]
        lines += [f"{key} = {_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"
