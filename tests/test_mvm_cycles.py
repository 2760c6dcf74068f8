"""sim.models.mvm_cycles and the latency estimate from counted activity: the dense schedule gives the
fixed formula, the [sparsity] options give the plans' cycles (the rule tests/test_rtl_sparsity.py checks on
the RTL's back-to-back MVM periods)."""

import math

import numpy as np
import pytest

from aimcgen.contract.schedule import serial_schedule_commands, tail_commands
from aimcgen.presets import load_preset
from aimcgen.sim.eval import estimates
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import DenseLayer, Network
from aimcgen.sim.models.mvm_cycles import grid_mvm_cycles

def sparse_inputs(spec, rng, n, zeros=0.8):
    m = spec.input.max_magnitude
    x = rng.integers(-m, m + 1, (n, spec.logical_rows))
    x[rng.random(x.shape) < zeros] = 0
    x[0] = 0
    return x


@pytest.mark.parametrize("preset, encoding", [("default", "bit_serial"), ("default", "pwm"), ("tile64", "bit_serial")])
def test_dense_schedule_is_the_fixed_formula(preset, encoding):
    spec = load_preset(preset).replace(input={"encoding": encoding}, array={"row_tiles": 2, "col_tiles": 2})
    x = sparse_inputs(spec, np.random.default_rng(1), 20)
    # back to back; the first MVM starts with nothing carried and ends before its last conversion's tail
    dense = [serial_schedule_commands(spec) - tail_commands(spec)] + [serial_schedule_commands(spec)] * 19
    assert grid_mvm_cycles(x, spec).tolist() == dense
    assert grid_mvm_cycles(x, spec, (3, 5)).tolist() == dense


def test_grid_mvm_takes_the_busiest_tile():
    """Two row tiles: the MVM whose first row tile is all zero still takes the second tile's full schedule;
    with every input zero both tiles idle and clear all G positions, the busy tile's carried tail commands
    (fewer than G) in those cycles."""
    spec = load_preset("default").replace(array={"row_tiles": 2}, sparsity={"skip_zero_tiles": "on"})
    rows, group = spec.tile.rows, spec.columns_per_adc
    x = np.zeros((2, spec.logical_rows), dtype=np.int64)
    x[0, rows:] = 5
    assert tail_commands(spec) < group
    assert grid_mvm_cycles(x, spec).tolist() == [serial_schedule_commands(spec) - tail_commands(spec), group]


def test_interleaved_layer_columns_on_tile64():
    """10 columns at 32..41 of tile64 with interleaved ADC columns: 2 of 8 positions converted in each of
    the 8 steps (SAR: bits commands each), plus 6 zero-pass cycles, less the last conversion's tail."""
    spec = load_preset("tile64").replace(adc={"column_assignment": "interleaved"}, sparsity={"layer_columns": "on"})
    x = np.full((1, spec.logical_rows), 100, dtype=np.int64)
    steps, bits = spec.input.steps, spec.adc.bits
    assert grid_mvm_cycles(x, spec, (32, 10)).tolist() == [steps * (1 + 2 * bits) + 6 - (bits - 2)]


def test_estimate_counts_the_latency_of_sparse_inputs():
    spec = load_preset("tile64").replace(sparsity={"skip_zero_planes": "on", "skip_zero_tiles": "on"})
    net = Network([DenseLayer(np.ones((64, 64)), None, "none")])
    mapping = map_network(net, spec, np.ones((4, 64)))
    x = sparse_inputs(spec, np.random.default_rng(2), 30, zeros=0.97)
    x = np.minimum(np.abs(x), 3)                   # at most bit planes 0 and 1
    counted = estimates.estimate(mapping, [x])["latency"]["cycles"]
    ls = mapping.layers[0].spec
    expected = math.ceil(grid_mvm_cycles(x, ls).mean()) + estimates.POSTPROC_LATENCY_CYCLES
    assert counted == expected
    assert counted < serial_schedule_commands(spec) // 3           # 2 of 8 planes at most, idle MVMs
    # options off, or no inputs given: the fixed formula
    dense = estimates.estimate(map_network(net, load_preset("tile64"), np.ones((4, 64))), [x])
    assert dense["latency"]["cycles"] == serial_schedule_commands(spec) + estimates.POSTPROC_LATENCY_CYCLES
    assert estimates.estimate(mapping)["latency"]["cycles"] == dense["latency"]["cycles"]
