"""The real C driver against the real RTL under cocotb (sim/verify/benches/firmware_bench.py), the driver's bus
callbacks turned into Wishbone transactions. The driver discovers the design, programs weights
(program-and-verify), loads coefficients, runs MVMs and a 2-layer chain; the outputs equal the golden model.

On the emulated top every write lands exactly. On the periphery top the tiles are Python macro models and
one device pair is stuck: the driver must report that program-and-verify failed at exactly its logical
address, every other weight must verify, and the MVMs must equal the golden model of the weights that landed.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from amaranth.back import verilog

from aimcgen.firmware.c_driver import STATUS_CODE, compile_driver_library
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.contract.aimc_registers import aimc_register_map, spec_hash
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, unavailable_reason
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.spec import from_dict

BENCH = "aimcgen.sim.verify.benches.firmware_bench"
SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0},
        "design": {"name": "fw_small"}}
LAYERS = [(0, 3), (3, 1)]
STUCK = (8, 2, 0)           # logical (8, 2) = tile 1's local (2, 2): a device pair stuck at code 0


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    spec = from_dict(SPEC)
    root = tmp_path_factory.mktemp("firmware_on_rtl")
    lib = compile_driver_library(spec, root / "firmware")
    rng = np.random.default_rng(11)
    stimulus = {
        "weights": rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols)),
        "scale": rng.integers(1, 127, spec.logical_cols),
        "offset": rng.integers(-200, 200, spec.logical_cols),
        "vectors": rng.integers(-7, 8, (4, spec.logical_rows)),
        "chain_vectors": rng.integers(-7, 8, (2, spec.logical_rows)),
        "layers": LAYERS,
    }
    stimulus["weights"][STUCK[:2]] = 5                      # a target the stuck device misses
    sources = {}

    def source(emulated: bool):
        top = "fw_small_emulated" if emulated else "fw_small"
        if top not in sources:
            sources[top] = root / f"{top}.v"
            sources[top].write_text(verilog.convert(Accelerator(spec, emulated=emulated), name=top,
                                                    emit_src=False))
        return sources[top], top

    return spec, root, lib, source, stimulus


def run_driver(generated, simulator, *, emulated: bool, **extra):
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")
    spec, root, lib, source, stim = generated
    path, top = source(emulated)
    build = root / f"bench_{top}"
    config = write_bench_config(build / f"config_{simulator}.json", spec, library=str(lib), **stim, **extra)
    result = run_bench(verilog_sources=[path], toplevel=top, test_module=BENCH, simulator=simulator,
                       build_dir=build, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    report = result.report["test_driver_on_rtl"]
    assert report["spec_hash"] == spec_hash(spec)
    assert report["program"]["written"] == spec.logical_rows * spec.logical_cols
    print(f"C driver on {top} ({simulator}): build {result.build_s:.1f} s, run {result.run_s:.1f} s, "
          f"{report['cycles']} cycles, {report['bus_accesses']} bus accesses")
    return spec, stim, report


def check_outputs(spec, stim, report, weights):
    """The driver's MVM and chain outputs equal the golden model's with `weights`, and no flag is left."""
    golden = GoldenAccelerator(spec, weights, stim["scale"], stim["offset"])
    np.testing.assert_array_equal(np.array(report["outputs"]), golden.run(stim["vectors"]).outputs)
    chain = golden.run_layers(stim["chain_vectors"], LAYERS)
    np.testing.assert_array_equal(np.array(report["chain_outputs"]), chain)
    errors = aimc_register_map(spec).register("ERRORS")
    flags = errors.field("prog_verify_fail").mask | errors.field("bus_error").mask
    assert report["errors"] & flags == 0, f"ERRORS = {report['errors']:#x}: bus error or failed weight"


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_c_driver_on_generated_verilog(generated, simulator):
    spec, stim, report = run_driver(generated, simulator, emulated=True)
    assert report["program_status"] == STATUS_CODE["AIMC_OK"], report["program"]
    assert report["program"]["failures"] == 0, report["program"]
    check_outputs(spec, stim, report, stim["weights"])


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_c_driver_reports_a_stuck_device_with_its_address(generated, simulator):
    spec, stim, report = run_driver(generated, simulator, emulated=False, stuck=STUCK)
    row, col, code = STUCK
    program = report["program"]
    assert report["program_status"] == STATUS_CODE["AIMC_ERR_PROG_VERIFY"], report
    assert (program["fail_row"], program["fail_col"]) == (row, col), (
        f"the driver reports the failing weight at ({program['fail_row']}, {program['fail_col']}), the stuck "
        f"device is at ({row}, {col})")
    assert program["failures"] == 1, f"{program['failures']} weights failed: only ({row}, {col}) may"
    assert program["errors"] & aimc_register_map(spec).register("ERRORS").field("prog_verify_fail").mask
    assert report["error_name"] == "prog_verify_fail"
    landed = np.array(report["landed"])
    expected = np.array(stim["weights"])
    expected[row, col] = code
    np.testing.assert_array_equal(landed, expected)     # every other device verified on its target
    check_outputs(spec, stim, report, landed)
