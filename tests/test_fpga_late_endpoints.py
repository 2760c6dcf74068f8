"""benchmarks/fpga_late_endpoints.py: late flip-flop inputs grouped by register (synthetic nextpnr report)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "fpga_late_endpoints.py"


def _script():
    spec = importlib.util.spec_from_file_location("fpga_late_endpoints", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sink(cell, port, latest):
    return {"cell": cell, "port": port, "delay": [0.5, latest], "event": "posedge clk"}


def test_late_inputs_are_grouped_by_register_with_digits_folded():
    script = _script()
    report = {"detailed_net_timings": [
        {"driver": "a", "port": "F", "endpoints": [
            _sink("top.lane_3_s1_7_TRELLIS_FF_Q_2", "DI", 12.0),
            _sink("top.lane_5_s1_2_TRELLIS_FF_Q", "DI", 10.5),
            _sink("top.lane_5_s1_2_TRELLIS_FF_Q", "CE", 9.0),          # in time
            _sink("top.acc_TRELLIS_FF_Q_1", "LSR", 11.0),
            _sink("top.adder_LUT4_Z", "A", 15.0),                      # a LUT input: no endpoint
            _sink("top.acc_TRELLIS_FF_Q_1", "CLK", 15.0),              # the clock pin: no endpoint
        ]}]}
    total, count, late, worst = script.late_groups(report, 10.0)
    assert (total, count) == (4, 3)
    assert late == {"top.lane_#_s#/DI": 2, "top.acc/LSR": 1}
    assert worst == {"top.lane_#_s#/DI": 12.0, "top.acc/LSR": 11.0}


def test_a_folder_that_is_no_build_is_refused(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        _script().main([str(tmp_path)])
    assert exit_info.value.code == 2
