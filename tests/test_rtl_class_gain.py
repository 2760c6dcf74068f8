"""rtl.read_noise_variance.class_gain: the flat gain logic gives the contract's gain of a variance,
gain_table[class_index(V)] capped at gain_max (contract.device_read_noise), at every class boundary."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from aimcgen.contract import device_read_noise as drn
from aimcgen.presets import load_preset
from aimcgen.rtl.read_noise_variance import capped_gains, class_gain

SPECS = {
    "default": load_preset("default").replace(twin={"integrate": "parallel_adc", "read_noise": "on"}),
    "tile64": load_preset("tile64").replace(twin={"integrate": "parallel_adc", "read_noise": "on"}),
}


def boundary_values(width: int, seed: int) -> list[int]:
    """Every class edge and its neighbours, the ends, and random values."""
    edges = {v for b in range(width + 1) for v in ((1 << b) - 1, 1 << b, (1 << b) + 1, (3 << b) >> 1)}
    rng = np.random.default_rng(seed)
    values = edges | set(rng.integers(0, 1 << width, 300).tolist())
    return sorted(v for v in values if 0 <= v < 1 << width)


@pytest.mark.parametrize("name", SPECS)
def test_class_gain_is_the_contract_gain(name):
    spec = SPECS[name]
    width = drn.variance_bits(spec)
    m = Module()
    variance = Signal(width)
    gain = class_gain(m, spec, variance, "dut")
    table = capped_gains(spec)
    values = boundary_values(width, seed=7)
    got = []

    async def bench(ctx):
        for v in values:
            ctx.set(variance, v)
            got.append(ctx.get(gain))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    expected = [table[int(i)] for i in drn.class_index(np.array(values))]
    assert got == expected
    assert len(set(expected)) > 20          # the values reach many classes
