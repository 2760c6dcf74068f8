"""Shift-add accumulators with saturation, double-buffered so post-processing overlaps the next MVM.

Every ADC result of step k of an MVM is added, shifted left by k, into the accumulator of its column:
    acc[a*G + col_sel] = sat((0 if first else acc[a*G + col_sel]) + (codes[a] << shift))
saturating at datapath_formats(spec).accumulator after each add, exactly as sim.models.golden.shift_add; the
column's overflow flag is sticky over the MVM (cleared by `first`, set by every saturation). One transfer
per cycle, one adder per ADC (reading and writing its G columns through the col_sel mux).

Three register stages, for timing: the ADC codes arrive combinationally from the analog macro's
comparator answers (rtl.adc_controller), so an accepted transfer is first registered as it is (codes,
column, shift, first) with a one-hot column enable decoded ahead of the register; the next cycle shifts,
adds and saturates from registers alone and writes the column, its enable coming straight from a flop;
a `last` transfer then copies every accumulator and overflow flag into the result bank one cycle later
still, from the accumulators themselves (the next MVM's first add, on that same cycle, does not disturb
the copy). No adder sits between the macro's pins and a register, and the bank's wide load enable is a
flop output. The stages add latency only (bank_valid rises two cycles later than with the add on the
input cycle), never a bubble: a transfer is accepted every cycle.

The post-processor reads the bank combinationally (rd_col -> rd_acc, rd_overflow) while the next MVM
accumulates and frees it with a one-cycle `bank_release` pulse. A `last` transfer is accepted only when its
copy will find the bank free: no copy is on its way and the bank is empty (inp.ready low otherwise), so a
waiting `last` goes in on the cycle after the release; other transfers never wait. inp.ready depends on
registers only: the release pulse comes from the output sequencer's handshake, and letting it through
would chain that handshake into every ADC controller.

Storage is plain registers: cycles matter more than area here. Both copies cost 2 x cols x (acc bits + 1)
flip-flops: for 256 columns with 16-bit accumulators 8704 flops, plus a 256:1 read mux of 17 bits and one
(acc bits + 1)-bit adder and saturation per ADC. A RAM-based bank would halve the flops but not the
one-cycle copy, which needs all columns in parallel.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.formats import datapath_formats
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
        acc = Signal(grouped)
        overflow = Signal(grouped_flags)
        bank = Signal(data.ArrayLayout(signed(fmt.bits), cols))
        bank_overflow = Signal(cols)

        # Stage 1: the accepted transfer, registered as it arrives (no enable: `hit` says what is valid).
        held = Signal(accumulate_layout(spec))
        hit = Signal(group)                   # one-hot column enable of the registered transfer (0: none)
        adding_last = Signal()                # the registered transfer is the MVM's last: copy the bank next
        copy = Signal()                       # acc holds a finished MVM: copy it into the bank now

        accept = Signal()
        pending = Signal()                    # a last transfer is on its way to the bank
        m.d.comb += [
            pending.eq(adding_last | copy),
            self.inp.ready.eq(~inp.last | ~(pending | self.bank_valid)),
            accept.eq(self.inp.valid & self.inp.ready),
        ]
        m.d.sync += [
            held.eq(inp),
            adding_last.eq(accept & inp.last),
            copy.eq(adding_last),
        ]
        for g in range(group):
            m.d.sync += hit[g].eq(accept & (inp.col_sel == g if group > 1 else 1))

        # Stage 2: shift, add and saturate from registers; write the column that `hit` selects.
        sel = held.col_sel if group > 1 else 0
        for a in range(count):
            # The spec guarantees acc bits >= adc bits + steps - 1, so one more bit holds the sum.
            total = Signal(signed(fmt.bits + 1), name=f"total_{a}")
            clipped = Signal(name=f"clipped_{a}")
            m.d.comb += [
                total.eq(Mux(held.first, 0, acc[a][sel]) + (held.codes[a] << held.shift)),
                clipped.eq(total[-1] ^ total[-2]),       # outside the accumulator's range
            ]
            saturated = Mux(clipped, Mux(total[-1], fmt.min, fmt.max), total[:fmt.bits])
            for g in range(group):
                with m.If(hit[g]):
                    m.d.sync += [
                        acc[a][g].eq(saturated),
                        overflow[a][g].eq(clipped | (~held.first & overflow[a][g])),
                    ]

        # Stage 3: the finished MVM into the result bank.
        with m.If(copy):
            m.d.sync += [bank.eq(acc), bank_overflow.eq(overflow), self.bank_valid.eq(1)]
        with m.Elif(self.bank_release):
            m.d.sync += self.bank_valid.eq(0)

        in_range = self.rd_col < cols
        m.d.comb += [
            self.rd_acc.eq(Mux(in_range, bank[self.rd_col], 0)),
            self.rd_overflow.eq(in_range & bank_overflow.bit_select(self.rd_col, 1)),
        ]
        return m
