"""The vectorized contract functions (chunked ADC quantization, narrow-integer bit planes, in-place
post-processing) and the golden model's fast paths (float32 charges, the weighted sum when nothing can
saturate) equal their bit-level rules, written here element by element from the docstrings."""

import numpy as np
import pytest

from aimcgen.contract import adc as adc_module
from aimcgen.contract.adc import adc_code
from aimcgen.contract.encoding import drive_steps
from aimcgen.contract.postproc import postprocess
from aimcgen.presets import load_preset
from aimcgen.sim.models import golden as golden_module
from aimcgen.sim.models.golden import GoldenTile, charge_dtype, shift_add
from aimcgen.spec import from_dict


def reference_code(q, kind: str, bits: int, s: int) -> int:
    """contract.adc: sar/ramp floor, flash rounds half up, clamp to the signed code range (q exact)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    code = (q + (1 << (s - 1))) >> s if kind == "flash" and s > 0 else q >> s
    return min(max(code, lo), hi)


ADCS = [("sar", 8, 512), ("ramp", 6, 32), ("flash", 5, 64), ("flash", 4, 8), ("sar", 14, 1 << 13),
        ("sar", 12, 1 << 20)]


@pytest.mark.parametrize("kind, bits, full_scale", ADCS)
def test_adc_code_equals_the_rule_across_chunks(kind, bits, full_scale, monkeypatch):
    monkeypatch.setattr(adc_module, "_CHUNK", 1000)              # many passes, ragged last one
    adc = from_dict({"adc": {"kind": kind, "bits": bits, "full_scale": full_scale}}).adc
    rng = np.random.default_rng(bits)
    q = np.concatenate([rng.integers(-3 * full_scale, 3 * full_scale, 4321),
                        np.arange(-full_scale - 9, full_scale + 9), [-(1 << 40), 1 << 40]])
    expected = [reference_code(int(v), kind, bits, adc.lsb_shift) for v in q]
    assert adc_code(q, adc).tolist() == expected
    assert adc_code(np.repeat(q, 2)[::2], adc).tolist() == expected          # a strided view
    # integer-valued float64 charges (the physics model's and a float golden path's) give the same codes
    assert adc_code(q.astype(np.float64), adc).tolist() == expected
    assert adc_code(q.astype(np.int32) if np.abs(q).max() < 1 << 31 else q, adc).tolist() == expected


def test_adc_code_keeps_shapes_and_returns_int16():
    adc = from_dict({}).adc
    for shape in [(), (0,), (3, 0, 2), (2, 3, 4)]:
        codes = adc_code(np.zeros(shape, dtype=np.int64), adc)
        assert codes.shape == shape and codes.dtype == np.int16


@pytest.mark.parametrize("bits", [2, 5, 8, 9, 10, 12])
def test_bit_planes_equal_the_rule(bits):
    inp = from_dict({"input": {"bits": bits, "encoding": "bit_serial"}}).input
    m = inp.max_magnitude
    x = np.concatenate([np.arange(-m, m + 1), np.random.default_rng(bits).integers(-m, m + 1, 300)])
    x = x[: x.size // 4 * 4].reshape(-1, 4)
    planes = drive_steps(x, inp)
    assert planes.shape == (inp.steps,) + x.shape and planes.dtype == np.int64
    assert np.array_equal(drive_steps(x, inp, dtype=np.float64), planes)
    for k in range(inp.steps):
        for (b, r), v in np.ndenumerate(x):
            assert planes[k, b, r] == (int(abs(v)) >> k & 1) * (-1 if v < 0 else 1)


@pytest.mark.parametrize("activation", ["none", "relu", "clip"])
@pytest.mark.parametrize("frac", [0, 1, 10])
def test_postprocess_equals_the_rule(activation, frac):
    spec = from_dict({"postproc": {"activation": activation, "scale_frac_bits": frac, "output_bits": 8}})
    post = spec.postproc
    rng = np.random.default_rng(frac)
    acc = rng.integers(-5000, 5000, (6, 5))
    scale, offset = rng.integers(-2000, 2000, 5), rng.integers(-1 << 15, 1 << 15, (6, 5))
    out, saturated = postprocess(acc, scale, offset, spec)
    for (b, c), a in np.ndenumerate(acc):
        p = int(a) * int(scale[c]) + int(offset[b, c])
        r = (p + (1 << (frac - 1))) >> frac if frac else p
        r = {"none": r, "relu": max(r, 0), "clip": min(max(r, 0), post.clip_high)}[activation]
        y = min(max(r, post.output_min), post.output_max)
        assert out[b, c] == y and saturated[b, c] == (y != r)


def reference_shift_add(codes, shifts, bits):
    """The accumulator's rule step by step: acc = sat(acc + (code << k)), sticky overflow."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    acc = np.zeros(codes.shape[1:], dtype=np.int64)
    overflow = np.zeros(codes.shape[1:], dtype=bool)
    for code, k in zip(codes.astype(np.int64), shifts):
        total = acc + (code << int(k))
        overflow |= (total < lo) | (total > hi)
        acc = np.clip(total, lo, hi)
    return acc, overflow


@pytest.mark.parametrize("acc_bits", [14, 15, 20])
def test_shift_add_equals_the_rule_with_and_without_possible_saturation(acc_bits):
    """8-bit codes over 7 planes reach 128 * 127 = 16256: accumulators of 15+ bits take the weighted sum, the
    narrowest the spec allows (14 bits) the saturating loop; both give the rule's result."""
    spec = from_dict({"tile": {"rows": 64, "cols": 64}, "input": {"bits": 8},
                      "adc": {"bits": 8, "count": 8, "full_scale": 512}, "accumulator": {"bits": acc_bits}})
    rng = np.random.default_rng(acc_bits)
    codes = rng.integers(-128, 128, (7, 50, 64)).astype(np.int16)
    codes[:, 0] = 127                                            # the extremes of the reach
    codes[:, 1] = -128
    got = shift_add(codes, np.arange(7), spec)
    want = reference_shift_add(codes, np.arange(7), acc_bits)
    assert want[1].any() == (acc_bits == 14)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("preset", ["default", "tile64", "hermes256"])
def test_golden_charges_in_float32_equal_float64(preset, monkeypatch):
    """The presets' charges fit float32 exactly (charge_dtype): a tile forced to float64 gives the same run."""
    spec = load_preset(preset)
    assert charge_dtype(spec) is np.float32
    rng = np.random.default_rng(3)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.tile.rows, spec.tile.cols))
    x = rng.integers(-m, m + 1, (40, spec.tile.rows))
    fast = GoldenTile(spec, w)
    monkeypatch.setattr(golden_module, "charge_dtype", lambda spec: np.float64)
    wide = GoldenTile(spec, w)
    assert wide._weights_f.dtype == np.float64
    for _ in range(2):                                           # the kept work arrays are reused
        a, b = fast.run(x), wide.run(x)
        np.testing.assert_array_equal(a.codes, b.codes)
        np.testing.assert_array_equal(a.accumulator, b.accumulator)
    np.testing.assert_array_equal(fast.charges(x), (drive_steps(x, spec.input) @ w))


def test_charge_dtype_is_float64_beyond_float32s_exact_range():
    spec = from_dict({"tile": {"rows": 1024, "cols": 16, "weight_bits": 9}, "input": {"bits": 12, "encoding": "pwm"},
                      "adc": {"bits": 14, "full_scale": 1 << 26}, "accumulator": {"bits": 20}})
    assert charge_dtype(spec) is np.float64
