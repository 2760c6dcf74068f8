"""Gate-level simulation model of the synthesized periphery: the mapped netlist, cell models from the Liberty
functions, and the RTL's power-up state, in one Verilog file that the cocotb benches run like the RTL.

Why the power-up state: every RTL register starts at its initial value, and some have no reset (the post-
processing coefficient memories power up to unity gain and zero offset). A simulator and an FPGA honour that;
an ASIC flip-flop does not (the flow reports these registers, see asic_synth.nonzero_inits). In a gate-level
simulation the first clock edge also samples inputs that are still undefined, which leaves every flip-flop
without a reset at X. So the model loads each flip-flop with its RTL initial value just after the first clock
edge, and gate-level and RTL simulation go on from the same state: the check is about the netlist's logic, not
about power-up, which silicon must handle by loading the coefficients.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from aimcgen.flows.asic_synth import nonzero_inits
from aimcgen.flows.pdk import read_liberty_cells, verilog_cell_models
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.sim.verify.accelerator_runner import run_accelerator_bench

_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _ref(name: str) -> str:
    """A Verilog identifier for a netlist name (escaped when it is not a plain identifier)."""
    return name if _PLAIN_NAME.fullmatch(name) else f"\\{name} "


def power_up_assignments(json_netlist: Path, top: str) -> list[str]:
    """`<path>.<flip-flop>.IQ = <bit>;` (paths relative to `top`) for every flip-flop: its RTL initial value."""
    mods = json.loads(Path(json_netlist).read_text())["modules"]
    ones = {(e["module"], bit) for e in nonzero_inits(json_netlist) for bit in e["nets"]}
    paths: dict[str, list[str]] = {}

    def walk(mod: str, path: str) -> None:
        paths.setdefault(mod, []).append(path)
        for name, cell in mods[mod].get("cells", {}).items():
            if cell["type"] in mods and not mods[cell["type"]].get("attributes", {}).get("blackbox"):
                walk(cell["type"], f"{path}{_ref(name)}.")

    walk(top, "")
    lines, driven = [], set()
    for mod, mod_paths in paths.items():
        for name, cell in mods[mod].get("cells", {}).items():
            q = cell["connections"].get("Q")
            if q and cell["type"].startswith("sky130_fd_sc_hd__") and "df" in cell["type"]:
                driven.add((mod, q[0]))
                bit = int((mod, q[0]) in ones)
                lines += [f"    {path}{_ref(name)}.IQ = 1'b{bit};" for path in mod_paths]
    missing = sorted(str(key) for key in ones - driven if key[0] in paths)
    if missing:
        raise ValueError(f"no flip-flop drives the initialized bit(s) {', '.join(missing[:5])}")
    return lines


def write_gate_level_model(netlist: Path, json_netlist: Path, liberty: Path, top: str, out: Path, *,
                           clock: str = "clk") -> Path:
    """One Verilog file: the netlist with the power-up block in `top`, and the models of the cells it uses."""
    text = Path(netlist).read_text()
    used = set(re.findall(r"^\s*(sky130_fd_sc_hd__\w+) ", text, re.M))
    cells = read_liberty_cells(liberty)
    start = re.search(rf"^module {re.escape(top)}\(", text, re.M)
    if start is None:
        raise ValueError(f"{netlist}: no module {top}")
    end = text.index("\nendmodule", start.end())
    init = ["", "  // the RTL's initial state, loaded just after the first clock edge (aimcgen flows.gate_level)",
            "  initial begin", f"    @(posedge {clock});", "    #0.1;", *power_up_assignments(json_netlist, top),
            "  end"]
    text = text[:end] + "\n".join(init) + text[end:]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("`timescale 1ns/1ps\n" + text + "\n" + verilog_cell_models(cells, used))
    return out


def run_gate_level_bench(spec, synth, liberty: Path, out_dir: Path, *, seed: int = 1) -> dict:
    """The cocotb accelerator bench (golden-model scoreboard, every analog tile served by sim.verify.macro_model) on
    the gate-level model of `synth` (asic_synth.SynthResult), with Icarus. Returns a JSON-ready summary;
    SimulatorUnavailable when Icarus is missing, AssertionError naming the failing tests when one fails."""
    import time


    out = Path(out_dir)
    model = write_gate_level_model(synth.netlist, synth.json_netlist, liberty, synth.top, out / f"{synth.top}.gls.v")
    regmap = out / "regmap.json"
    regmap.write_text(aimc_register_map(spec).to_json())
    t = time.perf_counter()
    result = run_accelerator_bench(spec, model, synth.top, simulator="icarus", build_dir=out / "run",
                                   regmap_json=regmap, seed=seed)
    return {"status": "passed", "simulator": "icarus", "model": str(model), "seconds": round(time.perf_counter() - t, 1),
            "tests": {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests},
            "coverage": result.report.get("coverage", {}).get("coverage")}
