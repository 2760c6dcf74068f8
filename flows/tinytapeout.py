"""A Tiny Tapeout (TT) project of the emulation core: its project folder around boards.tinytapeout's top.

`write_tiny_tapeout(spec, out_dir)` writes the TT project folder (src/project.v, info.yaml, docs/info.md,
tt_area.json, regmap.json, spec.toml; synth.md when synthesized) staged and moved into place. The tile count
comes from the cell area: synthesized with flows.asic_synth when asked, otherwise estimated
(`estimate_area`). The pins are described in boards.tinytapeout.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from amaranth.back import verilog

from aimcgen.boards.emulation import DEFAULT_BAUD
from aimcgen.boards.tinytapeout import (BUSY_PIN, ERROR_PIN, HEARTBEAT_PIN, RX_PIN, TX_PIN, TinyTapeoutTop,
                                       top_name)
from aimcgen.spec import DesignSpec
from aimcgen.flows.asic_synth import clean_name, module_names, synthesize
from aimcgen import spec_toml
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.staging import staged_directory
from aimcgen.flows.pdk import locate_pdk

# TT block outlines in um (tt-support-tools tile_sizes.yaml, sky130); a 1x1 tile is 161 x 111.52 um.
TILE_SIZES_UM = {"1x1": (161.00, 111.52), "1x2": (161.00, 225.76), "2x2": (334.88, 225.76),
                 "3x2": (508.76, 225.76), "4x2": (682.64, 225.76), "6x2": (1030.40, 225.76),
                 "8x2": (1378.16, 225.76)}
# Assumed share of a block's outline that placed standard cells may fill (an assumption of this estimate,
# not a TT rule: TT's hardening flow sets its own target density and reports the real utilization).
PLACEMENT_DENSITY = 0.60
YAML_VERSION = 6


def wrapper_verilog(spec: DesignSpec, *, baud: float = DEFAULT_BAUD, name: str | None = None) -> str:
    """The wrapper and everything below it as one Verilog text; submodule names made plain identifiers.

    Amaranth names submodules `<top>.core.bridge` (escaped identifiers); they become `<top>__core__bridge`
    (as flows.asic_synth does), which every tool of TT's flow reads, and stay unique on the shuttle because
    they start with the top's name."""

    text = verilog.convert(TinyTapeoutTop(spec, baud=baud), name=name or top_name(spec), emit_src=False)
    for old in sorted(module_names(text), key=len, reverse=True):
        if clean_name(old) != old:
            text = re.sub(re.escape("\\" + old) + r"(?=\s)", clean_name(old), text)
    return text


# --- area and tiles -------------------------------------------------------------------------------------

def tiles_for_area(area_um2: float, density: float = PLACEMENT_DENSITY) -> dict:
    """The smallest TT block whose outline at `density` holds `area_um2` of cells (fits False: none does)."""
    for size, (w, h) in TILE_SIZES_UM.items():
        if area_um2 <= w * h * density:
            return {"tiles": size, "fits": True, "utilization": round(area_um2 / (w * h), 3)}
    w, h = TILE_SIZES_UM["8x2"]
    return {"tiles": "8x2", "fits": False, "utilization": round(area_um2 / (w * h), 3)}


# Estimate without synthesis, fitted (least squares, within 0.1 %) to five sky130_fd_sc_hd syntheses of the
# wrapper (1-2 tiles of 6x4 to 32x16, 4-bit weights, the default ADC and post-processing widths, RTL of
# 2026-11-29): the UART bridge with its 64-word burst buffer (about 84k um^2) and the register bank are the
# fixed part; each weight bit its storage and read logic; each column an accumulator lane, coefficient and
# output words; each further tile its controller, ADC logic and noise generators. Other widths are not in the
# fit; the slow test compares the estimate with a synthesis, so RTL changes that move the area show there.
# UM2_FIXED was moved by +37,600 um^2 on 2026-12-05 to one synthesis (the slow test's 1-tile spec) after the
# activity counters, digital-twin registers, accumulator operand stage and post-processor pipeline entered
# the RTL; the other constants are still the 2026-11-29 fit.
UM2_FIXED = 163_200.0
UM2_PER_WEIGHT_BIT = 131.0
UM2_PER_COLUMN = 4_000.0
UM2_PER_EXTRA_TILE = 22_900.0


def estimate_area(spec: DesignSpec) -> float:
    """Cell area estimate in um^2 from the weight bits, the columns and the tiles (constants above)."""
    weight_bits = spec.tiles * spec.tile.rows * spec.tile.cols * spec.tile.weight_bits
    return (UM2_FIXED + UM2_PER_WEIGHT_BIT * weight_bits + UM2_PER_COLUMN * spec.tiles * spec.tile.cols
            + UM2_PER_EXTRA_TILE * (spec.tiles - 1))


def synthesize_wrapper(spec: DesignSpec, work_dir: Path, pdk, *, baud: float = DEFAULT_BAUD,
                       progress=print) -> dict:
    """Synthesize the wrapper to sky130_fd_sc_hd with flows.asic_synth; returns its synthesis report.

    asic_synth names the top after the spec, so the same wrapper is written under that name for it."""

    work_dir = Path(work_dir)
    src = work_dir / "rtl" / f"{spec.name}.v"
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_text(wrapper_verilog(spec, baud=baud, name=spec.name))
    return synthesize(spec, work_dir, pdk, verilog=src, progress=progress).report


def area_and_tiles(spec: DesignSpec, synth_report: dict | None = None) -> dict:
    """Cell area (synthesized when a report is given, else `estimate_area`) and the TT block it needs."""
    if synth_report is not None:
        area = synth_report["total"]["area_um2"]
        source = f"synthesis: sky130_fd_sc_hd {synth_report['corner']} (flows.asic_synth, hierarchy kept)"
    else:
        area = estimate_area(spec)
        source = (f"estimate (no synthesis run): {UM2_FIXED:.0f} um^2 + {UM2_PER_WEIGHT_BIT:.0f} per weight bit + "
                  f"{UM2_PER_COLUMN:.0f} per column + {UM2_PER_EXTRA_TILE:.0f} per tile after the first")
    fit = tiles_for_area(area)
    cells = {} if synth_report is None else {"synthesis": synth_report["total"]}
    return {"area_um2": round(area, 1), "source": source, **cells, "placement_density": PLACEMENT_DENSITY,
            "rule": f"smallest TT block whose outline x {PLACEMENT_DENSITY:.0%} placement density holds the cell area",
            **fit, "block_um": list(TILE_SIZES_UM[fit["tiles"]])}


# --- the project folder ---------------------------------------------------------------------------------

def _yaml_scalar(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"info.yaml holds strings and integers, not {type(value).__name__}")
    if isinstance(value, int):
        return str(value)
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaml_text(data: dict, indent: int = 0) -> str:
    """YAML of nested dicts of strings, integers and lists of strings (all info.yaml needs; no dependency)."""
    pad, out = "  " * indent, []
    for key, value in data.items():
        if isinstance(value, dict):
            out.append(f"{pad}{key}:\n{yaml_text(value, indent + 1)}")
        elif isinstance(value, list):
            out.append(f"{pad}{key}:\n" + "".join(f"{pad}  - {_yaml_scalar(v)}\n" for v in value))
        else:
            out.append(f"{pad}{key}: {_yaml_scalar(value)}\n")
    return "".join(out)


def pinout(spec: DesignSpec) -> dict[str, str]:
    pins = {f"ui[{i}]": "" for i in range(8)}
    pins[f"ui[{RX_PIN}]"] = "UART RX (host to accelerator)"
    pins |= {f"uo[{i}]": "" for i in range(8)}
    pins[f"uo[{BUSY_PIN}]"] = "busy (MVM, program-and-verify or host frame running)"
    pins[f"uo[{ERROR_PIN}]"] = "error (last frame failed or sticky ERRORS bit set)"
    pins[f"uo[{HEARTBEAT_PIN}]"] = "heartbeat (about 1 s period)"
    pins[f"uo[{TX_PIN}]"] = "UART TX (accelerator to host)"
    pins |= {f"uio[{i}]": "" for i in range(8)}
    return pins


def info_yaml(spec: DesignSpec, area: dict, *, author: str = "aimcgen", discord: str = "") -> dict:
    return {
        "project": {
            "title": f"aimcgen AIMC accelerator {spec.name} (emulated tiles)",
            "author": author,
            "discord": discord,
            "description": (f"{spec.tiles} emulated {spec.tile.rows}x{spec.tile.cols} in-memory-compute tile(s) "
                            f"with their digital periphery, driven over UART"),
            "language": "Verilog",
            "clock_hz": round(spec.design.clock_mhz * 1e6),
            "tiles": area["tiles"],
            "top_module": top_name(spec),
            "source_files": ["project.v"],
        },
        "pinout": pinout(spec),
        "yaml_version": YAML_VERSION,
    }


def info_markdown(spec: DesignSpec, area: dict, baud: float, synth_report: dict | None) -> str:
    fit = ("" if area["fits"] else
           f"\n**Does not fit**: {area['area_um2']:.0f} um^2 of cells exceed the largest block (8x2) at "
           f"{PLACEMENT_DENSITY:.0%} density ({area['utilization']:.0%} of its outline); shrink the spec "
           f"(fewer or smaller tiles, fewer weight bits) before submitting.\n")
    # Memory words (yosys names them word[i]) have no reset: their RTL initial values are lost on silicon.
    lost = [] if synth_report is None else sorted({x["wire"].split("[")[0] for x in synth_report["init_values_lost"]
                                                   if "[" in x["wire"]})
    init = ("" if not lost else
            f"\nOn silicon the memories {', '.join(lost)} power up undefined (their FPGA/simulation initial "
            f"values are lost): load the coefficients (`host.load_coefficients`) after every reset.\n")
    return f"""<!-- Generated by aimcgen (flows/tinytapeout.py) from the spec '{spec.name}'. -->

## How it works

An analog in-memory-compute accelerator generated by aimcgen: {spec.tiles} crossbar tile(s) of
{spec.tile.rows} x {spec.tile.cols} weights ({spec.tile.weight_bits}-bit codes), {spec.input.bits}-bit inputs
({spec.input.encoding}), {spec.adc.count} {spec.adc.bits}-bit {spec.adc.kind} ADC(s) per tile, per-column affine
post-processing. The tiles are *emulated* digitally (weights in flip-flops, a noise generator per ADC), so the
chip computes exactly what aimcgen's golden model computes. A host reaches the register map through a
UART-to-Wishbone bridge at {baud:g} baud (8N1) from the {spec.design.clock_mhz:g} MHz clock.

Area: {area['area_um2']:.0f} um^2 of sky130_fd_sc_hd cells ({area['source']}); {area['tiles']} tiles
({area['utilization']:.0%} of the block outline; rule: {area['rule']}).
{fit}{init}
## How to test

On the TT demo board the RP2040 is the host's serial port: ui_in[3] is UART RX, uo_out[4] is UART TX. Hold
rst_n low, release it, then use the aimcgen host driver (`pip install pyserial`) with the register map of
this folder (`regmap.json`; `spec.toml` is the spec it was built from):

```python
from aimcgen.sim.host.driver import AimcHost
host = AimcHost("/dev/ttyACM0", regmap_json="regmap.json", baud={round(baud)})
host.check_identity()                      # ID and SPEC_HASH match this build
host.program_weights(w)                    # {spec.logical_rows} x {spec.logical_cols} signed codes
host.load_coefficients(scale, offset)
y = host.run(xs)                           # one MVM per row of xs
```

The link protocol, version 2 (frames with a sync byte, a tag the bridge echoes, a read/write burst command, a
byte address, data and a CRC-8, one status response per request), is documented in aimcgen's
`aimcgen/contract/uart_protocol.py`.

Status pins: uo_out[0] busy, uo_out[1] error, uo_out[2] heartbeat. uio is unused (inputs).

## External hardware

None: the demo board's RP2040 (or any 3.3 V USB-UART on ui_in[3]/uo_out[4]) is the host link.
"""


def write_tiny_tapeout(spec: DesignSpec, out_dir, *, baud: float = DEFAULT_BAUD, synthesize: bool = False,
                       pdk_dir=None, author: str = "aimcgen", progress=print) -> dict:
    """Write the TT project folder `out_dir` (see the module doc); with `synthesize` the tile count comes from
    a sky130 synthesis of the wrapper (its area per submodule kept as synth.md), else from `estimate_area`.
    Returns the area summary (tt_area.json)."""

    project_v = wrapper_verilog(spec, baud=baud)
    synth_report = None
    if synthesize:

        pdk = locate_pdk(pdk_dir, ("tt",))
        with tempfile.TemporaryDirectory(prefix="aimcgen-tt-") as work:
            synth_report = synthesize_wrapper(spec, Path(work), pdk, baud=baud,
                                              progress=lambda m: progress(f"tinytapeout: {m}"))
            synth_md = (Path(work) / "synth.md").read_text()       # area per submodule, kept with the project
    area = area_and_tiles(spec, synth_report)
    with staged_directory(Path(out_dir)) as tmp:
        (tmp / "src").mkdir()
        (tmp / "docs").mkdir()
        (tmp / "src" / "project.v").write_text(project_v)
        (tmp / "info.yaml").write_text("# Tiny Tapeout project information (generated by aimcgen)\n"
                                       + yaml_text(info_yaml(spec, area, author=author)))
        (tmp / "docs" / "info.md").write_text(info_markdown(spec, area, baud, synth_report))
        (tmp / "tt_area.json").write_text(json.dumps(area, indent=2) + "\n")
        (tmp / "spec.toml").write_text(spec_toml.dumps(spec))
        (tmp / "regmap.json").write_text(aimc_register_map(spec).to_json())
        if synth_report is not None:
            (tmp / "synth.md").write_text(synth_md)
    progress(f"tinytapeout: {top_name(spec)}: {area['area_um2']:.0f} um^2 -> {area['tiles']} tiles "
             f"({area['utilization']:.0%} of the outline, {'fits' if area['fits'] else 'DOES NOT FIT'} at "
             f"{PLACEMENT_DENSITY:.0%} density); wrote {out_dir}")
    return area
