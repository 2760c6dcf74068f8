"""`aimcgen sweep`: physics-model accuracy over spec fields x Monte-Carlo chips x drift times, run through
Dask (an embedded LocalCluster by default, or a running scheduler), written as a table and a plot."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from aimcgen.cli.common import OptionError, add_spec_options, error, load_spec
from aimcgen.spec import SpecError
from aimcgen.cli.evaluate import load_eval_network
from aimcgen.sim.eval.network import NetworkError
from aimcgen.spec_override import expand, parse_override
from aimcgen.staging import staged_directory
from aimcgen.sim.eval.sweep import run_sweep
from aimcgen.sim.eval.sweep_report import write_sweep


def add_sweep_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sweep", help="accuracy over spec variants x Monte-Carlo chips x drift times, on Dask",
        description="Evaluate the network on the physics model for every combination of the --set values "
                    "(each combination validated like a spec file), on --seeds chips each, read at every "
                    "--times drift time; write OUT/<design>/sweep/: sweep.json, sweep.csv, sweep.md and "
                    "sweep.png. Runs one Dask task per (point, chip) on a local cluster of --workers "
                    "processes, or on the cluster of --scheduler (its workers need aimcgen installed).",
        epilog="example: aimcgen sweep --preset tile64 --set adc.bits=4,6,8 --seeds 10 --times 1,86400")
    add_spec_options(p, overrides=False)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="sweep a spec field (see `aimcgen spec --fields`), e.g. adc.bits=4,6,8 or "
                        "adc.kind=sar,flash; repeat for a product of fields")
    p.add_argument("--seeds", "--chips", dest="seeds", type=int, default=5,
                   help="Monte-Carlo chips per point, the same chips (seeds 0..N-1) at every point and drift "
                        "time, so points compare pairwise (default 5); every figure gets a 95 %% interval")
    p.add_argument("--times", default="1,86400", metavar="T1,T2,...",
                   help="drift times in seconds since programming (default 1,86400)")
    p.add_argument("--model", default="digits", metavar="digits|FILE",
                   help="network: the shipped digits MLP (default) or a .npz / .onnx file")
    p.add_argument("--test-npz", type=Path, metavar="FILE", help="test set (x_test, y_test[, x_calib]) for "
                   "models without one")
    p.add_argument("--no-compensation", action="store_true", help="turn global drift compensation off")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=2, help="worker processes of the local cluster "
                       "(default 2)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler to run on instead, "
                       "e.g. tcp://HOST:8786")
    p.add_argument("--out", type=Path, default=Path("build"), help="output folder (default: build)")
    p.add_argument("--no-plot", action="store_true", help="skip sweep.png")
    p.set_defaults(func=cmd_sweep)
    return p


def _times(text: str) -> list[float]:
    try:
        times = [float(t) for t in text.split(",")]
    except ValueError:
        raise SpecError(f"--times {text!r}: expected comma-separated seconds, e.g. 1,86400") from None
    if not all(0.0 <= t < float("inf") for t in times):
        raise SpecError(f"--times {text!r}: every time must be a finite number of seconds >= 0")
    return times


def _overrides(items: list[str]) -> dict[str, list]:
    overrides: dict[str, list] = {}
    for item in items:
        path, values = parse_override(item)
        if path in overrides:
            raise SpecError(f"--set {path}: given twice (list all its values in one --set)")
        overrides[path] = values
    return overrides


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.seeds < 1:
        return error(f"--seeds = {args.seeds}: must be >= 1")
    if args.scheduler is None and args.workers < 1:
        return error(f"--workers = {args.workers}: must be >= 1")
    base = load_spec(args)
    times = _times(args.times)
    points = expand(base, _overrides(args.overrides))
    try:
        net = load_eval_network(None if args.model == "digits" else Path(args.model), args.test_npz)
    except NetworkError as exc:
        return error(str(exc))
    try:
        import distributed  # noqa: F401  (checked before the work, used by _run_on_dask)
        if not args.no_plot:
            import matplotlib  # noqa: F401  (checked before the work, used after it)
    except ImportError as exc:
        return error(f"`aimcgen sweep` needs {exc.name}: pip install 'aimcgen[sweep,eval]'")

    start = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - start:6.1f} s] {line}", flush=True)

    progress(f"{len(points)} point(s) x {args.seeds} seed(s) = {len(points) * args.seeds} tasks, "
             f"{len(times)} drift time(s) each")
    out = args.out / base.name / "sweep"
    try:
        with staged_directory(out) as tmp:      # a bad --out fails here, before the sweep runs
            result = _run_on_dask(args, points, net, base.name, times, progress)
            written = write_sweep(result, tmp, plot=not args.no_plot)
    except OptionError as exc:                  # raised inside, so the staging folder is discarded
        return error(str(exc))
    print(f"wrote {out}/: {', '.join(p.name for p in written)}")
    return 0


def _run_on_dask(args: argparse.Namespace, points, net, design: str, times: list[float], progress) -> dict:
    """run_sweep on the --scheduler's cluster or a local one of --workers processes, closed afterwards."""
    from distributed import Client, LocalCluster

    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise OptionError(f"--scheduler {args.scheduler}: cannot connect: {exc}") from None
        cluster = None
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        return run_sweep(client, points, net, design=design, seeds=args.seeds, times=times,
                         compensation=not args.no_compensation, progress=progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
