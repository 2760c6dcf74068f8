"""The calibration of the per-row-tile gain trims (aimcgen/contract/tile_gain_calibration.py): the integer rule
against an exact rational reference and its edge cases, the C rule (firmware/aimc_calibrate.c) equal to it bit
for bit, the host routine on golden chips with injected ADC gain errors (the trims recover the row tiles'
gain ratios and the columns' residual error drops against the centred calibration alone), and the C routine
equal to the host routine bit for bit on the same golden chip (through its registers, GoldenRegisterBus).
"""

from __future__ import annotations

import shutil
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as hs

from aimcgen.contract import calibration as rule
from aimcgen.contract.adc_columns import column_adc
from aimcgen.contract.adc_errors import chip_draws
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain import unity_gains
from aimcgen.contract.tile_gain_calibration import (GAIN_RATIO_BITS, gain_trim, gain_trims, mask_to_tile,
                                                    tile_vectors)
from aimcgen.firmware.c_driver import STATUS_CODE, Driver, compile_driver_library
from aimcgen.firmware.c_tile_gain import TileGainDriver
from aimcgen.presets import load_preset
from aimcgen.sim.eval.adc_calibration import GoldenChipHost, adc_errors_for, calibrate_chip, calibrate_tiles, \
    chip_mapping
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.host.calibration import calibrate_columns_centred, calibrate_tile_gains
from aimcgen.sim.host.driver import AimcHost
from aimcgen.sim.models.golden import GoldenAccelerator
from test_host_link import FakeBoard                # the plain-Python board of the host link tests

GAIN_BITS = 10
UNITY = 1 << (GAIN_BITS - 1)


def _spec(row_tiles: int, bits: int = GAIN_BITS, seed: int = 1, **adc):
    errors = adc or {"gain_sigma": 0.05, "offset_sigma_lsb": 1.0}
    return load_preset("default").replace(accumulator={"tile_gain_bits": bits},
                                          array={"row_tiles": row_tiles, "col_tiles": 1},
                                          adc=errors, noise={"seed": seed},
                                          design={"name": f"tg_cal_{row_tiles}_{bits}"})


def _sums(n: int, sq: int, sqq: int, sy: int, sqy: int) -> rule.ColumnSums:
    return rule.ColumnSums(n, sq, sy, sqq, sqy, 1, 1)


def _line(rng, n: int, slope: float, spread: int) -> rule.ColumnSums:
    """Sums of n samples y = slope q + noise (small values: every product exact)."""
    q = rng.integers(-spread, spread + 1, n)
    y = np.round(slope * q + rng.normal(0, 2, n)).astype(np.int64)
    return rule.ColumnSums(n, int(q.sum()), int(y.sum()), int((q * q).sum()), int((q * y).sum()),
                           int(np.abs(q).max()), int(np.abs(y).max()))


def _exact(reference: rule.ColumnSums, tile: rule.ColumnSums, bits: int) -> Fraction:
    """2^(T-1) a_0 / a_r as an exact rational."""
    _, d0, n0 = rule.fit_moments(reference)
    _, dr, nr = rule.fit_moments(tile)
    return Fraction((1 << (bits - 1)) * n0 * dr, d0 * nr)


def _round_half_up(v: Fraction) -> int:
    return int((2 * v.numerator + v.denominator) // (2 * v.denominator))


# ----------------------------------------------------------------------------------- the integer rule

@settings(max_examples=200, deadline=None)
@given(seed=hs.integers(0, 2**32 - 1), bits=hs.integers(2, 16), n=hs.integers(3, 64),
       slope0=hs.floats(0.2, 3.0), slope_r=hs.floats(0.2, 3.0), spread=hs.sampled_from([3, 40, 1000, 30000]))
def test_trim_is_the_rounded_ratio_of_the_slopes(seed, bits, n, slope0, slope_r, spread):
    rng = np.random.default_rng(seed)
    reference, tile = _line(rng, n, slope0, spread), _line(rng, n, slope_r, spread)
    g, status = gain_trim(reference, tile, bits)
    if rule.fit_moments(reference)[0] != rule.OK or rule.fit_moments(tile)[0] != rule.OK:
        assert g == 1 << (bits - 1) and status != rule.OK
        return
    exact = _exact(reference, tile, bits)
    top = (1 << bits) - 1
    assert status == rule.OK
    operands = [v for s in (reference, tile) for v in rule.fit_moments(s)[1:]]
    if max(v.bit_length() for v in operands) <= GAIN_RATIO_BITS:     # nothing truncated: the exact rounding
        assert g == min(_round_half_up(exact), top)
    else:                                                           # truncations: relative 2^-21 at most
        assert abs(g - min(float(exact), top)) <= 0.5 + float(exact) * 2.0 ** -20
    float_ratio = (1 << (bits - 1)) * rule.column_model(reference, _spec(2, bits))[0] / \
        rule.column_model(tile, _spec(2, bits))[0]
    assert abs(g - min(float_ratio, top)) <= 0.5 + 1e-6 * float_ratio


def test_trim_edges():
    line = _sums(4, 10, 50, 20, 100)               # D = 100, N = 200: slope 2 (in q units)
    dead = _sums(4, 10, 50, 7, 10)                 # N = 40 - 70 < 0: BAD_GAIN
    flat = _sums(4, 8, 16, 20, 40)                 # D = 0: NO_SPREAD
    few = _sums(1, 1, 1, 1, 1)
    assert gain_trim(line, line, 10) == (512, rule.OK)
    assert gain_trim(dead, line, 10) == (512, rule.BAD_GAIN)           # tile 0's status first
    assert gain_trim(flat, dead, 10) == (512, rule.NO_SPREAD)
    assert gain_trim(line, few, 10) == (512, rule.FEW_SAMPLES)
    assert gain_trim(line, _sums(4, 10, 50, 10, 50), 10) == (1023, rule.OK)   # ratio 2.0: clamps at 2^T - 1
    assert gain_trim(line, _sums(4, 10, 50, 10, 50), 4) == (15, rule.OK)
    assert gain_trim(_sums(4, 10, 50, 10, 50), line, 2) == (1, rule.OK)       # 0.5 of unity 2: exactly 1
    tiny = _sums(4, 10, 50, 20 << 40, 100 << 40)   # a huge slope in tile r: the trim rounds to 0
    assert gain_trim(line, tiny, 16) == (0, rule.OK)
    huge = _sums(4, 10, 50, 20 << 40, 100 << 40)   # a huge slope in tile 0: "huge", clamps
    assert gain_trim(huge, line, 16) == ((1 << 16) - 1, rule.OK)
    with pytest.raises(rule.CalibrationError, match="tile_gain_bits"):
        gain_trim(line, line, 1)
    with pytest.raises(rule.CalibrationError, match="no trims"):
        gain_trims([[line]], _spec(1))


def test_masking_and_per_tile_vectors():
    spec = _spec(3)
    rng = np.random.default_rng(4)
    L = spec.tile.conductance_levels
    w = rng.integers(-L, L + 1, (spec.logical_rows, spec.logical_cols))
    xs = rng.integers(-7, 8, (5, spec.logical_rows))
    masked = mask_to_tile(xs, spec, 1)
    assert (masked[:, 16:32] == xs[:, 16:32]).all() and not masked[:, :16].any() and not masked[:, 32:].any()
    v = tile_vectors(spec, w, 64, 9, 2)
    assert not v[:, :32].any() and v[:, 32:].any()
    full = rule.calibration_vectors(spec, w, 64, seed=9)
    # each per-tile vector fills the window with tile 2's product alone; masked full vectors do not
    own = np.abs(rule.ideal_products(v, w)).max(axis=1).mean()
    share = np.abs(rule.ideal_products(mask_to_tile(full, spec, 2), w)).max(axis=1).mean()
    assert own > 1.2 * share, (own, share)
    with pytest.raises(rule.CalibrationError, match="row tile 3"):
        mask_to_tile(xs, spec, 3)


# ----------------------------------------------------------------------------------- C == Python, pure rule

@pytest.fixture(scope="module")
def c_rule(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    spec = _spec(2)
    lib = compile_driver_library(spec, tmp_path_factory.mktemp("tile_gain_rule"))

    def no_bus(*_):
        raise AssertionError("the pure rule must not touch the bus")
    return TileGainDriver(Driver(lib, spec, no_bus, no_bus))


def test_c_trim_equals_python_bit_for_bit(c_rule):
    rng = np.random.default_rng(18)
    cases = 0
    for _ in range(400):
        bits = int(rng.integers(2, 17))
        spread = int(rng.choice([3, 40, 3000, 30000]))     # D, N from a few bits to ~47 (truncated to 23)
        n = int(rng.integers(1, 300))
        q = rng.integers(-spread, spread + 1, (2, n)) if rng.random() > 0.05 else np.full((2, n), 5)
        y = np.round(rng.uniform(-0.3, 3, (2, 1)) * q + rng.normal(0, 3, (2, n))).astype(np.int64)
        sums = [rule.ColumnSums(n, int(a.sum()), int(b.sum()), int((a * a).sum()), int((a * b).sum()),
                                int(np.abs(a).max()), int(np.abs(b).max())) for a, b in zip(q, y)]
        expected = gain_trim(sums[0], sums[1], bits)
        assert c_rule.tile_gain(sums[0], sums[1], bits) == expected, (sums, bits)
        cases += expected[1] == rule.OK
    assert cases > 200
    assert c_rule.tile_gain(sums[0], sums[1], 1)[1] == STATUS_CODE["AIMC_ERR_ARG"]


# ----------------------------------------------------------------------------------- golden chips

def injected_gain(spec, tile: int) -> np.ndarray:
    """The ADC gain of every column of row tile `tile` (contract.adc_errors: 1 + gain_sigma z_gain of the
    column's ADC); the code of a charge is about charge / gain, so the trim of tile r is gain_r / gain_0."""
    adc = column_adc(spec, np.arange(spec.tile.cols))[0]
    return 1.0 + spec.adc.gain_sigma * chip_draws(spec, tile).z_gain[adc]


def _weights(spec, seed: int) -> np.ndarray:
    L = spec.tile.conductance_levels
    return np.random.default_rng(seed).integers(-L, L + 1, (spec.logical_rows, spec.logical_cols))


def _tile_gain_errors(spec, accel, w, seed: int, st, ot) -> np.ndarray:
    """Per row tile r and column j: |slope - 1| of the calibrated outputs against the intended outputs of the
    exact product, over held-out vectors that drive row tile r alone (least squares, samples away from the
    relu and the output clamp). The centred calibration alone fits one gain for the sum of the row tiles, so
    a row tile whose ADC is off shows here; trims should remove it."""
    out = []
    f = float(1 << spec.postproc.scale_frac_bits)
    for r in range(spec.array.row_tiles):
        tests = tile_vectors(spec, w, 512, seed, r)
        intended = (rule.ideal_products(tests, w) / float(1 << spec.adc.lsb_shift) * st + ot) / f
        got = accel.run(tests).outputs
        row = []
        for j in range(spec.logical_cols):
            keep = (intended[:, j] > 4) & (intended[:, j] < spec.postproc.output_max - 4)   # never clamped
            slope = np.polyfit(intended[keep, j], got[keep, j], 1)[0]
            row.append(abs(slope - 1.0))
        out.append(row)
    return np.array(out)


@pytest.mark.parametrize("row_tiles, tolerance", [(2, 0.035), (4, 0.04)])
def test_golden_trims_recover_the_tile_gain_ratios_and_cut_the_tile_gain_error(row_tiles, tolerance):
    """ADC gain errors (sigma 8 %) and offsets on 5 chips: the trims recover gain_r / gain_0 with an rms error
    below `tolerance` and below 0.4 times the mismatch they correct (rms of gain_r / gain_0 - 1); on held-out
    vectors that drive one row tile at a time, the calibrated gain error after trims + centred is below 0.75
    times that after the centred calibration alone."""
    errors, mismatch, after_tiles, after_centred = [], [], [], []
    for seed in range(1, 6):
        spec = _spec(row_tiles, seed=seed, gain_sigma=0.08, offset_sigma_lsb=1.0)
        w = _weights(spec, seed)
        n = 512
        xs = rule.calibration_vectors(spec, w, n, seed=seed)
        cols = spec.logical_cols
        st, ot = np.full(cols, unity_scale(spec)), np.full(cols, 4 << spec.postproc.scale_frac_bits)
        chip = GoldenAccelerator(spec, w)
        tile_xs = [tile_vectors(spec, w, n, seed, r) for r in range(row_tiles)]
        done = calibrate_tile_gains(GoldenChipHost(chip), spec, w, xs, st, ot, tile_xs)
        assert (done.status == rule.OK).all() and not done.failed and not done.columns.failed
        truth = np.array([injected_gain(spec, r) / injected_gain(spec, 0) for r in range(1, row_tiles)])
        errors.append(done.gains / UNITY - truth)
        mismatch.append(truth - 1.0)
        assert np.array_equal(chip.tile_gains if chip.tile_gains is not None else unity_gains(spec), done.gains)
        after_tiles.append(_tile_gain_errors(spec, chip, w, seed + 100, st, ot))
        plain = GoldenAccelerator(spec, w)
        calibrate_columns_centred(GoldenChipHost(plain), spec, w, xs, st, ot)
        after_centred.append(_tile_gain_errors(spec, plain, w, seed + 100, st, ot))
    errors = np.concatenate([e.ravel() for e in errors])
    rms, rms_mismatch = (float(np.sqrt((v ** 2).mean())) for v in (errors, np.concatenate(mismatch).ravel()))
    tiles, centred = float(np.mean(after_tiles)), float(np.mean(after_centred))
    print(f"{row_tiles} row tiles: trim error rms {rms:.4f} (max {np.abs(errors).max():.4f}) against a mismatch of "
          f"rms {rms_mismatch:.4f}; held-out per-tile gain error {tiles:.4f} after trims + centred, {centred:.4f} "
          "after centred alone")
    assert rms < tolerance and rms < 0.4 * rms_mismatch, (rms, rms_mismatch)
    assert tiles < 0.75 * centred, (tiles, centred)


def test_golden_without_trims_the_tiles_method_is_the_centred_one():
    spec = load_preset("default").replace(array={"row_tiles": 2}, adc={"gain_sigma": 0.05}, noise={"seed": 3})
    w = _weights(spec, 3)
    xs = rule.calibration_vectors(spec, w, 128, seed=3)
    cols = spec.logical_cols
    st, ot = np.full(cols, unity_scale(spec)), np.zeros(cols, dtype=np.int64)
    a = calibrate_tiles(GoldenChipHost(GoldenAccelerator(spec, w)), spec, w, xs, st, ot, seed=3)
    b = calibrate_columns_centred(GoldenChipHost(GoldenAccelerator(spec, w)), spec, w, xs, st, ot)
    assert np.array_equal(a.scale, b.scale) and np.array_equal(a.offset, b.offset)
    with pytest.raises(rule.CalibrationError, match="no trims"):
        calibrate_tile_gains(GoldenChipHost(GoldenAccelerator(spec, w)), spec, w, xs, st, ot)


def test_digits_mlp_tiles_method_trims_the_multi_row_tile_layers():
    """default preset with trims: the evaluation's "tiles" method loads trims in the layers that span several
    row tiles (the digits MLP's two layers: 4 and 2), away from unity where the ADCs differ."""
    net = load_network(default_model_path())
    spec = load_preset("default").replace(accumulator={"tile_gain_bits": GAIN_BITS})
    mapping = map_network(net, spec, net.meta["x_calib"])
    chip = chip_mapping(mapping, 2, adc_errors_for(spec.adc, 0.05, 1.0, 0.02, 1.0))
    backend = GoldenBackend(chip)
    done = calibrate_chip(backend, 256, "tiles")
    assert len(done) == len(mapping.layers)          # (unused columns of a tile fail: no spread, as centred)
    multi = [(layer, accel) for layer, accel in zip(chip.layers, backend.accels) if layer.row_tiles > 1]
    assert [layer.row_tiles for layer, _ in multi] == [4, 2]
    for layer, accel in multi:
        assert accel.tile_gains is not None and np.abs(accel.tile_gains / UNITY - 1).max() > 0.02


# ----------------------------------------------------------------------------------- C == host on one chip

class GoldenRegisterBus:
    """The registers the C driver's calibration touches (identification, CONFIG, LAYER_*, ERRORS, CTRL.start,
    STATUS, OUT_COUNT; the INPUT, SCALE, OFFSET, OUTPUT and TILE_GAIN windows) on a golden accelerator: a
    CTRL.start runs accel.run on INPUT (one whole-grid layer only), so the C routines run on the bit-exact
    model. Word values are stored as written; the golden model checks the coefficient and trim ranges."""

    def __init__(self, accel: GoldenAccelerator):
        self.accel, self.spec = accel, accel.spec
        self.map = aimc_register_map(accel.spec)
        self.regs = {r.address: r for r in self.map.registers}
        self.values = {r.address: r.reset for r in self.map.registers}
        self.windows = {w.name: w for w in self.map.windows}
        self.inp = np.zeros(self.spec.logical_rows, dtype=np.int64)
        self.out = np.zeros(self.spec.logical_cols, dtype=np.int64)
        self.gains = unity_gains(self.spec).ravel().copy()
        self.out_count = 0
        self.mvms = 0

    def _window(self, address: int):
        for w in self.windows.values():
            if w.address <= address < w.address + 4 * w.depth:
                return w, (address - w.address) // 4
        raise AssertionError(f"no register or window at {address:#x}")

    def read(self, address: int) -> int:
        reg = self.regs.get(address)
        if reg is not None:
            return {"STATUS": 0, "ERRORS": 0, "OUT_COUNT": self.out_count}.get(reg.name, self.values[address])
        w, i = self._window(address)
        values = {"SCALE": self.accel.scale, "OFFSET": self.accel.offset, "OUTPUT": self.out,
                  "TILE_GAIN": self.gains}[w.name]
        return int(values[i]) & 0xFFFFFFFF

    def write(self, address: int, value: int) -> None:
        value = value - (1 << 32) if value >> 31 else value
        reg = self.regs.get(address)
        if reg is not None:
            if reg.name == "CTRL" and value & 1:
                self._start()
            elif reg.name not in ("ERRORS", "CTRL"):
                self.values[address] = value & 0xFFFFFFFF
            return
        w, i = self._window(address)
        if w.name == "INPUT":
            self.inp[i] = value
        elif w.name == "TILE_GAIN":
            self.gains[i] = value
            self.accel.set_tile_gains(self.gains.reshape(self.spec.array.row_tiles - 1, -1))
        elif w.name in ("SCALE", "OFFSET"):
            scale, offset = self.accel.scale.copy(), self.accel.offset.copy()
            (scale if w.name == "SCALE" else offset)[i] = value
            self.accel.set_coefficients(scale, offset)
        else:
            raise AssertionError(f"the calibration does not write window {w.name}")

    def _start(self) -> None:
        count = self.values[self.map.register("LAYER_COUNT").address]
        assert count == 1 and self.values[self.map.register("LAYER_0").address] == 0, "one whole-grid layer"
        self.out[:] = self.accel.run(self.inp[None, :]).outputs[0]
        self.out_count, self.mvms = (self.out_count + 1) & 0xFFFFFFFF, self.mvms + 1


@pytest.fixture(scope="module")
def c_chip(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    libs = {}
    for row_tiles in (2, 4):
        spec = _spec(row_tiles, seed=7)
        libs[row_tiles] = (spec, compile_driver_library(spec, tmp_path_factory.mktemp(f"tile_gain_{row_tiles}")))
    return libs


@pytest.mark.parametrize("row_tiles, per_tile", [(2, False), (4, True)])
def test_c_routine_equals_the_host_routine_on_the_same_golden_chip(c_chip, row_tiles, per_tile):
    spec, lib = c_chip[row_tiles]
    w = _weights(spec, 11)
    n = 96
    xs = rule.calibration_vectors(spec, w, n, seed=11)
    tile_xs = [tile_vectors(spec, w, n, 11, r) for r in range(row_tiles)] if per_tile else None
    cols = spec.logical_cols
    st, ot = np.full(cols, unity_scale(spec)), np.full(cols, 3 << spec.postproc.scale_frac_bits)
    window = rule.measurement_window(spec)
    bus = GoldenRegisterBus(GoldenAccelerator(spec, w))
    drv = Driver(lib, spec, bus.read, bus.write)
    drv.init(10)
    c = TileGainDriver(drv).calibrate_tile_gains(w, xs, window, rule.CENTRING_ROUNDS, st, ot, tile_xs)
    host_chip = GoldenAccelerator(spec, w)
    host = calibrate_tile_gains(GoldenChipHost(host_chip), spec, w, xs, st, ot, tile_xs)
    assert c["cal_status"] == STATUS_CODE["AIMC_OK"]
    np.testing.assert_array_equal(c["gains"], host.gains)
    np.testing.assert_array_equal(c["gain_status"], host.status)
    for key in ("scale", "offset", "status", "trim"):
        np.testing.assert_array_equal(c[key], getattr(host.columns, key), err_msg=key)
    assert np.any(host.gains != UNITY)
    tests = rule.calibration_vectors(spec, w, 16, seed=12)
    np.testing.assert_array_equal(drv.run_batch(tests), host_chip.run(tests).outputs)   # same state, same noise


def test_c_routines_refuse_a_chip_without_trims(tmp_path):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    spec = _spec(2, bits=0)
    bus = GoldenRegisterBus(GoldenAccelerator(spec, _weights(spec, 1)))
    drv = Driver(compile_driver_library(spec, tmp_path), spec, bus.read, bus.write)
    drv.init(10)
    tg = TileGainDriver(drv)
    assert tg.load_tile_gains(np.zeros(spec.logical_cols, dtype=np.int64), check=False) == STATUS_CODE["AIMC_ERR_ARG"]
    xs = np.zeros((4, spec.logical_rows), dtype=np.int64)
    cols = spec.logical_cols
    done = tg.calibrate_tile_gains(_weights(spec, 1), xs, rule.measurement_window(spec), 0, np.full(cols, 64),
                                   np.zeros(cols), check=False)
    assert done["cal_status"] == STATUS_CODE["AIMC_ERR_ARG"] and bus.mvms == 0


def test_host_driver_writes_the_tile_gain_window():
    spec = _spec(3)
    regmap = aimc_register_map(spec)
    board = FakeBoard(regmap)
    host = AimcHost(board, regmap=regmap)
    gains = np.arange(2 * spec.logical_cols).reshape(2, spec.logical_cols) + 500
    host.load_tile_gains(gains)
    window = regmap.window("TILE_GAIN")
    assert [board.mem[window.address + 4 * i] for i in range(window.depth)] == list(gains.ravel())
    with pytest.raises(ValueError, match="shape"):
        host.load_tile_gains(gains[:1])
    with pytest.raises(ValueError):
        host.load_tile_gains(np.full((2, spec.logical_cols), 1 << GAIN_BITS))       # 11 bits: does not fit
    plain = aimc_register_map(_spec(3, bits=0))
    with pytest.raises(ValueError, match="no TILE_GAIN window"):
        AimcHost(FakeBoard(plain), regmap=plain).load_tile_gains(gains)
