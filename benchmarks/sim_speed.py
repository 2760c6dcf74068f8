"""Simulated cycles per second of the generated accelerator top, per simulator.

    .venv/bin/python benchmarks/sim_speed.py [--preset tile64] [--mvms 20] [--amaranth-mvms 6]
                                             [--simulators verilator,icarus,amaranth] [--out build/sim_speed]

The design is the preset's emulated top (`<name>_emulated`, what `aimcgen sim` runs) doing back-to-back MVMs:
random full-scale input vectors streamed in without stalls, the output stream always ready. Verilator and
Icarus run under cocotb (this file is also the cocotb test module: `measure_back_to_back`), with the
bench's StreamDriver/StreamMonitor, so the figure includes the cocotb overhead a bench pays; Amaranth's
Python simulator runs the same Amaranth design with two testbench coroutines (reference). One warm-up MVM
is not timed. Prints a Markdown table; the build column is Verilog generation plus the simulator's build
(Verilator: verilate and compile C++; Icarus: iverilog; Amaranth: elaboration).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

try:                                   # inside the simulator: the cocotb test below
    import cocotb
except ImportError:                    # pragma: no cover
    cocotb = None

CLOCK_NS = 10


if cocotb is not None:
    @cocotb.test()
    async def measure_back_to_back(dut):
        import numpy as np
        from amaranth.hdl import signed
        from cocotb.clock import Clock
        from cocotb.triggers import RisingEdge

        from aimcgen.rtl.accelerator_core import output_layout
        from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
        from aimcgen.sim.verify.cocotb_streams import StreamDriver, StreamMonitor, sim_cycle

        spec, cfg = load_bench_config()
        mvms = int(cfg.get("mvms", 20))
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        driver = StreamDriver(dut, "inp", shape=signed(spec.input.bits), period_ns=CLOCK_NS)
        monitor = StreamMonitor(dut, "out", shape=output_layout(spec), period_ns=CLOCK_NS)
        for name, value in (("bus__cyc", 0), ("bus__stb", 0), ("rst", 1)):
            getattr(dut, name).value = value
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        driver.start()
        monitor.start()
        m = spec.input.max_magnitude
        rng = np.random.default_rng(1)
        xs = rng.integers(-m, m + 1, (mvms + 1, spec.logical_rows))
        xs[:, -1] = m                      # the last row driven: every INTEGRATE scans every row
        driver.send([int(v) for v in xs[0]])
        await monitor.wait_packets(1)      # warm-up
        c0, t0 = sim_cycle(CLOCK_NS), time.perf_counter()
        for x in xs[1:]:
            driver.send([int(v) for v in x])
        await monitor.wait_packets(mvms + 1)
        c1, t1 = sim_cycle(CLOCK_NS), time.perf_counter()
        record_bench_report("speed", {"mvms": mvms, "cycles": c1 - c0, "wall_s": t1 - t0})


def cocotb_run(spec, source: Path, simulator: str, build: Path, mvms: int) -> dict:
    from aimcgen.sim.verify.cocotb_run import clean_run_dir, run_bench, write_bench_config

    clean_run_dir(build, simulator)            # time a fresh build
    config = write_bench_config(build / f"config_{simulator}.json", spec, mvms=mvms)
    here = str(Path(__file__).resolve().parent)
    env = {"AIMCGEN_BENCH_CONFIG": str(config),
           "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    result = run_bench(verilog_sources=[source], toplevel=source.stem, test_module="sim_speed",
                       simulator=simulator, build_dir=build, extra_env=env)
    return {**result.report["speed"], "build_s": result.build_s}


def amaranth_run(spec, mvms: int) -> dict:
    import numpy as np

    from aimcgen.sim.verify.amaranth_mvms import back_to_back_ends

    m = spec.input.max_magnitude
    rng = np.random.default_rng(1)
    xs = rng.integers(-m, m + 1, (mvms + 1, spec.logical_rows))
    xs[:, -1] = m
    ends, build_s = back_to_back_ends(spec, xs, clock_ns=CLOCK_NS)
    (c0, t0), (c1, t1) = ends[0], ends[-1]
    return {"mvms": mvms, "cycles": c1 - c0, "wall_s": t1 - t0, "build_s": build_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tile64")
    parser.add_argument("--mvms", type=int, default=20, help="timed MVMs on Verilator and Icarus")
    parser.add_argument("--amaranth-mvms", type=int, default=6, help="timed MVMs in Amaranth's simulator")
    parser.add_argument("--simulators", default="verilator,icarus,amaranth")
    parser.add_argument("--out", type=Path, default=Path("build/sim_speed"))
    args = parser.parse_args(argv)

    from amaranth.back import verilog

    from aimcgen.presets import load_preset
    from aimcgen.rtl.accelerator import Accelerator
    from aimcgen.sim.verify.cocotb_setup import unavailable_reason

    spec = load_preset(args.preset)
    build = (args.out / spec.name).resolve()
    build.mkdir(parents=True, exist_ok=True)
    source = build / f"{spec.name}_emulated.v"
    t0 = time.perf_counter()
    source.write_text(verilog.convert(Accelerator(spec), name=source.stem, emit_src=False))
    verilog_s = time.perf_counter() - t0

    rows = []
    for simulator in args.simulators.split(","):
        simulator = simulator.strip()
        print(f"sim_speed: {simulator} ...", file=sys.stderr, flush=True)
        if simulator == "amaranth":
            r = amaranth_run(spec, args.amaranth_mvms)
            build_s = r["build_s"]
        else:
            reason = unavailable_reason(simulator)
            if reason is not None:
                print(f"sim_speed: skipping {simulator}: {reason}", file=sys.stderr)
                continue
            r = cocotb_run(spec, source, simulator, build, args.mvms)
            build_s = verilog_s + r["build_s"]
        rows.append((simulator, build_s, r["mvms"], r["cycles"], r["wall_s"]))

    print(f"\n{spec.name} ({spec.tile.rows}x{spec.tile.cols} emulated tile, {spec.input.encoding}, "
          f"{spec.adc.count} {spec.adc.bits}-bit {spec.adc.kind} ADCs): back-to-back MVMs, no stalls\n")
    print("| simulator | build (s) | MVMs timed | cycles | cycles/MVM | wall (s) | cycles/s | MVMs/s |")
    print("|---|---|---|---|---|---|---|---|")
    for simulator, build_s, mvms, cycles, wall in rows:
        name = {"verilator": "Verilator 5.048 + cocotb 2.1", "icarus": "Icarus 11 + cocotb 2.1",
                "amaranth": "Amaranth 0.5 Python simulator"}.get(simulator, simulator)
        print(f"| {name} | {build_s:.1f} | {mvms} | {cycles:,} | {cycles / mvms:.0f} | {wall:.2f} | "
              f"{cycles / wall:,.0f} | {mvms / wall:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
