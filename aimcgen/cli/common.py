"""What every `aimcgen` subcommand that works on a design shares: choosing the spec, checking the common
options, and turning errors the user caused into one line and exit status 2 (`run_command`)."""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Callable
from pathlib import Path

from aimcgen import spec_toml
from aimcgen.presets import DEFAULT_PRESET, load_preset, preset_names
from aimcgen.sim.eval.layers import NetworkError
from aimcgen.spec import DesignSpec, SpecError
from aimcgen.spec_override import apply, parse_override
from aimcgen.staging import OutputError

# numpy's generators take any seed >= 0; 32 bits keep seeds the same in the C and Verilog RNGs. nextpnr
# (`aimcgen fpga`) reads its seed as a signed 32-bit int.
SEED_MAX = 2**32 - 1
SEED_MAX_BY_COMMAND = {"fpga": 2**31 - 1}
# Random vectors of `generate`: the golden model holds them all in memory at once.
BATCH_MAX = 1_000_000
# File-system errors on a path the user gave (not writable, a file where a folder goes, a full disk), with
# what to add to the system's wording.
_USER_PATH_ERRNOS = {errno.EACCES: "", errno.EPERM: "", errno.EROFS: "", errno.ENOSPC: "", errno.EDQUOT: "",
                     errno.ENOTDIR: " (a part of the path is a file, not a folder)",
                     errno.EEXIST: " (a file is in the way)", errno.EISDIR: "", errno.ENAMETOOLONG: "",
                     errno.ELOOP: ""}


class OptionError(ValueError):
    """A command-line option's value is out of its range; the message names the option and the range."""


def add_spec_options(parser: argparse.ArgumentParser, overrides: bool = True) -> None:
    """--spec FILE or --preset NAME, and (unless `overrides` is False: sweep has its own multi-valued --set)
    --set FIELD=VALUE, applied by load_spec."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--spec", type=Path, metavar="FILE", help="design spec TOML file (UTF-8, at most "
                       f"{spec_toml.MAX_SPEC_BYTES // (1 << 20)} MiB)")
    group.add_argument("--preset", metavar="NAME",
                       help=f"shipped preset ({', '.join(preset_names())}); default: {DEFAULT_PRESET}")
    if overrides:
        parser.add_argument("--set", dest="spec_overrides", action="append", default=[], metavar="FIELD=VALUE",
                            help="change a field of that spec (see `aimcgen spec --fields`), e.g. "
                                 "adc.bits=6; repeatable")


def load_spec(args: argparse.Namespace) -> DesignSpec:
    """The chosen spec with every --set FIELD=VALUE applied (one value each), validated as a whole."""
    spec = spec_toml.load(args.spec) if args.spec is not None else load_preset(args.preset or DEFAULT_PRESET)
    return apply_overrides(spec, getattr(args, "spec_overrides", []))


def apply_overrides(spec: DesignSpec, items: list[str]) -> DesignSpec:
    """`spec` with each FIELD=VALUE of `items` applied (one value each), validated as a whole."""
    values = {}
    for item in items:
        path, parsed = parse_override(item)
        if len(parsed) != 1:
            raise SpecError(f"--set {item!r}: one value per field (a sweep over values is `aimcgen sweep`)")
        values[path] = parsed[0]
    return apply(spec, values) if values else spec


def error(message: str) -> int:
    """Print the CLI's one-line error and return its exit status 2 (bad input, fixable by the user)."""
    print(f"aimcgen: error: {message}", file=sys.stderr)
    return 2


def check_options(args: argparse.Namespace) -> None:
    """Check --seed and --batch before any work, so a bad value does not fail after files are written."""
    seed = getattr(args, "seed", None)
    seed_max = SEED_MAX_BY_COMMAND.get(getattr(args, "command", None), SEED_MAX)
    if seed is not None and not 0 <= seed <= seed_max:
        raise OptionError(f"--seed = {seed}: must be an integer in 0..{seed_max}")
    batch = getattr(args, "batch", None)
    if batch is not None and not 1 <= batch <= BATCH_MAX:
        raise OptionError(f"--batch = {batch}: must be an integer in 1..{BATCH_MAX}")


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message of an error the user caused (bad spec, model, option or output path), or None
    for anything else (a bug, which keeps its traceback)."""
    if isinstance(exc, (SpecError, NetworkError, OptionError)):
        return str(exc)
    if isinstance(exc, OutputError):
        return exc.strerror or str(exc)
    if isinstance(exc, OSError) and exc.errno in _USER_PATH_ERRNOS and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror}{_USER_PATH_ERRNOS[exc.errno]}"
    return None


def run_command(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a subcommand: errors the user caused become one `aimcgen: error:` line and exit status 2,
    Ctrl-C exit status 130 with `aimcgen: interrupted`; anything else propagates with its traceback.
    With args.debug, user errors propagate too (to see where they came from)."""
    debug = getattr(args, "debug", False)
    try:
        check_options(args)
        return func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print("aimcgen: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = user_error_message(exc)
        if message is None or debug:
            raise
        return error(message)
