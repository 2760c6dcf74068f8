"""The accelerator datapath: weights through program-and-verify, coefficients, streamed vectors; outputs
equal the golden accelerator (tile grid, partial sums, post-processing) bit for bit, noise included."""

import numpy as np
import pytest

from aimcgen.rtl.accelerator_core import AcceleratorCore
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.macro_model import MacroModel
from aimcgen.spec import from_dict
from amaranth_core import program_core
from amaranth_registers import simulate

from amaranth_streams import send

SPECS = {
    "grid_2x2_bit_serial": {"tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 2},
                            "input": {"bits": 4}, "adc": {"count": 2, "bits": 5, "full_scale": 16},
                            "postproc": {"activation": "relu", "scale_bits": 8, "scale_frac_bits": 3}},
    "single_pwm_flash": {"tile": {"rows": 6, "cols": 4}, "input": {"bits": 3, "encoding": "pwm"},
                         "adc": {"kind": "flash", "bits": 6, "count": 4, "full_scale": 32},
                         "accumulator": {"bits": 8}, "postproc": {"output_bits": 6}},
}


def run_core(spec, w, scale, offset, xs, *, emulated, out_stall=0.0, layers=None, max_cycles=200_000):
    dut = AcceleratorCore(spec, emulated=emulated)
    macros = [MacroModel(spec, tile_index=i) for i in range(spec.tiles)] if not emulated else []
    outputs = []
    rng = np.random.default_rng(5)
    programmed = []

    async def host(ctx):
        ctx.set(dut.out_stream_enable, 1)
        await program_core(ctx, dut, w, scale, offset, layers)
        programmed.append(True)
        await send(ctx, dut.inp, [int(value) for x in xs for value in x])

    async def sink(ctx):
        vector = []
        for _ in range(max_cycles):
            if len(outputs) == len(xs):
                break
            ready = int(rng.random() >= out_stall)
            ctx.set(dut.out.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.out.valid, dut.out.payload)
            if valid and ready:
                vector.append(payload.value)
                if payload.last:
                    outputs.append(vector)
                    vector = []
        else:
            raise AssertionError(f"only {len(outputs)} of {len(xs)} output vectors after {max_cycles} cycles")

    simulate(dut, host, sink, macros=macros)
    return np.array(outputs)


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("emulated", [False, True], ids=["macro_model", "emulated_tile"])
def test_outputs_equal_golden_accelerator(name, emulated):
    tables = {k: dict(v) for k, v in SPECS[name].items()}
    tables["noise"] = {"sigma_lsb": 1.5, "seed": 3}
    spec = from_dict(tables)
    rng = np.random.default_rng(8)
    levels, m = spec.tile.conductance_levels, spec.input.max_magnitude
    w = rng.integers(-levels, levels + 1, (spec.logical_rows, spec.logical_cols))
    scale = rng.integers(1, 1 << (spec.postproc.scale_bits - 1), spec.logical_cols)
    offset = rng.integers(-64, 64, spec.logical_cols)
    xs = rng.integers(-m, m + 1, (4, spec.logical_rows))
    got = run_core(spec, w, scale, offset, xs, emulated=emulated, out_stall=0.3)
    expected = GoldenAccelerator(spec, w, scale, offset).run(xs).outputs
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("emulated", [False, True], ids=["macro_model", "emulated_tile"])
def test_layer_sequencer_chains_layers_like_golden(emulated):
    """Three layers on column ranges of a 2x2 grid: 8 -> 5 -> 3 -> 4 features, fed back in hardware."""
    spec = from_dict({"tile": {"rows": 4, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 2},
                      "input": {"bits": 4}, "adc": {"count": 2, "bits": 5, "full_scale": 16},
                      "postproc": {"activation": "relu", "scale_bits": 8, "scale_frac_bits": 4,
                                   "output_bits": 6},
                      "noise": {"sigma_lsb": 1.0, "seed": 4}})
    rng = np.random.default_rng(12)
    w = rng.integers(-7, 8, (8, 8))
    scale = rng.integers(4, 12, 8)
    offset = rng.integers(-8, 8, 8)
    xs = rng.integers(-7, 8, (3, 8))
    layers = [(0, 5), (5, 2), (4, 0)]                 # the last one: count 0 = columns 4..7
    got = run_core(spec, w, scale, offset, xs, emulated=emulated, layers=layers)
    expected = GoldenAccelerator(spec, w, scale, offset).run_layers(xs, layers)
    assert expected.shape == (3, 4)
    np.testing.assert_array_equal(got, expected)
