"""The command schedule of one MVM at the analog boundary, as the tile controller issues it.

Per input step the controller issues `drive_cycles` INTEGRATE commands (PWM: `input.max_magnitude`, one per
drive cycle; bit-serial: one per bit plane), then converts every column: `columns_per_adc` conversions per
ADC, each `conversion_cycles(adc)` commands (contract.adc). With a macro that answers every command in one
cycle this is the MVM's command count; it counts commands of a serial integrate-then-convert schedule.
"""

from __future__ import annotations

from aimcgen.contract.adc import conversion_cycles
from aimcgen.spec import DesignSpec


def drive_cycles(spec: DesignSpec) -> int:
    """INTEGRATE commands per step."""
    return spec.input.max_magnitude if spec.input.encoding == "pwm" else 1


def serial_schedule_commands(spec: DesignSpec) -> int:
    """Commands the analog macro must execute per MVM: the cycle count of an ideal controller."""
    per_step = drive_cycles(spec) + spec.columns_per_adc * conversion_cycles(spec.adc)
    return spec.input.steps * per_step
