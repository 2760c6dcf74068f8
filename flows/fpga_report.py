"""The FPGA build report: resources against the device, Fmax against the clock, pass/fail, what to change.

Parsed from the tool logs the flow keeps (flows/fpga.py):
- the Yosys log (`-l <design>.rpt`): the cell counts of the last "Printing statistics" section;
- the nextpnr log (`--log <design>.tim`): the last "Device utilisation" block (used/available per cell
  type), the last "Max frequency for clock" line per clock (achieved and constrained MHz), the last
  critical path report, and ERROR lines ("no BELs remaining" / "Failed to expand region" mean the design
  does not fit).

Resources are LUTs, flip-flops, block RAMs and DSPs as the board's `DeviceCapacity` names them (on iCE40
the LUT line is the logic cell count, LUT and flip-flop together, and the flip-flops come from Yosys).
The design fits when every resource is at most 100 % (and nextpnr placed it); timing is met when the
achieved Fmax of the emulation clock is at least the clock the board runs it at. `passed` = fits, timing
met and a bitstream.

When the design does not fit, `suggest_fit` proposes spec changes, computed, not canned: a resource model of
the accelerator (`estimate_resources`: logic and block-RAM bits as functions of the spec) is scaled to the
measured use, every candidate change (smaller tile, fewer ADCs, fewer tiles, narrower accumulators, fewer
input bits, and pairs of them) is re-estimated, and the candidates that bring every over-used resource
below FIT_MARGIN of the device are offered, least reduction first. When timing fails, `suggest_clock`
proposes the clock the achieved Fmax supports and names the critical path's ends.

JSON schema `aimcgen-fpga-report/1` (report.json): the fields of `FpgaReport.to_dict`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError

SCHEMA = "aimcgen-fpga-report/1"
FIT_MARGIN = 0.90            # a suggested spec should use at most this fraction of any resource
RESOURCES = ("lut", "ff", "bram", "dsp")
RESOURCE_NAMES = {"lut": "LUTs", "ff": "flip-flops", "bram": "block RAMs", "dsp": "DSPs"}
CRITICAL_PATH_LINES = 60


# Log parsers --------------------------------------------------------------------------------------------

def parse_yosys_stats(text: str) -> dict[str, int]:
    """Cell type -> count from the last statistics of a Yosys log (the whole design, after synthesis)."""
    start = text.rfind("Printing statistics.")
    if start < 0:
        return {}
    section = text[start:]
    end = re.search(r"\n\d+(\.\d+)*\. (?!Printing)", section[1:])
    if end:
        section = section[:end.start() + 1]
    hier = section.rfind("=== design hierarchy ===")
    if hier >= 0:
        section = section[hier:]
    cells: dict[str, int] = {}
    for line in section.splitlines():
        m = re.match(r"^\s*(\d+)\s{3,}(\S+)\s*$", line)            # yosys >= 0.50: "   300   CCU2C"
        if m is None:
            m2 = re.match(r"^\s{5,}(\S+)\s+(\d+)\s*$", line)        # older: "     CCU2C     300"
            if m2 and not m2.group(1).endswith(":"):
                m = (None, m2.group(2), m2.group(1))
                cells[m[2]] = cells.get(m[2], 0) + int(m[1])
            continue
        name = m.group(2)
        if name.startswith("$scopeinfo"):
            continue
        cells[name] = cells.get(name, 0) + int(m.group(1))
    return cells


@dataclass
class NextpnrResult:
    utilisation: dict[str, tuple[int, int]] = field(default_factory=dict)   # cell -> (used, available)
    fmax: dict[str, tuple[float, float]] = field(default_factory=dict)      # clock -> (achieved, constraint)
    critical_path: list[str] = field(default_factory=list)
    critical_clock: str | None = None
    errors: list[str] = field(default_factory=list)
    overused: list[str] = field(default_factory=list)                        # cell types without room


def parse_nextpnr_log(text: str) -> NextpnrResult:
    r = NextpnrResult()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("Info: Device utilisation:"):
            r.utilisation = {}
            for follow in lines[i + 1:]:
                m = re.match(r"^Info:\s+(\S+):\s+(\d+)/\s*(\d+)\s+\d+%", follow)
                if not m:
                    break
                r.utilisation[m.group(1)] = (int(m.group(2)), int(m.group(3)))
        # nextpnr prints a met clock as "Info:" and a missed one as "Warning:"; the last line is post-route.
        m = re.match(r"^(?:Info|Warning): Max frequency for clock '([^']+)': ([\d.]+) MHz \((PASS|FAIL) at "
                     r"([\d.]+) MHz\)", line)
        if m:
            r.fmax[m.group(1)] = (float(m.group(2)), float(m.group(4)))
        m = re.match(r"^Info: Critical path report for clock '([^']+)'", line)
        if m:
            block = []
            for follow in lines[i + 1:]:
                if not follow.strip() or follow.strip() == "Info:":
                    break
                text = follow[6:] if follow.startswith("Info: ") else follow
                if "Defined in:" in text or re.match(r"^\s*\S+\.(v|vh|sv|py|il):\d+", text):
                    continue                                 # source locations of library cells
                block.append(text)
            r.critical_path, r.critical_clock = block, m.group(1)
        if line.startswith("ERROR:"):
            r.errors.append(line[6:].strip())
            m = re.search(r"no BELs remaining to implement cell type '([^']+)'", line)
            m = m or re.search(r"Failed to expand region .* of \d+ (\S+?)s?$", line)
            if m:
                r.overused.append(m.group(1))
    for cell, (used, available) in r.utilisation.items():
        if used > available and cell not in r.overused:
            r.overused.append(cell)
    return r


def critical_path_ends(path: list[str]) -> tuple[str | None, str | None]:
    """(first source, last sink) cell names of a critical path report."""
    sources = [m.group(1) for line in path if (m := re.search(r"\bSource (\S+)", line))]
    sinks = [m.group(1) for line in path if (m := re.search(r"\bSink (\S+)", line))]
    return (sources[0] if sources else None), (sinks[-1] if sinks else None)


# Resource model for the suggestions ---------------------------------------------------------------------

def estimate_resources(spec: DesignSpec) -> dict[str, float]:
    """Relative cost of the emulation top: 'logic' (LUTs and flip-flops) and 'bram_bits'.

    Not a synthesis result: weights per part of the datapath, each proportional to the bits it holds or
    adds, which the report scales to the measured use of the same spec.
    """
    fmt = datapath_formats(spec)
    t, adc, inp, post = spec.tile, spec.adc, spec.input, spec.postproc
    charge, acc = fmt.charge.bits, fmt.accumulator.bits
    per_tile = (t.cols * charge * 2                       # column integrators: adder + register
                + t.cols * charge                         # column mux into the ADCs
                + adc.count * (adc.bits * 4 + 40)         # ADC controllers and their noise generators
                + t.cols * acc * 3                        # shift-add accumulators and the result bank
                + t.rows * inp.bits * 3                   # input double buffer and row drivers
                + 120)                                    # tile controller
    shared = (spec.logical_cols * (fmt.scale.bits + fmt.offset.bits + post.output_bits)   # coefficients, outputs
              + acc * fmt.scale.bits // 2 + fmt.offset.bits * 3                           # affine post-processor
              + spec.array.row_tiles * spec.array.col_tiles * acc * 2                     # partial sums
              + 900)                                                                       # registers, bridge, UART
    bram_bits = spec.tiles * t.rows * t.cols * fmt.weight.bits + 32 * 64
    return {"logic": per_tile * spec.tiles + shared, "bram_bits": float(bram_bits)}


def _candidates(spec: DesignSpec) -> list[tuple[str, dict]]:
    """(description, spec.replace changes) for single changes that shrink the design."""
    out = []
    t, adc, a = spec.tile, spec.adc, spec.array
    for k in (1, 2, 3):
        rows, cols = max(2, t.rows >> k), max(1, t.cols >> k)
        if (rows, cols) != (t.rows, t.cols):
            out.append((f"tile {t.rows}x{t.cols} -> {rows}x{cols}",
                        {"tile": {"rows": rows, "cols": cols}, "adc": {"count": math.gcd(adc.count, cols)}}))
        if cols != t.cols:
            out.append((f"tile.cols {t.cols} -> {cols}",
                        {"tile": {"cols": cols}, "adc": {"count": math.gcd(adc.count, cols)}}))
        if rows != t.rows:
            out.append((f"tile.rows {t.rows} -> {rows}", {"tile": {"rows": rows}}))
    count = adc.count
    while count > 1:
        count //= 2
        out.append((f"adc.count {adc.count} -> {count}", {"adc": {"count": count}}))
    for name in ("row_tiles", "col_tiles"):
        n = getattr(a, name)
        while n > 1:
            n //= 2
            out.append((f"array.{name} {getattr(a, name)} -> {n}", {"array": {name: n}}))
    need = adc.bits + spec.input.steps - 1
    if spec.accumulator.bits > need:
        out.append((f"accumulator.bits {spec.accumulator.bits} -> {need}", {"accumulator": {"bits": need}}))
    for bits in range(spec.input.bits - 1, 2, -1):
        if spec.input.bits - bits > 3:
            break
        out.append((f"input.bits {spec.input.bits} -> {bits}", {"input": {"bits": bits}}))
    return out


def _merge(a: dict, b: dict) -> dict | None:
    merged = {k: dict(v) for k, v in a.items()}
    for section, values in b.items():
        for key, value in values.items():
            if key in merged.get(section, {}) and merged[section][key] != value:
                return None
            merged.setdefault(section, {})[key] = value
    return merged


def suggest_fit(spec: DesignSpec, resources: dict[str, dict], capacity, limit: int = 3) -> list[dict]:
    """Spec changes estimated to bring every over-used resource under FIT_MARGIN of the device.

    `resources` is FpgaReport.resources (used/available per lut, ff, bram, dsp). Returns up to `limit`
    dicts {"change": text, "spec": changes for DesignSpec.replace, "estimate": {resource: (used, %)}},
    the smallest reduction first; [] when nothing tried is estimated to fit.
    """
    base = estimate_resources(spec)
    over = {name: r for name, r in resources.items()
            if r.get("used") is not None and r["available"] and r["used"] > FIT_MARGIN * r["available"]}
    if not over:
        return []
    scale = {}
    for name, r in resources.items():
        if r.get("used") is None:
            continue
        driver = "bram_bits" if name == "bram" else "logic"
        scale[name] = r["used"] / base[driver] if base[driver] else 0.0

    def estimate(candidate: DesignSpec) -> dict[str, float]:
        est = estimate_resources(candidate)
        return {name: scale[name] * est["bram_bits" if name == "bram" else "logic"] for name in scale}

    singles = []
    for text, changes in _candidates(spec):
        try:
            singles.append((text, changes, spec.replace(**changes)))
        except SpecError:
            continue
    options = [(text, changes, cand) for text, changes, cand in singles]
    for (t1, c1, _), (t2, c2, _) in combinations(singles, 2):
        merged = _merge(c1, c2)
        if merged is None:
            continue
        try:
            options.append((f"{t1} and {t2}", merged, spec.replace(**merged)))
        except SpecError:
            continue
    fitting = []
    for text, changes, cand in options:
        est = estimate(cand)
        if all(est[name] <= FIT_MARGIN * resources[name]["available"] for name in over):
            kept = estimate_resources(cand)["logic"] / base["logic"]
            fitting.append((-kept, text.count(" and "), text, changes, est))
    fitting.sort(key=lambda f: (f[1], f[0]))
    out, seen = [], set()
    for _, _, text, changes, est in fitting:
        if text in seen:
            continue
        seen.add(text)
        out.append({"change": text, "spec": changes,
                    "estimate": {name: (round(est[name]), round(100 * est[name] / resources[name]["available"], 1))
                                 for name in over}})
        if len(out) == limit:
            break
    return out


def suggest_clock(fmax_mhz: float, clock_mhz: float) -> str:
    safe = math.floor(fmax_mhz * 0.95 * 10) / 10
    return (f"design.clock_mhz = {safe:g} (Fmax {fmax_mhz:.1f} MHz < {clock_mhz:.1f} MHz; 5 % margin), or "
            f"shorten the critical path below")


# The report ---------------------------------------------------------------------------------------------

@dataclass
class FpgaReport:
    design: str
    board: str
    board_title: str
    device: str
    family: str
    spec_clock_mhz: float
    clock_mhz: float                           # what the board's clocking gives the design
    clock_note: str
    baud: float
    resources: dict[str, dict] = field(default_factory=dict)
    fmax_mhz: float | None = None
    fmax_clock: str | None = None
    constraint_mhz: float | None = None
    timing_met: bool | None = None
    fits: bool | None = None
    passed: bool = False
    failed_stage: str | None = None
    error: str | None = None
    critical_path: list[str] = field(default_factory=list)
    critical_path_from: str | None = None
    critical_path_to: str | None = None
    suggestions: list[dict] = field(default_factory=list)
    clock_suggestion: str | None = None
    synth_cells: dict[str, int] = field(default_factory=dict)
    utilisation: dict[str, list[int]] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    bitstream: str | None = None
    directory: str | None = None
    logs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    variant: str = "emulation"                 # or "periphery" (timing harness, see flows/fpga.py)
    schema: str = SCHEMA

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @staticmethod
    def from_json(text: str) -> "FpgaReport":
        d = json.loads(text)
        if d.get("schema") != SCHEMA:
            raise ValueError(f"FPGA report JSON: schema {d.get('schema')!r}, expected {SCHEMA!r}")
        return FpgaReport(**d)

    @property
    def verdict(self) -> str:
        if self.fits is False:
            return "DOES NOT FIT"
        if self.failed_stage:
            return f"FAILED in {self.failed_stage}"
        if self.timing_met is False:
            return "TIMING FAILS"
        return "PASS" if self.passed else "INCOMPLETE"

    def resource_cell(self, name: str) -> str:
        r = self.resources.get(name, {})
        if r.get("used") is None:
            return "?"
        return f"{r['used']}/{r['available']} ({r['percent']:.0f}%)"

    def summary_lines(self) -> list[str]:
        what = " (periphery timing harness)" if self.variant == "periphery" else ""
        lines = [f"{self.design} on {self.board}{what}: {self.verdict}"]
        lines.append("  " + ", ".join(f"{RESOURCE_NAMES[n]} {self.resource_cell(n)}" for n in RESOURCES))
        if self.fmax_mhz is not None:
            lines.append(f"  Fmax {self.fmax_mhz:.1f} MHz at a {self.clock_mhz:.2f} MHz clock "
                         f"({'met' if self.timing_met else 'NOT met'})")
        if self.error and self.fits is not False:
            lines.append(f"  error: {self.error}")
        if self.fits is False:
            over = [f"{RESOURCE_NAMES[n]} {self.resource_cell(n)}" for n in RESOURCES
                    if (self.resources.get(n, {}).get("percent") or 0) > 100]
            lines.append(f"  the design does not fit {self.device}: {', '.join(over) or self.error}")
            if self.suggestions:
                for s in self.suggestions:
                    est = ", ".join(f"{RESOURCE_NAMES[n]} ~{u} ({p}%)" for n, (u, p) in s["estimate"].items())
                    lines.append(f"  estimated to fit: {s['change']} ({est})")
            else:
                lines.append("  no single or paired spec change tried is estimated to fit; pick a larger device")
        if self.clock_suggestion:
            lines.append(f"  suggestion: {self.clock_suggestion}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.bitstream:
            lines.append(f"  bitstream: {Path(self.directory or '.') / self.bitstream}")
        return lines

    def to_markdown(self) -> str:
        what = " (periphery timing harness)" if self.variant == "periphery" else ""
        lines = [f"# FPGA build: {self.design} on {self.board_title}{what}", "",
                 f"**{self.verdict}**: device {self.device}, clock {self.clock_note}, UART {self.baud:g} baud.", "",
                 "| resource | used | available | use |", "|---|---|---|---|"]
        for n in RESOURCES:
            r = self.resources.get(n, {})
            used = "?" if r.get("used") is None else r["used"]
            pct = "?" if r.get("percent") is None else f"{r['percent']:.1f} %"
            lines.append(f"| {RESOURCE_NAMES[n]} ({r.get('cell', '')}) | {used} | {r.get('available', '?')} | {pct} |")
        lines += ["", "| timing | MHz |", "|---|---|",
                  f"| requested by the spec | {self.spec_clock_mhz:g} |",
                  f"| clock on the board | {self.clock_mhz:.3f} |",
                  f"| Fmax (nextpnr) | {'?' if self.fmax_mhz is None else f'{self.fmax_mhz:.2f}'} |", ""]
        if self.fits is False or self.suggestions:
            lines += ["## Does not fit", "", f"{self.error or ''}", ""]
            if self.suggestions:
                lines += ["Spec changes estimated to fit (resource model scaled to this build):", ""]
                for s in self.suggestions:
                    est = ", ".join(f"{RESOURCE_NAMES[n]} ~{u} ({p} %)" for n, (u, p) in s["estimate"].items())
                    lines.append(f"- {s['change']}: {est}")
            else:
                lines.append("No single or paired spec change tried is estimated to fit.")
            lines.append("")
        if self.clock_suggestion:
            lines += ["## Timing", "", self.clock_suggestion, ""]
        if self.critical_path:
            lines += [f"## Critical path ({self.fmax_clock})", "",
                      f"from `{self.critical_path_from}` to `{self.critical_path_to}`", "", "```"]
            lines += self.critical_path + ["```", ""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        lines += ["## Stages", "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {k} | {v:.1f} |" for k, v in self.times.items()]
        lines += ["", f"Bitstream: {self.bitstream or 'none'}. Logs: {', '.join(self.logs)}.", ""]
        return "\n".join(lines)

    def write(self, directory: Path) -> None:
        directory = Path(directory)
        (directory / "report.json").write_text(self.to_json())
        (directory / "report.md").write_text(self.to_markdown())

    def relocate(self, directory: Path) -> None:
        self.directory = str(directory)


def build_report(spec: DesignSpec, board, clock, directory: Path, name: str, *, times=None,
                 failed_stage=None, baud: float = 0.0) -> FpgaReport:
    """Parse the logs of one build in `directory` into an FpgaReport."""
    directory = Path(directory)
    cap = board.capacity

    def read(path):
        p = directory / path
        return p.read_text(errors="replace") if p.exists() else ""

    cells = parse_yosys_stats(read(f"{name}.rpt"))
    pnr = parse_nextpnr_log(read(f"{name}.tim"))
    report = FpgaReport(design=name, board=board.name, board_title=board.title, device=cap.device,
                        family=cap.family, spec_clock_mhz=spec.design.clock_mhz,
                        clock_mhz=clock.achieved_hz / 1e6, clock_note=clock.note, baud=baud,
                        times=dict(times or {}), failed_stage=failed_stage, synth_cells=cells,
                        utilisation={k: list(v) for k, v in pnr.utilisation.items()})
    report.logs = [p for p in (f"{name}.rpt", f"{name}.tim", "synth.log", "pnr.log", "pack.log")
                   if (directory / p).exists()]

    ff_from_yosys = sum(n for c, n in cells.items() if re.match(r"^(SB_DFF|TRELLIS_FF|FD)", c))
    lut_from_yosys = cells.get("LUT4", 0) + cells.get("SB_LUT4", 0) + 2 * cells.get("CCU2C", 0)
    available = {"lut": cap.luts, "ff": cap.ffs, "bram": cap.brams, "dsp": cap.dsps}
    cell_names = {"lut": cap.lut_cell, "ff": cap.ff_cell or "DFF (Yosys)", "bram": cap.bram_cell,
                  "dsp": cap.dsp_cell}
    for n in RESOURCES:
        cell = (cap.lut_cell, cap.ff_cell, cap.bram_cell, cap.dsp_cell)[RESOURCES.index(n)]
        used, source = None, None
        if cell in pnr.utilisation:
            used, avail = pnr.utilisation[cell]
            available[n], source = avail, "nextpnr"
        elif n == "ff" and cells:
            used, source = ff_from_yosys, "yosys"
        elif cells:
            used = {"lut": lut_from_yosys, "bram": cells.get(cap.bram_cell.replace("ICESTORM_RAM", "SB_RAM40_4K"), 0),
                    "dsp": cells.get(cap.dsp_cell.replace("ICESTORM_DSP", "SB_MAC16"), 0)}[n]
            source = "yosys (estimate)"
        report.resources[n] = {"used": used, "available": available[n], "cell": cell_names[n], "source": source,
                               "percent": None if used is None else round(100 * used / available[n], 2)}

    # Fmax of the emulation clock: the constrained clock nearest the clock the board runs the design at.
    target = clock.achieved_hz / 1e6
    if pnr.fmax:
        clk = min(pnr.fmax, key=lambda c: abs(pnr.fmax[c][1] - target))
        report.fmax_clock = clk
        report.fmax_mhz, report.constraint_mhz = pnr.fmax[clk]
        report.timing_met = report.fmax_mhz >= report.constraint_mhz
    path = pnr.critical_path
    if len(path) > CRITICAL_PATH_LINES:             # keep both ends and the summary line
        head = CRITICAL_PATH_LINES // 3
        path = path[:head] + [f"  ... {len(path) - CRITICAL_PATH_LINES} lines ..."] + \
            path[len(path) - (CRITICAL_PATH_LINES - head):]
    report.critical_path = path
    report.critical_path_from, report.critical_path_to = critical_path_ends(pnr.critical_path)

    overused = [n for n in RESOURCES if (report.resources[n]["percent"] or 0) > 100]
    if pnr.overused or overused:
        report.fits = False
        cells_txt = ", ".join(pnr.overused) if pnr.overused else ", ".join(report.resources[n]["cell"]
                                                                             for n in overused)
        report.error = f"not enough {cells_txt} on {cap.device}" + (f": {pnr.errors[0]}" if pnr.errors else "")
    elif failed_stage is None and pnr.utilisation:
        report.fits = True
    elif pnr.errors:
        report.error = pnr.errors[0]
    elif failed_stage is not None:
        tail = read(f"{failed_stage}.log").strip().splitlines()[-3:]
        report.error = " / ".join(tail) or f"{failed_stage} failed"
    if report.fits is False:
        report.suggestions = suggest_fit(spec, report.resources, cap)
    if report.timing_met is False:
        report.clock_suggestion = suggest_clock(report.fmax_mhz, report.constraint_mhz)
    bit = f"{name}.bit" if cap.family == "ecp5" else f"{name}.bin"
    if failed_stage is None and (directory / bit).exists():
        report.bitstream = bit
    report.passed = bool(report.fits and report.timing_met and report.bitstream)
    return report
