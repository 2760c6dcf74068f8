"""DAC row drivers: turn the input vector into the row enable and polarity pins of the analog boundary.

Inputs are sign-magnitude (contract.encoding): polarity is the sign, the enable carries the magnitude in time.
- `PwmRowDriver`: in drive cycle c of the single step, row i is enabled while |x_i| > c, so over the
  2^(bits-1)-1 cycles of the window it is active for exactly |x_i| cycles.
- `BitSerialRowDriver`: in step k, row i is enabled iff bit k of |x_i| is set (LSB first).
Both are combinational: the controller presents (step, cycle) with each INTEGRATE command and the macro
latches the pins when it accepts the command. The input code -2^(bits-1) has no magnitude in range and is
driven as -(2^(bits-1)-1), like the saturating input buffer a DAC needs anyway.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.spec import DesignSpec


def input_vector_layout(spec: DesignSpec) -> data.ArrayLayout:
    return data.ArrayLayout(signed(spec.input.bits), spec.tile.rows)


class _RowDriver(wiring.Component):
    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        rows, inp = spec.tile.rows, spec.input
        super().__init__({
            "x": In(input_vector_layout(spec)),
            "step": In(range(max(2, inp.steps))),
            "cycle": In(range(max(2, inp.max_magnitude))),
            "row_en": Out(rows),
            "row_sign": Out(rows),
        })

    def _enable(self, magnitude):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        top = self.spec.input.max_magnitude
        for i in range(self.spec.tile.rows):
            x = self.x[i]
            magnitude = Signal(unsigned(top.bit_length()), name=f"magnitude_{i}")
            m.d.comb += [
                magnitude.eq(Mux(x < 0, Mux(x < -top, top, -x), x)),
                self.row_sign[i].eq(x < 0),
                self.row_en[i].eq(self._enable(magnitude)),
            ]
        return m


class PwmRowDriver(_RowDriver):
    def _enable(self, magnitude):
        return magnitude > self.cycle


class BitSerialRowDriver(_RowDriver):
    def _enable(self, magnitude):
        return magnitude.bit_select(self.step, 1)


def row_driver(spec: DesignSpec) -> _RowDriver:
    """The row driver for spec.input.encoding."""
    return PwmRowDriver(spec) if spec.input.encoding == "pwm" else BitSerialRowDriver(spec)
