"""Fmax of one FPGA netlist over several nextpnr seeds: median and range, as one Markdown table.

Usage: python benchmarks/fpga_seeds.py BUILD_DIR [BUILD_DIR ...] [--seeds 1 2 3 4 5] [--jobs 2]
                                        [--nextpnr "--placer static"]
Each BUILD_DIR is an `aimcgen fpga` output folder (OUT/<design>/fpga/<board>/). Its netlist is placed and
routed again once per seed, with the build's own nextpnr command line (the first line of its pnr.log: device,
router, constraints; flows/fpga_rerun.py) and --seed replaced, in a temporary folder; nothing in BUILD_DIR is
written. One placement is one sample: on the tile64 ECP5 builds, seeds alone move Fmax by 10 to 25 %, so two
netlists (two RTL changes) are compared on these distributions, never on one build each. --nextpnr sets
further options of nextpnr (replacing the build's value of an option it names: `--router router1`), to
compare settings the same way; an option followed by a word that does not start with `--` takes it as value.

Printed: a row per build and seed (Fmax of the emulation clock: the constrained clock nearest the clock in
the build's report.json, flows/fpga_report.emulation_clock; the critical path's
ends, seconds inside nextpnr), then a row per build with the median, min and max over the seeds. --jobs runs
that many nextpnr processes at once (each single-threaded), so the seconds are wall time under that load.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from aimcgen.flows.fpga import ToolMissing
from aimcgen.flows.fpga_logs import critical_path_ends
from aimcgen.flows.fpga_report import emulation_clock
from aimcgen.flows.fpga_rerun import RerunError, pnr_again


def board_clock_mhz(build: Path) -> float:
    """The clock the board runs the design at, from the build's report.json (flows/fpga_report.py)."""
    path = build / "report.json"
    try:
        return float(json.loads(path.read_text())["clock_mhz"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RerunError(f"{path}: no clock_mhz to pick the emulation clock by ({exc})") from None


def seed_fmax(result, target_mhz: float) -> tuple[float | None, float | None]:
    """(achieved, constraint) MHz of the emulation clock, or (None, None) when nextpnr timed none."""
    clock = emulation_clock(result.fmax, target_mhz)
    return (None, None) if clock is None else result.fmax[clock]


def mhz(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def summary(values: list[float]) -> str:
    if not values:
        return "| ? | ? | ? |"
    return f"| {statistics.median(values):.1f} | {min(values):.1f} | {max(values):.1f} |"


def nextpnr_options(text: str) -> dict[str, str | None]:
    """`--placer static --no-tmdriv` -> {"--placer": "static", "--no-tmdriv": None}."""
    words, options = shlex.split(text), {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            value = words[i + 1] if i + 1 < len(words) and not words[i + 1].startswith("--") else None
            options[word] = value
        elif i == 0 or not words[i - 1].startswith("--"):
            raise ValueError(f"{word!r} is neither an option (--name) nor the value of one")
    if "--seed" in options:
        raise ValueError("--seed is set by --seeds")
    return options


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("builds", type=Path, nargs="+", help="aimcgen fpga output folders (with pnr.log)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--jobs", type=int, default=2, help="nextpnr runs at once (default 2)")
    parser.add_argument("--nextpnr", default="", help='further nextpnr options, e.g. "--placer static"')
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.exit(2, f"fpga_seeds: --jobs {args.jobs}: must be 1 or more\n")
    try:
        extra = nextpnr_options(args.nextpnr)
    except ValueError as exc:
        parser.exit(2, f"fpga_seeds: --nextpnr {args.nextpnr!r}: {exc}\n")
    try:
        runs = {build: {seed: pnr_again(build, extra | {"--seed": str(seed)}) for seed in args.seeds}
                for build in args.builds}
        targets = {build: board_clock_mhz(build) for build in args.builds}
    except (RerunError, ToolMissing) as exc:
        parser.exit(2, f"fpga_seeds: {exc}\n")
    first = next(iter(next(iter(runs.values())).values()))
    print(f"fpga_seeds: {len(args.builds)} build(s) x seeds {' '.join(map(str, args.seeds))}, {args.jobs} "
          f"nextpnr run(s) at once; each: {' '.join(first.argv[1:])}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        jobs = {(build, seed): pool.submit(run.run, Path(tmp) / f"{i}_{seed}")
                for i, (build, per_seed) in enumerate(runs.items()) for seed, run in per_seed.items()}
        rows, fmax = [], {build: [] for build in runs}
        for (build, seed), job in jobs.items():
            result, seconds, code = job.result()
            got, want = seed_fmax(result, targets[build])
            source, sink = critical_path_ends(result.critical_path)
            if got is not None:
                fmax[build].append(got)
            where = f"`{source}` -> `{sink}`" if source else ("; ".join(result.errors)[:200] or "?")
            rows.append(f"| {build} | {seed} | {mhz(got)} | {mhz(want)} | {where} | {seconds:.0f} |")
            print(f"fpga_seeds: {build} seed {seed}: {mhz(got)} MHz ({seconds:.0f} s, exit "
                  f"{code})", file=sys.stderr, flush=True)
    print("| build | seed | Fmax MHz | constraint MHz | critical path | nextpnr s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| build | seeds | Fmax median MHz | min | max |")
    print("|---|---|---|---|---|")
    for build, values in fmax.items():
        print(f"| {build} | {len(values)} of {len(args.seeds)} {summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
