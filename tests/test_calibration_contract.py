"""The calibration rules (aimcgen/contract/calibration.py) and their C implementation (firmware/aimc_calibrate.c):
the same register values bit for bit on random cases through the ctypes binding, the edge cases of the
fit, and that the rule does what it is for: a column with a gain and offset error, measured and corrected,
gives the intended post-processed outputs of the ideal product.
"""

from __future__ import annotations

import ctypes as C
import math
import shutil
from fractions import Fraction

import numpy as np
import pytest

from aimcgen.contract import calibration as rule
from aimcgen.contract.postproc import postprocess, unity_scale
from aimcgen.firmware.c_calibration import CAL_STATUS, CalibrationDriver
from aimcgen.firmware.c_driver import Driver, compile_driver_library
from aimcgen.sim.host.calibration import compensate_drift
from aimcgen.sim.host.driver import AimcHost
from aimcgen.spec import from_dict

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")

SPECS = {
    "shift0": {"tile": {"rows": 8, "cols": 4}, "adc": {"bits": 6, "full_scale": 32},
               "postproc": {"activation": "none", "scale_bits": 12, "scale_frac_bits": 6, "output_bits": 10}},
    "shift3": {"tile": {"rows": 8, "cols": 4}, "adc": {"bits": 6, "full_scale": 256},
               "postproc": {"activation": "relu", "scale_bits": 16, "scale_frac_bits": 10, "offset_bits": 28,
                            "output_bits": 12}},
    "shift11": {"tile": {"rows": 16, "cols": 4, "weight_bits": 8}, "input": {"bits": 8, "encoding": "pwm"},
                "adc": {"kind": "ramp", "bits": 8, "full_scale": 262144}, "accumulator": {"bits": 16},
                "postproc": {"activation": "none", "scale_bits": 24, "scale_frac_bits": 12, "offset_bits": 32,
                             "output_bits": 16}},
}


def no_bus(*_):
    raise AssertionError("the pure rules must not touch the bus")


@pytest.fixture(scope="module", params=sorted(SPECS))
def env(request, tmp_path_factory):
    spec = from_dict({**SPECS[request.param], "design": {"name": f"cal_{request.param}"}})
    lib = compile_driver_library(spec, tmp_path_factory.mktemp(request.param))
    drv = Driver(lib, spec, no_bus, no_bus)
    return spec, drv, CalibrationDriver(drv)


def test_status_codes_agree():
    assert [CAL_STATUS[f"AIMC_CAL_{n.upper()}"] for n in rule.STATUS_NAMES] == [
        rule.OK, rule.FEW_SAMPLES, rule.RANGE, rule.NO_SPREAD, rule.BAD_GAIN]


def random_column(rng, spec, window):
    """Samples of a column with a random affine error, noise and some clamped outputs."""
    n = int(rng.integers(1, 48))
    magnitude = int(rng.choice([4, 100, 3000, 1 << 20, 1 << 28]))
    q = rng.integers(-magnitude, magnitude + 1, (n, 1)) if rng.random() > 0.05 else np.full((n, 1), 17)
    u = q / float(1 << spec.adc.lsb_shift)
    fits = (window.high - window.low) / 2 / max(1.0, float(np.abs(u).max()))     # fills the window
    gain = rng.choice([rng.uniform(0.5, 1.5), rng.uniform(-1, 0.1), rng.uniform(0.3, 0.9) * fits])
    y = np.round(gain * u + rng.uniform(-20, 20) + rng.normal(0, rng.uniform(0, 3), q.shape)) + window.offset
    return q, np.clip(y, -(1 << 31), (1 << 31) - 1).astype(np.int64)


def test_fit_c_equals_python_bit_for_bit(env):
    spec, _, cal = env
    window = rule.measurement_window(spec)
    fmt_scale = (1 << (spec.postproc.scale_bits - 1))
    rng = np.random.default_rng(2018)
    seen = set()
    for case in range(1500):
        q, y = random_column(rng, spec, window)
        py = rule.column_sums(q, y, window)[0]
        c = cal.add_samples(q, y, window)[0]
        assert (c.n, c.range == 0 and c.sq, c.range == 0 and c.sqy) == (
            py.n, c.range == 0 and py.sq, c.range == 0 and py.sqy), f"case {case}: sums differ"
        st = int(rng.integers(-fmt_scale, fmt_scale))
        ot = int(rng.integers(-(1 << (spec.postproc.offset_bits - 2)), 1 << (spec.postproc.offset_bits - 2)))
        expected = rule.fit_column(py, st, ot, spec)
        assert cal.fit_column(c, st, ot) == expected, f"case {case}: q={q.ravel()}, y={y.ravel()}, {st}, {ot}"
        assert cal.fit_column(py, st, ot) == expected, f"case {case}: from the Python sums"
        seen.add(expected[2])
    assert seen == {rule.OK, rule.FEW_SAMPLES, rule.RANGE, rule.NO_SPREAD, rule.BAD_GAIN}


def test_fit_edges_keep_the_targets(env):
    spec, _, cal = env
    assert rule.fit_column(rule.ColumnSums(), 7, -3, spec) == (7, -3, rule.FEW_SAMPLES)
    flat = rule.ColumnSums(n=3, sq=30, sy=9, sqq=300, sqy=90, max_q=10, max_y=3)
    assert rule.fit_column(flat, 7, -3, spec) == (7, -3, rule.NO_SPREAD) == cal.fit_column(flat, 7, -3)
    # a zero target scale stays zero whatever the gain
    q = np.arange(-10, 11).reshape(-1, 1) * (1 << spec.adc.lsb_shift)
    sums = rule.column_sums(q, np.arange(-10, 11).reshape(-1, 1) + rule.measurement_window(spec).offset,
                            rule.measurement_window(spec))[0]
    assert rule.fit_column(sums, 0, 5, spec)[0] == 0 == cal.fit_column(sums, 0, 5)[0]


@pytest.mark.parametrize("seed", range(6))
def test_calibrated_outputs_match_the_intended_postprocessing(env, seed):
    """Noise-free columns acc = round(g u + b): after calibration, postprocess(acc) is within one output
    LSB of round((u s_t + o_t) / 2^f), the intended output of the ideal product, plus what the resolution
    of the accumulator and of the scale register allow ((|s'| + |acc|) / 2 / 2^f)."""
    spec, _, _ = env
    rng = np.random.default_rng(seed)
    window = rule.measurement_window(spec)
    cols = 6
    gain, offset = rng.uniform(0.8, 1.2, cols), rng.uniform(-6, 6, cols)
    half = min(window.high - window.offset, window.offset - window.low)
    u_max = 0.6 * half / 1.2
    lsb = 1 << spec.adc.lsb_shift
    q = np.round(rng.uniform(-u_max, u_max, (40, cols)) * lsb).astype(np.int64)
    u = q / float(lsb)
    acc = np.round(gain * u + offset).astype(np.int64)
    sums = rule.column_sums(q, acc + window.offset, window)
    f = spec.postproc.scale_frac_bits
    st = rng.integers(unity_scale(spec) // 2, 2 * unity_scale(spec), cols)
    ot = rng.integers(-(8 << f), 8 << f, cols)
    scale, offset_code, status = rule.fit_columns(sums, st, ot, spec)
    assert (status == rule.OK).all()
    got, _ = postprocess(acc, scale, offset_code, spec)
    intended = np.floor((u * st + ot) / (1 << f) + 0.5)
    if spec.postproc.activation == "relu":
        intended = np.maximum(intended, 0)
    out_max = (1 << (spec.postproc.output_bits - 1)) - 1
    intended = np.clip(intended, -out_max - 1, out_max)
    # one output LSB, plus what the accumulator's and the scale register's resolution allow: half an
    # accumulator LSB times the scale, half a SCALE code times acc
    allowed = 1 + 0.5 * (np.abs(scale) + np.abs(acc)) / (1 << f)
    assert (np.abs(got - intended) <= allowed).all(), np.abs(got - intended).max()
    before, _ = postprocess(acc, st, ot, spec)
    assert np.abs(before - intended).max() > 5 * allowed.max()       # the error was there to correct


def test_measurement_window_per_activation():
    base = {"postproc": {"output_bits": 8, "scale_frac_bits": 4, "activation": "none"}}
    assert rule.measurement_window(from_dict(base)) == rule.MeasurementWindow(0, -128, 127)
    relu = from_dict({"postproc": {**base["postproc"], "activation": "relu"}})
    assert rule.measurement_window(relu) == rule.MeasurementWindow(64, 0, 127)
    clip = from_dict({"postproc": {**base["postproc"], "activation": "clip", "clip_max": 40}})
    assert rule.measurement_window(clip) == rule.MeasurementWindow(20, 0, 40)
    tight = from_dict({"postproc": {"output_bits": 16, "scale_frac_bits": 8, "offset_bits": 12,
                                    "activation": "relu"}})
    with pytest.raises(rule.CalibrationError, match="offset_bits"):
        rule.measurement_window(tight)


def test_drift_rescale_c_equals_python(env):
    spec, drv, cal = env
    rng = np.random.default_rng(5)
    lo, hi = -(1 << (spec.postproc.scale_bits - 1)), 1 << (spec.postproc.scale_bits - 1)
    for _ in range(300):
        cols = int(rng.integers(1, 9))
        base = rng.integers(lo, hi, cols)
        big = int(rng.choice([10, 1 << 20, 1 << 45]))
        ref = rng.integers(0, big, cols)
        now = rng.integers(0, big, cols)
        np.testing.assert_array_equal(cal.pcdc_rescale(base, ref, now), rule.per_column_rescale(base, ref, now, spec))
        out = (C.c_int32 * cols)()
        status = drv.lib.aimc_gdc_rescale(drv._i32(base), C.c_uint32(cols), C.c_uint64(int(ref.sum())),
                                          C.c_uint64(int(now.sum())), out)
        if status == 0:
            np.testing.assert_array_equal(list(out), rule.global_rescale(base, ref.sum(), now.sum(), spec))
        else:
            with pytest.raises(rule.CalibrationError):
                rule.global_rescale(base, ref.sum(), now.sum(), spec)


def test_per_column_drift_keeps_dead_reference_columns():
    spec = from_dict({})
    out = rule.per_column_rescale([100, -100, 50], [0, 10, 10], [5, 0, 20], spec)
    assert out.tolist() == [100, -1000, 25]       # reference 0: kept; read-out 0 taken as 1


def test_host_routines_refuse_another_design_and_unknown_modes():
    spec, other = from_dict({}), from_dict({"tile": {"rows": 8}})
    host = AimcHost(object(), spec=other)
    with pytest.raises(rule.CalibrationError, match="drift compensation mode"):
        compensate_drift(host, spec, "sideways", [[0]], [1], [1])
    with pytest.raises(rule.CalibrationError, match="is not the design"):
        compensate_drift(host, spec, "global", [[0]], [1], [1])


def test_integer_rule_is_the_exact_rounding_when_nothing_is_normalized(env):
    """Where D and N keep all their bits (< 2^31), s' is round-half-away(s_t D / (N 2^s)) and o' is
    o_t + floor((s_t Sq / 2^s - s' Sy) / n + 1/2), computed here in exact fractions from the docstring."""
    spec, _, _ = env
    window = rule.measurement_window(spec)
    rng = np.random.default_rng(77)
    checked = 0
    for _ in range(400):
        q, y = random_column(rng, spec, window)
        c = rule.column_sums(q, y, window)[0]
        st = int(rng.integers(-2000, 2000))
        ot = int(rng.integers(-5000, 5000))
        scale, offset, status = rule.fit_column(c, st, ot, spec)
        d = c.n * c.sqq - c.sq ** 2
        big_n = c.n * c.sqy - c.sq * c.sy
        if status != rule.OK or d >= 1 << 31 or big_n >= 1 << 31:
            continue
        exact = Fraction(abs(st) * d, big_n << spec.adc.lsb_shift)
        mag = math.floor(exact + Fraction(1, 2))
        lim = 1 << (spec.postproc.scale_bits - 1)
        assert scale == max(-lim, min(lim - 1, -mag if st < 0 else mag))
        v = (Fraction(st * c.sq, 1 << spec.adc.lsb_shift) - scale * c.sy) / c.n
        lim = 1 << (spec.postproc.offset_bits - 1)
        assert offset == max(-lim, min(lim - 1, ot + math.floor(v + Fraction(1, 2))))
        checked += 1
    assert checked > 50


# ----------------------------------------------------------------------------- centring


def test_centring_counts_and_step_c_equal_python(env):
    """aimc_cal_centring_add / aimc_cal_centring_step against contract.calibration on random passes: read-outs
    mostly inside, mostly clamped on one side, or a few inside."""
    spec, _, cal = env
    window = rule.measurement_window(spec)
    rng = np.random.default_rng(1806)
    kinds = set()
    for case in range(400):
        n = int(rng.integers(1, 40))
        centre = window.offset + int(rng.choice([0, 1, -1])) * int(rng.integers(0, window.high - window.low))
        y = (centre + rng.normal(0, rng.uniform(0.5, (window.high - window.low) / 3), (n, 3))).round()
        y = np.clip(y, window.low - 5, window.high + 5).astype(np.int64)
        py = rule.centring_counts(y, window)
        assert cal.centring_counts(y, window) == py, f"case {case}: counts differ for {y.T}"
        for k in py:
            step = rule.centring_step(k, window)
            assert cal.centring_step(k, window) == step, f"case {case}: {k}"
            kinds.add("mean" if 2 * k.inside >= k.n and k.inside else ("up" if step > 0 else "down"))
    assert kinds == {"mean", "up", "down"}


def test_centring_step_rule():
    window = rule.MeasurementWindow(0, -32, 31)
    counts = rule.CentringCounts
    assert rule.centring_step(counts(4, 2, 2, 0, 5), window) == 3          # mean 2.5 rounds half up
    assert rule.centring_step(counts(4, 2, 0, 2, -5), window) == -2        # mean -2.5 rounds half up
    assert rule.centring_step(counts(5, 2, 2, 1, 40), window) == 31        # fewer than half inside: jump up
    assert rule.centring_step(counts(5, 2, 1, 2, 40), window) == -31       # more below: jump down
    assert rule.centring_step(counts(4, 0, 2, 2, 0), window) == 31         # a tie jumps up


def test_trim_limits_keep_the_offset_register_in_range():
    spec = from_dict({"postproc": {"output_bits": 8, "scale_frac_bits": 4, "offset_bits": 12,
                                   "activation": "relu"}})
    window = rule.measurement_window(spec)
    lo, hi = rule.trim_limits(window, spec)
    f, half = spec.postproc.scale_frac_bits, 1 << (spec.postproc.offset_bits - 1)
    assert (window.offset - lo) << f <= half - 1 < (window.offset - lo + 1) << f
    assert (window.offset - hi) << f >= -half > (window.offset - hi - 1) << f
    far = [rule.CentringCounts(8, 0, 8, 0, 0)] * 2
    assert rule.next_trims([hi - 1, 0], far, window, spec) == [hi, (window.high - window.low) >> 1]


def test_column_sums_with_a_trim_count_the_columns_accumulator():
    window = rule.MeasurementWindow(0, -32, 31)
    q = np.array([[10, 10], [20, 20], [30, 30]])
    y = np.array([[5, 40], [6, 10], [31, -40]])
    plain, trimmed = rule.column_sums(q, y, window, [0, 7])
    assert (plain.n, plain.sy) == (2, 11)
    assert (trimmed.n, trimmed.sy) == (1, 17)           # only 10 is inside; its accumulator is 10 + 7
    with pytest.raises(rule.CalibrationError, match="3 trims for 2 columns"):
        rule.column_sums(q, y, window, [0, 1, 2])
