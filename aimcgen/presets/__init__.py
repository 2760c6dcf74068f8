"""Shipped design presets: TOML files beside this module, loaded by name."""

from __future__ import annotations

from importlib import resources

from aimcgen.spec import DesignSpec, SpecError
from aimcgen.spec_toml import loads

DEFAULT_PRESET = "default"


def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise SpecError(f"preset {name!r}: no such preset (available: {', '.join(preset_names())})")
    return resources.files(__package__).joinpath(f"{name}.toml").read_text(encoding="utf-8")


def load_preset(name: str = DEFAULT_PRESET) -> DesignSpec:
    return loads(preset_text(name), source=f"preset {name}")
