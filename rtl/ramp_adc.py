"""Ramp ADC controller: a staircase of trial codes, counting the comparator decisions that answer 1.

Every ADC compares against the same ramp code_min+1, code_min+2, ..., code_max (2^bits - 1 COMPARE
commands, the first with start=1 to sample the column). The held sample reaches a prefix of these
thresholds, so code_min plus the number of 1 answers is the largest code whose threshold it reaches,
clipped to the range: contract.adc.adc_code's floor. Counting every answer (rather than stopping at the first 0)
keeps all ADCs in lock step and gives a fixed conversion time, as a shared ramp generator does.
"""

from __future__ import annotations

from amaranth.hdl import Const, unsigned

from aimcgen.rtl.adc_controller_base import AdcController
from aimcgen.rtl.boundary import AnalogOp


class RampAdcController(AdcController):
    """2^bits - 1 COMPARE commands per conversion on consecutive cycles (see rtl.adc_controller_base)."""

    kind = "ramp"
    op = AnalogOp.COMPARE

    def _work_shape(self):
        return unsigned(self.spec.adc.bits)              # answers that were 1: 0 .. 2^bits - 1

    def _msb(self):
        return Const(1 << (self.spec.adc.bits - 1), self._work_shape())

    def _trial(self, k, work):
        # code_min + 1 + k == (k + 1) - 2^(bits-1): offset binary k + 1 with its MSB flipped.
        step = (k + 1)[:self.spec.adc.bits]
        return (step ^ self._msb()).as_signed()

    def _fold(self, k, work, comp, code):
        return (work + comp)[:self.spec.adc.bits]

    def _code(self, work):
        return (work ^ self._msb()).as_signed()
