"""What the calibration-on-RTL tests share: the tools they need, the random weights of their chip, and one run
of a driver bench (the C driver library compiled for the spec, the stimulus written to the bench's config)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from aimcgen.firmware.c_driver import compile_driver_library
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.cocotb_setup import unavailable_reason
from aimcgen.spec import DesignSpec


def require_tools(simulator: str) -> None:
    """Skip the test unless gcc (the C driver) and the simulator are there."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc not installed")
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")


def random_weights(spec: DesignSpec, rng: np.random.Generator) -> np.ndarray:
    """Uniform weight codes over the whole logical matrix."""
    levels = spec.tile.conductance_levels
    return rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))


def periphery_verilog(spec: DesignSpec, root: Path, top: str) -> Path:
    """The accelerator with ports for the analog macros (the benches' macro models), as top `top`."""
    source = root / f"{top}.v"
    source.write_text(verilog.convert(Accelerator(spec, emulated=False), name=top, emit_src=False))
    return source


def run_driver_bench(spec: DesignSpec, root: Path, bench: str, source: Path, top: str, tests, stim: dict,
                     simulator: str) -> dict:
    """Run the bench's `tests` (a name or a list) on `source` with the C driver library and `stim` in its
    config; the bench's report (per test)."""
    build = root / f"bench_{top}"
    lib = compile_driver_library(spec, root / "firmware")
    config = write_bench_config(build / "config.json", spec, library=str(lib), **stim)
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=bench, simulator=simulator,
                       build_dir=build, testcase=tests, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    print(f"{bench} {tests} on {top}: build {result.build_s:.1f} s, run {result.run_s:.1f} s")
    return result.report
