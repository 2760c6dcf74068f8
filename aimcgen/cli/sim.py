"""`aimcgen sim`: run the cocotb bench of the generated Verilog against the golden model.

    aimcgen sim [--spec FILE | --preset NAME] [--simulator verilator|icarus|all] [--waves] [--out build]
                [--seed N] [--mvms N] [--top emulated|analog|both]

Writes under OUT/<design>/sim/: spec.toml, rtl/ (aimcgen.flows.generate.write_verilog: the periphery top, the
emulated tile, the top with emulated tiles), regmap.json, and one run folder per simulator and top
(`<simulator>/` for the emulated top, `<simulator>_analog/` for the top with analog ports served by Python
macro models) holding build.log, test.log, results.xml, bench_report.json and the waveform with --waves.
`generate`'s own products in OUT/<design>/ are left alone.

The bench is aimcgen.sim.verify.benches.accelerator_bench (see its docstring for what each test checks). Progress
is printed as the simulator reports each test; at the end: pass/fail per test with wall and simulated
time, the functional coverage, and build and run wall times per simulator. Exit status 0 when every
requested run passed, 1 when a test failed, 2 when a requested simulator is missing or the spec is invalid.

Wire it into the main parser with `add_sim_parser(subparsers)`; it sets `func=cmd_sim`.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from pathlib import Path
from aimcgen import spec_toml
from aimcgen.cli.common import add_spec_options, load_spec
from aimcgen.flows.generate import write_verilog
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.sim.verify.accelerator_runner import run_accelerator_bench
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, unavailable_reason
from aimcgen.spec import SpecError

SIMULATOR_CHOICES = ("verilator", "icarus", "all")
TOP_CHOICES = ("emulated", "analog", "both")

DESCRIPTION = """\
Generate the Verilog of the design and run the cocotb bench of the accelerator top on Verilator and/or
Icarus: design discovery through the registers, weight programming, coefficient loads, MVMs back to back
with random stalls on both streams, updates between MVMs, saturation corners, register-driven MVMs, layer
chains and bad bus accesses, all checked bit for bit against the golden model, with functional coverage.
Files go to OUT/<design>/sim/."""


def add_sim_parser(subparsers) -> argparse.ArgumentParser:
    """Add the `sim` subcommand to an argparse subparsers object; returns its parser."""

    p = subparsers.add_parser("sim", help="run the cocotb benches of the generated Verilog against the golden "
                                          "model", description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_spec_options(p)
    p.add_argument("--simulator", choices=SIMULATOR_CHOICES, default="verilator",
                   help="simulator to run on; 'all' runs every installed one (default: verilator)")
    p.add_argument("--waves", action="store_true", help="write waveforms (FST, or VCD where FST is not "
                                                        "available) and print their paths")
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--seed", type=int, default=1, help="stimulus seed (default: 1)")
    p.add_argument("--mvms", type=int, default=None,
                   help="MVMs per streaming test (default: scaled to the design's size)")
    p.add_argument("--top", choices=TOP_CHOICES, default="emulated",
                   help="emulated: the top with emulated tiles (default); analog: the periphery top with "
                        "Python macro models at its analog ports (adds the physics-model test); both")
    p.set_defaults(func=cmd_sim)
    return p


def _say(message: str) -> None:
    print(f"aimcgen sim: {message}", flush=True)


class _Progress:
    """Follows a cocotb test.log and prints one line per finished test (with a running clock)."""

    RUNNING = re.compile(r"running \S*?(test_\w+) \((\d+)/(\d+)\)")
    SKIPPING = re.compile(r"skipping \S*?(test_\w+) \((\d+)/(\d+)\)")
    DONE = re.compile(r"\S*?\.(test_\w+) (passed|failed|skipped|errored)")

    def __init__(self, log: Path, label: str, interactive: bool):
        self.log, self.label, self.interactive = log, label, interactive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.perf_counter()
        self.current, self.index, self.total = "building", 0, 0

    def __enter__(self):
        self.log.unlink(missing_ok=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        if self.interactive:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()

    def _status(self, text: str) -> None:
        if self.interactive:
            sys.stdout.write(f"\r\033[K  {self.label}: {text}")
            sys.stdout.flush()

    def _print(self, text: str) -> None:
        if self.interactive:
            sys.stdout.write("\r\033[K")
        print(f"  {self.label}: {text}", flush=True)

    def _run(self) -> None:
        position = 0
        while True:
            stopping = self._stop.wait(0.5)
            if self.log.is_file():
                with self.log.open(errors="replace") as f:
                    f.seek(position)
                    chunk = f.read()
                    position = f.tell()
                for line in chunk.splitlines():
                    elapsed = time.perf_counter() - self.t0
                    m = self.RUNNING.search(line)
                    if m:
                        self.current, self.index, self.total = m.group(1), int(m.group(2)), int(m.group(3))
                        continue
                    m = self.SKIPPING.search(line)
                    if m:
                        self._print(f"[{m.group(2)}/{m.group(3)}] {m.group(1)} skipped")
                        continue
                    m = self.DONE.search(line)
                    if m and m.group(1) == self.current:
                        self._print(f"[{self.index}/{self.total}] {m.group(1)} {m.group(2)} "
                                    f"(at {elapsed:.0f} s)")
            if stopping:
                return
            elapsed = time.perf_counter() - self.t0
            where = f"[{self.index}/{self.total}] {self.current}" if self.total else self.current
            self._status(f"{where} ... {elapsed:.0f} s")


def _waves(run_dir: Path) -> list[Path]:
    return sorted(p for p in run_dir.glob("*") if p.suffix in (".fst", ".vcd"))


def cmd_sim(args: argparse.Namespace) -> int:

    try:
        spec = load_spec(args)
    except SpecError as exc:
        print(f"aimcgen sim: error: {exc}", file=sys.stderr)
        return 2
    if args.mvms is not None and args.mvms < 1:
        print(f"aimcgen sim: error: --mvms = {args.mvms}: must be >= 1", file=sys.stderr)
        return 2

    requested = list(SIMULATORS) if args.simulator == "all" else [args.simulator]
    simulators = []
    for name in requested:
        reason = unavailable_reason(name)
        if reason is None:
            simulators.append(name)
        elif args.simulator == "all":
            _say(f"skipping {name}: {reason}")
        else:
            print(f"aimcgen sim: error: {reason}", file=sys.stderr)
            return 2
    if not simulators:
        print("aimcgen sim: error: no simulator available", file=sys.stderr)
        return 2

    folder = Path(args.out) / spec.name / "sim"
    rtl = folder / "rtl"
    _say(f"design '{spec.name}': writing Verilog to {rtl}/")
    t0 = time.perf_counter()
    write_verilog(spec, rtl)
    regmap = aimc_register_map(spec)
    (folder / "regmap.json").write_text(regmap.to_json())
    (folder / "spec.toml").write_text(spec_toml.dumps(spec))
    generate_s = time.perf_counter() - t0

    tops = {"emulated": ["emulated"], "analog": ["analog"], "both": ["emulated", "analog"]}[args.top]
    fields = {} if args.mvms is None else {"mvms": args.mvms}
    interactive = sys.stdout.isatty()
    summary, ok = [], True
    for simulator in simulators:
        for top in tops:
            verilog = rtl / (f"{spec.name}_emulated.v" if top == "emulated" else f"{spec.name}.v")
            toplevel = verilog.stem
            run_folder = folder if top == "emulated" else folder / "analog"
            label = f"{simulator}" + ("" if top == "emulated" else " (analog top)")
            _say(f"{label}: building {toplevel} and running the accelerator bench")
            log = run_folder.resolve() / simulator / "test.log"
            error = None
            t1 = time.perf_counter()
            with _Progress(log, label, interactive):
                try:
                    result = run_accelerator_bench(spec, verilog, toplevel, simulator=simulator,
                                                   build_dir=run_folder, regmap_json=folder / "regmap.json",
                                                   waves=args.waves, seed=args.seed, check=False,
                                                   extra_env={"PYTHONUNBUFFERED": "1"}, **fields)
                except (RuntimeError, AssertionError) as exc:
                    result, error = None, str(exc)
            wall = time.perf_counter() - t1
            if result is None:
                ok = False
                print(f"  {label}: ERROR after {wall:.1f} s: {error}", flush=True)
                summary.append((label, "error", wall, 0.0, 0.0, None))
                continue
            passed = not result.failed
            ok &= passed
            print(f"\n  {label}: {'PASS' if passed else 'FAIL'}  (build {result.build_s:.1f} s, run "
                  f"{result.run_s:.1f} s)")
            for t in result.tests:
                name = t.name.rsplit(".", 1)[-1]
                line = f"    {t.status:7} {name:32} {t.wall_s:7.2f} s wall  {t.sim_time_ns / 1e3:10.1f} us simulated"
                print(line)
                if t.status in ("failed", "error"):
                    for part in t.message.splitlines()[:6]:
                        print(f"            {part}")
            coverage = result.report.get("coverage")
            if coverage:
                print(f"    coverage: {100 * coverage['coverage']:.1f} % of {coverage['bins']} bins "
                      f"({coverage['excluded']} excluded as unreachable; required "
                      f"{100 * coverage.get('threshold', 0):.0f} %)")
                for name, point in coverage["points"].items():
                    if point["missed"] and not name.startswith("adc."):
                        print(f"      missed {name}: {', '.join(point['missed'])}")
                adc = coverage.get("adc_summary")
                if adc:
                    print(f"      ADC code ranges: {adc['hit']}/{adc['bins']} bins over {adc['points']} ADCs", end="")
                    codes = adc.get("distinct_codes")
                    print(f"; distinct codes per ADC {codes['min']}..{codes['max']} (mean {codes['mean']:.0f}) of "
                          f"{codes['possible']}" if codes else "")
            for wave in _waves(result.run_dir) if args.waves else []:
                print(f"    waves: {wave.resolve()}")
            print(f"    logs: {result.run_dir.resolve()}")
            summary.append((label, "pass" if passed else "FAIL", wall, result.build_s, result.run_s,
                            coverage["coverage"] if coverage else None))
    print(f"\naimcgen sim: {spec.name}: Verilog in {generate_s:.1f} s")
    print(f"  {'simulator':24} {'result':6} {'wall':>8} {'build':>8} {'run':>8} {'coverage':>9}")
    for label, status, wall, build, run, cov in summary:
        cov_text = f"{100 * cov:.1f} %" if cov is not None else "-"
        print(f"  {label:24} {status:6} {wall:7.1f}s {build:7.1f}s {run:7.1f}s {cov_text:>9}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m aimcgen.cli.sim ...`) until the main CLI wires the subcommand."""
    parser = argparse.ArgumentParser(prog="aimcgen")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_sim_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
