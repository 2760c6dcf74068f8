"""The sparse tile controller's generated Verilog under cocotb (sim.verify.benches.sparsity_bench): the
activity it counts equals sim.models.activity's prediction and its accumulators the golden model's, on
random sparse inputs and column ranges behind a stalling macro."""

from __future__ import annotations

import pytest
from aimcgen.rtl.tile_controller import TileController
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.cocotb_setup import SIMULATORS, unavailable_reason
from amaranth.back import verilog

from aimcgen.spec import from_dict

BENCH = "aimcgen.sim.verify.benches.sparsity_bench"

SPECS = {
    "bit_serial_sparse": {"tile": {"rows": 8, "cols": 8}, "input": {"bits": 5}, "adc": {"count": 2},
                          "sparsity": {"skip_zero_planes": "on", "skip_zero_tiles": "on", "layer_columns": "on"}},
    "pwm_sparse": {"tile": {"rows": 8, "cols": 6}, "input": {"bits": 3, "encoding": "pwm"},
                   "adc": {"kind": "flash", "bits": 5, "count": 3, "full_scale": 32}, "accumulator": {"bits": 8},
                   "sparsity": {"pwm_window": "on", "skip_zero_tiles": "on", "layer_columns": "on"}},
    "bit_serial_interleaved": {"tile": {"rows": 8, "cols": 12}, "input": {"bits": 4},
                               "adc": {"count": 3, "column_assignment": "interleaved"},
                               "sparsity": {"skip_zero_planes": "on", "skip_zero_tiles": "on",
                                            "layer_columns": "on"}},
}


@pytest.mark.parametrize("simulator", SIMULATORS)
@pytest.mark.parametrize("name", list(SPECS))
def test_sparse_tile_counts_equal_prediction(tmp_path, simulator, name):
    reason = unavailable_reason(simulator)
    if reason is not None:
        pytest.skip(f"{simulator} not available: {reason}")
    spec = from_dict({**SPECS[name], "noise": {"sigma_lsb": 2.0, "seed": 9}, "design": {"name": name}})
    source = tmp_path / "tile_controller.v"
    source.write_text(verilog.convert(TileController(spec), name="tile_controller"))
    config = write_bench_config(tmp_path / "config.json", spec, seed=3, mvms=24)
    result = run_bench(verilog_sources=[source], toplevel="tile_controller", test_module=BENCH,
                       simulator=simulator, build_dir=tmp_path, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)},
                       seed=3)
    assert [t.status for t in result.tests] == ["passed"], result.tests
    report = result.report["test_activity_counts"]
    assert report["counted"] == report["predicted"] and report["skipped"] > 0
    assert report["counted"]["conversions"] > 0
