"""TOML reading and writing of design specs.

Reading uses the standard library's tomllib; writing needs only scalars, strings and lists of numbers, so
a small emitter keeps the project free of another dependency and round-trips exactly (floats via repr).
A spec file is UTF-8 TOML of at most MAX_SPEC_BYTES; anything else is refused with a SpecError naming the
file (a spec is a few kilobytes: the limit stops `--spec /dev/zero` from filling the memory).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from aimcgen.spec import SECTIONS, DesignSpec, SpecError, from_dict, to_dict


MAX_SPEC_BYTES = 1 << 20


def loads(text: str, *, source: str = "<string>") -> DesignSpec:
    try:
        tables = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{source}: not valid TOML: {exc}") from None
    except RecursionError:              # tomllib recurses once per nested array or inline table
        raise SpecError(f"{source}: not valid TOML: arrays or inline tables nested too deeply") from None
    return from_dict(tables, source=source)


def read_spec_text(path: Path) -> str:
    """The text of a spec file, read no further than the size limit so a device or a huge file cannot
    exhaust the memory."""
    try:
        if path.is_dir():
            raise SpecError(f"{path}: is a folder; --spec takes a TOML file")
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        raise SpecError(f"{path}: cannot read spec file: {exc.strerror or exc}") from None
    if len(data) > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: spec file larger than the limit of {MAX_SPEC_BYTES} bytes (1 MiB)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                        f"a spec file is UTF-8 TOML") from None


def load(path: str | Path) -> DesignSpec:
    path = Path(path)
    return loads(read_spec_text(path), source=str(path))


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
