"""`aimcgen evaluate`: map a network onto a design's tiles and report accuracy under device noise and
drift, latency, area and energy (sim.eval)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from aimcgen.cli.common import add_spec_options, load_spec
from aimcgen.sim.eval.estimates import load_asic_report
from aimcgen.sim.eval.network import (NetworkError, attach_test_set, checked_test_set, default_model_path,
                                      load_network)
from aimcgen.sim.eval.pruning import PruneError, check_fraction
from aimcgen.sim.eval.report import evaluate
from aimcgen.sim.verify.cocotb_setup import unavailable_reason
from aimcgen.staging import staged_directory


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate", help="map a network onto tiles; accuracy under noise and drift, latency, area, energy",
        description="Map a network (dense and 2D conv layers from .npz or ONNX; default: the shipped 8x8-digits "
                    "MLP) onto the design's tiles and write OUT/<design>/evaluation/: report.json, report.md and plots "
                    "(accuracy vs drift time with and without compensation, vs ADC bits, noise attribution).")
    add_spec_options(p)
    p.add_argument("--model", type=Path, metavar="FILE", help="network: .npz or .onnx (default: digits MLP); "
                   "must carry its test set (x_test, y_test) unless --test-npz is given")
    p.add_argument("--test-npz", type=Path, metavar="FILE", help="test set (x_test, y_test[, x_calib]) for "
                   "models without one (e.g. ONNX); default: the digits test set")
    chips = p.add_mutually_exclusive_group()
    chips.add_argument("--chips", default="auto", metavar="auto|N",
                       help="simulated chips (Monte-Carlo seeds), the same chips for every figure: a number, or "
                            "auto (default): chips in batches of 10 until the 95 %% interval of the 1-day "
                            "compensated accuracy is within +- --ci-target, at most --max-chips and about "
                            "--chip-budget seconds of simulation")
    chips.add_argument("--seeds", type=int, help="a fixed number of chips (same as --chips N)")
    p.add_argument("--ci-target", type=float, default=0.3, metavar="POINTS",
                   help="--chips auto: target half-width of the 95 %% interval, in accuracy percentage points "
                        "(default 0.3)")
    p.add_argument("--max-chips", type=int, default=100, help="--chips auto: at most this many chips (default 100)")
    p.add_argument("--chip-budget", type=float, default=40.0, metavar="SECONDS",
                   help="--chips auto: stop adding chips when the projected physics-model time of the whole "
                        "evaluation would exceed this (default 40)")
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--rtl-check", type=int, default=0, metavar="N", help="also run the first N test inputs "
                   "through the generated Verilog layer by layer (cocotb) and compare every output code with "
                   "the golden model; exit status 1 if any differs (default 0: off)")
    p.add_argument("--simulator", choices=("verilator", "icarus"), default="verilator",
                   help="simulator of --rtl-check (default: verilator)")
    p.add_argument("--asic-report", type=Path, metavar="FILE", help="asic_report.json of `aimcgen asic` for "
                   "this design: the digital periphery's area from synthesis (default: not included)")
    p.add_argument("--prune", metavar="F", help="also evaluate the network with a share F in [0, 1) of its "
                   "weights pruned in whole hidden neurons (crossbar columns) and tile-aligned input row blocks, "
                   "chosen by their effect on the output under device noise; its row joins the accuracy/energy "
                   "table and plot (default: off)")
    p.set_defaults(func=cmd_evaluate)
    return p


def load_eval_network(model: Path | None, test_npz: Path | None):
    """The network with its checked test set: from `test_npz` when given, else from the model file, else
    (a model with no test set at all) the digits test set. Raises NetworkError naming the file."""
    net = load_network(model or default_model_path())
    if test_npz is not None:
        attach_test_set(net, test_npz)
        source = str(test_npz)
    elif "x_test" in net.meta or "y_test" in net.meta:
        source = str(model or default_model_path())
    else:
        attach_test_set(net, default_model_path())
        source = "the digits test set (the model carries none; give its own with --test-npz)"
    checked_test_set(net, source)
    return net


def _chips(args: argparse.Namespace) -> tuple[int | str | None, str | None]:
    """The chip count (an int or "auto") of --seeds / --chips, or an error message."""
    if args.seeds is not None:
        return (args.seeds, None) if args.seeds >= 1 else (None, f"--seeds = {args.seeds}: must be >= 1")
    if str(args.chips).strip().lower() == "auto":
        if not args.ci_target > 0:
            return None, f"--ci-target = {args.ci_target}: must be > 0 percentage points"
        if args.max_chips < 2:
            return None, f"--max-chips = {args.max_chips}: must be >= 2"
        if not args.chip_budget > 0:
            return None, f"--chip-budget = {args.chip_budget}: must be > 0 seconds"
        return "auto", None
    try:
        n = int(args.chips)
    except ValueError:
        return None, f"--chips {args.chips!r}: expected auto or a number of chips"
    return (n, None) if n >= 1 else (None, f"--chips = {n}: must be >= 1")


def cmd_evaluate(args: argparse.Namespace) -> int:
    chips, problem = _chips(args)
    if problem:
        print(f"aimcgen: error: {problem}", file=sys.stderr)
        return 2
    try:
        prune = None if args.prune is None else check_fraction(args.prune)
    except PruneError as exc:
        print(f"aimcgen: error: {exc}", file=sys.stderr)
        return 2
    spec = load_spec(args)
    try:
        net = load_eval_network(args.model, args.test_npz)
    except NetworkError as exc:
        print(f"aimcgen: error: {exc}", file=sys.stderr)
        return 2
    problem = _check_rtl_and_asic_options(args, spec)
    if problem:
        print(f"aimcgen: error: {problem}", file=sys.stderr)
        return 2
    out = args.out / spec.name / "evaluation"
    start = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {line}", flush=True)

    with staged_directory(out) as tmp:          # complete or not at all; OutputError names a bad --out
        report = evaluate(spec, net, tmp, seeds=chips, progress=progress, plots=not args.no_plots,
                          rtl_check=args.rtl_check, simulator=args.simulator, asic_report=args.asic_report,
                          ci_target=args.ci_target / 100.0, max_chips=args.max_chips,
                          time_budget_s=args.chip_budget, prune=prune)
    print(f"wrote {out}/report.json, report.md" + ("" if args.no_plots else " and plots"))
    if "rtl_check" in report and not report["rtl_check"]["passed"]:
        print("aimcgen: RTL cross-check failed: " + "; ".join(report["rtl_check"]["mismatches"][:3]),
              file=sys.stderr)
        return 1
    return 0


def _check_rtl_and_asic_options(args: argparse.Namespace, spec) -> str | None:
    """What is wrong with --rtl-check / --simulator / --asic-report, before the long evaluation runs."""

    if args.rtl_check < 0:
        return f"--rtl-check = {args.rtl_check}: must be >= 0"
    if args.rtl_check and unavailable_reason(args.simulator):
        return f"--rtl-check needs {args.simulator}: {unavailable_reason(args.simulator)}"
    if args.asic_report is not None:
        try:
            load_asic_report(args.asic_report, spec.name)
        except (OSError, ValueError) as exc:
            return str(exc)
    return None

