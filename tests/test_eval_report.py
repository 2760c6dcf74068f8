"""sim.eval.estimates formulas and the evaluation report / CLI."""

import argparse
import json

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.sim.eval import estimates
from aimcgen.sim.eval.backends import with_device
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import DenseLayer, Network, default_model_path, load_network


def test_estimates_formulas():
    spec = load_preset("tile64")
    w = np.ones((64, 64))
    net = Network([DenseLayer(w, None, "none")])
    mapping = map_network(net, spec, np.ones((4, 64)))
    x = np.full((1, 64), 3, dtype=np.int64)                    # bits 0 and 1 set: 2 active steps, 2 cycles on
    e = estimates.estimate(mapping, [x])
    clock = spec.design.clock_mhz * 1e6
    assert e["latency"]["cycles"] == serial_schedule_commands(spec) + estimates.POSTPROC_LATENCY_CYCLES
    g = spec.device.g_max_us * 1e-6                            # every weight at the top code
    assert e["energy_per_inference_j"]["array"] == pytest.approx(estimates.V_READ ** 2 * 64 * 64 * g * 2 / clock)
    assert e["energy_per_inference_j"]["dac"] == pytest.approx(64 * 2 * estimates.E_DRIVER_PER_ROW_STEP_J)
    conv = 64 * spec.input.steps
    assert e["energy_per_inference_j"]["adc"] == pytest.approx(conv * 10e-15 * 2 ** 7)
    assert e["area_mm2"]["analog_array"] == pytest.approx(64 * 64 * 2 * estimates.DEVICE_CELL_UM2 * 1e-6)
    assert e["area_mm2"]["adcs"] == pytest.approx(8 * 1000e-6)
    assert e["area_mm2"]["digital_periphery"] is None
    assert e["tops_per_w"] == pytest.approx(2 * 64 * 64 / e["energy_per_inference_j"]["total"] / 1e12)


def test_report_and_cli(tmp_path):
    pytest.importorskip("matplotlib")
    from aimcgen.cli.evaluate import add_evaluate_parser, cmd_evaluate
    parser = argparse.ArgumentParser()
    add_evaluate_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", "--preset", "tile64", "--seeds", "1", "--out", str(tmp_path)])
    assert args.func is cmd_evaluate
    assert cmd_evaluate(args) == 0
    out = tmp_path / "aimc_tile64" / "evaluation"
    r = json.loads((out / "report.json").read_text())
    assert r["accuracy"]["float"]["mean"] == pytest.approx(0.9667, abs=1e-3)
    assert r["accuracy"]["float"]["ci95"][0] < 0.9667 < r["accuracy"]["float"]["ci95"][1]
    assert len(r["accuracy_vs_drift"]) == 8 and r["attribution"]["sources"]
    assert r["seeds"] == 1 and r["chips"] == {"mode": "fixed", "chips": 1, "reason": "fixed count (--seeds 1)",
                                              "headline": r["chips"]["headline"],
                                              "half_width": r["chips"]["half_width"]}
    # One chip: accuracies carry the Wilson interval over test samples, differences the per-sample one.
    d = r["accuracy_vs_drift"][3]
    assert "Wilson" in d["compensated"]["method"] and d["compensated"]["ci95"] is not None
    assert d["compensation_gain"]["ci95"] is not None and "per-sample" in d["compensation_gain"]["method"]
    for row in r["attribution"]["sources"]:
        for key in ("alone_accuracy_drop", "leave_one_out_accuracy_gain"):
            assert set(row[key]) >= {"mean", "ci95", "n", "method", "significant"}
    assert "# Evaluation of digits_mlp" in (out / "report.md").read_text()
    # NeuroBench's metrics of the digits MLP, counted from the golden run of `golden_emulated_noise`.
    nb = r["neurobench"]
    assert set(nb) >= {"footprint_bytes", "connection_sparsity", "activation_sparsity", "synaptic_operations",
                       "accuracy"}
    assert nb["accuracy"] == r["accuracy"]["golden_emulated_noise"]["mean"]
    assert nb["footprint_bytes"] == 2 * 4848                  # two layers, each on its own 64x64 tile
    assert nb["synaptic_operations"]["dense"] == 64 * 32 + 32 * 10
    assert 0 < nb["synaptic_operations"]["effective_macs"] < nb["synaptic_operations"]["dense"]
    assert 0 < nb["connection_sparsity"] < 1 and 0 < nb["activation_sparsity"]["overall"] < 1
    assert [p["layer"] for p in nb["activation_sparsity"]["per_layer"]] == [0, 1]
    assert "## NeuroBench metrics" in (out / "report.md").read_text()
    row, = r["accuracy_energy"]                                # no --prune: the network as given only
    assert row["tiles"] == 2 and row["accuracy_physics_1d"]["mean"] == r["accuracy_vs_drift"][3]["compensated"]["mean"]
    for png in ("accuracy_vs_drift.png", "accuracy_vs_adc_bits.png", "attribution.png", "accuracy_vs_energy.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"


def test_report_ideal_device_small(tmp_path):
    from aimcgen.sim.eval.report import evaluate
    net = load_network(default_model_path())
    spec = with_device(load_preset("hermes256"), "ideal")
    r = evaluate(spec, net, tmp_path, seeds=1, progress=lambda s: None, plots=False, adc_bits=[8],
                 drift_times=[1.0, 3.15e7], attribution_seeds=1)
    d = r["accuracy_vs_drift"]
    assert d[0]["compensated"]["mean"] == d[1]["compensated"]["mean"] == d[1]["uncompensated"]["mean"]
    assert abs(d[0]["compensated"]["mean"] - r["accuracy"]["float"]["mean"]) < 0.02
    # The same chip at both times and with compensation on or off: the paired differences are exactly 0.
    assert d[1]["compensated_change_vs_first"]["mean"] == 0 == d[1]["compensation_gain"]["mean"]


def test_digital_periphery_from_asic_report(tmp_path):
    """The synthesized periphery area (asic_report.json) scaled from the design's tiles to the tiles used;
    the report says where the number came from; a report of another design or without the area is refused."""
    from aimcgen.cli import main
    from aimcgen.sim.eval.report import markdown

    spec = load_preset("default")                              # 1 tile; the digits MLP uses 10
    net = load_network(default_model_path())
    mapping = map_network(net, spec, net.meta["x_calib"])
    path = tmp_path / "asic_report.json"
    path.write_text(json.dumps({"design": spec.name, "pdk": "sky130",
                                "synthesis": {"total": {"area_um2": 77817.0, "cells": 7986}}}))
    asic = estimates.load_asic_report(path, spec.name)
    e = estimates.estimate(mapping, asic_report=asic)
    area = e["area_mm2"]
    assert area["digital_periphery"] == pytest.approx(77817e-6 * mapping.tiles / spec.tiles)
    assert area["digital_periphery_source"].startswith(f"ASIC synthesis ({path}: 77817 um2")
    assert area["total_known"] == pytest.approx(area["analog_array"] + area["adcs"] + area["digital_periphery"])
    assert area["note"] is None
    model_only = estimates.estimate(mapping)["area_mm2"]
    assert model_only["digital_periphery"] is None and model_only["digital_periphery_source"] is None
    with pytest.raises(ValueError, match="ASIC report of design 'aimc_small', evaluating 'other'"):
        estimates.load_asic_report(path, "other")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"design": spec.name, "synthesis": {}}))
    with pytest.raises(ValueError, match="no synthesis.total.area_um2"):
        estimates.load_asic_report(bad)
    assert main(["evaluate", "--asic-report", str(bad), "--out", str(tmp_path)]) == 2

    assert main(["evaluate", "--seeds", "1", "--no-plots", "--asic-report", str(path), "--out",
                 str(tmp_path)]) == 0
    out = tmp_path / spec.name / "evaluation"
    r = json.loads((out / "report.json").read_text())
    assert r["estimates"]["area_mm2"]["digital_periphery"] == pytest.approx(area["digital_periphery"])
    text = (out / "report.md").read_text()
    assert f"digital periphery {area['digital_periphery']:.4g} mm2 from ASIC synthesis" in text
    r["estimates"]["area_mm2"].update(digital_periphery=None, digital_periphery_source=None)
    assert "digital periphery not included (model only" in markdown(r)
