"""`aimcgen deploy`: place a whole network onto one generated chip and write its program (sim.deploy)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from aimcgen.cli.common import add_spec_options, load_spec
from aimcgen.cli.evaluate import load_eval_network
from aimcgen.sim.deploy.placement import PlacementError
from aimcgen.sim.deploy.report import deploy
from aimcgen.sim.deploy.rtl_check import DeployError
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, available_simulators, unavailable_reason
from aimcgen.sim.eval.network import NetworkError


def add_deploy_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "deploy", help="place a whole network onto one chip: program file, placement, accuracy, cycles",
        description="Place every layer of a network (default: the shipped digits MLP) on the design's own tile "
                    "grid, quantize it for that chip and write OUT/<design>/deploy/: program.aimc (weights, "
                    "post-processor codes, layer descriptors, host steps), report.json, report.md, "
                    "placement.png and firmware/ (the program as C tables for the C driver). Accuracy on the "
                    "float network, the golden model and --chips physics-model "
                    "chips read --t seconds after programming; cycles per inference from the model. A network "
                    "that does not fit exits 2 naming the short resource and the spec change that fits.",
        epilog="example: aimcgen deploy --preset tile64 --set array.col_tiles=2")
    add_spec_options(p)
    p.add_argument("--model", type=Path, metavar="FILE", help="network: .npz or .onnx (default: digits MLP)")
    p.add_argument("--test-npz", type=Path, metavar="FILE", help="test set (x_test, y_test[, x_calib]) for "
                   "models without one; default: the digits test set")
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--chips", type=int, default=3, help="Monte-Carlo chips of the physics model (default 3)")
    p.add_argument("--t", dest="t_s", type=float, default=86400.0, metavar="SECONDS",
                   help="time since programming of the physics model's reads (default 86400: one day)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first physics-model chip (default 0)")
    p.add_argument("--inputs", type=int, default=200, metavar="N",
                   help="test inputs for the accuracies (default 200)")
    p.add_argument("--rtl-check", type=int, default=0, metavar="N",
                   help="also run the first N test inputs through one generated Verilog top in cocotb (the program "
                        "loaded over Wishbone, layers chained by the sequencer) and compare every output code with "
                        "the golden model (default 0: off)")
    p.add_argument("--simulator", choices=SIMULATORS, help="simulator of --rtl-check (default: icarus when "
                   "installed, else verilator)")
    p.set_defaults(func=cmd_deploy)
    return p


def _error(message: str) -> int:
    print(f"aimcgen: error: {message}", file=sys.stderr)
    return 2


def cmd_deploy(args: argparse.Namespace) -> int:
    for name in ("chips", "inputs"):
        if getattr(args, name) < 1:
            return _error(f"--{name} = {getattr(args, name)}: must be >= 1")
    if not 0 <= args.rtl_check <= args.inputs:
        return _error(f"--rtl-check = {args.rtl_check}: must be 0..--inputs ({args.inputs})")
    simulator = None
    if args.rtl_check:
        simulator = args.simulator or next((s for s in ("icarus", "verilator") if s in available_simulators()), None)
        reason = unavailable_reason(simulator or "verilator")
        if reason:
            return _error(f"--rtl-check: {reason}")
    if not (math.isfinite(args.t_s) and args.t_s >= 0):
        return _error(f"--t = {args.t_s}: must be a finite number of seconds >= 0")
    spec = load_spec(args)
    try:
        net = load_eval_network(args.model, args.test_npz)
    except (NetworkError, OSError, KeyError) as exc:
        return _error(str(exc))
    out = args.out / spec.name / "deploy"
    start = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {line}", flush=True)

    try:
        report = deploy(spec, net, out, chips=args.chips, t_s=args.t_s, seed=args.seed, inputs=args.inputs,
                        rtl_check=args.rtl_check, simulator=simulator, progress=progress)
    except (PlacementError, DeployError) as exc:
        return _error(str(exc))
    a = report["accuracy"]
    print(f"wrote {out}/: program.aimc, report.json, report.md, placement.png, firmware/; {report['tiles_used']} of "
          f"{report['tiles_total']} tile(s), {report['cycles_per_inference_model']} cycles/inference (model), "
          f"accuracy float {100 * a['float']:.2f} %, golden {100 * a['golden']:.2f} %, "
          f"physics {100 * a['physics']:.2f} %")
    nb = report["neurobench"]
    print(f"NeuroBench: footprint {nb['footprint_bytes']} bytes, connection sparsity {nb['connection_sparsity']:.3f}, "
          f"activation sparsity {nb['activation_sparsity']['overall'] or 0:.3f}, effective MACs "
          f"{nb['synaptic_operations']['effective_macs']:.0f} of {nb['synaptic_operations']['dense']:.0f} dense per "
          f"inference")
    if args.rtl_check:
        print(f"RTL: {report['rtl_inferences']} inference(s), {report['rtl_mismatches']} output code(s) differ from "
              f"the golden model, {report['cycles_per_inference_rtl']:.0f} cycles/inference")
        return 1 if report["rtl_mismatches"] else 0
    return 0
