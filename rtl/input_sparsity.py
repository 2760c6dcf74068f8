"""What a tile's input vector lets the controller skip (contract.sparsity): combinational, from the held vector.

- `planes`: OR of the magnitudes |x_i|, so bit k is set iff some row drives bit plane k (bit-serial);
- `peak`: the largest magnitude, the PWM drive window that still holds every row for |x_i| cycles;
- `nonzero`: some input is not zero.
Magnitudes are read as the row drivers read them (rtl.row_driver: -2^(bits-1) drives as 2^(bits-1)-1).
The peak is a balanced tree of pairwise maxima, log2(rows) comparators deep.
"""

from __future__ import annotations

from aimcgen.rtl.row_driver import input_vector_layout
from amaranth.hdl import Module, Mux, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.spec import DesignSpec


class InputSparsity(wiring.Component):
    """Plane mask, peak magnitude and any-nonzero of one tile's input vector."""

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        width = spec.input.max_magnitude.bit_length()
        super().__init__({
            "x": In(input_vector_layout(spec)),
            "planes": Out(width),
            "peak": Out(width),
            "nonzero": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        top = self.spec.input.max_magnitude
        width = top.bit_length()
        level = []
        for i in range(self.spec.tile.rows):
            x = self.x[i]
            magnitude = Signal(unsigned(width), name=f"magnitude_{i}")
            m.d.comb += magnitude.eq(Mux(x < 0, Mux(x < -top, top, -x), x))
            level.append(magnitude)
        planes = 0
        for magnitude in level:
            planes = planes | magnitude
        m.d.comb += [self.planes.eq(planes), self.nonzero.eq(self.planes != 0)]
        depth = 0
        while len(level) > 1:
            paired = []
            for j in range(0, len(level) - 1, 2):
                a, b = level[j], level[j + 1]
                peak = Signal(unsigned(width), name=f"peak_{depth}_{j // 2}")
                m.d.comb += peak.eq(Mux(a > b, a, b))
                paired.append(peak)
            if len(level) % 2:
                paired.append(level[-1])
            level, depth = paired, depth + 1
        m.d.comb += self.peak.eq(level[0])
        return m
