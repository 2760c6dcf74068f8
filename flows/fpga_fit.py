"""Spec changes that would make a design fit its FPGA, computed, not canned: a resource model of the
accelerator (`estimate_resources`: logic and block-RAM bits as functions of the spec) is scaled to the
measured use, every candidate change (smaller tile, fewer ADCs, fewer tiles, narrower accumulators, fewer
input bits, and pairs of them) is re-estimated, and the candidates that bring every over-used resource
below FIT_MARGIN of the device are offered, least reduction first. When timing fails, `suggest_clock`
proposes the clock the achieved Fmax supports. The report (flows/fpga_report.py) carries both.
"""

from __future__ import annotations

import math
from itertools import combinations

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError

FIT_MARGIN = 0.90            # a suggested spec should use at most this fraction of any resource


def estimate_resources(spec: DesignSpec) -> dict[str, float]:
    """Relative cost of the emulation top: 'logic' (LUTs and flip-flops) and 'bram_bits'.

    Not a synthesis result: weights per part of the datapath, each proportional to the bits it holds or
    adds, which the report scales to the measured use of the same spec.
    """
    fmt = datapath_formats(spec)
    t, adc, inp, post = spec.tile, spec.adc, spec.input, spec.postproc
    charge, acc = fmt.charge.bits, fmt.accumulator.bits
    per_tile = (t.cols * charge * 2                       # column integrators: adder + register
                + t.cols * charge                         # column mux into the ADCs
                + adc.count * (adc.bits * 4 + 40)         # ADC controllers and their noise generators
                + t.cols * acc * 3                        # shift-add accumulators and the result bank
                + t.rows * inp.bits * 3                   # input double buffer and row drivers
                + 120)                                    # tile controller
    shared = (spec.logical_cols * (fmt.scale.bits + fmt.offset.bits + post.output_bits)   # coefficients, outputs
              + acc * fmt.scale.bits // 2 + fmt.offset.bits * 3                           # affine post-processor
              + spec.array.row_tiles * spec.array.col_tiles * acc * 2                     # partial sums
              + 900)                                                                       # registers, bridge, UART
    bram_bits = spec.tiles * t.rows * t.cols * fmt.weight.bits + 32 * 64
    return {"logic": per_tile * spec.tiles + shared, "bram_bits": float(bram_bits)}


def _candidates(spec: DesignSpec) -> list[tuple[str, dict]]:
    """(description, spec.replace changes) for single changes that shrink the design."""
    out = []
    t, adc, a = spec.tile, spec.adc, spec.array
    for k in (1, 2, 3):
        rows, cols = max(2, t.rows >> k), max(1, t.cols >> k)
        if (rows, cols) != (t.rows, t.cols):
            out.append((f"tile {t.rows}x{t.cols} -> {rows}x{cols}",
                        {"tile": {"rows": rows, "cols": cols}, "adc": {"count": math.gcd(adc.count, cols)}}))
        if cols != t.cols:
            out.append((f"tile.cols {t.cols} -> {cols}",
                        {"tile": {"cols": cols}, "adc": {"count": math.gcd(adc.count, cols)}}))
        if rows != t.rows:
            out.append((f"tile.rows {t.rows} -> {rows}", {"tile": {"rows": rows}}))
    count = adc.count
    while count > 1:
        count //= 2
        out.append((f"adc.count {adc.count} -> {count}", {"adc": {"count": count}}))
    for name in ("row_tiles", "col_tiles"):
        n = getattr(a, name)
        while n > 1:
            n //= 2
            out.append((f"array.{name} {getattr(a, name)} -> {n}", {"array": {name: n}}))
    need = adc.bits + spec.input.steps - 1
    if spec.accumulator.bits > need:
        out.append((f"accumulator.bits {spec.accumulator.bits} -> {need}", {"accumulator": {"bits": need}}))
    for bits in range(spec.input.bits - 1, 2, -1):
        if spec.input.bits - bits > 3:
            break
        out.append((f"input.bits {spec.input.bits} -> {bits}", {"input": {"bits": bits}}))
    return out


def _merge(a: dict, b: dict) -> dict | None:
    merged = {k: dict(v) for k, v in a.items()}
    for section, values in b.items():
        for key, value in values.items():
            if key in merged.get(section, {}) and merged[section][key] != value:
                return None
            merged.setdefault(section, {})[key] = value
    return merged


def suggest_fit(spec: DesignSpec, resources: dict[str, dict], capacity, limit: int = 3) -> list[dict]:
    """Spec changes estimated to bring every over-used resource under FIT_MARGIN of the device.

    `resources` is FpgaReport.resources (used/available per lut, ff, bram, dsp). Returns up to `limit`
    dicts {"change": text, "spec": changes for DesignSpec.replace, "estimate": {resource: (used, %)}},
    the smallest reduction first; [] when nothing tried is estimated to fit.
    """
    base = estimate_resources(spec)
    over = {name: r for name, r in resources.items()
            if r.get("used") is not None and r["available"] and r["used"] > FIT_MARGIN * r["available"]}
    if not over:
        return []
    scale = {}
    for name, r in resources.items():
        if r.get("used") is None:
            continue
        driver = "bram_bits" if name == "bram" else "logic"
        scale[name] = r["used"] / base[driver] if base[driver] else 0.0

    def estimate(candidate: DesignSpec) -> dict[str, float]:
        est = estimate_resources(candidate)
        return {name: scale[name] * est["bram_bits" if name == "bram" else "logic"] for name in scale}

    singles = []
    for text, changes in _candidates(spec):
        try:
            singles.append((text, changes, spec.replace(**changes)))
        except SpecError:
            continue
    options = [(text, changes, cand) for text, changes, cand in singles]
    for (t1, c1, _), (t2, c2, _) in combinations(singles, 2):
        merged = _merge(c1, c2)
        if merged is None:
            continue
        try:
            options.append((f"{t1} and {t2}", merged, spec.replace(**merged)))
        except SpecError:
            continue
    fitting = []
    for text, changes, cand in options:
        est = estimate(cand)
        if all(est[name] <= FIT_MARGIN * resources[name]["available"] for name in over):
            kept = estimate_resources(cand)["logic"] / base["logic"]
            fitting.append((-kept, text.count(" and "), text, changes, est))
    fitting.sort(key=lambda f: (f[1], f[0]))
    out, seen = [], set()
    for _, _, text, changes, est in fitting:
        if text in seen:
            continue
        seen.add(text)
        out.append({"change": text, "spec": changes,
                    "estimate": {name: (round(est[name]), round(100 * est[name] / resources[name]["available"], 1))
                                 for name in over}})
        if len(out) == limit:
            break
    return out


def suggest_clock(fmax_mhz: float, clock_mhz: float) -> str:
    """A clock the achieved Fmax supports, with 5 % margin."""
    safe = math.floor(fmax_mhz * 0.95 * 10) / 10
    return (f"design.clock_mhz = {safe:g} (Fmax {fmax_mhz:.1f} MHz < {clock_mhz:.1f} MHz; 5 % margin), or "
            f"shorten the critical path below")
