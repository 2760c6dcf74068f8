"""Per-column calibration on the generated Verilog (sim/verify/benches/calibration_bench.py): the analog macros
have per-column gain and offset errors (sim.verify.calibration_macro, plus the emulated read noise); the C
driver (its HAL on the Wishbone bus) and the host driver (its UART protocol through the RTL bridge) each
measure the columns and load SCALE/OFFSET. With identity targets (SCALE = 1.0, OFFSET = 0), the calibrated
outputs of held-out vectors must equal the ideal accumulator u = (x @ W) / 2^lsb_shift within one LSB, and
the fitted gain/offset (read back from the registers: gain = s_t / s', offset = -o' / s') must be the
injected ones: gain within one LSB over the largest held-out |u|, offset within one LSB of the injected
offset minus the SAR's floor bias of 1/2 LSB. Drift afterwards (each column loses its own share of gain):
per-column drift compensation brings the outputs back closer than global compensation does. Both drivers
see the same chip (same seeds, same MVMs in the same order), so they must load the same registers.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.calibration import OK, calibration_vectors, ideal_products
from aimcgen.contract.postproc import unity_scale
from aimcgen.firmware.c_driver import STATUS_CODE
from aimcgen.sim.verify.calibration_macro import column_errors
from aimcgen.sim.verify.calibration_uart_top import write_periphery_uart_top
from aimcgen.spec import from_dict
from calibration_rtl import periphery_verilog, random_weights, require_tools, run_driver_bench

BENCH = "aimcgen.sim.verify.benches.calibration_bench"
SIMULATOR = "verilator"
DIVISOR = 4
SPEC = {"tile": {"rows": 8, "cols": 4, "weight_bits": 4}, "array": {"row_tiles": 1, "col_tiles": 2},
        "input": {"bits": 5, "encoding": "pwm"}, "adc": {"kind": "sar", "bits": 8, "count": 2, "full_scale": 1024},
        "accumulator": {"bits": 12},
        "postproc": {"activation": "none", "scale_bits": 14, "scale_frac_bits": 8, "offset_bits": 20,
                     "output_bits": 10},
        "noise": {"sigma_lsb": 0.3}, "design": {"name": "cal_rtl"}}
SEED = 18


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    require_tools(SIMULATOR)
    spec = from_dict(SPEC)
    root = tmp_path_factory.mktemp("calibration_on_rtl")
    rng = np.random.default_rng(SEED)
    w = random_weights(spec, rng)
    errors = column_errors(spec, SEED, gain_spread=0.15, offset_spread_lsb=4.0)
    cols = spec.logical_cols
    stim = {"weights": w, "gain": errors.gain, "offset_lsb": errors.offset_lsb,
            "cal_vectors": calibration_vectors(spec, w, 24, seed=SEED),
            "test_vectors": calibration_vectors(spec, w, 12, seed=SEED + 1),
            "target_scale": np.full(cols, unity_scale(spec)), "target_offset": np.zeros(cols, dtype=np.int64),
            "drift": rng.uniform(0.75, 0.95, cols), "divisor": DIVISOR}
    return spec, root, stim, {}


def run(setup, test: str, source, top):
    spec, root, stim, _ = setup
    return run_driver_bench(spec, root, BENCH, source, top, test, stim, SIMULATOR)[test]


def ideal(spec, stim) -> np.ndarray:
    return ideal_products(stim["test_vectors"], stim["weights"]) / float(1 << spec.adc.lsb_shift)


def check_recovered(spec, stim, report, who: str) -> None:
    u = ideal(spec, stim)
    before, after = np.array(report["before"]), np.array(report["after"])
    status = np.array(report["status"])
    assert (status == OK).all(), f"{who}: columns not calibrated: {status}"
    err_before, err_after = np.abs(before - u), np.abs(after - u)
    print(f"{who}: |output - ideal| before max {err_before.max():.2f} mean {err_before.mean():.2f} LSB, "
          f"after max {err_after.max():.2f} mean {err_after.mean():.2f} LSB")
    assert err_after.max() <= 1.0, f"{who}: calibrated outputs off the ideal by {err_after.max():.2f} LSB:\n{after - u}"
    assert err_before.max() > 2.0, "the injected errors should be visible before calibration"
    scale, offset = np.array(report["scale"], dtype=np.float64), np.array(report["offset"], dtype=np.float64)
    gain_hat = unity_scale(spec) / scale
    offset_hat = -offset / scale
    u_max = np.abs(u).max(axis=0)
    gain_err_lsb = np.abs(gain_hat - np.array(stim["gain"])) * u_max
    offset_err = np.abs(offset_hat - (np.array(stim["offset_lsb"]) - 0.5))
    print(f"{who}: gain error over the largest |u| max {gain_err_lsb.max():.3f} LSB, offset error max "
          f"{offset_err.max():.3f} LSB")
    assert gain_err_lsb.max() < 1.0, (gain_hat, stim["gain"])
    assert offset_err.max() < 1.0, (offset_hat, stim["offset_lsb"])


def test_c_driver_calibration_on_rtl(setup):
    spec, root, stim, reports = setup
    source = periphery_verilog(spec, root, "cal_rtl")
    report = run(setup, "test_c_calibration", source, "cal_rtl")
    reports["c"] = report
    assert report["cal_status"] == STATUS_CODE["AIMC_OK"]
    check_recovered(spec, stim, report, "C driver")
    u = ideal(spec, stim)
    drifted = np.abs(np.array(report["drifted"]) - u).mean()
    globally = np.abs(np.array(report["drift_global"]["outputs"]) - u).mean()
    per_column = np.abs(np.array(report["drift_per_column"]["outputs"]) - u).mean()
    print(f"after drift: mean |output - ideal| {drifted:.2f} LSB uncompensated, {globally:.2f} global, "
          f"{per_column:.2f} per column")
    assert report["drift_global"]["status"] == 0 and report["drift_per_column"]["status"] == 0
    assert per_column < globally < drifted
    assert per_column < 1.0


@pytest.mark.slow           # a second Verilator build (the UART top); every access is a UART frame
def test_host_driver_calibration_on_rtl(setup):
    spec, root, stim, reports = setup
    source, top = write_periphery_uart_top(spec, root / "uart", divisor=DIVISOR)
    report = run(setup, "test_host_calibration", source, top)
    assert report["prog_failures"] == 0
    check_recovered(spec, stim, report, "host driver")
    if "c" in reports:      # same chip, same MVMs in the same order: the same read-outs, the same registers
        for key in ("scale", "offset", "before", "after"):
            np.testing.assert_array_equal(np.array(report[key]), np.array(reports["c"][key]), err_msg=key)
