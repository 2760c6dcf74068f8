"""Flash ADC controller: one CONVERT per conversion, the macro's comparator bank answers the code.

The 2^bits - 1 comparators and their thermometer decoder sit in the analog macro (resp.code), so the
digital half only issues CONVERT (start=1, col_sel) and forwards the codes: one conversion per cycle.
"""

from __future__ import annotations

from amaranth.hdl import signed

from aimcgen.rtl.adc_controller_base import AdcController
from aimcgen.rtl.boundary import AnalogOp


class FlashAdcController(AdcController):
    """One CONVERT command per conversion, back to back (see rtl.adc_controller_base for timing)."""

    kind = "flash"
    op = AnalogOp.CONVERT

    def _work_shape(self):
        return signed(self.spec.adc.bits)                # the code, parked while the result is occupied

    def _trial(self, k, work):
        return 0                                         # CONVERT uses no trial code

    def _fold(self, k, work, comp, code):
        return code

    def _code(self, work):
        return work
