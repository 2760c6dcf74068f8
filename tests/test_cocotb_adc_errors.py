"""The generated emulated top with ADC errors under cocotb (sim.verify.benches.accelerator_bench): MVMs through
the Wishbone bus, the tile controller and the SAR controllers into the emulated tile's threshold ROMs, every
output equal to the golden model's (contract.adc_errors) on the scoreboard."""

from __future__ import annotations

from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.flows.generate import write_verilog
from aimcgen.presets import load_preset
from aimcgen.sim.verify.accelerator_runner import run_accelerator_bench

TESTS = ["test_back_to_back_with_stalls", "test_updates_between_mvms"]
ERRORS = {"gain_sigma": 0.05, "offset_sigma_lsb": 1.0, "cap_mismatch_sigma": 0.02}


def test_emulated_top_with_adc_errors_equals_golden(tmp_path, fast_simulator):
    spec = load_preset("default").replace(adc=ERRORS)
    write_verilog(spec, tmp_path / "rtl")
    (tmp_path / "regmap.json").write_text(aimc_register_map(spec).to_json())
    source = tmp_path / "rtl" / f"{spec.name}_emulated.v"
    result = run_accelerator_bench(spec, source, source.stem, simulator=fast_simulator, build_dir=tmp_path / "run",
                                   regmap_json=tmp_path / "regmap.json", testcase=TESTS, mvms=8)
    statuses = {t.name.rsplit(".", 1)[-1]: t.status for t in result.tests}
    assert statuses == {name: "passed" for name in TESTS}, result.tests
    b2b = result.report["test_back_to_back_with_stalls"]
    assert b2b["checked_vectors"] == b2b["mvms"] == 8
