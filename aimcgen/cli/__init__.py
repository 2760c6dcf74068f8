"""The `aimcgen` command line: one subcommand per product of a design spec."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from aimcgen import __version__, spec_toml
from aimcgen.cli.common import add_spec_options, load_spec, run_command
from aimcgen.presets import load_preset, preset_names
from aimcgen.spec import describe_fields
from aimcgen.flows.generate import generate
from aimcgen.cli.asic import add_asic_parser
from aimcgen.cli.deploy import add_deploy_parser
from aimcgen.cli.evaluate import add_evaluate_parser
from aimcgen.cli.formal import add_formal_parser
from aimcgen.cli.fpga import add_fpga_parser
from aimcgen.cli.sim import add_sim_parser
from aimcgen.cli.sweep import add_sweep_parser

DESCRIPTION = """\
aimcgen generates the digital periphery of analog in-memory-compute accelerators from one design spec
(a TOML file or a shipped preset), with a golden model that is bit-exact to the RTL.

Run `aimcgen generate` to build the default design, `aimcgen presets` to list the presets, and
`aimcgen spec --fields` for every field a spec file may set."""

def cmd_generate(args: argparse.Namespace) -> int:

    generate(load_spec(args), args.out, batch=args.batch, seed=args.seed)
    return 0


def cmd_spec(args: argparse.Namespace) -> int:
    if args.fields:
        for path, allowed, doc in describe_fields():
            print(f"{path:28} {allowed:34} {doc}")
        return 0
    sys.stdout.write(spec_toml.dumps(load_spec(args)))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    for name in preset_names():
        s = load_preset(name)
        print(f"{name:10} {s.name:16} {s.tile.rows}x{s.tile.cols} tile(s) x{s.tiles}, "
              f"{s.input.bits}-bit {s.input.encoding}, {s.adc.count}x {s.adc.bits}-bit {s.adc.kind} ADC, "
              f"{s.device.model}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aimcgen", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"aimcgen {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of every error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    gen = sub.add_parser("generate", help="validate a spec and write its products under build/",
                         description="Validate the design spec and write its products to OUT/<design "
                                     "name>/: the resolved spec.toml; Verilog of the periphery top, of the "
                                     "emulated analog tile and of both together (rtl/); the register map "
                                     "(regmap.json, regmap.md); a golden-model report on random vectors "
                                     "(report.json, report.md). Outputs appear complete or not at all.")
    add_spec_options(gen)
    gen.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    gen.add_argument("--batch", type=int, default=1024, help="random input vectors (default: 1024)")
    gen.add_argument("--seed", type=int, default=0, help="seed of the random weights and inputs (default 0)")
    gen.set_defaults(func=cmd_generate)

    spec = sub.add_parser("spec", help="print a spec with every field filled in, or list the fields",
                          description="Print the fully resolved spec as TOML (a starting point for your own "
                                      "design file), or with --fields every field, its range and meaning.")
    add_spec_options(spec)
    spec.add_argument("--fields", action="store_true", help="list every spec field with its allowed values")
    spec.set_defaults(func=cmd_spec)

    presets = sub.add_parser("presets", help="list the shipped design presets",
                             description="List the shipped presets with their main parameters.")
    presets.set_defaults(func=cmd_presets)

    add_sim_parser(sub)
    add_fpga_parser(sub)
    add_asic_parser(sub)
    add_formal_parser(sub)
    add_evaluate_parser(sub)
    add_deploy_parser(sub)
    add_sweep_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return run_command(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
