"""The parallel_adc emulated tile keeps MVMs at the serial command bound (Amaranth simulation of the top).

Why: the adder trees' pipeline (rtl.parallel_integrator.latency) and, with device read noise, the position
gains' 2 cycles (rtl.noise.position_gain_wait) must stay hidden behind the tile controller's tail
comparisons (README, "The emulated tile as the devices' digital twin"): one cycle more shows here as a
cycle per step (462 on tile64 instead of 455).
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.presets import load_preset
from aimcgen.sim.verify.amaranth_mvms import back_to_back_ends

CASES = {   # name: (preset, twin fields)
    "default": ("default", {"integrate": "parallel_adc"}),
    "tile64": ("tile64", {"integrate": "parallel_adc"}),
    "tile64_read_noise": ("tile64", {"integrate": "parallel_adc", "read_noise": "on"}),
}


def mvm_periods(spec, mvms: int) -> list[int]:
    """Cycles between the last output beats of successive MVMs, inputs and outputs never stalling."""
    m = spec.input.max_magnitude
    xs = np.random.default_rng(3).integers(-m, m + 1, (mvms, spec.logical_rows))
    ends, _ = back_to_back_ends(spec, xs)
    return np.diff([cycle for cycle, _ in ends]).tolist()


@pytest.mark.parametrize("case", CASES)
def test_back_to_back_mvms_take_the_serial_command_bound(case):
    preset, twin = CASES[case]
    spec = load_preset(preset).replace(twin=twin)
    periods = mvm_periods(spec, 4)
    # The last MVM's period ends a cycle sooner: no next MVM's INTEGRATE goes before its tail.
    assert periods[:-1] == [serial_schedule_commands(spec)] * 2, periods
