"""The real C driver against the real RTL: the generated Verilog of Accelerator(spec, emulated=True) under
cocotb (sim/benches/firmware_bench.py), the driver's bus callbacks turned into Wishbone transactions.
The driver discovers the design, programs weights (program-and-verify), loads coefficients, runs MVMs and a
2-layer chain; the outputs equal the golden model. (Program-and-verify failures cannot be injected into the
emulated tile, whose writes always land exactly: failure reporting is tested in test_firmware_driver.py.)"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from amaranth.back import verilog

from aimcgen.firmware import compile_driver_library
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.aimc_registers import spec_hash
from aimcgen.sim.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.cocotb_setup import SIMULATORS, unavailable_reason
from aimcgen.sim.golden import GoldenAccelerator
from aimcgen.spec import from_dict

BENCH = "aimcgen.sim.benches.firmware_bench"
SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0},
        "design": {"name": "fw_small"}}
LAYERS = [(0, 3), (3, 1)]


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    spec = from_dict(SPEC)
    root = tmp_path_factory.mktemp("firmware_on_rtl")
    lib = compile_driver_library(spec, root / "firmware")
    source = root / "aimc_emulated.v"
    source.write_text(verilog.convert(Accelerator(spec, emulated=True), name="aimc_emulated", emit_src=False))
    rng = np.random.default_rng(11)
    stimulus = {
        "weights": rng.integers(-7, 8, (spec.logical_rows, spec.logical_cols)),
        "scale": rng.integers(1, 127, spec.logical_cols),
        "offset": rng.integers(-200, 200, spec.logical_cols),
        "vectors": rng.integers(-7, 8, (4, spec.logical_rows)),
        "chain_vectors": rng.integers(-7, 8, (2, spec.logical_rows)),
        "layers": LAYERS,
    }
    return spec, root, lib, source, stimulus


@pytest.mark.parametrize("simulator", SIMULATORS)
def test_c_driver_on_generated_verilog(generated, simulator):
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")
    spec, root, lib, source, stim = generated
    build = root / "bench"
    config = write_bench_config(build / f"config_{simulator}.json", spec, library=str(lib), **stim)
    result = run_bench(verilog_sources=[source], toplevel="aimc_emulated", test_module=BENCH,
                       simulator=simulator, build_dir=build, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    report = result.report["test_driver_on_rtl"]
    golden = GoldenAccelerator(spec, stim["weights"], stim["scale"], stim["offset"])
    expected = golden.run(stim["vectors"])
    chain = golden.run_layers(stim["chain_vectors"], LAYERS)
    assert report["spec_hash"] == spec_hash(spec)
    assert report["program"]["written"] == spec.logical_rows * spec.logical_cols
    np.testing.assert_array_equal(np.array(report["outputs"]), expected.outputs)
    np.testing.assert_array_equal(np.array(report["chain_outputs"]), chain)
    assert report["errors"] & 0b1100 == 0, f"ERRORS = {report['errors']:#x}: bus error or failed weight"
    print(f"C driver on {simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s, "
          f"{report['cycles']} cycles, {report['bus_accesses']} bus accesses")
