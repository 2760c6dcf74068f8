"""Parsers of the FPGA tool logs the flow keeps (flows/fpga.py), for the report (flows/fpga_report.py):
- the Yosys log (`-l <design>.rpt`): the cell counts of the last "Printing statistics" section;
- the nextpnr log (`--log <design>.tim`): the last "Device utilisation" block (used/available per cell
  type), the last "Max frequency for clock" line per clock (achieved and constrained MHz), the last
  critical path report, and ERROR lines ("no BELs remaining" / "Failed to expand region" mean the design
  does not fit).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


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
    """What parse_nextpnr_log found; the last block of each kind wins (nextpnr reports after placement and
    after routing)."""

    utilisation: dict[str, tuple[int, int]] = field(default_factory=dict)   # cell -> (used, available)
    fmax: dict[str, tuple[float, float]] = field(default_factory=dict)      # clock -> (achieved, constraint)
    critical_path: list[str] = field(default_factory=list)
    critical_clock: str | None = None
    errors: list[str] = field(default_factory=list)
    overused: list[str] = field(default_factory=list)                        # cell types without room


def parse_nextpnr_log(text: str) -> NextpnrResult:
    """Utilisation, Fmax per clock, the critical path, errors and the cell types without room."""
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
