"""Views of the analog tile macro, generated from the spec: LEF abstract, Liberty timing stub, Verilog black box.

The pin list is derived from the Amaranth signature of the analog boundary (`rtl/boundary.py`), flipped to the
macro's side, plus the clock and reset every macro has (responses are registered, see the boundary docstring):
exactly the ports of the emulated tile `<design>_emulated_tile` and of the periphery's `analog_<i>__*`. Nothing
is typed by hand: names are the signature paths joined with `__` (Amaranth's Verilog port naming), widths are
the shapes' widths.

Size (a cited cell area and stated assumptions, not PDK data: replace them with the numbers of your bitcell
and periphery):
  width  = cols * CELL_PITCH_X_UM + ROW_PERIPHERY_UM + 2 * EDGE_MARGIN_UM
  height = rows * CELL_PITCH_Y_UM + COLUMN_PERIPHERY_UM + 2 * EDGE_MARGIN_UM
  - CELL_PITCH_X_UM = 2.88 um, CELL_PITCH_Y_UM = 3.0 um: one signed weight = a differential pair of device
    cells side by side, each 1.44 x 3.0 um = 4.32 um^2: the measured cell area of SKY130's ReRAM (a 2T-1R
    cell whose size is set by the access transistors: I. Didin, C. Brando, C.-Y. Lin, S. Shah,
    "Characterization and Modeling of Multilevel Analog ReRAM Synapses in the Sky130 Process", IEEE JXCDC 12,
    27-35 (2026), doi:10.1109/JXCDC.2026.3670667); the 1.44 : 3.0 aspect ratio is assumed;
  - ROW_PERIPHERY_UM = 30 um: row drivers / level shifters (west side);
  - COLUMN_PERIPHERY_UM = 60 um: integrators, sample-and-hold, column mux and comparators/ADC front ends (south);
  - EDGE_MARGIN_UM = 5 um: power ring and guard ring.
Then each side grows, if needed, until its pins fit at one pin every PIN_TRACK_STEP routing tracks, and the
size is rounded up to the sky130_fd_sc_hd placement site (0.46 x 2.72 um).

Pins: row_en/row_sign on the west edge (met3, horizontal; sky130 met3 pitch 0.68 um), the command stream,
clock and reset on the south edge and the response stream on the north edge (met2, vertical; pitch 0.46 um),
every pin centred on a routing track. Power: VPWR and VGND as vertical met4 straps (USE POWER/GROUND), to be
joined to the core grid by LibreLane's PDN_MACRO_CONNECTIONS. OBS: li1, met1, met2 and met3 over the whole
macro except a PIN_DEPTH_UM band along the pinned edges; met4 and met5 are left free (routing over the macro
except on the power straps).

Liberty stub timing (also used by the periphery's SDC for the analog boundary, flows.asic_sta): inputs have a
setup of MACRO_SETUP_FRACTION and a hold of 0.05 ns to the rising clock; outputs change MACRO_CLK_TO_Q_FRACTION
of the clock period after it (registered responses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from amaranth.hdl import Value
from aimcgen.rtl.boundary import AnalogBoundarySignature
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.flows.pdk import CORNERS, corner_conditions

CELL_PITCH_X_UM = 2.88
CELL_PITCH_Y_UM = 3.0
ROW_PERIPHERY_UM = 30.0
COLUMN_PERIPHERY_UM = 60.0
EDGE_MARGIN_UM = 5.0
SITE_W_UM, SITE_H_UM = 0.46, 2.72
MET2_PITCH_UM, MET2_OFFSET_UM, MET2_PIN_W_UM = 0.46, 0.23, 0.28
MET3_PITCH_UM, MET3_OFFSET_UM, MET3_PIN_W_UM = 0.68, 0.34, 0.30
PIN_TRACK_STEP = 2          # one pin every 2 tracks
PIN_DEPTH_UM = 1.0
POWER_STRAP_W_UM = 3.1
MACRO_SETUP_FRACTION = 0.25
MACRO_CLK_TO_Q_FRACTION = 0.25
MACRO_HOLD_NS = 0.05
PIN_CAP_PF = 0.005
POWER_PINS = ("VPWR", "VGND")


@dataclass(frozen=True)
class Port:
    name: str          # Verilog port name
    direction: str     # "input" | "output" (seen from the macro)
    width: int
    side: str          # "W", "S", "N"

    def bits(self) -> list[str]:
        return [self.name] if self.width == 1 else [f"{self.name}[{i}]" for i in range(self.width)]


def macro_name(spec) -> str:
    return f"{spec.name}_analog_tile"


def macro_ports(spec) -> list[Port]:
    """The macro's ports, from the flipped AnalogBoundarySignature plus clk and rst."""
    from amaranth.lib import wiring


    sig = AnalogBoundarySignature(spec).flip()
    iface = sig.create()
    ports = [Port("clk", "input", 1, "S"), Port("rst", "input", 1, "S")]
    for path, member, value in sig.flatten(iface):
        name = "__".join(str(p) for p in path)
        direction = "input" if member.flow == wiring.In else "output"
        side = "W" if path[0] in ("row_en", "row_sign") else ("S" if path[0] == "cmd" and path[-1] != "ready"
                                                               else "N")
        ports.append(Port(name, direction, len(Value.cast(value)), side))
    return ports


def top_ports(spec) -> list[Port]:
    """The periphery top's ports (Accelerator(spec, emulated=False)), from its signature plus clk and rst."""
    from amaranth.lib import wiring


    top = Accelerator(spec, emulated=False)
    top._MustUse__silence = True       # only its signature is read
    ports = [Port("clk", "input", 1, ""), Port("rst", "input", 1, "")]
    for path, member, value in top.signature.flatten(top):
        ports.append(Port("__".join(str(p) for p in path), "input" if member.flow == wiring.In else "output",
                          len(Value.cast(value)), ""))
    return ports


# --- geometry ------------------------------------------------------------------------------------------------

def _ceil_to(x: float, step: float) -> float:
    return round(math.ceil(x / step - 1e-9) * step, 3)


def _tracks(length: float, pitch: float, offset: float) -> int:
    return int((length - offset) // pitch) + 1 if length > offset else 0


@dataclass
class MacroGeometry:
    width: float
    height: float
    pins: dict[str, tuple[str, tuple[float, float, float, float]]]   # bit name -> (layer, rect)
    power: dict[str, list[tuple[float, float, float, float]]]          # VPWR/VGND -> met4 rects


def macro_geometry(spec, *, cell_pitch_x=CELL_PITCH_X_UM, cell_pitch_y=CELL_PITCH_Y_UM) -> MacroGeometry:
    ports = macro_ports(spec)
    side_bits = {s: [b for p in ports if p.side == s for b in p.bits()] for s in "WSN"}
    # West: interleave row_en[i] and row_sign[i] so that each row's pins sit next to each other.
    rows = spec.tile.rows
    side_bits["W"] = [b for i in range(rows) for b in (f"row_en[{i}]" if rows > 1 else "row_en",
                                                      f"row_sign[{i}]" if rows > 1 else "row_sign")]
    w = spec.tile.cols * cell_pitch_x + ROW_PERIPHERY_UM + 2 * EDGE_MARGIN_UM
    h = spec.tile.rows * cell_pitch_y + COLUMN_PERIPHERY_UM + 2 * EDGE_MARGIN_UM
    # grow until the pins fit (pins only within the edge margins' inner span)
    need_w = max(len(side_bits["S"]), len(side_bits["N"])) * PIN_TRACK_STEP * MET2_PITCH_UM + 2 * EDGE_MARGIN_UM
    need_h = len(side_bits["W"]) * PIN_TRACK_STEP * MET3_PITCH_UM + 2 * EDGE_MARGIN_UM
    w = _ceil_to(max(w, need_w), SITE_W_UM)
    h = _ceil_to(max(h, need_h), SITE_H_UM)
    pins = {}

    def place(bits, length, pitch, offset, make):
        if not bits:
            return
        first = _tracks(EDGE_MARGIN_UM, pitch, offset)
        last = _tracks(length - EDGE_MARGIN_UM, pitch, offset) - 1
        span = last - first
        step = span / len(bits)
        for k, b in enumerate(bits):
            track = first + int(round((k + 0.5) * step))
            pins[b] = make(round(offset + track * pitch, 3))

    hw2, hw3 = MET2_PIN_W_UM / 2, MET3_PIN_W_UM / 2
    # rows from the top down on the west edge (row 0 at the top, as in the array)
    place(list(reversed(side_bits["W"])), h, MET3_PITCH_UM, MET3_OFFSET_UM,
          lambda y: ("met3", (0.0, round(y - hw3, 3), PIN_DEPTH_UM, round(y + hw3, 3))))
    place(side_bits["S"], w, MET2_PITCH_UM, MET2_OFFSET_UM,
          lambda x: ("met2", (round(x - hw2, 3), 0.0, round(x + hw2, 3), PIN_DEPTH_UM)))
    place(side_bits["N"], w, MET2_PITCH_UM, MET2_OFFSET_UM,
          lambda x: ("met2", (round(x - hw2, 3), round(h - PIN_DEPTH_UM, 3), round(x + hw2, 3), h)))
    # power straps: alternating VPWR / VGND every ~50 um (at least one pair)
    n = max(1, int((w - 2 * EDGE_MARGIN_UM) // 100))
    power = {"VPWR": [], "VGND": []}
    pitch = (w - 2 * EDGE_MARGIN_UM) / (2 * n)
    for i in range(2 * n):
        x = EDGE_MARGIN_UM + (i + 0.5) * pitch
        rect = (round(x - POWER_STRAP_W_UM / 2, 3), EDGE_MARGIN_UM, round(x + POWER_STRAP_W_UM / 2, 3),
                round(h - EDGE_MARGIN_UM, 3))
        power["VPWR" if i % 2 == 0 else "VGND"].append(rect)
    return MacroGeometry(w, h, pins, power)


# --- LEF ----------------------------------------------------------------------------------------------------

def _r(rect) -> str:
    return " ".join(f"{v:.3f}" for v in rect)


def lef_text(spec, geometry: MacroGeometry | None = None) -> str:
    g = geometry or macro_geometry(spec)
    name = macro_name(spec)
    out = ["VERSION 5.7 ;", 'BUSBITCHARS "[]" ;', 'DIVIDERCHAR "/" ;', f"MACRO {name}", "  CLASS BLOCK ;",
           f"  FOREIGN {name} ;", "  ORIGIN 0.000 0.000 ;", f"  SIZE {g.width:.3f} BY {g.height:.3f} ;",
           "  SYMMETRY X Y ;"]
    for p in macro_ports(spec):
        for b in p.bits():
            layer, rect = g.pins[b]
            out += [f"  PIN {b}", f"    DIRECTION {p.direction.upper()} ;", "    USE CLOCK ;" if p.name == "clk"
                    else "    USE SIGNAL ;", "    PORT", f"      LAYER {layer} ;", f"        RECT {_r(rect)} ;",
                    "    END", f"  END {b}"]
    for pwr, use in (("VPWR", "POWER"), ("VGND", "GROUND")):
        out += [f"  PIN {pwr}", "    DIRECTION INOUT ;", f"    USE {use} ;", "    PORT"]
        for rect in g.power[pwr]:
            out += ["      LAYER met4 ;", f"        RECT {_r(rect)} ;"]
        out += ["    END", f"  END {pwr}"]
    d = PIN_DEPTH_UM + 0.2
    inner = (d, d, round(g.width - 0.0, 3), round(g.height - d, 3))
    out += ["  OBS"]
    for layer in ("li1", "met1", "met2", "met3"):
        out += [f"    LAYER {layer} ;", f"      RECT {_r(inner)} ;"]
    out += ["  END", f"END {name}", "", "END LIBRARY", ""]
    return "\n".join(out)


# --- Liberty ------------------------------------------------------------------------------------------------

def liberty_text(spec, *, corner: str = "tt", voltage: float = 1.8, temperature: float = 25.0,
                 geometry: MacroGeometry | None = None) -> str:
    g = geometry or macro_geometry(spec)
    period = 1000.0 / spec.design.clock_mhz
    setup = round(MACRO_SETUP_FRACTION * period, 4)
    clk_q = round(MACRO_CLK_TO_Q_FRACTION * period, 4)
    name = macro_name(spec)
    ports = macro_ports(spec)
    out = [f"library ({name}_{corner}) {{", '  delay_model : "table_lookup" ;', '  time_unit : "1ns" ;',
           '  voltage_unit : "1V" ;', '  current_unit : "1mA" ;', '  pulling_resistance_unit : "1kohm" ;',
           '  leakage_power_unit : "1nW" ;', "  capacitive_load_unit (1, pf) ;",
           f"  nom_process : 1.0 ;", f"  nom_voltage : {voltage} ;", f"  nom_temperature : {temperature} ;",
           "  slew_lower_threshold_pct_rise : 20.0 ;", "  slew_lower_threshold_pct_fall : 20.0 ;",
           "  slew_upper_threshold_pct_rise : 80.0 ;", "  slew_upper_threshold_pct_fall : 80.0 ;",
           "  input_threshold_pct_rise : 50.0 ;", "  input_threshold_pct_fall : 50.0 ;",
           "  output_threshold_pct_rise : 50.0 ;", "  output_threshold_pct_fall : 50.0 ;",
           "  default_max_transition : 1.5 ;", "  default_input_pin_cap : 0.005 ;", "  default_output_pin_cap : 0.0 ;",
           "  default_fanout_load : 1.0 ;", "  default_cell_leakage_power : 0.0 ;",
           f"  voltage_map (VPWR, {voltage}) ;", "  voltage_map (VGND, 0.0) ;"]
    for p in ports:
        if p.width > 1:
            out += [f"  type ({p.name}_t) {{", "    base_type : array ;", "    data_type : bit ;",
                    f"    bit_width : {p.width} ;", f"    bit_from : {p.width - 1} ;", "    bit_to : 0 ;",
                    "    downto : true ;", "  }"]
    out += [f"  cell ({name}) {{", f"    area : {g.width * g.height:.3f} ;", "    dont_touch : true ;",
            "    dont_use : true ;", "    is_macro_cell : true ;",
            "    pg_pin (VPWR) {", "      pg_type : primary_power ;", "      voltage_name : VPWR ;", "    }",
            "    pg_pin (VGND) {", "      pg_type : primary_ground ;", "      voltage_name : VGND ;", "    }"]

    def scalar(group: str, value: float) -> list[str]:
        return [f"        {group} (scalar) {{", f'          values ("{value}") ;', "        }"]

    for p in ports:
        head = f"    bus ({p.name}) {{" if p.width > 1 else f"    pin ({p.name}) {{"
        body = [f"      bus_type : {p.name}_t ;"] if p.width > 1 else []
        body += [f"      direction : {p.direction} ;"]
        if p.name == "clk":
            body += ["      clock : true ;", f"      capacitance : {PIN_CAP_PF} ;"]
        elif p.direction == "input":
            body += [f"      capacitance : {PIN_CAP_PF} ;"]
            for ttype, v in (("setup_rising", setup), ("hold_rising", MACRO_HOLD_NS)):
                body += ["      timing () {", '        related_pin : "clk" ;', f"        timing_type : {ttype} ;",
                         *scalar("rise_constraint", v), *scalar("fall_constraint", v), "      }"]
        else:
            body += ["      max_capacitance : 0.2 ;", "      timing () {", '        related_pin : "clk" ;',
                     "        timing_type : rising_edge ;", *scalar("cell_rise", clk_q), *scalar("cell_fall", clk_q),
                     *scalar("rise_transition", 0.1), *scalar("fall_transition", 0.1), "      }"]
        out += [head, *body, "    }"]
    out += ["  }", "}", ""]
    return "\n".join(out)


# --- Verilog black box ----------------------------------------------------------------------------------------

def blackbox_text(spec, *, power_pins: bool = False) -> str:
    """`(* blackbox *)` module with the macro's ports; with power_pins, VPWR/VGND inouts under USE_POWER_PINS."""
    ports = macro_ports(spec)
    out = ["// Black box of the analog tile macro (generated by aimcgen from the analog boundary signature).",
           "(* blackbox *)", f"module {macro_name(spec)} ("]
    decls = []
    if power_pins:
        decls += ["`ifdef USE_POWER_PINS", "  inout VPWR,", "  inout VGND,", "`endif"]
    items = []
    for p in ports:
        rng = f"[{p.width - 1}:0] " if p.width > 1 else ""
        items.append(f"  {p.direction} {rng}{p.name}")
    out += decls + [",\n".join(items), ");", "endmodule", ""]
    return "\n".join(out)


def write_macro_views(spec, folder: Path, corners=("tt",)) -> dict:
    """Write <macro>.lef, <macro>__<corner>.lib, <macro>.v (black box) and <macro>_pp.v (power pins)."""

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    g = macro_geometry(spec)
    name = macro_name(spec)
    files = {"lef": folder / f"{name}.lef", "blackbox": folder / f"{name}.v", "blackbox_pp": folder / f"{name}_pp.v",
             "lib": {}}
    files["lef"].write_text(lef_text(spec, g))
    files["blackbox"].write_text(blackbox_text(spec))
    files["blackbox_pp"].write_text(blackbox_text(spec, power_pins=True))
    for c in corners:
        v, t = corner_conditions(c)
        path = folder / f"{name}__{CORNERS[c]}.lib"
        path.write_text(liberty_text(spec, corner=c, voltage=v, temperature=t, geometry=g))
        files["lib"][c] = path
    files["size_um"] = (g.width, g.height)
    return files
