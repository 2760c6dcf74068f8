"""Shift-add accumulators with saturation, double-buffered so post-processing overlaps the next MVM.

Every ADC result of step k of an MVM is added, shifted left by k, into the accumulator of its column:
    acc[a*G + col_sel] = sat((0 if first else acc[a*G + col_sel]) + (codes[a] << shift))
saturating at datapath_formats(spec).accumulator after each add, exactly as sim.golden.shift_add; the
column's overflow flag is sticky over the MVM (cleared by `first`, set by every saturation). One transfer
per cycle, one adder per ADC (reading and writing its G columns through the col_sel mux).

When the MVM's `last` transfer is accepted, every accumulator and overflow flag (that last add included)
is copied into the result bank, which the post-processor reads combinationally (rd_col -> rd_acc,
rd_overflow) while the next MVM accumulates; it frees the bank with a one-cycle `bank_release` pulse. A
`last` transfer that finds the bank still valid waits (inp.ready low) until the release, which may be on
the same cycle.

Storage is plain registers: cycles matter more than area here. Both copies cost 2 x cols x (acc bits + 1)
flip-flops: for 256 columns with 16-bit accumulators 8704 flops, plus a 256:1 read mux of 17 bits and one
(acc bits + 1)-bit adder and saturation per ADC. A RAM-based bank would halve the flops but not the
one-cycle copy, which needs all columns in parallel.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.formats import datapath_formats
from aimcgen.rtl.boundary import adc_codes_layout, command_layout
from aimcgen.spec import DesignSpec


def accumulate_layout(spec: DesignSpec) -> data.StructLayout:
    """One transfer into the accumulators: the codes of all ADCs for one column position and step."""
    return data.StructLayout({
        "codes": adc_codes_layout(spec),
        "col_sel": command_layout(spec)["col_sel"].shape,
        "shift": range(spec.input.steps),
        "first": 1,
        "last": 1,
    })


class ShiftAddAccumulator(wiring.Component):
    """Saturating shift-add accumulators for every tile column plus a result bank (see module doc)."""

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        self.format = datapath_formats(spec).accumulator
        cols = spec.tile.cols
        super().__init__({
            "inp": In(stream.Signature(accumulate_layout(spec))),
            "bank_valid": Out(1),
            "bank_release": In(1),
            "rd_col": In(unsigned(max(1, (cols - 1).bit_length()))),
            "rd_acc": Out(signed(self.format.bits)),
            "rd_overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        spec, fmt = self.spec, self.format
        count, group, cols = spec.adc.count, spec.columns_per_adc, spec.tile.cols
        inp = self.inp.payload

        # Column a*G + g is element [a][g]; the flat layout views the same bits by tile column.
        grouped = data.ArrayLayout(data.ArrayLayout(signed(fmt.bits), group), count)
        grouped_flags = data.ArrayLayout(data.ArrayLayout(1, group), count)
        acc, acc_next = Signal(grouped), Signal(grouped)
        overflow, overflow_next = Signal(grouped_flags), Signal(grouped_flags)
        bank = Signal(data.ArrayLayout(signed(fmt.bits), cols))
        bank_overflow = Signal(cols)

        accept = Signal()
        m.d.comb += [
            self.inp.ready.eq(~inp.last | ~self.bank_valid | self.bank_release),
            accept.eq(self.inp.valid & self.inp.ready),
            acc_next.eq(acc),
            overflow_next.eq(overflow),
        ]

        sel = inp.col_sel if group > 1 else 0
        for a in range(count):
            # The spec guarantees acc bits >= adc bits + steps - 1, so one more bit holds the sum.
            total = Signal(signed(fmt.bits + 1), name=f"total_{a}")
            clipped = Signal(name=f"clipped_{a}")
            m.d.comb += [
                total.eq(Mux(inp.first, 0, acc[a][sel]) + (inp.codes[a] << inp.shift)),
                clipped.eq((total > fmt.max) | (total < fmt.min)),
            ]
            with m.If(accept):
                m.d.comb += [
                    acc_next[a][sel].eq(Mux(total > fmt.max, fmt.max, Mux(total < fmt.min, fmt.min, total))),
                    overflow_next[a][sel].eq(clipped | (~inp.first & overflow[a][sel])),
                ]

        m.d.sync += [acc.eq(acc_next), overflow.eq(overflow_next)]
        with m.If(accept & inp.last):
            m.d.sync += [bank.eq(acc_next), bank_overflow.eq(overflow_next), self.bank_valid.eq(1)]
        with m.Elif(self.bank_release):
            m.d.sync += self.bank_valid.eq(0)

        in_range = self.rd_col < cols
        m.d.comb += [
            self.rd_acc.eq(Mux(in_range, bank[self.rd_col], 0)),
            self.rd_overflow.eq(in_range & bank_overflow.bit_select(self.rd_col, 1)),
        ]
        return m
