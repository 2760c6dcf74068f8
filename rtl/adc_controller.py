"""`adc_controller(spec)`: the ADC controller of the spec's kind (SAR, ramp or flash).

Every kind is an `AdcController` (rtl.adc_controller_base: handshakes, command stream, buffering) that differs
only in its trial codes and how an answer updates the working value.
"""

from __future__ import annotations

from aimcgen.rtl.adc_controller_base import AdcController, adc_controller_signature, col_sel_shape
from aimcgen.rtl.flash_adc import FlashAdcController
from aimcgen.rtl.ramp_adc import RampAdcController
from aimcgen.rtl.sar_adc import SarAdcController
from aimcgen.spec import DesignSpec

ADC_CONTROLLERS: dict[str, type[AdcController]] = {
    "sar": SarAdcController, "ramp": RampAdcController, "flash": FlashAdcController,
}


def adc_controller(spec: DesignSpec) -> AdcController:
    """The ADC controller for spec.adc.kind."""
    if not isinstance(spec, DesignSpec):
        raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
    return ADC_CONTROLLERS[spec.adc.kind](spec)


__all__ = ["ADC_CONTROLLERS", "AdcController", "adc_controller", "adc_controller_signature", "col_sel_shape"]
