"""A crossbar's wire network as an ngspice netlist, run in batch mode: the reference for sim.models.ir_drop.

The circuit is the one sim.models.ir_drop describes (drivers at the left ends of the rows, virtual grounds at
the bottom ends of the columns, or at their top ends for sense_amplifiers = "first_row", one wire segment per
cell), written as plain resistors and DC sources, so ngspice's own nodal solver checks ours.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np


def netlist(g_us: np.ndarray, wire_r_ohm: float, volts: np.ndarray, sense_amplifiers: str = "last_row") -> str:
    rows, cols = g_us.shape
    sensed = {"last_row": rows - 1, "first_row": 0}[sense_amplifiers]
    lines = ["* crossbar with wire resistance"]
    for i in range(rows):
        lines.append(f"VIN{i} d{i} 0 DC {float(volts[i])!r}")
        lines.append(f"RD{i} d{i} r{i}_0 {wire_r_ohm!r}")
        lines += [f"RW{i}_{k} r{i}_{k} r{i}_{k + 1} {wire_r_ohm!r}" for k in range(cols - 1)]
        for k in range(cols):
            if g_us[i, k] > 0:
                lines.append(f"RG{i}_{k} r{i}_{k} c{i}_{k} {float(1e6 / g_us[i, k])!r}")
    for k in range(cols):
        lines += [f"RB{i}_{k} c{i}_{k} c{i + 1}_{k} {wire_r_ohm!r}" for i in range(rows - 1)]
        lines.append(f"RS{k} c{sensed}_{k} s{k} {wire_r_ohm!r}")
        lines.append(f"VS{k} s{k} 0 DC 0")
    lines += [".control", "set numdgt=12", "op"]
    lines += [f"print i(vs{k})" for k in range(cols)]
    lines += [".endc", ".end"]
    return "\n".join(lines) + "\n"


def sense_currents(g_us: np.ndarray, wire_r_ohm: float, volts: np.ndarray, workdir: Path,
                   sense_amplifiers: str = "last_row") -> np.ndarray:
    """Current (A) through each column's 0 V sense source, as ngspice computes it."""
    path = workdir / "crossbar.cir"
    path.write_text(netlist(g_us, wire_r_ohm, volts, sense_amplifiers))
    run = subprocess.run(["ngspice", "-b", str(path)], capture_output=True, text=True, timeout=600)
    found = dict(re.findall(r"^i\(vs(\d+)\)\s*=\s*(\S+)", run.stdout, flags=re.M))
    if len(found) != g_us.shape[1]:
        raise AssertionError(f"ngspice printed {len(found)} of {g_us.shape[1]} currents:\n{run.stdout[-2000:]}"
                             f"\n{run.stderr[-2000:]}")
    return np.array([float(found[str(k)]) for k in range(g_us.shape[1])])
