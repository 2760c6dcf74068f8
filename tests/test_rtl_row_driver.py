"""Row drivers: the enable/polarity pins over a whole MVM equal the golden model's drive steps."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from aimcgen.rtl.row_driver import row_driver
from aimcgen.contract.encoding import drive_steps
from aimcgen.spec import from_dict


@pytest.mark.parametrize("encoding", ["pwm", "bit_serial"])
def test_drive_pins_integrate_to_golden_steps(encoding):
    spec = from_dict({"tile": {"rows": 12, "cols": 4}, "input": {"bits": 5, "encoding": encoding},
                      "adc": {"count": 1}})
    dut = row_driver(spec)
    rng = np.random.default_rng(4)
    xs = rng.integers(-15, 16, (6, 12))
    xs[0, :3] = [15, -15, 0]

    async def bench(ctx):
        for x in xs:
            ctx.set(dut.x, x.tolist())
            steps = []
            for k in range(spec.input.steps):
                ctx.set(dut.step, k)
                total = np.zeros(12, dtype=int)
                cycles = spec.input.max_magnitude if encoding == "pwm" else 1
                for c in range(cycles):
                    ctx.set(dut.cycle, c)
                    en, sign = ctx.get(dut.row_en), ctx.get(dut.row_sign)
                    bits = np.array([(en >> i) & 1 for i in range(12)])
                    signs = np.array([(sign >> i) & 1 for i in range(12)])
                    total += bits * np.where(signs == 1, -1, 1)
                steps.append(total)
            np.testing.assert_array_equal(np.array(steps), drive_steps(x[None], spec.input)[:, 0, :])

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()


def test_most_negative_code_drives_as_largest_magnitude():
    spec = from_dict({"tile": {"rows": 2, "cols": 1}, "input": {"bits": 3, "encoding": "pwm"},
                      "adc": {"count": 1}})
    dut = row_driver(spec)

    async def bench(ctx):
        ctx.set(dut.x, [-4, 3])
        enabled = []
        for c in range(3):
            ctx.set(dut.cycle, c)
            enabled.append(ctx.get(dut.row_en))
        assert enabled == [0b11, 0b11, 0b11] and ctx.get(dut.row_sign) == 0b01

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
