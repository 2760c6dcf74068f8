"""The command schedule of one MVM at the analog boundary, as the tile controller issues it.

Per input step the controller issues `drive_cycles` INTEGRATE commands (PWM: `input.max_magnitude`, one per
drive cycle; bit-serial: one per bit plane), then converts every column: `columns_per_adc` conversions per
ADC, each `conversion_cycles(adc)` commands (contract.adc). With a macro that answers every command in one
cycle this is the MVM's command count; it counts commands of a serial integrate-then-convert schedule.

The tile controller (rtl.tile_controller) ends an MVM, and starts the next one, before the last conversion's
final `tail_commands` comparisons, which follow the next MVM's INTEGRATEs: back to back every MVM still
takes `serial_schedule_commands` cycles, but the first one after an idle controller ends that many cycles
sooner.
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


def tail_commands(spec: DesignSpec) -> int:
    """Commands of a step's last conversion issued after the step ends: conversion_cycles - 2 for conversions
    of two or more commands (the step ends the cycle after the sampling command), 0 for one-command ones."""
    return max(conversion_cycles(spec.adc) - 2, 0)


def col_sel_settled(spec: DesignSpec) -> bool:
    """Whether a sampling command's col_sel is on the analog boundary from the cycle before the command is
    offered (rtl.boundary): conversions of two or more commands (SAR, ramp), whose next sample comes at
    least a cycle after the position moves on. A macro may then read the position from its own register."""
    return conversion_cycles(spec.adc) >= 2
