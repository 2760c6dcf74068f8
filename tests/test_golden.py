"""The golden model: exact against a float reference, against hand-worked cases, and against a
straight-line loop reading of its own bit-level definition (noise order included)."""

import numpy as np
import pytest

from aimcgen.sim.models.golden import GoldenAccelerator, GoldenTile
from aimcgen.contract.noise import initial_state, lfsr_step, noise_multiplier
from aimcgen.contract.postproc import postprocess
from aimcgen.spec import SpecError, from_dict

W = np.array([[3, -2], [1, 2]])
X = np.array([[3, -2]])


def tiny(encoding="bit_serial", kind="sar", adc_bits=4, full_scale=8, **extra):
    tables = {"tile": {"rows": 2, "cols": 2, "weight_bits": 3},
              "input": {"bits": 3, "encoding": encoding},
              "adc": {"kind": kind, "bits": adc_bits, "count": 1, "full_scale": full_scale},
              "accumulator": {"bits": 8},
              "postproc": {"scale_bits": 8, "scale_frac_bits": 2, "offset_bits": 8, "output_bits": 8},
              "noise": {"sigma_lsb": 0.0}}
    for section, values in extra.items():
        tables.setdefault(section, {}).update(values)
    return from_dict(tables)


# Bit-serial, x = [3, -2]: plane 0 drives rows [+1, 0] -> charges [3, -2]; plane 1 drives [+1, -1] ->
# charges [2, -4]; accumulator = code0 + 2 * code1.
@pytest.mark.parametrize("kind,adc_bits,full_scale,expected_codes,expected_acc", [
    ("sar", 4, 8, [[3, -2], [2, -4]], [7, -10]),       # LSB 1, no clipping: exact x @ W
    ("sar", 2, 2, [[1, -2], [1, -2]], [3, -6]),        # codes -2..1: both planes clip
    ("sar", 2, 4, [[1, -1], [1, -2]], [3, -5]),        # LSB 2: floor(3/2)=1, floor(-2/2)=-1, floor(-4/2)=-2
    ("ramp", 2, 4, [[1, -1], [1, -2]], [3, -5]),       # ramp thresholds equal the SAR's
    ("flash", 2, 4, [[1, -1], [1, -2]], [3, -5]),      # flash: floor((3+1)/2)=2 clips to 1; floor(-1/2)=-1
])
def test_bit_serial_hand_worked(kind, adc_bits, full_scale, expected_codes, expected_acc):
    result = GoldenTile(tiny("bit_serial", kind, adc_bits, full_scale), W).run(X)
    assert result.codes[:, 0, :].tolist() == expected_codes
    assert result.accumulator[0].tolist() == expected_acc


# PWM, x = [3, -2]: one integration of x @ W = [7, -10] charge units; 4-bit ADC with LSB 2.
@pytest.mark.parametrize("kind,expected", [
    ("sar", [3, -5]),      # floor(7/2), floor(-10/2)
    ("ramp", [3, -5]),
    ("flash", [4, -5]),    # floor((7+1)/2), floor((-10+1)/2): half an LSB lower thresholds
])
def test_pwm_hand_worked(kind, expected):
    result = GoldenTile(tiny("pwm", kind, 4, 16), W).run(X)
    assert result.codes.shape == (1, 1, 2)
    assert result.accumulator[0].tolist() == expected


def test_flash_rounds_where_sar_floors():
    w = np.array([[1, -1], [0, 0]])
    x = np.array([[1, 0]])   # charges [1, -1] with LSB 2: SAR floor -> [0, -1], flash half up -> [1, 0]
    assert GoldenTile(tiny("pwm", "sar", 4, 16), w).run(x).accumulator[0].tolist() == [0, -1]
    assert GoldenTile(tiny("pwm", "flash", 4, 16), w).run(x).accumulator[0].tolist() == [1, 0]


@pytest.mark.parametrize("activation,clip_max,output_bits,expected", [
    ("none", 0, 8, [5, -7]),     # 3*1.5+0.25 = 4.75 -> 5; -5*1.5+0.25 = -7.25 -> -7 (round half up)
    ("relu", 0, 8, [5, 0]),
    ("clip", 4, 8, [4, 0]),
    ("none", 0, 3, [3, -4]),     # saturates to the 3-bit output range
])
def test_postprocess_hand_worked(activation, clip_max, output_bits, expected):
    spec = tiny(postproc={"activation": activation, "clip_max": clip_max, "output_bits": output_bits})
    out, saturated = postprocess(np.array([[3, -5]]), np.array([6, 6]), np.array([1, 1]), spec)
    assert out[0].tolist() == expected
    assert saturated[0].tolist() == [output_bits == 3] * 2


def test_accumulator_saturates_with_sticky_flag():
    spec = tiny(adc_bits=4, full_scale=8, accumulator={"bits": 5}, input={"bits": 3})
    result = GoldenTile(spec, np.array([[3, 3], [3, -3]])).run(np.array([[3, 3], [3, -3]]))
    # column 0: charges 6, 6 -> acc 6 + 12 = 18 > 15 saturates; column 1: 0, 0
    assert result.accumulator[:, 0].tolist() == [15, 0]
    assert result.overflow[:, 0].tolist() == [True, False]


@pytest.mark.parametrize("encoding", ["pwm", "bit_serial"])
@pytest.mark.parametrize("kind", ["sar", "ramp", "flash"])
def test_ideal_golden_equals_float_reference(encoding, kind):
    """No noise, LSB of one charge unit and an ADC range wider than any charge: exactly x @ W."""
    adc_bits = 8 if kind == "flash" else 14
    rows, cols = (16 if kind == "flash" else 32), 24
    spec = from_dict({"tile": {"rows": rows, "cols": cols, "weight_bits": 4},
                      "input": {"bits": 6, "encoding": encoding},
                      "adc": {"kind": kind, "bits": adc_bits, "count": 4, "full_scale": 1 << (adc_bits - 1)},
                      "accumulator": {"bits": 24},
                      "postproc": {"scale_bits": 4, "scale_frac_bits": 2, "output_bits": 24},
                      "device": {"model": "ideal"}, "noise": {"sigma_lsb": 0.0}})
    rng = np.random.default_rng(7)
    w = rng.integers(-7, 8, (rows, cols))
    x = rng.integers(-31, 32, (50, rows))
    if kind == "flash" and encoding == "pwm":   # an 8-bit flash ADC cannot span 31-cycle PWM charges
        x = np.clip(x, -1, 1)
    charges = GoldenTile(spec, w).charges(x)
    assert np.abs(charges).max() <= spec.adc.code_max, "test setup: the ADC range must cover every charge"
    result = GoldenAccelerator(spec, w).run(x)
    np.testing.assert_array_equal(result.outputs, x.astype(float) @ w.astype(float))


def loop_reference(spec, w, xs, tile_index=0):
    """The golden model's definition read literally: one sample at a time, one LFSR step at a time."""
    adcs, group = spec.adc.count, spec.columns_per_adc
    states = [initial_state(spec.noise.seed, tile_index, a) for a in range(adcs)]
    m, shift = noise_multiplier(spec), spec.adc.lsb_shift
    acc_lo, acc_hi = -(1 << (spec.accumulator.bits - 1)), (1 << (spec.accumulator.bits - 1)) - 1
    out = []
    for x in xs.tolist():
        acc = [0] * spec.tile.cols
        steps = [x] if spec.input.encoding == "pwm" else [
            [(abs(v) >> k & 1) * (-1 if v < 0 else 1) for v in x] for k in range(spec.input.steps)]
        for k, drive in enumerate(steps):
            for p in range(group):
                for a in range(adcs):
                    col = a * group + p
                    s = states[a]
                    c = sum((s >> (8 * i)) & 0xFF for i in range(4)) - 510
                    noise = (c * m + (1 << 15)) >> 16
                    for _ in range(32):
                        s = lfsr_step(s)
                    states[a] = s
                    q = sum(drive[i] * int(w[i][col]) for i in range(len(drive))) + noise
                    if spec.adc.kind == "flash" and shift:
                        q += 1 << (shift - 1)
                    code = min(max(q >> shift, spec.adc.code_min), spec.adc.code_max)
                    acc[col] = min(max(acc[col] + (code << (0 if spec.input.encoding == "pwm" else k)),
                                       acc_lo), acc_hi)
        out.append(acc)
    return np.array(out)


@pytest.mark.parametrize("preset_like", [
    {"input": {"encoding": "bit_serial"}, "adc": {"kind": "sar", "count": 2}},
    {"input": {"encoding": "pwm", "bits": 4}, "adc": {"kind": "flash", "count": 4, "full_scale": 64},
     "accumulator": {"bits": 8}},
    {"input": {"encoding": "bit_serial", "bits": 6}, "adc": {"kind": "ramp", "count": 1, "full_scale": 64}},
])
def test_noisy_golden_matches_loop_reference(preset_like):
    tables = {"tile": {"rows": 8, "cols": 8}, "noise": {"sigma_lsb": 3.0, "seed": 99}}
    for section, values in preset_like.items():
        tables.setdefault(section, {}).update(values)
    spec = from_dict(tables)
    rng = np.random.default_rng(3)
    w = rng.integers(-7, 8, (8, 8))
    m = spec.input.max_magnitude
    xs = rng.integers(-m, m + 1, (6, 8))
    tile = GoldenTile(spec, w)
    got = np.concatenate([tile.run(xs[:2]).accumulator, tile.run(xs[2:]).accumulator])  # state carries over
    np.testing.assert_array_equal(got, loop_reference(spec, w, xs))


def test_multi_tile_partial_sums_and_concatenation():
    spec = from_dict({"tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 3},
                      "adc": {"count": 2}, "noise": {"sigma_lsb": 2.0, "seed": 5},
                      "postproc": {"output_bits": 16}})
    rng = np.random.default_rng(1)
    w = rng.integers(-7, 8, (8, 12))
    x = rng.integers(-7, 8, (5, 8))
    result = GoldenAccelerator(spec, w).run(x)
    expected = np.zeros((5, 12), dtype=np.int64)
    for r in range(2):
        for c in range(3):
            ref = loop_reference(spec, w[4 * r:4 * r + 4, 4 * c:4 * c + 4], x[:, 4 * r:4 * r + 4], r * 3 + c)
            expected[:, 4 * c:4 * c + 4] += ref
    np.testing.assert_array_equal(result.accumulator, expected)
    np.testing.assert_array_equal(result.outputs, expected)      # unity scale, wide output


def test_bad_weights_inputs_and_coefficients_are_named():
    spec = tiny()
    with pytest.raises(SpecError, match=r"weights: codes must lie in -3..3"):
        GoldenTile(spec, np.array([[4, 0], [0, 0]]))
    with pytest.raises(SpecError, match=r"weights: expected shape \(2, 2\)"):
        GoldenTile(spec, np.zeros((3, 2), dtype=int))
    with pytest.raises(SpecError, match=r"inputs: values must lie in -3..3"):
        GoldenTile(spec, W).run(np.array([[4, 0]]))
    with pytest.raises(SpecError, match=r"postproc scale: codes must lie in -128..127"):
        GoldenAccelerator(spec, W, scale=200)


def test_run_layers_feeds_back_clamped_outputs_and_checks_ranges():
    spec = tiny(encoding="bit_serial", adc_bits=6, full_scale=32, noise={"sigma_lsb": 0.0})
    model = GoldenAccelerator(spec, np.array([[3, -2], [1, 2]]))
    # layer 0: column 0 of x@W = 3*3 + 1*1 = 10 -> clamped to input max 3 -> next x = [3, 0]
    # layer 1: columns 0..1 of [3, 0] @ W = [9, -6]
    assert model.run_layers(np.array([[3, 1]]), [(0, 1), (0, 0)]).tolist() == [[9, -6]]
    with pytest.raises(SpecError, match=r"layer 0: columns 1..2 must lie within 0..1"):
        model.run_layers(np.array([[3, 1]]), [(1, 2)])
    with pytest.raises(SpecError, match=r"1..4 \(array.max_layers\)"):
        model.run_layers(np.array([[3, 1]]), [(0, 1)] * 5)


def test_set_weight_equals_a_model_built_with_that_weight():
    """A weight write between MVMs (the scoreboard's use) lands in the right tile and in the charges."""
    spec = from_dict({"tile": {"rows": 2, "cols": 2, "weight_bits": 3}, "array": {"row_tiles": 2, "col_tiles": 2},
                      "input": {"bits": 3}, "adc": {"bits": 5, "count": 1, "full_scale": 16},
                      "noise": {"sigma_lsb": 1.0}})
    rng = np.random.default_rng(4)
    w = rng.integers(-3, 4, (4, 4))
    x = rng.integers(-3, 4, (5, 4))
    model = GoldenAccelerator(spec, w)
    w[3, 1] = -3 if w[3, 1] != -3 else 3                    # logical (3, 1): tile 2, local (1, 1)
    model.set_weight(3, 1, w[3, 1])
    assert model.tiles[2].weights[1, 1] == w[3, 1]
    np.testing.assert_array_equal(model.run(x).outputs, GoldenAccelerator(spec, w).run(x).outputs)
    with pytest.raises(SpecError, match=r"codes must lie in -3\.\.3"):
        model.set_weight(0, 0, -4)
    with pytest.raises(IndexError, match=r"\(4, 0\) lies outside the 4 x 4 logical matrix"):
        model.set_weight(4, 0, 1)
