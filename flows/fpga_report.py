"""The FPGA build report: resources against the device, Fmax against the clock, pass/fail, what to change.

`build_report` reads the tool logs of one build (flows/fpga_logs.py) into an `FpgaReport`, with the spec
changes that would fit and the clock timing supports (flows/fpga_fit.py); the report writes itself as
report.json and report.md and prints a summary.

Resources are LUTs, flip-flops, block RAMs and DSPs as the board's `DeviceCapacity` names them (on iCE40
the LUT line is the logic cell count, LUT and flip-flop together, and the flip-flops come from Yosys).
The design fits when every resource is at most 100 % (and nextpnr placed it); timing is met when the
achieved Fmax of the emulation clock is at least the clock the board runs it at. `passed` = fits, timing
met and a bitstream.

JSON schema `aimcgen-fpga-report/1` (report.json): the fields of `FpgaReport.to_dict`.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aimcgen.flows.fpga_fit import suggest_clock, suggest_fit
from aimcgen.flows.fpga_logs import critical_path_ends, parse_nextpnr_log, parse_yosys_stats
from aimcgen.spec import DesignSpec

SCHEMA = "aimcgen-fpga-report/1"
RESOURCES = ("lut", "ff", "bram", "dsp")
RESOURCE_NAMES = {"lut": "LUTs", "ff": "flip-flops", "bram": "block RAMs", "dsp": "DSPs"}
CRITICAL_PATH_LINES = 60


@dataclass
class FpgaReport:
    """One build's outcome, as report.json holds it; renders the summary lines and report.md."""

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


def emulation_clock(fmax: dict[str, tuple[float, float]], target_mhz: float) -> str | None:
    """The emulation clock among nextpnr's {clock: (achieved, constraint) MHz}: the constrained clock
    nearest the clock the board runs the design at (the UART and PLL domains are the others)."""
    if not fmax:
        return None
    return min(fmax, key=lambda c: abs(fmax[c][1] - target_mhz))


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

    clk = emulation_clock(pnr.fmax, clock.achieved_hz / 1e6)
    if clk is not None:
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
