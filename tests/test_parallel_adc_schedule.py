"""The parallel_adc emulated tile keeps MVMs at the serial command bound (Amaranth simulation of the top).

Why: rtl.parallel_integrator.term_stages adds a register stage to the adder trees only where the tile
controller's tail comparisons hide it (README, "The emulated tile as the devices' digital twin"); if that
rule were wrong, every step would lose a cycle here.
"""

from __future__ import annotations

import numpy as np
import pytest

from aimcgen.contract.schedule import serial_schedule_commands
from aimcgen.presets import load_preset
from aimcgen.rtl.parallel_integrator import term_stages
from aimcgen.sim.verify.amaranth_mvms import back_to_back_ends

CASES = {   # name: (preset, twin fields, expected term stages)
    "default": ("default", {"integrate": "parallel_adc"}, 1),
    "tile64": ("tile64", {"integrate": "parallel_adc"}, 1),
    "tile64_read_noise": ("tile64", {"integrate": "parallel_adc", "read_noise": "on"}, 0),
}


def mvm_periods(spec, mvms: int) -> list[int]:
    """Cycles between the last output beats of successive MVMs, inputs and outputs never stalling."""
    m = spec.input.max_magnitude
    xs = np.random.default_rng(3).integers(-m, m + 1, (mvms, spec.logical_rows))
    ends, _ = back_to_back_ends(spec, xs)
    return np.diff([cycle for cycle, _ in ends]).tolist()


@pytest.mark.parametrize("case", CASES)
def test_back_to_back_mvms_take_the_serial_command_bound(case):
    preset, twin, terms = CASES[case]
    spec = load_preset(preset).replace(twin=twin)
    assert term_stages(spec) == terms
    periods = mvm_periods(spec, 4)
    # The last MVM's period ends a cycle sooner: no next MVM's INTEGRATE goes before its tail.
    assert periods[:-1] == [serial_schedule_commands(spec)] * 2, periods
