"""FPGA emulation speed: MVMs per second of the emulated top on each board against Verilator's.

    .venv/bin/python benchmarks/emulation_speed.py [--preset tile64] [--set FIELD=VALUE ...]
                                                   [--boards ecp5_evn,ulx3s] [--mvms 20] [--reuse] [--out build]

The design is the preset's (with --set's changes, e.g. twin.integrate=parallel) emulated top (periphery plus emulated tiles, what `aimcgen fpga` puts on a board)
doing back-to-back MVMs (random full-scale inputs streamed without stalls, outputs always ready).
- cycles/MVM: counted in Amaranth's simulator over 3 MVMs after one warm-up (exact: the top is synchronous and
  the stream never stalls, so a board runs the same cycles), beside the serial command bound
  (contract.schedule.serial_schedule_commands: an analog macro answering every command in one cycle);
- board MVMs/s = clock / cycles per MVM, at the clock the board runs the design at (the spec's clock through
  the board's PLL; no figure where the placed design misses that clock) and at nextpnr's Fmax (the fastest
  clock the placed design closes at); each board's figures
  come from one `aimcgen fpga` build (aimcgen.flows.fpga.build_fpga; --reuse takes an existing report.json);
- Verilator MVMs/s: wall clock of --mvms MVMs under cocotb (benchmarks/sim_speed.py's bench, cocotb overhead
  included), one warm-up MVM not timed, on this machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from amaranth.back import verilog

from aimcgen.flows.fpga import FlowError, build_fpga, fpga_dir
from aimcgen.flows.fpga_report import FpgaReport
from aimcgen.cli.common import apply_overrides
from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.presets import load_preset
from aimcgen.spec import SpecError
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.sim.verify.cocotb_setup import unavailable_reason
from sim_speed import amaranth_run, cocotb_run


def board_report(spec, board: str, out: Path, reuse: bool) -> FpgaReport:
    existing = fpga_dir(spec, board, out) / "report.json"
    if reuse and existing.exists():
        return FpgaReport.from_json(existing.read_text())
    try:
        return build_fpga(spec, board, out, progress=lambda line: print(line, file=sys.stderr, flush=True))
    except FlowError as exc:
        print(f"{spec.name} on {board}: {exc}", file=sys.stderr)
        return FpgaReport.from_json(existing.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tile64")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="change one spec field (one value), e.g. twin.integrate=parallel; repeatable")
    parser.add_argument("--boards", default="ecp5_evn,ulx3s")
    parser.add_argument("--mvms", type=int, default=20, help="timed MVMs on Verilator")
    parser.add_argument("--reuse", action="store_true", help="use existing FPGA report.json files")
    parser.add_argument("--out", type=Path, default=Path("build"))
    args = parser.parse_args(argv)
    try:
        spec = apply_overrides(load_preset(args.preset), args.set)
    except SpecError as exc:
        parser.exit(2, f"emulation_speed: {exc}\n")
    cycles = amaranth_run(spec, 3)
    per_mvm = cycles["cycles"] / cycles["mvms"]
    rows = []
    for board in args.boards.split(","):
        started = time.perf_counter()
        report = board_report(spec, board.strip(), args.out, args.reuse)
        built = sum(report.times.values()) if args.reuse and report.times else time.perf_counter() - started
        rows.append((board, report, built))         # --reuse: the stages' times the report recorded
    verilator = None
    reason = unavailable_reason("verilator")
    if reason is None:
        build = (args.out / "emulation_speed" / spec.name).resolve()
        build.mkdir(parents=True, exist_ok=True)
        source = build / f"{spec.name}_emulated.v"
        source.write_text(verilog.convert(Accelerator(spec), name=source.stem, emit_src=False))
        verilator = cocotb_run(spec, source, "verilator", build, args.mvms)
    else:
        print(f"emulation_speed: no Verilator figure: {reason}", file=sys.stderr)
    print(f"\n{spec.name} emulated top ({spec.tile.rows}x{spec.tile.cols} tiles x {spec.tiles}, "
          f"{spec.input.encoding}, {spec.adc.count} {spec.adc.bits}-bit {spec.adc.kind} ADCs per tile): "
          f"twin.integrate = {spec.twin.integrate}: {per_mvm:.0f} cycles per MVM back to back (Amaranth "
          f"simulator, {cycles['mvms']} MVMs; serial command bound {serial_schedule_commands(spec)}); "
          f"os.cpu_count() = {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    print("| target | clock (MHz) | MVMs/s at that clock | vs Verilator | build (s) |")
    print("|---|---|---|---|---|")
    v_rate = None if verilator is None else verilator["mvms"] / verilator["wall_s"]
    for board, report, seconds in rows:
        for label, mhz in ((f"{board} ({report.device}), board clock", report.clock_mhz),
                           (f"{board} ({report.device}), at Fmax", report.fmax_mhz)):
            if mhz is None or report.fits is False or report.failed_stage:
                print(f"| {label} | - | does not build: {report.error or 'does not fit'} | - | {seconds:.0f} |")
                continue
            if report.fmax_mhz < mhz:                # the placed design does not close at that clock
                print(f"| {label} | {mhz:.1f} | - (misses timing: Fmax {report.fmax_mhz:.1f} MHz; run it at "
                      f"Fmax) | - | {seconds:.0f} |")
                continue
            rate = mhz * 1e6 / per_mvm
            ratio = "-" if v_rate is None else f"{rate / v_rate:,.0f}x"
            print(f"| {label} | {mhz:.1f} | {rate:,.0f} | {ratio} | {seconds:.0f} |")
    if verilator is not None:
        print(f"| Verilator + cocotb, this machine | - | {v_rate:,.1f} | 1x | {verilator['build_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
