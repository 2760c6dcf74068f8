"""Run the accelerator bench (the cocotb tests of sim.verify.benches.accelerator_bench) on a Verilog file of a
spec's accelerator top: write its configuration (sim.verify.accelerator_config), build and run with
cocotb_run.run_bench, return the results. Callers (`aimcgen sim`, the gate-level flow, the tests) import
this, never the test module, which only the simulator's embedded Python loads (by BENCH_MODULE).
"""

from __future__ import annotations

from pathlib import Path

from aimcgen.sim.verify.accelerator_config import bench_defaults
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.spec import DesignSpec

BENCH_MODULE = "aimcgen.sim.verify.benches.accelerator_bench"
BENCH_TESTS = ("test_design_discovery", "test_weight_programming", "test_coefficient_loads",
               "test_back_to_back_with_stalls", "test_updates_between_mvms", "test_saturation_corners",
               "test_register_driven_mvms", "test_layer_chains", "test_bad_register_accesses",
               "test_physics_macro", "test_twin_epochs", "test_coverage_report")


def run_accelerator_bench(spec: DesignSpec, verilog: Path, toplevel: str, *, simulator: str, build_dir: Path,
                          regmap_json: Path | None = None, waves: bool = False, seed: int = 1,
                          testcase=None, check: bool = True, extra_env: dict | None = None, **fields):
    """Write the bench config for `spec` and run the bench on `verilog` (top `toplevel`) with run_bench.
    `fields` override bench_defaults(spec); `extra_env` adds environment variables for the simulator.
    Returns cocotb_run.BenchResult (AssertionError with the failing tests' messages when check is set)."""
    build_dir = Path(build_dir).resolve()
    cfg = {**bench_defaults(spec), "seed": seed, **fields}
    if regmap_json is not None:
        cfg["regmap_json"] = str(Path(regmap_json).resolve())
    config = write_bench_config(build_dir / f"bench_config_{simulator}.json", spec, **cfg)
    return run_bench(verilog_sources=[verilog], toplevel=toplevel, test_module=BENCH_MODULE,
                     simulator=simulator, build_dir=build_dir,
                     extra_env={**(extra_env or {}), "AIMCGEN_BENCH_CONFIG": str(config)},
                     waves=waves, seed=seed, testcase=testcase, check=check)
