"""Latency, area and energy of a mapped network: first-order models with every constant cited.

Latency: each layer is one MVM on its tile grid per output position (1 for dense layers, the im2col
positions of a convolution); the grid's tiles run in parallel, so an MVM takes `serial_schedule_commands(spec)`
cycles (rtl.tile_controller: drive + conversions per step, the controller's cycle count at the analog
bound), a layer its MVMs back to back plus POSTPROC_LATENCY_CYCLES, the post-processor's pipeline latency as
the RTL states it (rtl.postproc.LATENCY = AffinePostProcessor.latency, one cycle per pipeline stage; measured
in Amaranth's simulator by tests/test_rtl_postproc.py); layers run one after the other. Not counted: the
accumulator's register stages before the result bank, the core's register in front of the post-processor,
and the cycles the other columns of a layer take to stream out one per cycle.
With a [sparsity] option on and the layers' inputs given, an MVM takes the cycles its conversion plans
take instead (sim.models.mvm_cycles: the busiest tile's analog commands plus its zero-pass cycles, counted
from the same plans as the activity counters), mean over the inputs, times the positions, rounded up.
Energies and operations below are per MVM, times the positions.

Area: analog array (2 devices per weight, DEVICE_CELL_UM2 each) plus ADCs (ADC_AREA_UM2 per ADC, by kind)
per tile. The digital periphery comes from the ASIC flow's synthesis when its report is given
(`asic_report`: asic_report.json of `aimcgen asic`, synthesis.total.area_um2, SKY130 cells), scaled by the
tiles the network uses over the tiles of the synthesized design; or from `digital_area_mm2`; it is reported
as missing otherwise. `area_mm2.digital_periphery_source` says which.

Energy per MVM, per tile:
    array  = V_READ^2 * sum over devices of G * t_on       (t_on = drive cycles / clock, from the inputs)
    DAC    = E_DRIVER_PER_ROW_STEP per active row and step (row driver / wordline switching)
    ADC    = conversions * FOM_WALDEN[kind] * 2^ENOB,  ENOB = adc.bits - ENOB_LOSS
    digital= shift-add: E_ADD per ADC code; post-processing: E_MULT + E_ADD per column
TOPS/W counts 2 operations (multiply and add) per weight of the mapped layer (not the padding).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.contract.encoding import drive_steps
from aimcgen.rtl.postproc import LATENCY as POSTPROC_PIPELINE_LATENCY
from aimcgen.sim.models.activity import accelerator_activity
from aimcgen.sim.models.mvm_cycles import grid_mvm_cycles

# --- constants ---------------------------------------------------------------------------------------
# Read voltage across a device during integration. HERMES applies read pulses of ~0.2-0.3 V to its PCM
# unit cells (Khaddam-Aljameh et al., "HERMES-Core - a 1.59-TOPS/mm2 PCM on 14-nm CMOS in-memory compute
# core using 300-ps/LSB linearized CCO-based ADCs", IEEE JSSC 57(4), 1027 (2022)); we take 0.2 V.
V_READ = 0.2
# Area of one PCM/RRAM 1T1R device cell. Assumption of the order of a 14-28 nm 1T1R cell with an access
# transistor sized for ~25 uS (~0.1 um^2 ... 0.5 um^2); 0.25 um^2 is used. Override per technology.
DEVICE_CELL_UM2 = 0.25
# Per-ADC area by kind. ramp: HERMES-Core places 256 CCO ADCs at a 4 um pitch (JSSC 2022); with an assumed
# ~60 um length per CCO ADC and its counter that is 240 um^2. sar/flash: assumed 8-bit figures of the order
# of published compact SAR (~1000 um^2) and flash (~3000 um^2) ADCs in the 28-65 nm range of B. Murmann,
# "ADC Performance Survey 1997-2024", https://github.com/bmurmann/ADC-survey. Scaled by 2^(bits-8).
ADC_AREA_UM2 = {"ramp": 240.0, "sar": 1000.0, "flash": 3000.0}
# Walden figure of merit (J per conversion step) by kind: mid-range values of the Murmann survey above
# (the best designs reach ~1 fJ/step; typical published SAR ~5-50, flash higher). Assumptions, not
# measurements: sar 10 fJ, ramp/CCO 20 fJ, flash 100 fJ.
FOM_WALDEN_J = {"sar": 10e-15, "ramp": 20e-15, "flash": 100e-15}
ENOB_LOSS = 1.0                         # ENOB = bits - 1 (assumption)
# Row driver energy per active row and drive step (wordline/bitline-select switching, ~C V^2 with a few
# 10 fF at 0.8 V): assumption, 50 fJ.
E_DRIVER_PER_ROW_STEP_J = 50e-15
# Digital energy per operation: M. Horowitz, "Computing's energy problem (and what we can do about it)",
# ISSCC 2014, 45 nm: 8-bit add 0.03 pJ, 32-bit add 0.1 pJ, 8-bit multiply 0.2 pJ, 32-bit multiply 3.1 pJ.
# We take a 16-24-bit add at 0.05 pJ and a 16x16 multiply at 1.0 pJ (45 nm; smaller nodes are lower).
E_ADD_J = 0.05e-12
E_MULT_J = 1.0e-12
POSTPROC_LATENCY_CYCLES = POSTPROC_PIPELINE_LATENCY     # rtl/postproc.py's stages, exact

CITATIONS = {
    "V_READ": "Khaddam-Aljameh et al., IEEE JSSC 57(4) 2022 (HERMES-Core); 0.2 V taken",
    "DEVICE_CELL_UM2": "assumption (14-28 nm 1T1R cell order of magnitude)",
    "ADC_AREA_UM2": "ramp: HERMES-Core 4 um CCO ADC pitch (JSSC 2022) x assumed 60 um; sar/flash: "
                    "assumed, order of Murmann ADC survey designs",
    "FOM_WALDEN_J": "B. Murmann, ADC Performance Survey 1997-2024 (mid-range Walden FOM; assumption)",
    "E_DRIVER_PER_ROW_STEP_J": "assumption (~C V^2, a few 10 fF at 0.8 V)",
    "E_ADD_J / E_MULT_J": "M. Horowitz, ISSCC 2014, 45 nm figures",
    "reference": "IBM HERMES chip (Le Gallo et al., Nature Electronics 6, 680 (2023)): 63.1 TOPS at "
                 "9.76 TOPS/W (one-phase read) and 16.1 TOPS at 2.48 TOPS/W (four-phase), 8-bit MVMs; "
                 "HERMES-Core (JSSC 2022): 1.59 TOPS/mm2, 10.5 TOPS/W at 1 GHz",
}


@dataclass(frozen=True)
class EnergyModel:
    v_read: float = V_READ
    device_cell_um2: float = DEVICE_CELL_UM2
    adc_area_um2: dict = None
    fom_walden_j: dict = None
    enob_loss: float = ENOB_LOSS
    e_driver_j: float = E_DRIVER_PER_ROW_STEP_J
    e_add_j: float = E_ADD_J
    e_mult_j: float = E_MULT_J

    def adc_area(self, kind: str, bits: int) -> float:
        return (self.adc_area_um2 or ADC_AREA_UM2)[kind] * 2.0 ** (bits - 8)

    def adc_energy(self, kind: str, bits: int) -> float:
        return (self.fom_walden_j or FOM_WALDEN_J)[kind] * 2.0 ** max(bits - self.enob_loss, 0)


def layer_latency_cycles(layer_spec, positions: int = 1) -> int:
    """A layer's MVMs (one per output position) back to back at the serial command bound, then the pipeline."""
    return serial_schedule_commands(layer_spec) * positions + POSTPROC_LATENCY_CYCLES


def counted_latency_cycles(layer_spec, x: np.ndarray, positions: int = 1) -> int:
    """A layer's MVMs at the cycles the plans for its MVM inputs x (n, logical_rows) take (mean over x),
    rounded up, then the pipeline."""
    per_mvm = float(grid_mvm_cycles(x, layer_spec).mean())
    return math.ceil(per_mvm * positions) + POSTPROC_LATENCY_CYCLES


def load_asic_report(path, design: str | None = None) -> dict:
    """The parts of an asic_report.json the estimates use; ValueError naming the file if it has no
    synthesis.total.area_um2 or is of another design than `design` (the synthesis is of the design spec
    itself, so another design's area says nothing)."""
    path = Path(path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the ASIC report: {exc.strerror or exc}") from None
    except ValueError as exc:           # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"{path}: not a JSON ASIC report (asic_report.json of `aimcgen asic`): {exc}") from None
    try:
        area = float(report["synthesis"]["total"]["area_um2"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: no synthesis.total.area_um2 (is it the asic_report.json of "
                         f"`aimcgen asic`?)") from exc
    if design is not None and report.get("design") not in (None, design):
        raise ValueError(f"{path}: ASIC report of design {report['design']!r}, evaluating {design!r}")
    return {"path": str(path), "design": report.get("design"), "area_um2": area, "pdk": report.get("pdk")}


def periphery_from_asic(asic: dict, mapping) -> tuple[float, str]:
    """(mm2, source text): the synthesized periphery scaled from the design's tiles to the tiles used."""
    spec = mapping.spec
    mm2 = asic["area_um2"] * 1e-6 * mapping.tiles / spec.tiles
    return mm2, (f"ASIC synthesis ({asic['path']}: {asic['area_um2']:.0f} um2 for the design's {spec.tiles} "
                 f"tile(s), scaled to {mapping.tiles}; SKY130 standard cells)")


def estimate(mapping, x_codes_per_layer: list[np.ndarray] | None = None, *, model: EnergyModel = EnergyModel(),
             digital_area_mm2: float | None = None, asic_report: dict | None = None) -> dict:
    """Latency, area, energy of one inference (per input vector) of `mapping` (sim.eval.mapping).

    x_codes_per_layer: each layer's integer input codes (batch, in) for the array energy (input-dependent
    drive); without them every row is taken as driven at half the input range. asic_report: from
    load_asic_report, for the digital periphery area (wins over digital_area_mm2)."""
    spec = mapping.spec
    clock_hz = spec.design.clock_mhz * 1e6
    g_unit_s = spec.device.g_max_us * 1e-6 / spec.tile.conductance_levels
    layers, tot = [], {"cycles": 0, "array_j": 0.0, "dac_j": 0.0, "adc_j": 0.0, "digital_j": 0.0, "ops": 0}
    for layer in mapping.layers:
        ls = layer.spec
        cycles = layer_latency_cycles(ls, layer.positions)
        ops = 2 * layer.in_features * layer.out_features * layer.positions
        g_abs = np.abs(layer.weight_codes).astype(np.float64) * g_unit_s     # |G+ - G-|: one device on
        if x_codes_per_layer is not None:
            x = x_codes_per_layer[layer.index]
            xp = np.zeros((len(x), ls.logical_rows), dtype=np.int64)
            xp[:, :x.shape[1]] = x
        else:
            xp = np.full((1, ls.logical_rows), ls.input.max_magnitude // 2, dtype=np.int64)
            xp[:, layer.in_features:] = 0
        drive = np.abs(drive_steps(xp, ls.input)).astype(np.float64)         # (steps, batch, rows) cycles
        on_time_s = drive.sum(axis=0).mean(axis=0) / clock_hz                 # per row, mean over batch
        array_j = model.v_read ** 2 * float(on_time_s @ g_abs.sum(axis=1))
        active_row_steps = float((drive > 0).sum(axis=(0, 2)).mean())
        dac_j = model.e_driver_j * active_row_steps
        conversions = ls.tiles * ls.tile.cols * ls.input.steps
        if x_codes_per_layer is not None and ls.sparsity.any:   # the ADC samples the activity counters count
            conversions = accelerator_activity(xp, ls).conversions / len(xp)
            cycles = counted_latency_cycles(ls, xp, layer.positions)    # and the cycles of the same plans
        adc_j = conversions * model.adc_energy(ls.adc.kind, ls.adc.bits)
        digital_j = conversions * model.e_add_j + ls.logical_cols * (model.e_mult_j + 2 * model.e_add_j) \
            + (ls.array.row_tiles - 1) * ls.logical_cols * model.e_add_j
        array_j, dac_j, adc_j, digital_j = (e * layer.positions for e in (array_j, dac_j, adc_j, digital_j))
        energy = array_j + dac_j + adc_j + digital_j
        layers.append({"layer": layer.index, "tiles": ls.tiles, "cycles": cycles,
                       "latency_s": cycles / clock_hz, "ops": ops,
                       "energy_j": {"array": array_j, "dac": dac_j, "adc": adc_j, "digital": digital_j,
                                    "total": energy},
                       "tops_per_w": ops / energy / 1e12})
        for k, v in (("cycles", cycles), ("array_j", array_j), ("dac_j", dac_j), ("adc_j", adc_j),
                     ("digital_j", digital_j), ("ops", ops)):
            tot[k] += v
    tiles = mapping.tiles
    source = "given (digital_area_mm2)" if digital_area_mm2 is not None else None
    if asic_report is not None:
        digital_area_mm2, source = periphery_from_asic(asic_report, mapping)
    array_mm2 = tiles * spec.tile.rows * spec.tile.cols * 2 * model.device_cell_um2 * 1e-6
    adc_mm2 = tiles * spec.adc.count * model.adc_area(spec.adc.kind, spec.adc.bits) * 1e-6
    energy = tot["array_j"] + tot["dac_j"] + tot["adc_j"] + tot["digital_j"]
    latency_s = tot["cycles"] / clock_hz
    return {
        "clock_mhz": spec.design.clock_mhz,
        "latency": {"cycles": tot["cycles"], "seconds": latency_s,
                    "inferences_per_s_pipelined": 1.0 / max(l["latency_s"] for l in layers)},
        "area_mm2": {"tiles": tiles, "analog_array": array_mm2, "adcs": adc_mm2,
                     "digital_periphery": digital_area_mm2, "digital_periphery_source": source,
                     "total_known": array_mm2 + adc_mm2 + (digital_area_mm2 or 0.0),
                     "note": None if digital_area_mm2 is not None else
                     "digital periphery not included: give the ASIC flow's report (aimcgen asic; "
                     "aimcgen evaluate --asic-report build/<design>/asic/asic_report.json)"},
        "energy_per_inference_j": {"array": tot["array_j"], "dac": tot["dac_j"], "adc": tot["adc_j"],
                                   "digital": tot["digital_j"], "total": energy},
        "ops_per_inference": tot["ops"],
        "tops_per_w": tot["ops"] / energy / 1e12,
        "tops": tot["ops"] / latency_s / 1e12,
        "layers": layers,
        "constants": {"v_read": model.v_read, "device_cell_um2": model.device_cell_um2,
                      "adc_area_um2": model.adc_area_um2 or ADC_AREA_UM2,
                      "fom_walden_j": model.fom_walden_j or FOM_WALDEN_J, "enob_loss": model.enob_loss,
                      "e_driver_j": model.e_driver_j, "e_add_j": model.e_add_j, "e_mult_j": model.e_mult_j},
        "citations": CITATIONS,
    }
