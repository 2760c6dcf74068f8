"""Fast checks of the ASIC flow's generated views: macro LEF / Liberty / black box against the RTL ports, the
PDK locator, the SDC, fanout repair and the LibreLane configuration (loaded by LibreLane when installed)."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess

import pytest

from aimcgen.flows import asic_sta, librelane, macro_views, pdk
from aimcgen.flows.asic_synth import buffer_fanout, collapse_buffer_chains
from aimcgen.presets import load_preset
from required_tools import require_executables, require_pdk


def verilog_ports(text: str, module: str) -> dict[str, tuple[str, int]]:
    """{name: (direction, width)} of `module` in Amaranth/Yosys-written Verilog."""
    start = re.search(rf"^module {re.escape(module)}\s*\(", text, re.M).start()
    body = text[start:text.index("endmodule", start)]
    ports = {}
    for m in re.finditer(r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s*)?(\w+)\s*[;,]?\s*$", body, re.M):
        width = int(m.group(2)) - int(m.group(3)) + 1 if m.group(2) else 1
        ports[m.group(4)] = (m.group(1), width)
    return ports


@pytest.fixture(scope="module", params=["default", "tile64"])
def spec(request):
    return load_preset(request.param)


@pytest.fixture(scope="module")
def emulated_tile_verilog(spec):
    from amaranth.back import verilog

    from aimcgen.rtl.emulated_tile import EmulatedCrossbar

    return verilog.convert(EmulatedCrossbar(spec), name=f"{spec.name}_emulated_tile", emit_src=False)


def test_macro_ports_match_emulated_tile(spec, emulated_tile_verilog):
    expected = verilog_ports(emulated_tile_verilog, f"{spec.name}_emulated_tile")
    got = {p.name: (p.direction, p.width) for p in macro_views.macro_ports(spec)}
    assert got == expected


def test_top_analog_ports_match_macro(spec):
    from amaranth.back import verilog

    from aimcgen.rtl.accelerator import Accelerator

    top = verilog_ports(verilog.convert(Accelerator(spec, emulated=False), name=spec.name, emit_src=False), spec.name)
    assert {p.name: (p.direction, p.width) for p in macro_views.top_ports(spec)} == top
    flip = {"input": "output", "output": "input"}
    for i in range(spec.tiles):
        for p in macro_views.macro_ports(spec):
            if p.name in ("clk", "rst"):
                continue
            assert top[f"analog_{i}__{p.name}"] == (flip[p.direction], p.width)


def parse_lef(text: str):
    size = tuple(map(float, re.search(r"SIZE ([\d.]+) BY ([\d.]+)", text).groups()))
    pins = {}
    for m in re.finditer(r"PIN (\S+)\n    DIRECTION (\w+) ;\n    USE (\w+) ;\n    PORT\n(.*?)    END\n  END \1", text, re.S):
        rects = [tuple(map(float, r.groups())) for r in re.finditer(r"RECT ([\d.-]+) ([\d.-]+) ([\d.-]+) ([\d.-]+)", m.group(4))]
        layers = re.findall(r"LAYER (\w+)", m.group(4))
        pins[m.group(1)] = (m.group(2), m.group(3), layers, rects)
    obs = re.search(r"  OBS\n(.*?)  END\n", text, re.S).group(1)
    return size, pins, obs


def test_lef_pins_and_geometry(spec):
    size, pins, obs = parse_lef(macro_views.lef_text(spec))
    bits = {b: p.direction.upper() for p in macro_views.macro_ports(spec) for b in p.bits()}
    assert {k: v[0] for k, v in pins.items() if k not in macro_views.POWER_PINS} == bits
    assert pins["VPWR"][1] == "POWER" and pins["VGND"][1] == "GROUND"
    w, h = size
    assert w >= spec.tile.cols * macro_views.CELL_PITCH_X_UM and h >= spec.tile.rows * macro_views.CELL_PITCH_Y_UM
    seen = set()
    for name, (_, use, layers, rects) in pins.items():
        for (x0, y0, x1, y1) in rects:
            assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h, name
        if name in macro_views.POWER_PINS:
            assert set(layers) == {"met4"}
            continue
        (x0, y0, x1, y1), = rects
        assert x0 == 0 or y0 == 0 or y1 == h or x1 == w, f"{name} is not on an edge"
        key = (layers[0], round(x0, 3), round(y0, 3))
        assert key not in seen, f"{name} overlaps another pin"
        seen.add(key)
    for layer in ("li1", "met1", "met2", "met3"):
        assert f"LAYER {layer} ;" in obs
    # row pins on the west edge, as many as 2 * rows
    assert sum(1 for _, _, _, r in pins.values() if r[0][0] == 0) == 2 * spec.tile.rows


def test_liberty_stub_pins_and_thresholds(spec):
    text = macro_views.liberty_text(spec)
    for attr in ("slew_lower_threshold_pct_rise", "slew_upper_threshold_pct_fall", "input_threshold_pct_rise",
                 "output_threshold_pct_fall"):
        assert re.search(rf"{attr} : [\d.]+ ;", text)
    groups = dict((m.group(2), m.group(1)) for m in re.finditer(r"^    (pin|bus) \((\w+)\)", text, re.M))
    widths = {m.group(1): int(m.group(2)) for m in re.finditer(r"type \((\w+)_t\) \{.*?bit_width : (\d+)", text, re.S)}
    for p in macro_views.macro_ports(spec):
        assert groups[p.name] == ("bus" if p.width > 1 else "pin")
        if p.width > 1:
            assert widths[p.name] == p.width
    assert text.count("{") == text.count("}")


def test_liberty_stub_reads_in_opensta(spec, tmp_path):
    require_executables("sta")
    lib = tmp_path / "m.lib"
    lib.write_text(macro_views.liberty_text(spec))
    script = tmp_path / "t.tcl"
    script.write_text(f"read_liberty {lib}\nreport_lib_cell {macro_views.macro_name(spec)}\nexit\n")
    out = subprocess.run(["sta", "-no_init", "-exit", str(script)], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "Error" not in text and "Warning" not in text, text[-2000:]


def test_blackbox_matches_ports(spec):
    text = macro_views.blackbox_text(spec)
    assert "(* blackbox *)" in text
    ports = {m.group(3): (m.group(1), int(m.group(2) or 0) + 1)
             for m in re.finditer(r"^  (input|output) (?:\[(\d+):0\] )?(\w+)", text, re.M)}
    assert ports == {p.name: (p.direction, p.width) for p in macro_views.macro_ports(spec)}
    pp = macro_views.blackbox_text(spec, power_pins=True)
    assert "inout VPWR" in pp and "`ifdef USE_POWER_PINS" in pp


def test_sdc_constrains_every_port(spec):
    sdc = asic_sta.sdc_text(spec)
    assert re.search(r"create_clock -name clk -period [\d.]+ \[get_ports clk\]", sdc)
    period = 1000 / spec.design.clock_mhz
    for p in macro_views.top_ports(spec):
        if p.name == "clk":
            continue
        cmd = "set_input_delay" if p.direction == "input" else "set_output_delay"
        m = re.search(rf"{cmd} ([\d.]+) -clock clk \[get_ports {{{re.escape(p.name)}(\[\*\])?}}\]", sdc)
        assert m, p.name
        frac = (macro_views.MACRO_CLK_TO_Q_FRACTION if p.direction == "input" else macro_views.MACRO_SETUP_FRACTION) \
            if p.name.startswith("analog_") else asic_sta.IO_DELAY_FRACTION
        assert float(m.group(1)) == pytest.approx(frac * period, abs=1e-3)


# --- PDK locator -------------------------------------------------------------------------------------------------

def test_pdk_not_found_names_every_place(tmp_path, monkeypatch):
    monkeypatch.delenv("AIMCGEN_PDK_DIR", raising=False)
    with pytest.raises(pdk.PdkNotFound) as e:
        pdk.locate_pdk(tmp_path / "nowhere", corners=("tt", "ss"))
    msg = str(e.value)
    assert str(tmp_path / "nowhere") in msg and "sky130_fd_sc_hd__ss_100C_1v60.lib" in msg
    assert "--pdk" in msg and "PDK_ROOT" in msg and "AIMCGEN_PDK_DIR" in msg
    with pytest.raises(ValueError, match="unknown corner"):
        pdk.locate_pdk(tmp_path, corners=("slow",))


def test_pdk_env_and_pdk_root_layouts(tmp_path, monkeypatch):
    lib_dir = tmp_path / "root" / "sky130A" / "libs.ref" / "sky130_fd_sc_hd" / "lib"
    lib_dir.mkdir(parents=True)
    for c in pdk.CORNERS.values():
        (lib_dir / f"sky130_fd_sc_hd__{c}.lib").write_text("library (x) { }\n")
    tech = tmp_path / "root" / "sky130A" / "libs.tech" / "librelane" / "sky130_fd_sc_hd"
    tech.mkdir(parents=True)
    (tech / "no_synth.cells").write_text("sky130_fd_sc_hd__mux4_*\n# comment\n")
    monkeypatch.delenv("AIMCGEN_PDK_DIR", raising=False)
    monkeypatch.setenv("PDK_ROOT", str(tmp_path / "root"))
    found = pdk.locate_pdk(corners=("tt", "ss", "ff"))
    assert found.source.startswith("$PDK_ROOT") and found.lib_dir == lib_dir
    assert "sky130_fd_sc_hd__mux4_*" in found.dont_use_patterns()
    monkeypatch.setenv("AIMCGEN_PDK_DIR", str(tmp_path / "root"))      # a PDK root given as the folder
    assert pdk.locate_pdk(corners=("tt",)).source.startswith("$AIMCGEN_PDK_DIR")


def test_signoff_corners_are_librelanes_and_extras_are_named_in_full():
    assert pdk.SIGNOFF_CORNERS == {"tt": "tt_025C_1v80", "ss": "ss_100C_1v60", "ff": "ff_n40C_1v95"}
    assert set(pdk.EXTRA_CORNERS) == {"ss_n40C_1v40", "ff_100C_1v95"}
    assert all(key == name for key, name in pdk.EXTRA_CORNERS.items())
    assert pdk.corner_conditions("ss") == (1.6, 100.0) and pdk.corner_conditions("ff") == (1.95, -40.0)
    assert pdk.corner_conditions("ss_n40C_1v40") == (1.4, -40.0) and pdk.corner_conditions("tt") == (1.8, 25.0)
    assert pdk.is_signoff("ss") and not pdk.is_signoff("ff_100C_1v95")


def test_pdk_with_fewer_corners_reports_the_missing_ones(tmp_path, monkeypatch):
    """An older PDK folder (tt and the two extras only) still serves tt; ss and ff are reported missing."""
    monkeypatch.delenv("AIMCGEN_PDK_DIR", raising=False)
    for name in ("tt_025C_1v80", "ss_n40C_1v40", "ff_100C_1v95"):
        (tmp_path / f"sky130_fd_sc_hd__{name}.lib").write_text("library (x) { }\n")
    found = pdk.locate_pdk(tmp_path, ["tt"], optional=["ss", "ff", "ss_n40C_1v40"])
    assert set(found.liberty) == {"tt", "ss_n40C_1v40"}
    assert found.missing(["tt", "ss", "ff", "ss_n40C_1v40"]) == ["ss", "ff"]
    assert "sky130_fd_sc_hd__ss_100C_1v60.lib" in found.missing_reason("ss")
    with pytest.raises(pdk.PdkNotFound):
        pdk.locate_pdk(tmp_path, ["ss"])


def test_cli_rejects_an_unknown_corner(tmp_path, capsys):
    from aimcgen.cli import main

    assert main(["asic", "--corners", "tt,slow", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--corners tt,slow" in err[0] and "ss_n40C_1v40" in err[0] and "all" in err[0]
    assert not any(tmp_path.iterdir())


def test_liberty_gz_is_decompressed_into_build(tmp_path):
    src = tmp_path / "lib"
    src.mkdir()
    with gzip.open(src / "sky130_fd_sc_hd__tt_025C_1v80.lib.gz", "wt") as f:
        f.write('library (x) {\n  cell ("sky130_fd_sc_hd__buf_1") {\n    area : 3.75 ;\n  }\n}\n')
    found = pdk.locate_pdk(src, corners=("tt",))
    plain = found.liberty_file("tt", tmp_path / "build")
    assert plain.parent == tmp_path / "build" / "pdk" and plain.name == "sky130_fd_sc_hd__tt_025C_1v80.lib"
    assert pdk.read_liberty_cells(plain)["sky130_fd_sc_hd__buf_1"].area == 3.75


def test_shared_pdk_found_with_three_corners():
    found = require_pdk(("tt", "ss", "ff"))     # CI provides ../shared/pdk/sky130_fd_sc_hd
    assert set(found.liberty) == {"tt", "ss", "ff"}


def test_dont_use_patterns():
    cells = ["sky130_fd_sc_hd__o311ai_0", "sky130_fd_sc_hd__o311ai_1", "sky130_fd_sc_hd__lpflow_inputiso0n_1",
             "sky130_fd_sc_hd__probe_p_8", "sky130_fd_sc_hd__buf_4", "sky130_fd_sc_hd__dlygate4sd3_1"]
    assert pdk.dont_use_cells(cells, pdk.DONT_USE_PATTERNS) == sorted(
        ["sky130_fd_sc_hd__o311ai_0", "sky130_fd_sc_hd__lpflow_inputiso0n_1", "sky130_fd_sc_hd__probe_p_8",
         "sky130_fd_sc_hd__dlygate4sd3_1"])


def test_buffer_fanout_limits_fanout():
    cells = {f"c{i}": {"type": "sky130_fd_sc_hd__inv_1", "port_directions": {"A": "input", "Y": "output"},
                       "connections": {"A": [2], "Y": [100 + i]}} for i in range(95)}
    cells["clkff"] = {"type": "sky130_fd_sc_hd__dfxtp_1", "port_directions": {"CLK": "input", "D": "input", "Q": "output"},
                      "connections": {"CLK": [3], "D": [2], "Q": [99]}}
    net = {"modules": {"m": {"attributes": {}, "ports": {"a": {"direction": "input", "bits": [2]},
                                                          "clk": {"direction": "input", "bits": [3]}},
                             "cells": cells, "netnames": {"a": {"bits": [2]}}}}}
    n = buffer_fanout(net, 10, "sky130_fd_sc_hd__buf_4")
    assert n == 10                # 96 sinks -> 10 buffers, driven by the port
    fan = {}
    for c in net["modules"]["m"]["cells"].values():
        for pin, bits in c["connections"].items():
            if c["port_directions"][pin] == "input":
                for b in bits:
                    fan[b] = fan.get(b, 0) + 1
    assert max(fan.values()) <= 10


def test_buffer_output_ports_one_buffer_per_port_bit():
    """A net driving three output port bits and a cell gets a buffer per port bit; constants stay."""
    from aimcgen.flows.asic_synth import buffer_output_ports

    cells = {"drv": {"type": "sky130_fd_sc_hd__inv_1", "port_directions": {"A": "input", "Y": "output"},
                     "connections": {"A": [2], "Y": [5]}},
             "use": {"type": "sky130_fd_sc_hd__inv_1", "port_directions": {"A": "input", "Y": "output"},
                     "connections": {"A": [5], "Y": [6]}}}
    net = {"modules": {"top": {"attributes": {}, "cells": cells,
                               "ports": {"a": {"direction": "input", "bits": [2]},
                                         "y": {"direction": "output", "bits": [5, 5, "0", 5, 6]}},
                               "netnames": {"a": {"bits": [2]}, "y": {"bits": [5, 5, "0", 5, 6]}}}}}
    assert buffer_output_ports(net, "top", "sky130_fd_sc_hd__buf_4") == 4
    top = net["modules"]["top"]
    y = top["ports"]["y"]["bits"]
    assert y[2] == "0" and len({y[0], y[1], y[3], y[4]}) == 4 and not {y[0], y[1], y[3], y[4]} & {2, 5, 6}
    bufs = {c["connections"]["X"][0]: c["connections"]["A"][0] for n, c in top["cells"].items()
            if n.startswith("obuf_")}
    assert bufs == {y[0]: 5, y[1]: 5, y[3]: 5, y[4]: 6}
    assert top["netnames"]["y"]["bits"] == y and top["netnames"]["y__unbuffered"]["bits"] == [5, 5, "0", 5, 6]
    assert top["cells"]["use"]["connections"]["A"] == [5]           # internal sinks keep the original net
    # below the top only output bits that share their net with another output bit are buffered
    sub = {"attributes": {}, "cells": {"drv": dict(cells["drv"])},
           "ports": {"a": {"direction": "input", "bits": [2]}, "t": {"direction": "output", "bits": [5, 5, 5]},
                     "u": {"direction": "output", "bits": [2]}},
           "netnames": {"a": {"bits": [2]}, "t": {"bits": [5, 5, 5]}}}
    net = {"modules": {"top": {"attributes": {}, "cells": {}, "ports": {}, "netnames": {}}, "sub": sub}}
    assert buffer_output_ports(net, "top", "sky130_fd_sc_hd__buf_4") == 3
    assert sub["ports"]["u"]["bits"] == [2] and len(set(sub["ports"]["t"]["bits"]) - {5}) == 3


# --- LibreLane --------------------------------------------------------------------------------------------------

def test_librelane_config(spec, tmp_path):
    res = librelane.write_librelane(spec, tmp_path, periphery_area_um2=50000.0)
    cfg = json.loads(res["config"].read_text())
    assert cfg["DESIGN_NAME"] == f"{spec.name}_chip" and cfg["CLOCK_PORT"] == "clk"
    assert cfg["CLOCK_PERIOD"] == pytest.approx(1000 / spec.design.clock_mhz, rel=1e-4)
    assert cfg["FP_SIZING"] == "absolute" and len(cfg["DIE_AREA"]) == 4 and cfg["VDD_NETS"] == ["VPWR"]
    macro = cfg["MACROS"][macro_views.macro_name(spec)]
    assert set(macro["instances"]) == {f"analog_tile_{i}" for i in range(spec.tiles)}
    assert set(macro["lib"]) == {"*_tt_025C_1v80", "*_ss_100C_1v60", "*_ff_n40C_1v95"}    # the signoff corners
    w, h = res["floorplan"]["macro_size"]
    for inst in macro["instances"].values():
        x, y = inst["location"]
        assert 0 <= x and x + w <= cfg["DIE_AREA"][2] and 0 <= y and y + h <= cfg["DIE_AREA"][3]
    for rel in [*cfg["VERILOG_FILES"], *cfg["EXTRA_VERILOG_MODELS"], cfg["PNR_SDC_FILE"], *macro["gds"], *macro["lef"],
                *(f for fs in macro["lib"].values() for f in fs)]:
        assert (tmp_path / rel.removeprefix("dir::")).is_file(), rel
    wrapper = (tmp_path / "src" / f"{spec.name}_chip.v").read_text()
    assert f"{spec.name} periphery (" in wrapper and wrapper.count(f"{macro_views.macro_name(spec)} analog_tile_") == spec.tiles
    assert (tmp_path / "macros" / f"{macro_views.macro_name(spec)}.gds").read_bytes()[:4] == b"\x00\x06\x00\x02"
    assert "librelane" in (tmp_path / "README.md").read_text()


def test_librelane_loader_accepts_config(tmp_path):
    pytest.importorskip("librelane", reason="librelane not installed (pip install librelane)")
    spec = load_preset("default")
    res = librelane.write_librelane(spec, tmp_path, periphery_area_um2=50000.0)
    v = librelane.validate_config(res["config"])
    assert v["ok"], v["message"]
    assert v["values"]["DESIGN_NAME"] == "aimc_small_chip"
    assert "aimc_small_analog_tile" in v["values"]["MACROS"]


def test_abstract_gds_carries_the_lef_pins(tmp_path):
    """Read back with gdstk (an independent GDSII reader): outline, one labelled pin shape per LEF pin at the
    LEF's rectangle, and the power straps."""
    gdstk = pytest.importorskip("gdstk", reason="gdstk not installed (pip install gdstk)")
    from aimcgen.flows.gds import SKY130_LAYERS, abstract_gds

    spec = load_preset("default")
    g = macro_views.macro_geometry(spec)
    path = tmp_path / "m.gds"
    path.write_bytes(abstract_gds("m", g))
    lib = gdstk.read_gds(str(path))
    assert lib.unit == pytest.approx(1e-6) and lib.precision == pytest.approx(1e-9)
    (cell,) = lib.cells
    labels = {(lab.text, lab.layer, lab.texttype): lab.origin for lab in cell.labels}
    pins = {}
    for poly in cell.polygons:
        (x0, y0), (x1, y1) = poly.bounding_box()
        pins.setdefault((poly.layer, poly.datatype), []).append((round(x0, 3), round(y0, 3), round(x1, 3), round(y1, 3)))
    assert pins[(235, 4)] == [(0.0, 0.0, round(g.width, 3), round(g.height, 3))]
    lef_pins = set(re.findall(r"^  PIN (\S+)", macro_views.lef_text(spec, g), re.M))
    assert {name for name, _, _ in labels} == lef_pins
    for name, (layer, rect) in g.pins.items():
        pin_layer, label_layer = SKY130_LAYERS[layer]["pin"], SKY130_LAYERS[layer]["label"]
        assert tuple(round(v, 3) for v in rect) in pins[pin_layer], name
        x, y = labels[(name, *label_layer)]
        assert rect[0] <= x <= rect[2] and rect[1] <= y <= rect[3], name
    straps = sum(len(r) for r in g.power.values())
    assert len(pins[SKY130_LAYERS["met4"]["pin"]]) == straps


def test_abc_buffer_chains_are_collapsed_into_one_net():
    """A chain g -> buf -> buf -> clkbuf (each also driving loads) becomes one net from g to every load, for
    buffer_fanout to rebuild as a tree; a buffer driving a port, an inverter and a clock buffer stay."""
    def cell(kind, a, out, pin="X"):
        return {"type": f"sky130_fd_sc_hd__{kind}", "port_directions": {"A": "input", pin: "output"},
                "connections": {"A": [a], pin: [out]}}
    cells = {"g": cell("inv_1", 2, 10, "Y"), "b1": cell("buf_1", 10, 11), "b2": cell("buf_2", 11, 12),
             "b3": cell("clkbuf_1", 12, 13), "to_port": cell("buf_1", 10, 20), "inv": cell("clkinv_1", 13, 21, "Y"),
             "ckb": cell("clkbuf_1", 4, 30)}
    cells.update({f"l{i}": cell("inv_1", bit, 40 + i, "Y") for i, bit in enumerate([10, 11, 11, 12, 13, 13])})
    cells["ff"] = {"type": "sky130_fd_sc_hd__dfxtp_1", "port_directions": {"CLK": "input", "D": "input", "Q": "output"},
                   "connections": {"CLK": [30], "D": [13], "Q": [50]}}
    net = {"modules": {"m": {"attributes": {}, "ports": {"a": {"direction": "input", "bits": [2]},
                                                          "o": {"direction": "output", "bits": [20]},
                                                          "clk": {"direction": "input", "bits": [4]}},
                             "cells": cells, "netnames": {"mid": {"bits": [12]}, "o": {"bits": [20]}}}}}
    assert collapse_buffer_chains(net) == 3
    mod = net["modules"]["m"]
    assert {"b1", "b2", "b3"}.isdisjoint(mod["cells"]) and {"to_port", "inv", "ckb"} <= set(mod["cells"])
    assert [mod["cells"][f"l{i}"]["connections"]["A"] for i in range(6)] == [[10]] * 6
    assert mod["cells"]["ff"]["connections"]["D"] == [10] and mod["cells"]["inv"]["connections"]["A"] == [10]
    assert mod["netnames"]["mid"]["bits"] == [10] and mod["cells"]["to_port"]["connections"]["X"] == [20]
