"""Functional coverage of the accelerator bench: the bins (ADC code ranges per tile and ADC, saturation,
stalls, operation sequences, layer chains, bus errors), what the datapath widths make reachable (the rest is
excluded with the reason), and the coverage collected over every test of one simulator run.

Module state lives as long as the simulator's Python: one run of the bench, every test.
"""

from __future__ import annotations

import math

import numpy as np

from aimcgen.contract.adc import adc_code
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.encoding import step_weights
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.postproc import postprocess
from aimcgen.rtl.tile_controller import drive_cycles
from aimcgen.sim.verify.coverage import Coverage
from aimcgen.spec import DesignSpec

ADC_BINS = ("clip_low", "neg_far", "neg_near", "pos_near", "pos_far", "clip_high")
SEQUENCE_BINS = ("IDLE->MVM", "MVM->MVM", "MVM->PROG->MVM", "MVM->COEF->MVM", "STREAM->REGISTER",
                 "REGISTER->STREAM", "REGISTER->REGISTER", "BUS_ERROR->MVM")

_COVERAGE: dict = {}        # "coverage": the Coverage collected over every test of this run
ADC_CODES: dict = {}        # (tile, adc) -> set of the ADC codes the golden model saw it produce


def adc_bin_of(codes: np.ndarray, adc) -> np.ndarray:
    """Index into ADC_BINS for every code."""
    codes = np.asarray(codes)
    lo, hi = adc.code_min, adc.code_max
    return np.select([codes <= lo, codes < lo / 2, codes < 0, codes <= hi / 2, codes < hi],
                     [0, 1, 2, 3, 4], 5)


def reachable(spec: DesignSpec) -> dict:
    """What the datapath widths allow, noise left aside: the ADC codes a tile can produce, whether the
    accumulator (or a partial-sum addition) can saturate, and whether outputs can clamp high or low."""
    fmt = datapath_formats(spec)
    levels = spec.tile.conductance_levels
    max_charge = spec.tile.rows * levels * drive_cycles(spec)
    code_hi = int(adc_code(np.array([max_charge]), spec.adc)[0])
    code_lo = int(adc_code(np.array([-max_charge]), spec.adc)[0])
    weight_sum = int(np.sum(2 ** step_weights(spec.input).astype(np.int64)))     # step k weighs 2^shift
    acc_hi = code_hi * weight_sum * spec.array.row_tiles
    acc_lo = code_lo * weight_sum * spec.array.row_tiles
    acc_range = (max(fmt.accumulator.min, acc_lo), min(fmt.accumulator.max, acc_hi))
    corners = np.array([[a, s, o] for a in (*acc_range, 0) for s in (fmt.scale.min, fmt.scale.max, 0)
                        for o in (fmt.offset.min, fmt.offset.max, 0)], dtype=object)
    outs, sat = postprocess(np.array([int(c[0]) for c in corners], dtype=np.int64),
                            np.array([int(c[1]) for c in corners], dtype=np.int64),
                            np.array([int(c[2]) for c in corners], dtype=np.int64), spec)
    return {
        "max_charge": max_charge, "codes": (code_lo, code_hi),
        "acc_saturation": acc_hi > fmt.accumulator.max or acc_lo < fmt.accumulator.min,
        "out_high": bool(np.any(sat & (outs == fmt.output.max))),
        "out_low": bool(np.any(sat & (outs == fmt.output.min))),
    }


def declare_coverage(cov: Coverage, spec: DesignSpec) -> Coverage:
    """Declare the bench's coverpoints on `cov`, excluding (with the reason) the bins `spec` cannot reach."""
    reach = reachable(spec)
    adc = spec.adc
    lo, hi = reach["codes"]
    codes_possible = np.arange(lo, hi + 1)
    possible = set(adc_bin_of(codes_possible, adc).tolist())
    for t in range(spec.tiles):
        for a in range(adc.count):
            name = f"adc.t{t}.a{a}"
            cov.coverpoint(name, ADC_BINS, f"tile {t} ADC {a}: code ranges ({adc.code_min}..{adc.code_max})")
            for i, b in enumerate(ADC_BINS):
                if i not in possible:
                    cov.exclude(name, b, f"no code of this range is reachable: at most {reach['max_charge']} "
                                         f"charge units per step give codes {lo}..{hi}")
    cov.coverpoint("accumulator_saturation", ["hit", "clear"], "per MVM: some accumulator (or partial sum) "
                                                                 "saturated / none did")
    if not reach["acc_saturation"]:
        cov.exclude("accumulator_saturation", "hit",
                    f"codes {lo}..{hi} x step weights x {spec.array.row_tiles} row tile(s) fit "
                    f"{spec.accumulator.bits} bits")
    cov.coverpoint("output_saturation", ["high", "low", "clear"], "per MVM: an output clamped to the "
                                                                   "top / bottom code, or none")
    for key, b in (("out_high", "high"), ("out_low", "low")):
        if not reach[key]:
            cov.exclude("output_saturation", b, f"no accumulator/scale/offset corner clamps {b} "
                                                f"(activation {spec.postproc.activation})")
    cov.coverpoint("stall.input", ["source_stall", "backpressure", "back_to_back", "vector_waited"],
                   "input stream: source withheld valid, design held ready low, consecutive transfers, a "
                   "vector's first beat waited for the input buffer (both buffers full)")
    cov.coverpoint("stall.output", ["sink_stall", "back_to_back", "stall_then_resume"],
                   "output stream: sink held ready low, consecutive transfers, a stalled vector completed")
    cov.coverpoint("sequence", SEQUENCE_BINS, "operation sequences seen by the bench (MVM->MVM: the next "
                                              "vector was loaded before the previous one's outputs)")
    chain_bins = sorted({2, min(3, spec.array.max_layers), spec.array.max_layers} - {1})
    if chain_bins:
        cov.coverpoint("layer_chain", [f"layers_{n}" for n in chain_bins] + ["to_last_column", "via_stream",
                                                                             "via_registers"],
                       "layer sequencer chains by length, descriptor kind and how they were started")
    cov.coverpoint("bus_error", ["unmapped", "const_write", "ro_register_write", "wo_window_read",
                                 "ro_window_write", "beyond_depth", "value_too_wide", "partial_window_write"],
                   "Wishbone err cases")
    tail = any(w.depth < (w.span // 4) for w in aimc_register_map(spec).windows)
    if not tail:
        cov.exclude("bus_error", "beyond_depth", "every window's depth is a power of two")
    return cov


def saturation_rows(spec: DesignSpec) -> int:
    """Rows of full-scale weights that, driven at full scale, clip every ADC (capped at the tile's rows)."""
    fmt = datapath_formats(spec)
    lsb = 1 << spec.adc.lsb_shift
    need = (spec.adc.code_max + 1) * lsb + fmt.noise.max
    return int(min(spec.tile.rows, math.ceil(need / (spec.tile.conductance_levels * drive_cycles(spec)))))


def global_coverage(spec: DesignSpec) -> Coverage:
    """The run's Coverage, declared on first use."""
    if "coverage" not in _COVERAGE:
        _COVERAGE["coverage"] = declare_coverage(Coverage(spec.name), spec)
    return _COVERAGE["coverage"]


def coverage_report(spec: DesignSpec, cov: Coverage, threshold: float) -> dict:
    """cov.report() with the threshold and a per-ADC summary, the distinct codes each ADC produced included
    (also noted on `cov`, for its printout)."""
    report = cov.report()
    report["threshold"] = threshold
    report["adc_summary"] = cov.group_summary("adc.")
    for (t, a), codes in sorted(ADC_CODES.items()):
        cov.note(f"adc.t{t}.a{a}", "distinct_codes", len(codes))
        report["points"][f"adc.t{t}.a{a}"]["notes"]["distinct_codes"] = len(codes)
    if ADC_CODES:
        counts = [len(c) for c in ADC_CODES.values()]
        report["adc_summary"]["distinct_codes"] = {"min": min(counts), "mean": sum(counts) / len(counts),
                                                   "max": max(counts),
                                                   "possible": spec.adc.code_max - spec.adc.code_min + 1}
    return report
