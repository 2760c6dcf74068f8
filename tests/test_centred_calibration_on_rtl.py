"""The centred per-column calibration on the generated Verilog (sim/verify/benches/centred_calibration_bench.py).

Bit-serial inputs (3 bit planes) multiply every ADC conversion's offset by 2^3 - 1 = 7; with offsets of up to
8 ADC LSBs (up to 56 accumulator LSBs) and a 6-bit output (measurement window -32..31), whole columns'
read-outs clamp at SCALE = 1.0 and the plain routine (aimc_calibrate_columns, the contract's measurement)
fits a truncated cloud. The centred routine (aimc_calibrate_columns_centred) must recover every column's injected gain and offset within one
LSB: gain within one LSB over the largest held-out |u|, offset within one accumulator LSB of the injected
offset plus the SAR's floor bias (1/2 ADC LSB per conversion), both read back from the loaded registers
(gain = s_t / s', offset = -o' / s'), and the calibrated held-out outputs must have no bias above one LSB
per column. The C routines and the host driver's routines (sim.host.calibration, over the same bus) run
the same MVMs on the same chip, so they must load the same registers and give the same outputs bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.calibration import CENTRING_ROUNDS, OK, calibration_vectors, ideal_products
from aimcgen.contract.postproc import unity_scale
from aimcgen.firmware.c_driver import STATUS_CODE
from aimcgen.sim.verify.calibration_macro import column_errors
from aimcgen.spec import from_dict
from calibration_rtl import periphery_verilog, random_weights, require_tools, run_driver_bench

BENCH = "aimcgen.sim.verify.benches.centred_calibration_bench"
SIMULATOR = "verilator"
SPEC = {"tile": {"rows": 8, "cols": 4, "weight_bits": 4}, "array": {"row_tiles": 1, "col_tiles": 2},
        "input": {"bits": 4, "encoding": "bit_serial"},
        "adc": {"kind": "sar", "bits": 8, "count": 2, "full_scale": 1024}, "accumulator": {"bits": 14},
        "postproc": {"activation": "none", "scale_bits": 14, "scale_frac_bits": 8, "offset_bits": 20,
                     "output_bits": 6},
        "noise": {"sigma_lsb": 0.3}, "design": {"name": "cal_centred_rtl"}}
SEED = 1818
CAL_VECTORS = 128
OUTPUT_SATURATED = 1 << 1      # ERRORS.output_saturated
TESTS = ("test_c_centred", "test_host_routine_centred")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    require_tools(SIMULATOR)
    spec = from_dict(SPEC)
    root = tmp_path_factory.mktemp("centred_calibration_on_rtl")
    rng = np.random.default_rng(SEED)
    w = random_weights(spec, rng)
    errors = column_errors(spec, SEED, gain_spread=0.15, offset_spread_lsb=8.0)
    cols = spec.logical_cols
    stim = {"weights": w, "gain": errors.gain, "offset_lsb": errors.offset_lsb,
            "cal_vectors": calibration_vectors(spec, w, CAL_VECTORS, seed=SEED),
            "test_vectors": calibration_vectors(spec, w, 24, seed=SEED + 1),
            "target_scale": np.full(cols, unity_scale(spec)), "target_offset": np.zeros(cols, dtype=np.int64),
            "rounds": CENTRING_ROUNDS}
    source = periphery_verilog(spec, root, "cal_centred_rtl")
    return spec, stim, run_driver_bench(spec, root, BENCH, source, "cal_centred_rtl", list(TESTS), stim, SIMULATOR)


def _ideal(spec, stim) -> np.ndarray:
    return ideal_products(stim["test_vectors"], stim["weights"]) / float(1 << spec.adc.lsb_shift)


def _fitted_errors(spec, stim, fit) -> tuple[np.ndarray, np.ndarray]:
    """Per column: |fitted - injected gain| times the largest held-out |u|, and |fitted - injected offset|
    in accumulator LSBs (the offset of every conversion, less the floor's 1/2 LSB, times the step weights)."""
    scale, offset = np.array(fit["scale"], dtype=np.float64), np.array(fit["offset"], dtype=np.float64)
    gain_hat, offset_hat = unity_scale(spec) / scale, -offset / scale
    weight = float((1 << spec.input.steps) - 1)
    expected_offset = (np.array(stim["offset_lsb"]) - 0.5) * weight
    u_max = np.abs(_ideal(spec, stim)).max(axis=0)
    return np.abs(gain_hat - np.array(stim["gain"])) * u_max, np.abs(offset_hat - expected_offset)


def test_centred_c_routine_recovers_offsets_the_plain_routine_clips(reports):
    spec, stim, report = reports
    c = report["test_c_centred"]
    assert c["errors"] & ~OUTPUT_SATURATED == 0, f"error flags {c['errors']:#x}"  # measuring clamps outputs
    assert c["centred"]["cal_status"] == STATUS_CODE["AIMC_OK"]
    assert (np.array(c["centred"]["status"]) == OK).all(), c["centred"]["status"]
    gain_err, offset_err = _fitted_errors(spec, stim, c["centred"])
    plain_gain_err, plain_offset_err = _fitted_errors(spec, stim, c["plain"])
    u = _ideal(spec, stim)
    bias = np.abs((np.array(c["after"]) - u).mean(axis=0))
    print(f"trims {c['centred']['trim']}; centred: gain error {gain_err.max():.3f}, offset error "
          f"{offset_err.max():.3f}, output bias {bias.max():.3f} LSB; plain: gain error {plain_gain_err.max():.2f}, "
          f"offset error {plain_offset_err.max():.2f} LSB; before: bias "
          f"{np.abs((np.array(c['before']) - u).mean(axis=0)).max():.2f} LSB")
    assert np.any(np.array(c["centred"]["trim"]) != 0), "the offsets should have needed a trim"
    assert max(plain_gain_err.max(), plain_offset_err.max()) > 3.0, "the plain routine should have clipped"
    assert gain_err.max() < 1.0 and offset_err.max() < 1.0, (gain_err, offset_err)
    assert bias.max() < 1.0, bias


def test_c_and_host_routines_load_the_same_registers(reports):
    _, _, report = reports
    c, host = report["test_c_centred"], report["test_host_routine_centred"]
    for routine in ("plain", "centred"):
        for key in ("scale", "offset", "status", "trim"):
            np.testing.assert_array_equal(host[routine][key], c[routine][key], err_msg=f"{routine} {key}")
    for key in ("before", "after_plain", "after"):
        np.testing.assert_array_equal(host[key], c[key], err_msg=key)
