"""FPGA emulation resources and Fmax of each preset on each board, as one Markdown table.

Usage: python benchmarks/fpga.py [--presets P ...] [--boards B ...] [--out build] [--reuse] [--periphery]
Each (preset, board) pair runs the whole flow (aimcgen.flows.fpga.build_fpga) into OUT/<design>/fpga/<board>/
unless --reuse finds a report.json there already. Resources are used/available (percent) of the board's
device; Fmax is nextpnr's for the emulation clock, next to the clock the board runs the design at (the
spec's clock, through the board's PLL). A pair that does not fit prints "does not fit" and the first spec
change the report estimates to fit; timing misses show the critical path's ends. --periphery adds a row per
pair for the periphery timing harness (no emulated tiles; see flows/fpga.py), whose Fmax is the periphery's.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aimcgen.boards import BOARDS
from aimcgen.flows.fpga import FlowError, build_fpga, fpga_dir
from aimcgen.flows.fpga_report import FpgaReport
from aimcgen.presets import load_preset, preset_names


def _cell(report: FpgaReport, name: str) -> str:
    r = report.resources.get(name, {})
    if r.get("used") is None:
        return "?"
    return f"{r['used']} / {r['available']} ({r['percent']:.0f} %)"


def row(preset: str, report: FpgaReport, seconds: float | None) -> str:
    if report.fits is False:
        hint = report.suggestions[0]["change"] if report.suggestions else "no spec change tried fits"
        result = f"does not fit ({hint})"
    elif report.failed_stage:
        result = f"failed in {report.failed_stage}: {report.error}"
    elif report.timing_met:
        result = "pass"
    else:
        result = f"timing fails (critical path {report.critical_path_from} -> {report.critical_path_to})"
    fmax = "?" if report.fmax_mhz is None else f"{report.fmax_mhz:.1f}"
    took = "reused" if seconds is None else f"{seconds:.0f} s"
    board = report.board + (" (periphery)" if getattr(report, "variant", "emulation") == "periphery" else "")
    return (f"| {preset} | {board} | {report.device} | {_cell(report, 'lut')} | {_cell(report, 'ff')} | "
            f"{_cell(report, 'bram')} | {_cell(report, 'dsp')} | {report.clock_mhz:.2f} | {fmax} | {result} | "
            f"{took} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=preset_names())
    parser.add_argument("--boards", nargs="+", default=sorted(BOARDS), choices=sorted(BOARDS))
    parser.add_argument("--out", type=Path, default=Path("build"))
    parser.add_argument("--reuse", action="store_true", help="use an existing report.json instead of building")
    parser.add_argument("--quiet", action="store_true", help="no per-stage progress")
    parser.add_argument("--periphery", action="store_true", help="also build the periphery timing harness")
    args = parser.parse_args()
    rows = []
    for preset in args.presets:
        spec = load_preset(preset)
        for board in args.boards:
            for periphery in (False, True) if args.periphery else (False,):
                existing = fpga_dir(spec, board, args.out, periphery=periphery) / "report.json"
                if args.reuse and existing.exists():
                    rows.append(row(preset, FpgaReport.from_json(existing.read_text()), None))
                    continue
                start = time.perf_counter()
                try:
                    report = build_fpga(spec, board, args.out, periphery=periphery,
                                        progress=(lambda line: None) if args.quiet else
                                        (lambda line: print(line, file=sys.stderr, flush=True)))
                except FlowError as exc:
                    print(f"{preset} on {board}: {exc}", file=sys.stderr)
                    report = FpgaReport.from_json(existing.read_text())
                rows.append(row(preset, report, time.perf_counter() - start))
    print("| preset | board | device | LUTs | FFs | BRAMs | DSPs | clock MHz | Fmax MHz | result | build |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for line in rows:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
