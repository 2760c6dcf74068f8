"""Energy per inference of a chip program, counted from the chip's own MVMs."""

import math

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.energy import energy_per_inference, mvm_energy
from aimcgen.sim.deploy.report import dataset
from aimcgen.sim.deploy.run import cycles_per_inference, mvm_schedule
from aimcgen.sim.eval.estimates import POSTPROC_LATENCY_CYCLES
from aimcgen.sim.models.mvm_cycles import grid_mvm_cycles
from aimcgen.sim.eval.estimates import EnergyModel, estimate
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network

SPEC = load_preset("tile64")


@pytest.fixture(scope="module")
def program_and_x():
    net = load_network(default_model_path())
    x, _, calib = dataset(net, 20)
    return compile_network(net, SPEC, calib), x


def test_every_component_counts_and_the_ops_are_the_layers(program_and_x):
    program, x = program_and_x
    e = energy_per_inference(program, SPEC, x)
    j = e["energy_per_inference_j"]
    assert all(j[k] > 0 for k in ("array", "dac", "adc", "digital"))
    assert j["total"] == pytest.approx(j["array"] + j["dac"] + j["adc"] + j["digital"])
    assert e["ops_per_inference"] == 2 * (64 * 32 + 32 * 10)
    assert e["mvms_per_inference"] == 2                     # two dense layers, one MVM each
    assert e["tops_per_w"] == pytest.approx(e["ops_per_inference"] / j["total"] / 1e12)


def test_zero_inputs_draw_no_array_or_driver_energy_and_the_adcs_still_convert():
    weights = np.ones((SPEC.logical_rows, SPEC.logical_cols), dtype=np.int64)
    model = EnergyModel()
    zero = mvm_energy(SPEC, weights, np.zeros((3, SPEC.logical_rows), dtype=np.int64), model)
    assert zero["array"] == 0 and zero["dac"] == 0
    assert zero["adc"] == pytest.approx(3 * SPEC.tiles * SPEC.tile.cols * SPEC.input.steps
                                        * model.adc_energy(SPEC.adc.kind, SPEC.adc.bits))


def test_array_energy_counts_every_device_of_a_driven_row():
    """Driving row 0 energizes the whole row, other layers' columns included."""
    x = np.zeros((1, SPEC.logical_rows), dtype=np.int64)
    x[0, 0] = SPEC.input.max_magnitude
    one = np.zeros((SPEC.logical_rows, SPEC.logical_cols), dtype=np.int64)
    one[0, 0] = 1
    full_row = one.copy()
    full_row[0, :] = 1
    model = EnergyModel()
    a, b = (mvm_energy(SPEC, w, x, model)["array"] for w in (one, full_row))
    assert b == pytest.approx(SPEC.logical_cols * a)


def test_skipped_conversions_cost_no_adc_energy():
    """With the [sparsity] options the ADC energy follows the counted conversions: an all-zero vector on a
    spec that skips idle tiles converts nothing; a zero bit plane skips its conversions."""
    sparse = SPEC.replace(sparsity={"skip_zero_tiles": "on", "skip_zero_planes": "on"})
    weights = np.ones((SPEC.logical_rows, SPEC.logical_cols), dtype=np.int64)
    model = EnergyModel()
    zero = mvm_energy(sparse, weights, np.zeros((3, SPEC.logical_rows), dtype=np.int64), model)
    assert zero["adc"] == 0 and zero["array"] == 0
    x = np.full((1, SPEC.logical_rows), 0b1010101, dtype=np.int64)     # planes 1, 3 and 5 are zero
    dense, skipping = (mvm_energy(s, weights, x, model) for s in (SPEC, sparse))
    assert skipping["adc"] == pytest.approx(dense["adc"] * 4 / 7)
    assert skipping["array"] == dense["array"] and skipping["dac"] == dense["dac"]


def test_the_evaluation_estimate_counts_conversions_with_sparsity():
    """sim.eval.estimates charges the ADC for the counted samples when the spec skips work: an all-zero
    input on a spec that skips idle tiles converts nothing; without options the fixed count stays."""
    net = load_network(default_model_path())
    _, _, calib = checked_test_set(net)
    energy = {}
    for name, spec in (("dense", load_preset("default")),
                       ("sparse", load_preset("default").replace(sparsity={"skip_zero_tiles": "on"}))):
        mapping = map_network(net, spec, calib)
        zeros = [np.zeros((4, layer.in_features), dtype=np.int64) for layer in mapping.layers]
        energy[name] = estimate(mapping, zeros)["energy_per_inference_j"]
    assert energy["dense"]["adc"] > 0 and energy["sparse"]["adc"] == 0


def test_deployed_chip_counts_each_mvm_under_its_layer_descriptor(program_and_x):
    """With interleaved ADC columns and layer_columns the digits MLP's 32- and 10-column layers convert 4 and
    2 of the 8 positions: the deployed energy and cycles count exactly that (sim.deploy.run.mvm_schedule)."""
    program, x = program_and_x
    spec = SPEC.replace(adc={"column_assignment": "interleaved"}, sparsity={"layer_columns": "on"})
    schedule = mvm_schedule(program, spec, x)
    assert [b.layer for b in schedule] == [0, 1]
    assert [b.descriptor for b in schedule] == [tuple(d) for s in program.segments for d in s.descriptors]
    dense, sparse = energy_per_inference(program, SPEC, x), energy_per_inference(program, spec, x)
    model = EnergyModel()
    per_sample = model.adc_energy(spec.adc.kind, spec.adc.bits)
    steps, adcs = spec.input.steps, spec.adc.count
    assert dense["energy_per_inference_j"]["adc"] == pytest.approx(2 * steps * 64 * per_sample)
    assert sparse["energy_per_inference_j"]["adc"] == pytest.approx(steps * (4 + 2) * adcs * per_sample)
    cycles = cycles_per_inference(program, spec, x)
    plans = [grid_mvm_cycles(b.inputs, spec, b.descriptor).sum() / len(x) for b in schedule]
    assert cycles["per_layer"] == [math.ceil(c) + POSTPROC_LATENCY_CYCLES for c in plans]
    assert cycles["cycles"] < cycles_per_inference(program, spec)["cycles"]       # the dense bound
    assert cycles_per_inference(program, SPEC, x) == cycles_per_inference(program, SPEC)  # no option: the bound
