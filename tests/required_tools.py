"""Tools the tests need that pip cannot bring: skip with a one-line how-to, or fail where CI requires them.

A clone without the SKY130 data or without Icarus/OpenSTA skips the tests that need them, each with one line
saying how to get the tool. With AIMCGEN_REQUIRE_TOOLS=1 (set by .ci/run) a missing tool fails the test
instead, so CI cannot go green with those tests never run.
"""

from __future__ import annotations

import os
import shutil

import pytest

from aimcgen.flows.pdk import Pdk, PdkNotFound, locate_pdk

REQUIRE_TOOLS = os.environ.get("AIMCGEN_REQUIRE_TOOLS", "") == "1"
PDK_HOW_TO = ("no SKY130 sky130_fd_sc_hd Liberty files found: pass --pdk DIR, set AIMCGEN_PDK_DIR, or set PDK_ROOT "
              "to a ciel/volare PDK root")
INSTALL = {
    "sta": "OpenSTA (`sta`) not installed: apt-get install -y opensta",
    "iverilog": "Icarus Verilog not installed: apt-get install -y --no-install-recommends iverilog",
    "vvp": "Icarus Verilog not installed: apt-get install -y --no-install-recommends iverilog",
    "ngspice": "ngspice not installed: apt-get install -y ngspice",
}


def missing(reason: str) -> None:
    """Skip with `reason`; fail instead under AIMCGEN_REQUIRE_TOOLS=1."""
    if REQUIRE_TOOLS:
        pytest.fail(f"AIMCGEN_REQUIRE_TOOLS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def require_pdk(corners=("tt",)) -> Pdk:
    """The located PDK with Liberty files for `corners`, or a skip (a failure under AIMCGEN_REQUIRE_TOOLS=1)."""
    try:
        return locate_pdk(None, corners)
    except PdkNotFound:
        missing(f"{PDK_HOW_TO} (corners {', '.join(corners)})")


def require_executables(*names: str) -> None:
    """Every executable in `names` on PATH, or a skip (a failure under AIMCGEN_REQUIRE_TOOLS=1)."""
    for name in names:
        if shutil.which(name) is None:
            missing(INSTALL.get(name, f"{name} not found on PATH"))


def have_executables(*names: str) -> bool:
    return all(shutil.which(n) is not None for n in names)
