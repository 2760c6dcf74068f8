"""The per-row-tile gain trims' calibration on the generated Verilog (sim/verify/benches/
tile_gain_calibration_bench.py): the C driver's aimc_calibrate_tile_gains and the host driver's
calibrate_tile_gains run the same MVMs on the same chip (two row tiles, trims of 10 bits), whose macros give
row tile 1's columns a gain 0.85..1.15 times row tile 0's; they must load the same TILE_GAIN, SCALE and
OFFSET registers and give the same held-out outputs bit for bit, the TILE_GAIN window must read back the
trims, and the trims must recover gain_0 / gain_1 of every column (the macro's code is gain x charge) within
TRIM_TOLERANCE.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.calibration import CENTRING_ROUNDS, OK, calibration_vectors
from aimcgen.contract.postproc import unity_scale
from aimcgen.contract.tile_gain_calibration import tile_vectors
from aimcgen.firmware.c_driver import STATUS_CODE
from aimcgen.spec import from_dict
from calibration_rtl import periphery_verilog, random_weights, require_tools, run_driver_bench

BENCH = "aimcgen.sim.verify.benches.tile_gain_calibration_bench"
SIMULATOR = "verilator"
SPEC = {"tile": {"rows": 8, "cols": 4, "weight_bits": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4, "encoding": "bit_serial"},
        "adc": {"kind": "sar", "bits": 8, "count": 2, "full_scale": 1024},
        "accumulator": {"bits": 14, "tile_gain_bits": 10},
        "postproc": {"activation": "none", "scale_bits": 14, "scale_frac_bits": 8, "offset_bits": 20,
                     "output_bits": 10},
        "noise": {"sigma_lsb": 0.3}, "design": {"name": "tile_gain_cal_rtl"}}
SEED = 1819
CAL_VECTORS = 64
TILE_VECTORS = 192             # per row tile: a tile's product alone has a third of the spread (8 of 16 rows)
TRIM_TOLERANCE = 0.04          # |g / 2^(T-1) - gain_0 / gain_1| per column: about 3 sigma of the noise's share
TESTS = ("test_c_tiles", "test_host_tiles")


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    require_tools(SIMULATOR)
    spec = from_dict(SPEC)
    root = tmp_path_factory.mktemp("tile_gain_calibration_on_rtl")
    rng = np.random.default_rng(SEED)
    w = random_weights(spec, rng)
    cols = spec.logical_cols
    gain0 = 1.0 + rng.uniform(-0.05, 0.05, cols)
    gain = np.stack([gain0, gain0 * rng.uniform(0.85, 1.15, cols)])
    stim = {"weights": w, "gain": gain, "offset_lsb": rng.uniform(-2.0, 2.0, (2, cols)),
            "cal_vectors": calibration_vectors(spec, w, CAL_VECTORS, seed=SEED),
            "tile_vectors": [tile_vectors(spec, w, TILE_VECTORS, SEED, r) for r in range(2)],
            "test_vectors": calibration_vectors(spec, w, 24, seed=SEED + 1),
            "target_scale": np.full(cols, unity_scale(spec)), "target_offset": np.zeros(cols, dtype=np.int64),
            "rounds": CENTRING_ROUNDS}
    source = periphery_verilog(spec, root, "tile_gain_cal_rtl")
    return spec, stim, run_driver_bench(spec, root, BENCH, source, "tile_gain_cal_rtl", list(TESTS), stim, SIMULATOR)


def test_c_routine_recovers_the_row_tile_gain_ratio(reports):
    spec, stim, report = reports
    c = report["test_c_tiles"]
    assert c["cal_status"] == STATUS_CODE["AIMC_OK"], c["cal_status"]
    assert (np.array(c["gain_status"]) == OK).all() and (np.array(c["status"]) == OK).all()
    gain = np.array(stim["gain"])
    unity = 1 << (spec.accumulator.tile_gain_bits - 1)
    error = np.abs(np.array(c["gains"])[0] / unity - gain[0] / gain[1])
    print(f"trims {c['gains']}; injected gain_0 / gain_1 {np.round(gain[0] / gain[1], 4)}; error max {error.max():.4f}")
    assert error.max() < TRIM_TOLERANCE, error
    assert list(c["read_back"]) == list(np.ravel(c["gains"]))


def test_c_and_host_routines_load_the_same_registers(reports):
    _, _, report = reports
    c, host = report["test_c_tiles"], report["test_host_tiles"]
    for key in ("gains", "gain_status", "scale", "offset", "status", "trim", "read_back", "before", "after"):
        np.testing.assert_array_equal(host[key], c[key], err_msg=key)
