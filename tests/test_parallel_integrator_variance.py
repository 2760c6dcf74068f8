"""rtl.parallel_integrator with read noise: each column's V after one INTEGRATE is exactly the sum of its
enabled devices' VT entries (contract.device_read_noise), read through the table index stored beside each
weight, for both parallel layouts and for bit-serial and PWM inputs. The end-to-end replays compare noisy
codes, in which V shows only through its coarse gain class (a V off by one per device passed them); this
compares V itself."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.contract.adc_columns import adc_column
from aimcgen.contract.device_read_noise import variance_table
from aimcgen.contract.formats import datapath_formats
from aimcgen.presets import load_preset
from aimcgen.rtl.parallel_integrator import ParallelIntegrator, latency, sweep_steps
from aimcgen.rtl.read_noise_variance import table_indices

CASES = {
    "bit_serial_parallel_adc": ("default", {"integrate": "parallel_adc", "read_noise": "on"}, {}),
    "bit_serial_parallel": ("default", {"integrate": "parallel", "read_noise": "on"}, {}),
    "pwm_parallel_adc": ("default", {"integrate": "parallel_adc", "read_noise": "on"},
                         {"encoding": "pwm", "bits": 4}),
}


def _spec(case):
    preset, twin, inputs = CASES[case]
    spec = load_preset(preset).replace(twin=twin)
    return spec.replace(input=inputs) if inputs else spec


@pytest.mark.parametrize("case", CASES)
def test_column_variance_is_the_sum_of_the_enabled_entries(case):
    spec = _spec(case)
    rows, cols = spec.tile.rows, spec.tile.cols
    rng = np.random.default_rng(7)
    top = (1 << (datapath_formats(spec).fine_weight.bits - 1)) - 1
    weights = rng.integers(-top, top + 1, (rows, cols))
    weights[0, :] = top                                     # the largest entry appears
    row_en = int(rng.integers(1, 2**rows))
    dut = ParallelIntegrator(spec, weights, (rows - 1).bit_length(), (cols - 1).bit_length())
    got = {}

    async def bench(ctx):
        ctx.set(dut.begin, 1)
        ctx.set(dut.start, 1)
        ctx.set(dut.row_en, row_en)
        ctx.set(dut.row_sign, int(rng.integers(0, 2**rows)))   # the sign does not change V
        await ctx.tick()
        ctx.set(dut.begin, 0)
        await ctx.tick().repeat(latency(spec) + sweep_steps(spec) + 1)
        for a in range(spec.adc.count):
            for p in range(spec.columns_per_adc):
                got[adc_column(spec, a, p)] = ctx.get(dut.variance[a][p])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    table = np.array(variance_table(spec))
    enabled = np.array([(row_en >> i) & 1 for i in range(rows)], dtype=bool)
    expect = table[np.array(table_indices(spec, weights))][enabled].sum(axis=0)
    assert [got[j] for j in range(cols)] == expect.tolist()
    assert expect.max() > 0
