"""One ADC's comparators with its errors: the sample against a ROM of per-code thresholds (contract.adc_errors).

Why: a real ADC's gain and offset spread, SAR capacitor mismatch and ramp INL move every comparator
threshold; the emulated tile reproduces them bit for bit with the golden model by comparing its integer
sample against the chip's table T_c (contract.adc_errors.comparator_thresholds: ceil(T_q / 2^8), clamped to
the sample's range), built at elaboration from the chip seed. Combinational; the tile registers the answers.

- sar, ramp: `comp` = sample >= T_c(u) with u = trial - code_min (the trial code's offset binary: its MSB
  flipped), a ROM of N words indexed by the trial, as a SAR's DAC or a ramp generator presents one
  threshold per trial code. The periphery's SAR and ramp controllers see only these bits and are unchanged.
- flash: `code` = code_min + the number of u in 1..N-1 with sample >= T_c(u): the thermometer code of N-1
  comparators, summed (contract.adc_errors' flash rule as written, so any table, monotone or not).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Const, Module, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.adc_errors import comparator_thresholds
from aimcgen.contract.formats import datapath_formats
from aimcgen.spec import DesignSpec


class AdcThresholds(wiring.Component):
    """The comparators of one ADC with errors.

    Parameters
    ----------
    spec : DesignSpec
        The design; its adc.kind selects the ports used (sar/ramp: trial -> comp; flash: code).
    table : array of N ints
        The ADC's fixed-point thresholds T_q (one row of contract.adc_errors.chip_thresholds).

    Members
    -------
    sample : In(signed(charge bits))
        The integer sample the ADC converts (held for sar/ramp by the tile).
    trial : In(signed(adc.bits))
        The trial code of a COMPARE (sar, ramp).
    comp : Out(1)
        sample >= T_c(trial - code_min) (sar, ramp).
    code : Out(signed(adc.bits))
        The flash code (flash).
    """

    def __init__(self, spec: DesignSpec, table):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        table = np.asarray(table)
        n = 1 << spec.adc.bits
        if table.shape != (n,):
            raise ValueError(f"table must hold one threshold per code ({n},), not {table.shape}")
        self.spec = spec
        charge = datapath_formats(spec).charge
        self.thresholds = [int(t) for t in comparator_thresholds(table, spec)]
        # charge.max + 1 is a threshold no sample reaches: one bit wider than the sample.
        self._threshold_shape = signed(charge.bits + 1)
        super().__init__({
            "sample": In(signed(charge.bits)),
            "trial": In(signed(spec.adc.bits)),
            "comp": Out(1),
            "code": Out(signed(spec.adc.bits)),
        })

    def elaborate(self, platform):
        adc = self.spec.adc
        m = Module()
        if adc.kind == "flash":
            passed = [self.sample >= Const(t, self._threshold_shape) for t in self.thresholds[1:]]
            m.d.comb += self.code.eq(adc.code_min + sum(passed))
        else:
            m.submodules.rom = rom = Memory(shape=self._threshold_shape, depth=len(self.thresholds),
                                            init=self.thresholds)
            port = rom.read_port(domain="comb")
            msb = 1 << (adc.bits - 1)
            m.d.comb += [port.addr.eq(self.trial.as_unsigned() ^ msb), self.comp.eq(self.sample >= port.data)]
        return m
