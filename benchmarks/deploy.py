"""Inferences per second of a deployed network on each back end, and cycles per inference: model vs RTL.

    .venv/bin/python benchmarks/deploy.py [--preset tile64] [--set FIELD=VALUE ...] [--batch 500] [--repeats 5]
                                          [--rtl-inputs 8]
        [--simulators icarus,verilator] [--amaranth-mvms 3] [--fpga-report build/.../report.json]
        [--out build/bench_deploy]

The network is the shipped digits MLP, compiled once for the preset's chip (`aimcgen deploy`'s compiler,
outside every timer). Rows of the table:
- float numpy: the float network's forward pass on `--batch` inputs (timer: Network.predict only);
- golden: the chip program on the bit-exact golden model, one chip (timer: sim.deploy.run.run_golden: input
  quantization, every segment's MVMs with noise, host steps, argmax);
- physics: one Monte-Carlo chip of the physics model read at 1 day (timer: building the chip's devices,
  drift compensation's calibration on the same inputs, and the run: what one chip's accuracy figure costs);
- Icarus / Verilator: `--rtl-inputs` inferences through the generated top in cocotb (sim.deploy.rtl_check).
  Two figures: "wall" = inferences / the simulation's wall time, which includes programming every weight
  over Wishbone (a one-off per chip); "steady" = (simulated cycles / wall time) / RTL cycles per inference,
  the rate once the weights are in. The build (Verilog generation, simulator build) is outside both;
- Amaranth simulator: cycles/s of the same emulated top streaming back-to-back MVMs in Amaranth's Python
  simulator (benchmarks/sim_speed.py's measurement, `--amaranth-mvms` MVMs) / RTL cycles per inference;
- FPGA: Fmax of the emulation top from an `aimcgen fpga` report.json (`--fpga-report`) / RTL cycles per
  inference: the emulated chip on that board, if the host kept it fed.
Numpy rows give the median and range over `--repeats` runs with BLAS pinned to one thread (threadpoolctl);
simulator rows are single runs (minutes each). Cycles per inference: the model's (the sum over layers of
the serial command bound per MVM plus the post-processor pipeline, sim.deploy.run) and the RTL's (measured by the
bench from the CTRL.start ack to the OUT_COUNT read that saw the result, summed over segments).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from aimcgen.cli.common import apply_overrides
from aimcgen.presets import load_preset
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.report import dataset
from aimcgen.sim.deploy.rtl_check import check_program_on_rtl
from aimcgen.sim.deploy.run import cycles_per_inference, run_golden, run_physics
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.verify.cocotb_setup import unavailable_reason
from aimcgen.spec import SpecError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sim_speed import amaranth_run  # noqa: E402  (the same measurement as the simulation-speed table)


def timed(fn, repeats: int) -> tuple[float, float, float]:
    """(median, min, max) wall seconds of fn() over `repeats` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), max(times)


def rate_row(name: str, n: int, t: tuple[float, float, float], inside: str) -> str:
    med, lo, hi = t
    return f"| {name} | {n / med:,.0f} | {n / hi:,.0f}..{n / lo:,.0f} | {inside} |"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="tile64")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change one spec field (one value), e.g. twin.integrate=parallel_adc; repeatable")
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rtl-inputs", type=int, default=8)
    ap.add_argument("--simulators", default="icarus,verilator")
    ap.add_argument("--amaranth-mvms", type=int, default=3)
    ap.add_argument("--fpga-report", type=Path, help="report.json of `aimcgen fpga` for the preset")
    ap.add_argument("--out", type=Path, default=Path("build/bench_deploy"))
    args = ap.parse_args(argv)

    try:
        spec = apply_overrides(load_preset(args.preset), args.set)
    except SpecError as exc:
        ap.exit(2, f"deploy: {exc}\n")
    net = load_network(default_model_path())
    x, y, calib = dataset(net, None)
    x = np.resize(x, (args.batch, x.shape[1]))
    program = compile_network(net, spec, calib)
    cycles_model = cycles_per_inference(program, spec)["cycles"]
    blas = [f"{i.get('internal_api')} {i.get('num_threads')} threads" for i in threadpool_info()]
    print(f"# {net.describe()} deployed on {spec.name}: {len(program.segments)} segment(s), "
          f"cycles/inference at the serial command bound (model) {cycles_model}")
    print(f"conditions: batch {args.batch}, {args.repeats} timed repeats after one warm-up (median, range), "
          f"BLAS pinned to 1 thread (was: {', '.join(blas) or 'none'}), python {sys.version.split()[0]}, "
          f"numpy {np.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print()
    print("| back end | inferences/s (median) | range | inside the timer |")
    print("|---|---|---|---|")
    with threadpool_limits(limits=1):
        print(rate_row("float numpy (reference)", args.batch, timed(lambda: net.predict(x), args.repeats),
                       "Network.predict"))
        print(rate_row("golden model (bit-exact)", args.batch,
                       timed(lambda: run_golden(program, spec, x), args.repeats),
                       "run_golden: quantize, MVMs with noise, host steps, argmax"))
        print(rate_row("physics model, 1 chip at 1 day", args.batch,
                       timed(lambda: run_physics(program, spec, x, t_s=86400.0), args.repeats),
                       "device draw, drift compensation calibration, run"))

    rtl_cycles = None
    rtl_rows = []
    for simulator in [s for s in args.simulators.split(",") if s]:
        reason = unavailable_reason(simulator)
        if reason:
            rtl_rows.append(f"| {simulator} | not run: {reason} | | |")
            continue
        with tempfile.TemporaryDirectory(prefix="bench_deploy_") as build:
            r = check_program_on_rtl(program, spec, x[:args.rtl_inputs], simulator=simulator, build_dir=Path(build),
                                     progress=lambda m: print(f"  {m}", file=sys.stderr))
        rtl_cycles = r["cycles_per_inference_rtl"]
        wall = r["rtl_inferences"] / r["run_s"]
        steady = r["cycles_total"] / r["run_s"] / rtl_cycles
        rtl_rows.append(f"| {simulator} (cocotb), {r['rtl_inferences']} inferences, {r['rtl_mismatches']} "
                        f"mismatches | wall {wall:.3f}; steady {steady:.2f} | single run | simulation "
                        f"({r['cycles_total']} cycles in {r['run_s']:.1f} s) incl. weight programming; build "
                        f"{r['build_s']:.0f} s outside |")
    amaranth = amaranth_run(spec, args.amaranth_mvms)
    amaranth_cps = amaranth["cycles"] / amaranth["wall_s"]
    for row in rtl_rows:
        print(row)
    if rtl_cycles:
        print(f"| Amaranth simulator | {amaranth_cps / rtl_cycles:.2f} | single run | {amaranth['cycles']} cycles "
              f"of back-to-back MVMs at {amaranth_cps:,.0f} cycles/s / RTL cycles per inference |")
    if args.fpga_report and rtl_cycles:
        rep = json.loads(args.fpga_report.read_text())
        fmax = rep["timing"]["fmax_mhz"] if "timing" in rep else rep["fmax_mhz"]
        print(f"| FPGA emulation ({rep.get('board', '?')}, Fmax {fmax:.1f} MHz) | {fmax * 1e6 / rtl_cycles:,.0f} | "
              f"from Fmax | Fmax / RTL cycles per inference |")
    elif rtl_cycles:
        print("| FPGA emulation | not measured | | pass --fpga-report build/<design>/fpga/<board>/report.json |")
    print()
    if rtl_cycles:
        print(f"cycles per inference: model (serial command bound) {cycles_model}, RTL with the emulated tile "
              f"{rtl_cycles:.0f} ({rtl_cycles / cycles_model:.2f}x: the emulated tile's twin.integrate = "
              f"{spec.twin.integrate})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
