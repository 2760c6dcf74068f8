"""Build and run a cocotb bench on generated Verilog, and turn its results into a Python exception.

`run_bench` drives `cocotb_tools.runner` with the settings Amaranth's Verilog needs (see shared TOOLCHAIN):
timescale 1ns/1ps (or cocotb cannot represent the clock period), `-g2005` for Icarus (cocotb's `-g2012`
keeps Yosys' `reg init` trick from firing `always @*` at time 0), `-Wno-fatal` for Verilator (Amaranth's
Verilog trips WIDTH and CASEINCOMPLETE lint). The runner ends a failing run in `sys.exit`; `run_bench`
reads the xUnit results file instead and raises an `AssertionError` made of the failing tests' own messages.

Environment contract between a caller and a bench (the bench runs in the simulator's embedded Python, so
everything it needs travels through the environment):
- `AIMCGEN_BENCH_CONFIG`: path of a JSON file written by `write_bench_config(path, spec, **fields)`:
  {"spec_toml": <the whole spec as TOML, aimcgen.spec_toml.dumps>, <fields>...}, fields being plain JSON
  (numpy arrays become nested lists). Benches read it with `load_bench_config()` -> (spec, fields); each
  bench documents the fields it reads (e.g. sim.verify.benches.tile_controller_bench: weights, seeds, vectors).
- `AIMCGEN_BENCH_REPORT`: path of a JSON object that benches extend with measured numbers
  (`record_bench_report(key, value)`); `run_bench` sets it to `<run dir>/bench_report.json` and returns its
  content in `BenchResult.report`.
- `COCOTB_RANDOM_SEED`: cocotb's own seed, from `seed=`; benches take their stimulus seeds from the config,
  so a run is reproducible from the config file alone.
Values in `extra_env` override the caller's environment for the run (the runner itself would let
os.environ win).

Files: `<build_dir>/<simulator>/` holds the simulator's build (Verilator's C++ model, Icarus' sim.vvp),
build.log, test.log, results.xml, bench_report.json, src/ (sources fixed by `fix_constant_always`) and
waves with waves=True (Icarus: <toplevel>.fst; Verilator: dump.fst when liblz4 is linkable, else
dump.vcd); `<build_dir>/tools/` holds the Verilator wrapper script (sim.verify.cocotb_setup). Several simulators
may share one build_dir; one simulator's runs of one build_dir must not overlap.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from aimcgen.sim.verify.cocotb_setup import prepare
from aimcgen.spec_toml import dumps, loads

CONFIG_ENV = "AIMCGEN_BENCH_CONFIG"
REPORT_ENV = "AIMCGEN_BENCH_REPORT"
TIMESCALE = ("1ns", "1ps")


@dataclass(frozen=True)
class TestOutcome:
    name: str                       # module.test_name
    status: str                     # passed, failed, error, skipped
    message: str = ""               # the failure's own message (exception text)
    kind: str = ""                  # the exception type (AssertionError for a failed check)
    detail: str = ""                # its traceback, as cocotb recorded it
    wall_s: float = 0.0
    sim_time_ns: float = 0.0


@dataclass
class BenchResult:
    simulator: str
    build_s: float                  # wall time of the HDL build (Verilator: verilate + C++ compile)
    run_s: float                    # wall time of the simulation run, all tests
    results_xml: Path
    tests: list[TestOutcome] = field(default_factory=list)
    report: dict[str, Any] = field(default_factory=dict)
    run_dir: Path | None = None
    fixed_always_blocks: int = 0    # constant `always @*` blocks rewritten (fix_constant_always)

    @property
    def failed(self) -> list[TestOutcome]:
        return [t for t in self.tests if t.status in ("failed", "error")]


# ----------------------------------------------------------------------------- config and report

def _jsonable(value):
    if hasattr(value, "tolist"):                # numpy arrays and scalars
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_bench_config(path: str | Path, spec, **fields) -> Path:
    """Write the bench configuration (the spec as TOML plus JSON fields); returns the path."""

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"spec_toml": dumps(spec), **_jsonable(fields)}, indent=1))
    return path


def load_bench_config(path: str | Path | None = None):
    """Inside a bench: (spec, fields) from the file named by $AIMCGEN_BENCH_CONFIG (or `path`)."""

    if path is None:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise RuntimeError(f"bench configuration missing: set {CONFIG_ENV} to the path of a JSON file "
                               "written by aimcgen.sim.verify.cocotb_run.write_bench_config (run_bench does this "
                               "through extra_env)")
    data = json.loads(Path(path).read_text())
    spec = loads(data.pop("spec_toml"), source=f"{path}:spec_toml")
    return spec, data


def record_bench_report(key: str, value) -> None:
    """Inside a bench: add `key: value` to the JSON report named by $AIMCGEN_BENCH_REPORT (if set)."""
    path = os.environ.get(REPORT_ENV)
    if not path:
        return
    path = Path(path)
    report = json.loads(path.read_text()) if path.is_file() else {}
    report[key] = _jsonable(value)
    path.write_text(json.dumps(report, indent=1))


# ----------------------------------------------------------------------------- results

def parse_results(results_xml: str | Path) -> list[TestOutcome]:
    """The test cases of a cocotb xUnit results file."""
    outcomes = []
    root = ElementTree.parse(results_xml).getroot()
    for case in root.iter("testcase"):
        status, message, detail, kind = "passed", "", "", ""
        for tag, name in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            element = case.find(tag)
            if element is not None:
                status = name
                kind = element.get("type", "")
                message = element.get("message", "") or (element.text or "").strip()
                if kind and kind != "AssertionError":
                    message = f"{kind}: {message}"
                detail = (element.text or "").strip()
                break
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        outcomes.append(TestOutcome(
            name=f"{case.get('classname', '')}.{case.get('name', '')}", status=status, message=message,
            kind=kind, detail=detail, wall_s=float(case.get("time", 0) or 0),
            sim_time_ns=float(props.get("sim_time_duration", 0) or 0)))
    return outcomes


def _failure_text(failed: Sequence[TestOutcome], run_dir: Path) -> str:
    lines = [f"{len(failed)} cocotb test(s) failed (logs in {run_dir}):"]
    for t in failed:
        lines.append(f"- {t.name}: {t.message or t.status}")
        if t.detail and t.kind != "AssertionError":
            # An unexpected exception (not a failed check): its traceback is the useful part.
            lines += ["    " + line for line in t.detail.splitlines()[-12:]]
    return "\n".join(lines)


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


# ----------------------------------------------------------------------------- Verilog fix-up

_LVALUE = r"(?:\\\S+ |[A-Za-z_][\w$]*)(?:\s*\[\d+(?::\d+)?\])?"
_LITERAL = r"(?:\d*'[sS]?[hHbBdDoO][0-9a-fA-FxXzZ_?]+|\d+)"
_CONST_ASSIGN = re.compile(rf"^\s*{_LVALUE}\s*=\s*{_LITERAL}\s*;\s*$")
_ALWAYS_STAR = re.compile(r"^(\s*)always\s*@\s*\*\s*(begin)?\s*$")
# What the simulators say about an `always @*` that reads nothing (and so never runs).
NEVER_TRIGGERS = re.compile(r"found no sensitivities so it will never trigger|ALWNEVER")


def fix_constant_always(text: str) -> tuple[str, int]:
    """Rewrite `always @*` blocks that only assign constants into `initial` blocks; returns (text, count).

    Yosys' write_verilog (under amaranth.back.verilog) emits a constant combinational assignment, such as
    an ADC controller's fixed command opcode, as `always @* x[2:0] = 3'h1;`. Such a block reads nothing,
    and by the Verilog standard `@*` then waits forever: Icarus ("@* found no sensitivities") and Verilator
    5 (ALWNEVER) both leave x at X or 0 (amaranth-lang/amaranth#1629). Synthesis takes the constant, so
    the simulation would disagree with the hardware. An `initial` block assigns the same constant once at
    time 0, which is exactly the combinational meaning of a constant.
    """
    lines = text.split("\n")
    count, i = 0, 0
    while i < len(lines):
        m = _ALWAYS_STAR.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, block = m.group(1), m.group(2)
        if block is None:                                  # one statement on the next line
            body = lines[i + 1:i + 2]
            end = i + 2
        else:                                              # begin ... end at the same indent
            end = i + 1
            while end < len(lines) and lines[end].strip() != "end":
                end += 1
            body = lines[i + 1:end]
            end += 1
        if body and all(_CONST_ASSIGN.match(line) for line in body):
            lines[i] = f"{indent}initial{' begin' if block else ''}"
            count += 1
        i = end
    return "\n".join(lines), count


def prepare_verilog(sources: Sequence[str | Path], out_dir: str | Path) -> tuple[list[Path], int]:
    """Sources for simulation: files that need `fix_constant_always` are copied (fixed) into out_dir."""
    out_dir = Path(out_dir)
    prepared, total = [], 0
    for source in sources:
        source = Path(source).resolve()
        text, count = fix_constant_always(source.read_text())
        if count:
            out_dir.mkdir(parents=True, exist_ok=True)
            target = out_dir / source.name
            if not target.is_file() or target.read_text() != text:
                target.write_text(text)
            source = target
        prepared.append(source)
        total += count
    return prepared, total


# ----------------------------------------------------------------------------- running

@contextlib.contextmanager
def _environment(path_prepend: Sequence[str], env: Mapping[str, str]) -> Iterator[None]:
    """Patch os.environ for the runner (it copies os.environ over its own settings), then restore it."""
    saved = os.environ.copy()
    try:
        os.environ.update(env)
        if path_prepend:
            os.environ["PATH"] = os.pathsep.join([*path_prepend, saved.get("PATH", "")])
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _lz4_linkable() -> bool:
    """Verilator's FST writer links -llz4 -lz: FST waves need liblz4-dev (Debian) besides zlib."""
    out = subprocess.run(["g++", "-print-file-name=liblz4.so"], capture_output=True, text=True)
    return os.path.isabs(out.stdout.strip())


def _icarus_dump_module(run_dir: Path, toplevel: str) -> Path:
    path = run_dir / "aimcgen_iverilog_dump.v"
    path.write_text("module aimcgen_iverilog_dump();\n"
                    "initial begin\n"
                    f'    $dumpfile("{run_dir / (toplevel + ".fst")}");\n'
                    f"    $dumpvars(0, {toplevel});\n"
                    "end\n"
                    "endmodule\n")
    return path


def run_bench(*, verilog_sources: Sequence[str | Path], toplevel: str, test_module: str | Sequence[str],
              simulator: str, build_dir: str | Path, extra_env: Mapping[str, str] | None = None,
              waves: bool = False, seed: int | None = None, testcase: str | Sequence[str] | None = None,
              check: bool = True, fix_verilog: bool = True) -> BenchResult:
    """Build `verilog_sources` for `simulator` ("verilator" or "icarus"), run the cocotb `test_module`.

    Raises SimulatorUnavailable when the simulator is missing, RuntimeError (with the log's tail) when the
    build or the simulator itself fails, and AssertionError with the failing tests' messages when a test
    fails (unless check=False). Returns the outcome of every test, wall times and the bench report.

    With `fix_verilog` (default) sources with constant-only `always @*` blocks are simulated from fixed
    copies in `<run dir>/src` (see `fix_constant_always`); a build whose log still reports an `always @*`
    that never runs raises RuntimeError, since its simulation would not match synthesis.
    """
    from cocotb_tools.runner import get_runner

    build_dir = Path(build_dir).resolve()
    run_dir = build_dir / simulator
    run_dir.mkdir(parents=True, exist_ok=True)
    setup = prepare(simulator, build_dir)
    sources = [Path(s).resolve() for s in verilog_sources]
    fixed_blocks = 0
    if fix_verilog:
        sources, fixed_blocks = prepare_verilog(sources, run_dir / "src")

    build_args: list[str] = []
    build_waves = waves
    if simulator == "icarus":
        build_args += ["-g2005"]                 # later -g wins over cocotb's -g2012
        if waves:
            # cocotb's own dump module is SystemVerilog (a `string`), which -g2005 rejects: use a plain one.
            sources.append(_icarus_dump_module(run_dir, toplevel))
            build_args += ["-s", "aimcgen_iverilog_dump"]     # the runner adds -s <toplevel> (twice crashes)
            build_waves = False                  # the runner's test(waves=True) still passes vvp -fst
    else:
        build_args += ["-Wno-fatal"]
        if waves and _lz4_linkable():
            build_args += ["--trace-fst"]        # the runner adds --trace (VCD) when waves is set

    results_xml = run_dir / "results.xml"
    report_path = run_dir / "bench_report.json"
    for stale in (results_xml, report_path):
        stale.unlink(missing_ok=True)
    env = {**setup.env, REPORT_ENV: str(report_path), **(extra_env or {})}
    build_log, test_log = run_dir / "build.log", run_dir / "test.log"

    with _environment(setup.path_prepend, env):
        runner = get_runner(simulator)
        t0 = time.perf_counter()
        try:
            runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=run_dir, build_args=build_args,
                         timescale=TIMESCALE, waves=build_waves, always=True, log_file=build_log)
        except (RuntimeError, SystemExit) as exc:
            raise RuntimeError(f"{simulator} build of {toplevel} failed ({exc}); {build_log} ends with:\n"
                               f"{_log_tail(build_log)}") from None
        t1 = time.perf_counter()
        never = [line for line in _log_tail(build_log, 100000).splitlines() if NEVER_TRIGGERS.search(line)]
        if never and fix_verilog:
            raise RuntimeError(f"{simulator}: {len(never)} `always @*` block(s) never execute, so the simulation "
                               f"would not match synthesis ({build_log}):\n" + "\n".join(never[:10]))
        exit_code = None
        try:
            runner.test(test_module=test_module, hdl_toplevel=toplevel, build_dir=run_dir, test_dir=run_dir,
                        results_xml=str(results_xml), seed=seed, waves=waves, timescale=TIMESCALE,
                        testcase=testcase, extra_env=env, log_file=test_log)
        except SystemExit as exc:                # the runner's way to report failing tests (under pytest)
            exit_code = exc.code
        except RuntimeError as exc:              # the simulator process itself failed (crash, abort)
            exit_code = str(exc)
        t2 = time.perf_counter()

    if not results_xml.is_file():
        raise RuntimeError(f"{simulator} run of {toplevel} ended without a results file (exit code "
                           f"{exit_code}); {test_log} ends with:\n{_log_tail(test_log)}")
    tests = parse_results(results_xml)
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    result = BenchResult(simulator, t1 - t0, t2 - t1, results_xml, tests, report, run_dir, fixed_blocks)
    if not tests:
        raise RuntimeError(f"{simulator}: no cocotb tests ran from {test_module} (see {test_log}):\n"
                           f"{_log_tail(test_log)}")
    if check and result.failed:
        raise AssertionError(_failure_text(result.failed, run_dir))
    if check and exit_code not in (None, 0) and not result.failed:
        raise RuntimeError(f"{simulator} exited with code {exit_code} although every test passed; "
                           f"{test_log} ends with:\n{_log_tail(test_log)}")
    return result


def clean_run_dir(build_dir: str | Path, simulator: str) -> None:
    """Remove one simulator's build below `build_dir` (the tools folder stays)."""
    shutil.rmtree(Path(build_dir) / simulator, ignore_errors=True)
