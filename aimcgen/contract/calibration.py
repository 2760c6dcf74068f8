"""Per-column calibration of the affine post-processor, and per-column drift compensation: the integer rules
that the C driver (firmware/aimc_calibrate.c) and the host driver (sim.host.calibration) both follow, bit
for bit. Why: an analog column has its own gain and offset (ADC gain and offset spread, drift of its
devices); the post-processor's per-column SCALE/OFFSET registers can undo them once they are measured on
the chip against the product the host knows it programmed.

Notation: f = postproc.scale_frac_bits, s = adc.lsb_shift, W the target weight codes (logical matrix),
x_k the n calibration vectors, q_kj = sum_i x_ki W_ij the exact integer product (charge units), and
u_kj = q_kj / 2^s the IDEAL ACCUMULATOR (real-valued: the exact product in ADC LSBs, without the ADC's floor
or any noise; bit-serial steps weigh 2^k and sum to the same u). s_t, o_t are the target SCALE/OFFSET codes
(the intended post-processing of the ideal product is round((u * s_t + o_t) / 2^f)).

Measurement (measurement_window). SCALE = 2^f and OFFSET = M * 2^f in every column make the output
y_out = acc + M exactly (contract.postproc) until the activation or the output width clamps it. With lo, hi
the clamp points (none: out_min, out_max; relu: 0, out_max; clip: 0, clip_high) and M = (lo + hi + 1) >> 1,
a sample counts when lo < y_out < hi; then y = y_out - M is the column's accumulator. Clamped samples are
dropped (the fit only uses the linear range).

Fit of column j over its counted samples (n of them; every quantity an exact integer):
    Sq = sum q, Sy = sum y, Sqq = sum q^2, Sqy = sum q y
    D = n Sqq - Sq^2,  N = n Sqy - Sq Sy          (least squares y = a u + b: a = N 2^s / D)
    the column is not calibrated (status, it keeps s_t, o_t) when n < 2 (FEW_SAMPLES), when
    n * max|q| >= 2^31 or n * max|y| >= 2^31 (RANGE: the sums must stay exact in 64 bits), when D = 0
    (NO_SPREAD: all its q equal) or N <= 0 (BAD_GAIN: a dead or inverted column).
Scale  s' = round(s_t D / (N 2^s)), half away from zero, in integers:
    e_D = max(0, bitlen(D) - 31), D' = D >> e_D;  e_N = max(0, bitlen(N) - 31), N' = N >> e_N
    k = e_D - e_N - s;  num = |s_t| D';  den = N'
    num = 0: the magnitude is 0
    k >= 0: if bitlen(num) + k > 62 the magnitude is "huge" (clamped below), else num <<= k
    k <  0: if bitlen(den) - k > 62 the magnitude is 0, else den <<= -k
    mag = (2 num + den) // (2 den);  s' = clamp(sign(s_t) mag, scale_min, scale_max)
Offset o' = o_t + round_half_up((s_t Sq / 2^s - s' Sy) / n), the least-squares intercept for the rounded s':
    A = s_t Sq;  M' = (A >> s) - s' Sy  (floor shift);  r = bit s-1 of A (two's complement; 0 when s = 0)
    o' = clamp(o_t + floor((2 M' + n + r) / (2 n)), offset_min, offset_max)
(r carries the half of the fraction A mod 2^s that the floor needs: floor(v + 1/2) exactly.) Then
acc * s' + o' = u * s_t + o_t at the centroid of the samples, and along the fitted line up to the rounding
of s' (relative 2^-(bitlen(s')+1)).

Centring (calibrate_columns_centred; the C driver's aimc_calibrate_columns_centred). Why: a bit-serial column
multiplies its ADC's offset by 2^steps - 1 (1 ADC LSB is 127 accumulator LSBs for 8-bit inputs, the whole
window of an 8-bit output), so the read-outs of the plain measurement clamp and the fit sees a truncated
cloud. Each column j gets an integer trim c_j (start 0) and is measured with SCALE = 2^f and
OFFSET_j = (M - c_j) 2^f, so y_out = acc + M - c_j. A pass runs all n calibration vectors; per column:
    k_in = #{low < y_out < high},  k_hi = #{y_out >= high},  k_lo = #{y_out <= low},
    S = sum over the k_in samples inside of (y_out - M)                       (exact integers)
    step = floor((2 S + k_in) / (2 k_in))   when 2 k_in >= n and k_in > 0   (mean inside, round half up)
    step = h  when k_hi >= k_lo, else -h,   h = (high - low) >> 1            (jump half a window)
    c'_j = clamp(c_j + step, c_min, c_max),  c_min = M - floor(offset_max / 2^f),
                                             c_max = M - ceil(offset_min / 2^f)  (OFFSET_j stays in range)
Passes r = 0, 1, ..., R (R = `rounds`, CENTRING_ROUNDS by default): after pass r < R the trims become c';
the pass whose c' equals c in every column (every column is centred: its trim does not move), or pass R,
is the measurement: a sample of column j counts when low < y_out < high, with y = y_out - M + c_j (the
column's accumulator), and the fit is the one above. R = 0 is the plain measurement (all c_j = 0).

Per-column drift compensation (after aihwkit's PerColumnDriftCompensation, which reads the per-column mean
|output| of a calibration input set and rescales each column by reference / readout; the global variant is
aimc_gdc_* of the C driver): with base scales s and zero offsets, R_j = sum over the calibration vectors of
|y_out_kj| (outputs as read); R0_j taken right after programming, Rt_j now:
    Rt is taken at least 1 (aihwkit clamps its readout at a small minimum); a column with R0_j = 0 keeps
    s_j; otherwise, while R0 >= 2^38 or Rt >= 2^38: both >>= 1 (as aimc_gdc_rescale), Rt again at least 1,
    s'_j = clamp(sign(s_j) ((2 |s_j| R0 + Rt) // (2 Rt)), scale_min, scale_max)   (half away from zero)
The global variant (global_rescale) is aimc_gdc_rescale's rule with R0 = sum_j R0_j, Rt = sum_j Rt_j (its
aimc_gdc_measure read-out): halve both while either is >= 2^38; either 0 is an error; then every column gets
s'_j by the formula above with the same R0, Rt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec, SpecError

# Per-column outcome of the fit (the C driver's AIMC_CAL_* codes have these values).
OK, FEW_SAMPLES, RANGE, NO_SPREAD, BAD_GAIN = range(5)
STATUS_NAMES = ("ok", "few_samples", "range", "no_spread", "bad_gain")
SUM_LIMIT = 1 << 31         # n * max|q| and n * max|y| stay below: every sum and D, N fit in int64
RATIO_BITS = 31             # significant bits kept of D and N for the scale ratio
SHIFT_LIMIT = 62            # bits a shifted numerator / denominator may reach (no int64 overflow)
READOUT_LIMIT = 1 << 38     # drift readouts are halved together below this (as aimc_gdc_rescale)
CENTRING_ROUNDS = 6         # default R: enough to walk a column in from 2-3 windows away and settle its mean


class CalibrationError(SpecError):
    """A calibration input does not fit its rule (shape, range, window)."""


@dataclass(frozen=True)
class MeasurementWindow:
    offset: int             # M: OFFSET = M * 2^f while measuring, so y_out = acc + M
    low: int                # clamp points of the output: a sample counts when low < y_out < high
    high: int


def measurement_window(spec: DesignSpec) -> MeasurementWindow:
    """The window of output codes in which y_out = acc + M is linear, and M that centres it."""
    out = datapath_formats(spec).output
    post = spec.postproc
    low = out.min if post.activation == "none" else 0
    high = post.clip_high if post.activation == "clip" else out.max
    window = MeasurementWindow((low + high + 1) >> 1, low, high)
    if not datapath_formats(spec).offset.contains(window.offset << post.scale_frac_bits):
        raise CalibrationError(f"calibration: the measurement offset {window.offset} does not fit "
                               f"postproc.offset_bits = {post.offset_bits} with {post.scale_frac_bits} fraction bits")
    return window


@dataclass(frozen=True)
class ColumnSums:
    """The exact sums of one column's counted samples."""
    n: int = 0
    sq: int = 0
    sy: int = 0
    sqq: int = 0
    sqy: int = 0
    max_q: int = 0          # max |q| and max |y| over the counted samples
    max_y: int = 0


def column_sums(q: np.ndarray, y_out: np.ndarray, window: MeasurementWindow, trim=None) -> list[ColumnSums]:
    """Sums per column of the ideal products q (n x cols, exact integers) against the outputs y_out read
    with the measurement coefficients (n x cols; column j with OFFSET = (M - trim_j) 2^f, trim None: all 0):
    only samples inside the window count, y = y_out - M + trim_j."""
    q, y_out = np.asarray(q), np.asarray(y_out)
    if q.shape != y_out.shape or q.ndim != 2:
        raise CalibrationError(f"calibration: products {q.shape} and outputs {y_out.shape} must both be "
                               "(vectors, columns)")
    trims = [0] * q.shape[1] if trim is None else [int(v) for v in np.ravel(trim)]
    if len(trims) != q.shape[1]:
        raise CalibrationError(f"calibration: {len(trims)} trims for {q.shape[1]} columns")
    sums = []
    for j in range(q.shape[1]):
        keep = (y_out[:, j] > window.low) & (y_out[:, j] < window.high)
        qs = [int(v) for v in q[keep, j]]
        ys = [int(v) - window.offset + trims[j] for v in y_out[keep, j]]
        sums.append(ColumnSums(len(qs), sum(qs), sum(ys), sum(v * v for v in qs),
                               sum(a * b for a, b in zip(qs, ys)), max(map(abs, qs), default=0),
                               max(map(abs, ys), default=0)))
    return sums


@dataclass(frozen=True)
class CentringCounts:
    """One column's read-outs of a centring pass: how many fell inside, above and below the window, and the
    sum of (y_out - M) over those inside."""
    n: int
    inside: int
    above: int
    below: int
    sum_inside: int


def centring_counts(y_out: np.ndarray, window: MeasurementWindow) -> list[CentringCounts]:
    """CentringCounts per column of one pass's read-outs (n x cols)."""
    y_out = np.asarray(y_out, dtype=np.int64)
    if y_out.ndim != 2:
        raise CalibrationError(f"calibration: outputs {y_out.shape} must be (vectors, columns)")
    out = []
    for col in y_out.T:
        inside = (col > window.low) & (col < window.high)
        out.append(CentringCounts(len(col), int(inside.sum()), int((col >= window.high).sum()),
                                  int((col <= window.low).sum()), sum(int(v) - window.offset for v in col[inside])))
    return out


def centring_step(counts: CentringCounts, window: MeasurementWindow) -> int:
    """The move of a column's trim after a pass (module docstring: mean inside, or half a window)."""
    if counts.inside > 0 and 2 * counts.inside >= counts.n:
        return (2 * counts.sum_inside + counts.inside) // (2 * counts.inside)
    half = (window.high - window.low) >> 1
    return half if counts.above >= counts.below else -half


def trim_limits(window: MeasurementWindow, spec: DesignSpec) -> tuple[int, int]:
    """(c_min, c_max): the trims whose OFFSET = (M - c) 2^f fits the OFFSET register."""
    f, off = spec.postproc.scale_frac_bits, datapath_formats(spec).offset
    return window.offset - (off.max >> f), window.offset + ((-off.min) >> f)


def next_trims(trims, counts: list[CentringCounts], window: MeasurementWindow, spec: DesignSpec) -> list[int]:
    """c' of every column after a pass (clamped to trim_limits)."""
    lo, hi = trim_limits(window, spec)
    return [_clamp(int(c) + centring_step(k, window), lo, hi) for c, k in zip(trims, counts)]


def _clamp(v: int, lo: int, hi: int) -> int:
    return min(max(v, lo), hi)


def fit_moments(sums: ColumnSums) -> tuple[int, int, int]:
    """(status, D, N) of a column's least-squares fit (module docstring; D, N are 0 unless the status is OK)."""
    n = sums.n
    if n < 2:
        return FEW_SAMPLES, 0, 0
    if n * sums.max_q >= SUM_LIMIT or n * sums.max_y >= SUM_LIMIT:
        return RANGE, 0, 0
    d = n * sums.sqq - sums.sq * sums.sq
    big_n = n * sums.sqy - sums.sq * sums.sy
    if d == 0:
        return NO_SPREAD, 0, 0
    if big_n <= 0:
        return BAD_GAIN, 0, 0
    return OK, d, big_n


def significant(v: int, bits: int) -> tuple[int, int]:
    """(v >> e, e) with e = max(0, bitlen(v) - bits): v reduced to `bits` significant bits (v >= 0)."""
    e = max(0, v.bit_length() - bits)
    return v >> e, e


def rounded_ratio(num: int, den: int, k: int) -> int | None:
    """round(num 2^k / den) half up for num >= 0, den > 0, with every shifted operand below 2^SHIFT_LIMIT
    (module docstring's scale rule): None when the result is "huge" (num << k would pass SHIFT_LIMIT bits),
    0 when den << -k would."""
    if num == 0:
        return 0
    if k >= 0 and num.bit_length() + k > SHIFT_LIMIT:
        return None
    if k < 0 and den.bit_length() - k > SHIFT_LIMIT:
        return 0
    num, den = (num << k, den) if k >= 0 else (num, den << -k)
    return (2 * num + den) // (2 * den)


def fit_column(sums: ColumnSums, target_scale: int, target_offset: int, spec: DesignSpec) -> tuple[int, int, int]:
    """(scale code, offset code, status) of one column by the rule of the module docstring."""
    fmt = datapath_formats(spec)
    s = spec.adc.lsb_shift
    st, ot, n = int(target_scale), int(target_offset), sums.n
    status, d, big_n = fit_moments(sums)
    if status != OK:
        return st, ot, status
    (d, e_d), (big_n, e_n) = significant(d, RATIO_BITS), significant(big_n, RATIO_BITS)
    mag = rounded_ratio(abs(st) * d, big_n, e_d - e_n - s)
    if mag is None:
        mag = fmt.scale.max + 1 - fmt.scale.min            # beyond either end: clamps
    scale = _clamp(-mag if st < 0 else mag, fmt.scale.min, fmt.scale.max)
    a = st * sums.sq
    m = (a >> s) - scale * sums.sy
    r = (a >> (s - 1)) & 1 if s else 0
    offset = _clamp(ot + (2 * m + n + r) // (2 * n), fmt.offset.min, fmt.offset.max)
    return scale, offset, OK


def fit_columns(sums: list[ColumnSums], target_scale, target_offset, spec: DesignSpec):
    """(scale codes, offset codes, status per column) for every column."""
    cols = len(sums)
    st = np.broadcast_to(np.asarray(target_scale, dtype=np.int64), (cols,))
    ot = np.broadcast_to(np.asarray(target_offset, dtype=np.int64), (cols,))
    done = [fit_column(c, int(a), int(b), spec) for c, a, b in zip(sums, st, ot)]
    return tuple(np.array([d[i] for d in done], dtype=np.int64) for i in range(3))


def ideal_products(x, weights) -> np.ndarray:
    """q = x @ W exactly (int64; the spec bounds every product below 2^40)."""
    return np.asarray(x, dtype=np.int64) @ np.asarray(weights, dtype=np.int64)


def column_model(sums: ColumnSums, spec: DesignSpec) -> tuple[float, float]:
    """The fitted (gain, offset) of a column, acc = gain * u + offset with offset in accumulator LSBs: a
    float summary for reports (the registers come from fit_column, not from this)."""
    n, s = sums.n, spec.adc.lsb_shift
    d = n * sums.sqq - sums.sq * sums.sq
    if n < 2 or d == 0:
        return float("nan"), float("nan")
    gain = (n * sums.sqy - sums.sq * sums.sy) * 2.0 ** s / d
    return gain, (sums.sy - gain * sums.sq / 2.0 ** s) / n


def one_hot_vectors(spec: DesignSpec) -> np.ndarray:
    """aihwkit's drift read-out set: one row driven at a time, here at the largest input magnitude."""
    return np.eye(spec.logical_rows, dtype=np.int64) * spec.input.max_magnitude


def drift_readouts(y_out) -> np.ndarray:
    """R_j = sum over vectors of |y_out_kj| (int64 per column)."""
    return np.abs(np.asarray(y_out, dtype=np.int64)).sum(axis=0)


def per_column_rescale(base_scale, reference, readout, spec: DesignSpec) -> np.ndarray:
    """s'_j of per-column drift compensation (module docstring)."""
    fmt = datapath_formats(spec)
    base = [int(v) for v in np.ravel(base_scale)]
    ref, now = [int(v) for v in np.ravel(reference)], [int(v) for v in np.ravel(readout)]
    if not len(base) == len(ref) == len(now):
        raise CalibrationError(f"drift compensation: {len(base)} scales, {len(ref)} references and "
                               f"{len(now)} readouts must be one per column")
    if min(ref + now, default=0) < 0:
        raise CalibrationError("drift compensation: references and readouts are sums of |output|, never < 0")
    out = []
    for s, r0, rt in zip(base, ref, now):
        rt = max(rt, 1)
        if r0 == 0:
            out.append(s)
            continue
        while r0 >= READOUT_LIMIT or rt >= READOUT_LIMIT:
            r0, rt = r0 >> 1, rt >> 1
        rt = max(rt, 1)
        mag = (2 * abs(s) * r0 + rt) // (2 * rt)
        out.append(_clamp(-mag if s < 0 else mag, fmt.scale.min, fmt.scale.max))
    return np.array(out, dtype=np.int64)


def global_rescale(base_scale, reference: int, readout: int, spec: DesignSpec) -> np.ndarray:
    """s' of global drift compensation: aimc_gdc_rescale's rule (firmware/aimc_driver.h)."""
    fmt = datapath_formats(spec)
    r0, rt = int(reference), int(readout)
    while r0 >= READOUT_LIMIT or rt >= READOUT_LIMIT:
        r0, rt = r0 >> 1, rt >> 1
    if r0 <= 0 or rt <= 0:
        raise CalibrationError(f"global drift compensation: reference {reference} and read-out {readout} "
                               "must both be > 0 (a zero read-out cannot be rescaled)")
    out = []
    for s in (int(v) for v in np.ravel(base_scale)):
        mag = (2 * abs(s) * r0 + rt) // (2 * rt)
        out.append(_clamp(-mag if s < 0 else mag, fmt.scale.min, fmt.scale.max))
    return np.array(out, dtype=np.int64)


def calibration_vectors(spec: DesignSpec, weights, n: int, seed: int, fill: float = 0.6) -> np.ndarray:
    """n random input vectors (n x logical_rows) whose ideal accumulators stay within `fill` of the
    measurement window's half width and of the ADC's range (PWM: its top code; bit-serial: the top code
    weighted by every step) in every column, so that columns with a gain error of up to 1 / fill - 1 are
    still measured without clamping (the window cannot see an ADC that clips); each vector has its own
    magnitude (spread for the fit). Deterministic in `seed`."""
    window = measurement_window(spec)
    adc_top = spec.adc.code_max * (1 if spec.input.encoding == "pwm" else (1 << spec.input.steps) - 1)
    half = min(window.high - window.offset, window.offset - window.low, adc_top)
    m = spec.input.max_magnitude
    rng = np.random.default_rng(seed)
    w = np.asarray(weights, dtype=np.int64)
    out = np.zeros((n, spec.logical_rows), dtype=np.int64)
    for k in range(n):
        x = rng.integers(-m, m + 1, spec.logical_rows)
        u = np.abs(ideal_products(x, w)).max(initial=0) / float(1 << spec.adc.lsb_shift)
        level = rng.uniform(0.2, 1.0) * fill * half
        factor = min(1.0, level / u) if u else 1.0
        out[k] = np.round(x * factor).astype(np.int64)
    return out
