"""SAR ADC controller: successive approximation, one comparator decision per bit, MSB first.

The search runs in offset binary u = code + 2^(bits-1), so the decided bits never need a signed adder:
command k tests bit p = bits-1-k with trial u = decided | 1<<p (trial code u - 2^(bits-1), i.e. u with
its MSB flipped) and keeps the bit when the comparator answers 1 (held >= threshold(trial)). After `bits`
decisions the code is the largest one whose threshold the held sample reaches, clipped to the ADC range:
exactly contract.adc.adc_code's floor-and-clip. The first command (start=1) also samples the column.
"""

from __future__ import annotations

from amaranth.hdl import Const, Mux, unsigned

from aimcgen.rtl.adc_controller_base import AdcController
from aimcgen.rtl.boundary import AnalogOp


class SarAdcController(AdcController):
    """`bits` COMPARE commands per conversion on consecutive cycles (see rtl.adc_controller_base for timing)."""

    kind = "sar"
    op = AnalogOp.COMPARE

    def _work_shape(self):
        return unsigned(self.spec.adc.bits)              # the bits decided so far, offset binary

    def _msb(self):
        return Const(1 << (self.spec.adc.bits - 1), self._work_shape())

    def _trial(self, k, work):
        return ((work | (self._msb() >> k)) ^ self._msb()).as_signed()

    def _fold(self, k, work, comp, code):
        return work | Mux(comp, self._msb() >> k, 0)

    def _code(self, work):
        return (work ^ self._msb()).as_signed()
