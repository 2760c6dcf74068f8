"""The [sparsity] options on the whole accelerator core: layer chains on column ranges of a grid with sparse
(ReLU) activations give the golden model's outputs bit for bit, and the activity counters equal
sim.models.activity's prediction."""

import numpy as np
import pytest
from aimcgen.rtl.accelerator_core import AcceleratorCore
from aimcgen.sim.models.activity import Activity, accelerator_activity
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.macro_model import MacroModel
from amaranth_core import program_core
from amaranth_registers import simulate
from amaranth_streams import send

from aimcgen.presets import load_preset
from aimcgen.spec import from_dict

ALL_ON = {"skip_zero_tiles": "on", "layer_columns": "on"}
SPECS = {
    "grid_bit_serial": {"tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 2},
                        "input": {"bits": 4}, "adc": {"count": 2, "bits": 5, "full_scale": 16},
                        "postproc": {"activation": "relu", "scale_bits": 8, "scale_frac_bits": 4,
                                     "output_bits": 6},
                        "sparsity": {**ALL_ON, "skip_zero_planes": "on"}},
    "grid_pwm": {"tile": {"rows": 4, "cols": 6}, "array": {"row_tiles": 2, "col_tiles": 2},
                 "input": {"bits": 3, "encoding": "pwm"},
                 "adc": {"kind": "flash", "bits": 6, "count": 2, "full_scale": 32},
                 "accumulator": {"bits": 8},
                 "postproc": {"activation": "relu", "scale_bits": 8, "scale_frac_bits": 4, "output_bits": 5},
                 "sparsity": {**ALL_ON, "pwm_window": "on"}},
    # contract.adc_columns' interleaved assignment: each ADC serves every second column
    "grid_interleaved": {"tile": {"rows": 4, "cols": 8}, "array": {"row_tiles": 2, "col_tiles": 2},
                         "input": {"bits": 4},
                         "adc": {"count": 2, "bits": 5, "full_scale": 16, "column_assignment": "interleaved"},
                         "postproc": {"activation": "relu", "scale_bits": 8, "scale_frac_bits": 4,
                                      "output_bits": 6},
                         "sparsity": {**ALL_ON, "skip_zero_planes": "on"}},
}
LAYERS = {"grid_bit_serial": [(0, 5), (5, 2), (4, 0)], "grid_pwm": [(0, 7), (7, 3), (10, 2)],
          "grid_interleaved": [(0, 3), (3, 6), (9, 4)]}


def run_core_counting(spec, w, scale, offset, xs, layers, *, emulated):
    """Stream xs through the layer chain; returns (outputs, the activity counters at the end)."""
    dut = AcceleratorCore(spec, emulated=emulated)
    macros = [MacroModel(spec, tile_index=i) for i in range(spec.tiles)] if not emulated else []
    outputs, counts = [], {}

    async def host(ctx):
        ctx.set(dut.out_stream_enable, 1)
        await program_core(ctx, dut, w, scale, offset, layers)
        await send(ctx, dut.inp, [int(value) for x in xs for value in x])

    async def sink(ctx):
        ctx.set(dut.out.ready, 1)
        vector = []
        for _ in range(200_000):
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            if valid:
                vector.append(payload.value)
                if payload.last:
                    outputs.append(vector)
                    vector = []
            if len(outputs) == len(xs):
                break
        await ctx.tick().until(~dut.busy)
        for name in ("mvms", "drive_cycles", "row_activations", "conversions", "skipped"):
            counts[name] = ctx.get(getattr(dut.activity, name))

    simulate(dut, host, sink, macros=macros)
    return np.array(outputs), counts


def golden_chain(spec, w, scale, offset, xs, layers):
    """The layer chain replayed MVM by MVM, with the activity each MVM's plans predict."""
    golden = GoldenAccelerator(spec, w, scale, offset)
    layers = [(start, count or spec.logical_cols - start) for start, count in layers]
    m = spec.input.max_magnitude
    activity, results = Activity(), []
    for vector in xs:
        v = vector[None]
        for i, layer in enumerate(layers):
            activity = activity + accelerator_activity(v, spec, layer)
            out = golden.run(v, layer).outputs[0, layer[0]:layer[0] + layer[1]]
            if i < len(layers) - 1:
                v = np.zeros((1, spec.logical_rows), dtype=np.int64)
                n = min(layer[1], spec.logical_rows)
                v[0, :n] = np.clip(out[:n], -m, m)
        results.append(out)
    return np.array(results), activity


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("emulated", [False, True], ids=["macro_model", "emulated_tile"])
def test_layer_chain_with_sparsity_equals_golden_and_counts(name, emulated):
    tables = {k: dict(v) for k, v in SPECS[name].items()}
    tables["noise"] = {"sigma_lsb": 1.5, "seed": 3}
    spec = from_dict(tables)
    rng = np.random.default_rng(21)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    scale = rng.integers(4, 12, spec.logical_cols)
    offset = rng.integers(-8, 8, spec.logical_cols)
    xs = rng.integers(-m, m + 1, (4, spec.logical_rows))
    xs[rng.random(xs.shape) < 0.5] = 0
    xs[1] = 0
    xs[2, :spec.tile.rows] = 0                          # the first row tile idles
    layers = LAYERS[name]
    got, counts = run_core_counting(spec, w, scale, offset, xs, layers, emulated=emulated)
    expected, activity = golden_chain(spec, w, scale, offset, xs, layers)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(expected, GoldenAccelerator(spec, w, scale, offset).run_layers(xs, layers))
    assert counts == activity.registers()
    assert activity.skipped > 0 and activity.conversions > 0


@pytest.mark.parametrize("sparsity, read_noise", [("off", "off"), ("on", "off"), ("on", "on")])
def test_default_preset_interleaved_on_the_emulated_tile_equals_golden(sparsity, read_noise):
    """adc.column_assignment = interleaved on the default preset (16 x 16, 2 SAR ADCs), with every
    [sparsity] option off (the dense schedule) and on, and with the twin's device read noise (each sample's
    gain from its column's variance, rtl/read_noise_variance.py): the emulated tile's columns, the
    accumulator's storage and the golden model's noise order all follow contract.adc_columns."""
    options = ("skip_zero_planes", "skip_zero_tiles", "layer_columns")
    spec = load_preset("default").replace(adc={"column_assignment": "interleaved"},
                                          sparsity={o: sparsity for o in options}, noise={"sigma_lsb": 1.5},
                                          twin={"read_noise": read_noise})
    if read_noise == "on":                              # a device loud enough to move many codes
        spec = spec.replace(device={"read_noise_q": [0.15, 0.65, 0.5]})
    rng = np.random.default_rng(4)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    scale = rng.integers(4, 12, spec.logical_cols)
    offset = rng.integers(-8, 8, spec.logical_cols)
    xs = rng.integers(-m, m + 1, (3, spec.logical_rows))
    xs[rng.random(xs.shape) < 0.5] = 0
    layers = [(0, 5), (5, 3)]                           # positions 0..2 and 2..3 of 8 with 2 ADCs
    got, counts = run_core_counting(spec, w, scale, offset, xs, layers, emulated=True)
    expected, activity = golden_chain(spec, w, scale, offset, xs, layers)
    np.testing.assert_array_equal(got, expected)
    assert counts == activity.registers()
    assert (activity.skipped > 0) == (sparsity == "on")
