"""Fixtures shared by the test modules."""

import pytest

from aimcgen.sim.verify.cocotb_setup import SIMULATORS, available_simulators, unavailable_reason


@pytest.fixture
def fast_simulator() -> str:
    """The installed cocotb simulator with the faster build (Icarus, else Verilator); skips without one."""
    simulators = available_simulators()
    if not simulators:
        pytest.skip(f"no simulator: {'; '.join(unavailable_reason(s) for s in SIMULATORS)}")
    return "icarus" if "icarus" in simulators else simulators[0]
