"""The accelerator bench (sim.verify.benches.accelerator_bench) on the generated Verilog of the bench
configuration with per-row-tile gain trims (accelerator_config.TILE_GAIN_BENCH): random trims through the
TILE_GAIN window, read back, MVMs bit-exact against the golden model; the window's accesses checked like
every other register's. A short subset of the bench's tests keeps the run short."""

from __future__ import annotations

from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.tile_gain import tile_gain_on
from aimcgen.flows.generate import write_verilog
from aimcgen.presets import load_preset
from aimcgen.sim.verify.accelerator_config import TILE_GAIN_BENCH
from aimcgen.sim.verify.accelerator_runner import run_accelerator_bench

TESTS = ["test_design_discovery", "test_coefficient_loads", "test_bad_register_accesses"]


def test_bench_with_tile_gains(tmp_path, fast_simulator):
    spec = load_preset("default").replace(**TILE_GAIN_BENCH)
    assert tile_gain_on(spec)
    write_verilog(spec, tmp_path / "rtl")
    (tmp_path / "regmap.json").write_text(aimc_register_map(spec).to_json())
    source = tmp_path / "rtl" / f"{spec.name}_emulated.v"
    result = run_accelerator_bench(spec, source, source.stem, simulator=fast_simulator, build_dir=tmp_path / "run",
                                   regmap_json=tmp_path / "regmap.json", testcase=TESTS, mvms=6)
    statuses = {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests}
    assert statuses == {name: "passed" for name in TESTS}, result.tests
    loads = result.report["test_coefficient_loads"]
    depth = (spec.array.row_tiles - 1) * spec.logical_cols
    assert loads["tile_gain_writes"] == 2 * depth
    assert loads["checked_vectors"] == 3 + 3                # 3 MVMs on random SCALE/OFFSET, 3 trimmed (mvms // 2)
    print(f"{spec.name} on {result.simulator}: build {result.build_s:.1f} s, run {result.run_s:.1f} s, "
          f"{loads['checked_vectors']} vectors checked, {loads['tile_gain_writes']} TILE_GAIN writes")
