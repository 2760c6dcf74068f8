"""Place and route a finished FPGA build's netlist again, with the same nextpnr command line but for a few options.

A build of flows/fpga.py keeps the exact nextpnr invocation as the first line of its pnr.log (`$ argv`). The
benchmarks that re-run nextpnr on that netlist (another seed, a detailed timing report) take it from there, so
the device, package, speed grade, router and constraints are the build's own:
- `pnr_again(build, options)` -> a `PnrRun`: this machine's nextpnr (the log's path may be another machine's),
  the build's input files (--json, --lpf/--pcf, copied beside each run), and the argv with the build's outputs
  (--report, --log, --textcfg/--asc) dropped, `options` (e.g. {"--seed": "3"}) replacing or adding theirs;
- `PnrRun.run(folder)` places and routes in `folder` (the inputs copied in first) and returns the parsed log.
Errors a user can cause (no pnr.log, a log that is not nextpnr's) raise `RerunError` naming the file.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from aimcgen.flows.fpga import resolve_tools
from aimcgen.flows.fpga_logs import NextpnrResult, parse_nextpnr_log

NEXTPNR = {"nextpnr-ecp5": ("ecp5", "NEXTPNR_ECP5"), "nextpnr-ice40": ("ice40", "NEXTPNR_ICE40")}
INPUTS = ("--json", "--lpf", "--pcf")
OUTPUTS = ("--report", "--log", "--textcfg", "--asc")
LOG = "pnr.tim"


class RerunError(ValueError):
    """The build folder cannot be placed and routed again; the message names the file."""


@dataclass
class PnrRun:
    """One nextpnr command line on a build's netlist; `run` writes its log (LOG) into a folder."""

    build: Path
    argv: list[str]
    inputs: list[str]
    family: str

    def run(self, folder: Path) -> tuple[NextpnrResult, float, int]:
        """(parsed log, seconds inside nextpnr, exit code); inputs are copied into `folder` first."""
        folder.mkdir(parents=True, exist_ok=True)
        for name in self.inputs:
            shutil.copy(self.build / name, folder / name)
        started = time.perf_counter()
        done = subprocess.run(self.argv + ["--log", LOG], cwd=folder, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
        log = folder / LOG
        text = log.read_text(errors="replace") if log.exists() else ""
        if done.returncode != 0 and not text:
            text = f"ERROR: nextpnr exited {done.returncode}: {done.stderr.strip()[-400:]}"
        return parse_nextpnr_log(text), seconds, done.returncode


def pnr_again(build: Path, options: dict[str, str | None] | None = None) -> PnrRun:
    """The build's nextpnr command line, its outputs dropped, `options` set (value None: a flag)."""
    build = Path(build)
    log = build / "pnr.log"
    if not log.is_file():
        raise RerunError(f"{log}: not found (BUILD must be an `aimcgen fpga` output folder)")
    first = log.read_text(errors="replace").splitlines()[:1]
    command = shlex.split(first[0][2:]) if first and first[0].startswith("$ ") else []
    tool = next((key for key in NEXTPNR if command and Path(command[0]).name.endswith(key)), None)
    if tool is None:
        raise RerunError(f"{log}: its first line is not a nextpnr command (`$ ...nextpnr-ecp5/-ice40 ...`)")
    family, var = NEXTPNR[tool]
    options = dict(options or {})
    argv, inputs, words = [resolve_tools(family)[var]], [], iter(command[1:])
    for arg in words:
        if arg in OUTPUTS:
            next(words, None)
        elif arg in options:
            if options[arg] is not None:
                next(words, None)
        else:
            argv.append(arg)
            if arg in INPUTS:
                inputs.append(next(words))
                argv.append(inputs[-1])
    for name in inputs:
        if not (build / name).is_file():
            raise RerunError(f"{build / name}: not found (the netlist or constraints of {log})")
    for option, value in options.items():
        argv += [option] if value is None else [option, value]
    return PnrRun(build, argv, inputs, family)
