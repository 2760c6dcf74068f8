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
import sys
import tempfile
from collections import Counter
from pathlib import Path

from aimcgen import spec_toml
from aimcgen.flows.fpga import ToolMissing
from aimcgen.flows.fpga_rerun import RerunError, pnr_again

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
    if not (args.build / "spec.toml").is_file():
        parser.exit(2, f"fpga_late_endpoints: {args.build}: not an aimcgen fpga build (no spec.toml)\n")
    try:
        rerun = pnr_again(args.build, {"--detailed-timing-report": None, "--report": "late.json"})
    except (RerunError, ToolMissing) as exc:
        parser.exit(2, f"fpga_late_endpoints: {exc}\n")
    if rerun.family != "ecp5":
        parser.exit(2, f"fpga_late_endpoints: {args.build}: not an ECP5 build (this reads nextpnr-ecp5's "
                       f"report)\n")
    spec = spec_toml.load(args.build / "spec.toml")
    period = args.period or 1000.0 / spec.design.clock_mhz
    with tempfile.TemporaryDirectory() as tmp:
        print(f"fpga_late_endpoints: placing and routing {args.build} again ({' '.join(rerun.argv[1:])})",
              file=sys.stderr, flush=True)
        result, seconds, code = rerun.run(Path(tmp))
        if code != 0:
            print(f"fpga_late_endpoints: nextpnr failed: {'; '.join(result.errors)[-400:]}", file=sys.stderr)
            return 1
        report = json.loads(Path(tmp, "late.json").read_text())
    total, count, late, worst = late_groups(report, period)
    reported = "; ".join(f"{clock}: {got:.2f} MHz (constraint {want:.2f} MHz)"
                         for clock, (got, want) in result.fmax.items()) or "?"
    print(f"\n{spec.name}, {args.build}: {count} of {total} flip-flop inputs arrive after {period:.2f} ns "
          f"(nextpnr: {reported}; place and route {seconds:.0f} s)\n")
    print("| register / input | late inputs | worst arrival (ns) |")
    print("|---|---|---|")
    for group, n in late.most_common(args.top):
        print(f"| `{group}` | {n} | {worst[group]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
