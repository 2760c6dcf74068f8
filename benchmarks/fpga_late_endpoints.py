"""Where an ECP5 build misses its clock: late flip-flop inputs grouped by register, as one Markdown table.

Usage: python benchmarks/fpga_late_endpoints.py BUILD_DIR [--period NS] [--top N]
BUILD_DIR is an `aimcgen fpga` output folder (OUT/<design>/fpga/<board>/). The script places and routes that
build's netlist again with the same nextpnr command line (the first line of its pnr.log: device, seed,
router) plus `--detailed-timing-report`, into a temporary folder, and reads the latest arrival nextpnr
reports at every flip-flop input (D, M, CE, LSR; the clock-to-out of the launching register included). An
input arriving after the period (default: the spec's clock) is late. Rows group the inputs by register
name with indices and digits folded (`lane_#_s#`), largest groups first; the worst arrival is the group's
latest. nextpnr's own Fmax line is printed too: one run is one placement (the seed's), and another
placement moves endpoints between groups.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from aimcgen import spec_toml
from aimcgen.flows.fpga import ToolMissing, resolve_tools

FF_INPUTS = ("DI", "M", "CE", "LSR")
FOLDED = re.compile(r"_(TRELLIS_FF|LUT4|CCU2C|PFUMX|L6MUX21).*")


def register_group(cell: str, port: str) -> str:
    """The register a flip-flop input belongs to, digits folded: `...integrator.lane_#_s#/DI`."""
    name = re.sub(r"(_\d+)+$", "", FOLDED.sub("", cell))
    return re.sub(r"\d+", "#", name) + "/" + port


def late_groups(report: dict, period_ns: float) -> tuple[int, int, Counter, dict]:
    """(inputs, late inputs, late count per group, worst arrival per group) of a detailed nextpnr report."""
    late, worst, total, count = Counter(), {}, 0, 0
    for net in report["detailed_net_timings"]:
        for sink in net["endpoints"]:
            if sink["port"] not in FF_INPUTS or "TRELLIS_FF" not in sink["cell"]:
                continue
            total += 1
            arrival = sink["delay"][1]
            if arrival > period_ns:
                group = register_group(sink["cell"], sink["port"])
                count += 1
                late[group] += 1
                worst[group] = max(worst.get(group, 0.0), arrival)
    return total, count, late, worst


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("build", type=Path, help="an aimcgen fpga output folder (with pnr.log)")
    parser.add_argument("--period", type=float, help="ns (default: 1000 / the spec's clock_mhz)")
    parser.add_argument("--top", type=int, default=20, help="groups to print")
    args = parser.parse_args(argv)
    log = args.build / "pnr.log"
    if not log.is_file() or not (args.build / "spec.toml").is_file():
        parser.exit(2, f"fpga_late_endpoints: {args.build}: not an aimcgen fpga build (no pnr.log or spec.toml)\n")
    command = shlex.split(log.read_text().splitlines()[0].lstrip("$ "))
    if "nextpnr-ecp5" not in Path(command[0]).name:
        parser.exit(2, f"fpga_late_endpoints: {log}: not an ECP5 build (this reads nextpnr-ecp5's report)\n")
    spec = spec_toml.load(args.build / "spec.toml")
    period = args.period or 1000.0 / spec.design.clock_mhz
    try:
        nextpnr = resolve_tools("ecp5")["NEXTPNR_ECP5"]      # this machine's, not the path in the log
    except ToolMissing as exc:
        parser.exit(2, f"fpga_late_endpoints: {exc}\n")
    argv_pnr = [nextpnr, "--quiet", "--timing-allow-fail", "--detailed-timing-report", "--report", "late.json",
                "--log", "late.log"]
    inputs = []                                         # the netlist and constraints, copied beside the run
    words = iter(command[1:])
    for arg in words:
        if arg in ("--report", "--log", "--textcfg"):   # the original run's outputs, with their values
            next(words, None)
        elif arg not in ("--quiet", "--timing-allow-fail"):
            argv_pnr.append(arg)
            if arg in ("--json", "--lpf"):
                inputs.append(next(words))
                argv_pnr.append(inputs[-1])
    with tempfile.TemporaryDirectory() as tmp:
        for name in inputs:
            shutil.copy(args.build / name, tmp)
        started = time.perf_counter()
        print(f"fpga_late_endpoints: placing and routing {args.build} again ({' '.join(argv_pnr[1:])})",
              file=sys.stderr, flush=True)
        done = subprocess.run(argv_pnr, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            print(f"fpga_late_endpoints: nextpnr failed: {done.stderr.strip()[-400:]}", file=sys.stderr)
            return 1
        fmax = [line for line in Path(tmp, "late.log").read_text().splitlines() if "Max frequency" in line]
        report = json.loads(Path(tmp, "late.json").read_text())
    total, count, late, worst = late_groups(report, period)
    seconds = time.perf_counter() - started
    reported = fmax[-1].split(": ", 1)[-1] if fmax else "?"
    print(f"\n{spec.name}, {args.build}: {count} of {total} flip-flop inputs arrive after {period:.2f} ns "
          f"(nextpnr: {reported}; place and route {seconds:.0f} s)\n")
    print("| register / input | late inputs | worst arrival (ns) |")
    print("|---|---|---|")
    for group, n in late.most_common(args.top):
        print(f"| `{group}` | {n} | {worst[group]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
