"""The Python macro models at the analog boundary: what a device pair can hold, stuck devices, and the
command dispatch both models share (sim.verify.macro_model.AnalogMacroModel)."""

import numpy as np
import pytest

from aimcgen.sim.verify.cocotb_macro import PhysicsMacroModel
from aimcgen.sim.verify.macro_model import (COMPARE, CONVERT, INTEGRATE, PROG_READ, PROG_WRITE, MacroModel,
                                            SettledColSel, stuck_devices)
from aimcgen.spec import from_dict

SPEC = from_dict({"tile": {"rows": 4, "cols": 4, "weight_bits": 4}, "adc": {"count": 2},
                  "noise": {"sigma_lsb": 0}})
LEVELS = SPEC.tile.conductance_levels                       # 7: codes -7..7, the 4-bit word also holds -8


def program(model, row, col, target):
    model.execute(PROG_WRITE, row=row, col=col, target=target)
    return model.execute(PROG_READ, row=row, col=col).read_data


def test_unholdable_code_lands_on_minus_levels_in_both_models():
    """-2^(weight_bits-1) has no device pair: the emulated tile programs it as -levels, so must the models."""
    assert program(MacroModel(SPEC), 1, 2, -(LEVELS + 1)) == -LEVELS
    physics = PhysicsMacroModel(SPEC, np.zeros((4, 4), np.int64), seed=1)
    physics.execute(PROG_WRITE, row=1, col=2, target=-(LEVELS + 1))
    assert physics.weights[1, 2] == -LEVELS


def test_write_errors_cannot_push_a_device_beyond_its_range():
    model = MacroModel(SPEC, write_error=lambda row, col, target: 3)
    assert program(model, 0, 0, 6) == LEVELS
    assert program(model, 0, 1, -6) == -3


def test_stuck_devices_land_on_their_code_whatever_the_target():
    model = MacroModel(SPEC, write_error=stuck_devices({(2, 3): 0}))
    assert [program(model, 2, 3, t) for t in (5, -7, 0)] == [0, 0, 0]
    assert [program(model, 3, 2, t) for t in (5, -7)] == [5, -7]


def test_dispatch_is_shared_and_unknown_commands_are_named():
    """One INTEGRATE + CONVERT through each model: the same charges give the same codes (no noise, the
    physics model read right after programming with an ideal device)."""
    ideal = from_dict({"tile": {"rows": 4, "cols": 4, "weight_bits": 4}, "adc": {"count": 2},
                       "noise": {"sigma_lsb": 0}, "device": {"model": "ideal"}})
    w = np.array([[1, -2, 3, 0], [4, 5, -6, 7], [0, 1, 1, -1], [2, 2, -2, 2]])
    exact, physics = MacroModel(ideal, w), PhysicsMacroModel(ideal, w, seed=3, t_s=0.0)
    for model in (exact, physics):
        model.execute(INTEGRATE, start=1, row_en=0b1011, row_sign=0b0010)
    np.testing.assert_allclose(physics.charge, exact.charge, atol=1e-9)
    for col_sel in range(ideal.columns_per_adc):
        assert exact.execute(CONVERT, col_sel=col_sel).code == physics.execute(CONVERT, col_sel=col_sel).code
    for model in (exact, physics):
        with pytest.raises(ValueError, match="unknown command op 9"):
            model.execute(9)


def test_the_col_sel_rule_check_catches_a_position_that_moves_with_its_sample():
    """contract.schedule.col_sel_settled, as the macro models check it each cycle: with a SAR a sampling
    COMPARE must carry the col_sel of the cycle before; a flash macro reads its pins, so nothing is checked."""
    rule = SettledColSel(SPEC)                  # SAR: conversions of adc.bits commands
    rule.see(0, INTEGRATE, 1, 0)                # the position may move while no sample is offered ...
    rule.see(1, INTEGRATE, 1, 1)
    rule.see(1, COMPARE, 1, 1)                  # ... and a sample takes it a cycle later
    rule.see(1, COMPARE, 0, 0)                  # a COMPARE without start names no position
    with pytest.raises(AssertionError, match="col_sel 1, but the pins had 0"):
        rule.see(1, COMPARE, 1, 1)
    flash = SettledColSel(SPEC.replace(adc={"kind": "flash"}))
    for col_sel in (0, 1, 0):
        flash.see(1, CONVERT, 0, col_sel)
