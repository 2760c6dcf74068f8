"""What every `aimcgen` subcommand that works on a design shares: choosing the spec."""

from __future__ import annotations

import argparse
from pathlib import Path

from aimcgen import spec_toml
from aimcgen.presets import DEFAULT_PRESET, load_preset, preset_names
from aimcgen.spec import DesignSpec


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--spec", type=Path, metavar="FILE", help="design spec TOML file")
    group.add_argument("--preset", metavar="NAME",
                       help=f"shipped preset ({', '.join(preset_names())}); default: {DEFAULT_PRESET}")


def load_spec(args: argparse.Namespace) -> DesignSpec:
    if args.spec is not None:
        return spec_toml.load(args.spec)
    return load_preset(args.preset or DEFAULT_PRESET)
