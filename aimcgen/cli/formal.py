"""`aimcgen formal`: prove the handshakes of a design's periphery with SymbiYosys (flows/formal.py).

Exit status: 0 every property holds and every mutant is caught, 1 a property fails (or does not close) or a
mutant escapes (the report says which, with the counterexample trace), 2 bad arguments, a bad spec or a
missing tool (z3, yowasp-sby: the message says how to install it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aimcgen.flows.formal import FormalToolMissing, check_tools, run_formal_staged
from aimcgen.cli.common import add_spec_options, load_spec

DESCRIPTION = """\
Formal verification of the periphery's handshakes with SymbiYosys (yowasp-sby) and z3: small harnesses
around the generated Wishbone register bank, the tile controller's analog command stream, the tile
controller and layer sequencer (liveness), the shift-add accumulator (saturation) and the UART bridge.
Each property is proven by k-induction where it closes, else checked by BMC or cover to a stated depth;
deliberately broken mutants must fail the same checks. Writes OUT/<design>/formal/: report.json,
report.md and the SymbiYosys work folders (logs, counterexample traces)."""


def add_formal_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("formal", help="prove the periphery's handshakes with SymbiYosys",
                              description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(p)
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--property", action="append", metavar="NAME", dest="properties",
                   help="run only this property (repeatable); default: all default properties")
    p.add_argument("--no-mutants", action="store_true", help="skip the mutant checks")
    p.set_defaults(func=cmd_formal)
    return p


def cmd_formal(args: argparse.Namespace) -> int:
    spec = load_spec(args)
    try:
        check_tools()
    except FormalToolMissing as exc:
        print(f"aimcgen: error: {exc}", file=sys.stderr)
        return 2

    def progress(line: str) -> None:
        print(line, flush=True)

    try:
        report = run_formal_staged(spec, args.out, progress, only=args.properties, mutants=not args.no_mutants)
    except ValueError as exc:
        print(f"aimcgen: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {Path(report.directory) / 'report.md'}")
    return report.exit_status
