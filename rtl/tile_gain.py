"""The per-row-tile gain trim of one partial sum: p' = sat_A((p * g + 2^(T-2)) >> (T-1)), and whether it clamped.

Why: each row tile's ADC has its own gain, and the row tiles' partial sums are added before the per-column
SCALE, so row tiles r >= 1 are scaled to row tile 0's gain first (contract.tile_gain holds the rule and its
rationale; this is its hardware, bit for bit). A = accumulator.bits, T = accumulator.tile_gain_bits; the
trim g is unsigned T bits with T - 1 fraction bits (unity 2^(T-1) leaves p unchanged); `>>` is arithmetic
(floor), so the constant 2^(T-2) rounds half up; sat_A clamps to -2^(A-1)..2^(A-1)-1 and raises `clipped`.

Timing: the product p * g is registered (in the cycle `en` is high) and the rounding add, the shift and the
clamp follow the register, so the multiplier has a cycle to itself (on FPGAs the register goes into the DSP
block): the accelerator core instantiates one per row tile r >= 1 behind its column select (row_tiles - 1 in
all), feeding the product register from the banks' read mux and `trimmed` into the partial-sum adds.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.tile_gain import tile_gain_on
from aimcgen.spec import DesignSpec


class TileGainTrim(wiring.Component):
    """One trimmed partial sum (module doc).

    Members
    -------
    partial : In(signed(A))      the row tile's partial sum p of the column being read
    gain : In(unsigned(T))       that column's trim g of the row tile
    en : In(1)                   register p * g
    trimmed : Out(signed(A))     p' of the registered product, saturated to the accumulator width
    clipped : Out(1)             p' was clamped (it joins the column's overflow flag)
    """

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if not tile_gain_on(spec):
            raise ValueError(f"spec {spec.name} has no tile gain trims (accumulator.tile_gain_bits = "
                             f"{spec.accumulator.tile_gain_bits}, array.row_tiles = {spec.array.row_tiles})")
        self.spec = spec
        acc_bits = datapath_formats(spec).accumulator.bits
        super().__init__({
            "partial": In(signed(acc_bits)),
            "gain": In(unsigned(spec.accumulator.tile_gain_bits)),
            "en": In(1),
            "trimmed": Out(signed(acc_bits)),
            "clipped": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        fmt = datapath_formats(self.spec).accumulator
        shift = self.spec.accumulator.tile_gain_bits - 1            # >= 1: the spec allows T = 0 or 2..16
        # signed A+T+1 bits hold p * g (g unsigned T bits) and the rounding constant without wrapping
        product = Signal(signed(fmt.bits + shift + 2))
        scaled = Signal(signed(fmt.bits + 2))
        with m.If(self.en):
            m.d.sync += product.eq(self.partial * self.gain)
        m.d.comb += [
            scaled.eq((product + (1 << (shift - 1))) >> shift),
            self.trimmed.eq(Mux(scaled > fmt.max, fmt.max, Mux(scaled < fmt.min, fmt.min, scaled))),
            self.clipped.eq((scaled > fmt.max) | (scaled < fmt.min)),
        ]
        return m
