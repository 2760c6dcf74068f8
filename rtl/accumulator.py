"""Shift-add accumulators with saturation, double-buffered so post-processing overlaps the next MVM.

Every ADC result of step k of an MVM is added, shifted left by k, into the accumulator of its column:
    acc[j] = sat((0 if first else acc[j]) + (codes[a] << shift)),  j = column(a, col_sel)
(j the tile column at position col_sel of ADC a, contract.adc_columns: a*G + col_sel for blocks,
col_sel*A + a for interleaved),
saturating at datapath_formats(spec).accumulator after each add, exactly as sim.models.golden.shift_add; the
column's overflow flag is sticky over the MVM (cleared by `first`, set by every saturation). One transfer
per cycle, one adder per ADC (reading and writing its G columns through the col_sel mux).

Four register stages, for timing (100 MHz at SKY130's slow signoff corner ss_100C_1v60, and the FPGA
emulation, where an ADC's columns spread across the chip):
  1. the ADC codes arrive combinationally from the analog macro's comparator answers (rtl.adc_controller),
     so an accepted transfer is first registered as it is (codes, column, shift, first) with a one-hot
     column enable decoded ahead of the register;
  2. the operands are registered: the column's running sum read through the col_sel mux (0 on `first`)
     and the shifted code. When stage 4 writes that same column on this cycle (a column's transfers two
     cycles apart), the read takes stage 4's saturated sum instead (`near`), so the result is the same as
     reading after the write;
  3. add, from registers alone, into an unsaturated sum one bit wider. When the transfer ahead of this one
     (in stage 4) went to the same column (back-to-back transfers to one column: every cycle when an ADC
     serves a single column), the adder takes that transfer's saturated sum instead of the operand
     (`chain`). Whether to forward, in stage 2 and in stage 3, is decided a cycle ahead into registers, one
     per ADC;
  4. saturate (one LUT per bit after the register) and write the column, its enable coming straight from a
     flop. A `last` transfer copies every accumulator and overflow flag into the result bank on the edge of its
     own write: the accumulators themselves, and stage 4's saturated sum for the column it writes (the
     next MVM's transfers, behind it in the pipeline, do not disturb the copy).
No adder sits between the macro's pins and a register, the column mux and the adder are in different
stages, the adder and the saturation are in different stages (the sum reaches the G columns of its ADC
through one LUT), and the bank's wide load enable is a flop output. The stages add latency only
(bank_valid rises three cycles later than with the add on the input cycle), never a bubble: a transfer is
accepted every cycle.

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

from aimcgen.contract.adc_columns import column_adc
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

        # Element [a][g] is the column at position g of ADC a (contract.adc_columns).
        grouped = data.ArrayLayout(data.ArrayLayout(signed(fmt.bits), group), count)
        grouped_flags = data.ArrayLayout(data.ArrayLayout(1, group), count)
        acc = Signal(grouped)
        overflow = Signal(grouped_flags)
        bank = Signal(data.ArrayLayout(signed(fmt.bits), cols))
        bank_overflow = Signal(cols)

        # Stage 1: the accepted transfer, registered as it arrives (no enable: `hit` says what is valid).
        held = Signal(accumulate_layout(spec))
        hit = Signal(group)                   # one-hot column enable of the registered transfer (0: none)
        accept = Signal()
        m.d.comb += accept.eq(self.inp.valid & self.inp.ready)
        m.d.sync += held.eq(inp)
        for g in range(group):
            m.d.sync += hit[g].eq(accept & (inp.col_sel == g if group > 1 else 1))

        # Stage 2: the operands, registered: the column's running sum (0 on `first`) and the shifted code.
        # Two transfers ahead of this one may still be on their way to the accumulators: the one in stage 4
        # writes at this edge, so its saturated sum is taken instead of the column's register when it is this
        # column (`near`); the one in stage 3 is this one's predecessor at the adder, where stage 3 takes it
        # (`chain`). Both choices are made a cycle ahead into registers, one copy per ADC beside its
        # multiplexers (`keep`: synthesis must not merge them, flows.fpga.KEEP_REGISTERS).
        op_acc = Signal(data.ArrayLayout(signed(fmt.bits), count))
        op_overflow = Signal(count)
        op_term = Signal(data.ArrayLayout(signed(fmt.bits), count))
        op_hit = Signal(group)
        add_total = Signal(data.ArrayLayout(signed(fmt.bits + 1), count))   # stage 4: the unsaturated sums
        add_overflow = Signal(count)                                         # ... the flags they add to
        add_hit = Signal(group)                                              # ... and the column they write
        sat_acc = Signal(data.ArrayLayout(signed(fmt.bits), count))         # stage 4's saturated sums
        sat_overflow = Signal(count)                                         # ... and sticky flags
        sel = held.col_sel if group > 1 else 0
        m.d.sync += op_hit.eq(hit)
        # `near`: the transfer entering stage 1 and the one entering stage 3 (now in stage 2) hit one column.
        near_column = op_hit.bit_select(inp.col_sel, 1) if group > 1 else op_hit[0]
        # `chain`: the transfer entering stage 2 and the one entering stage 3 hit one column (not on `first`).
        chain_column = (hit & op_hit).any()
        chain = []
        for a in range(count):
            near = Signal(name=f"near_{a}", attrs={"keep": 1})
            chained = Signal(name=f"chain_{a}", attrs={"keep": 1})
            m.d.sync += [near.eq(accept & near_column), chained.eq(chain_column & ~held.first)]
            chain.append(chained)
            m.d.sync += [
                op_acc[a].eq(Mux(held.first, 0, Mux(near, sat_acc[a], acc[a][sel]))),
                op_overflow[a].eq(~held.first & Mux(near, sat_overflow[a], overflow[a][sel])),
                # The spec guarantees acc bits >= adc bits + steps - 1: the shifted code fits.
                op_term[a].eq(held.codes[a] << held.shift),
            ]

        # Stage 3: add, from registers alone (or from stage 4's saturated sum when `chain`), unsaturated.
        m.d.sync += add_hit.eq(op_hit)
        for a in range(count):
            operand = Mux(chain[a], sat_acc[a], op_acc[a])
            m.d.sync += [
                add_total[a].eq(operand + op_term[a]),
                add_overflow[a].eq(Mux(chain[a], sat_overflow[a], op_overflow[a])),
            ]

        # Stage 4: saturate (a LUT per bit after the register) and write the column that `add_hit` selects.
        for a in range(count):
            total = add_total[a]
            clipped = Signal(name=f"clipped_{a}")
            m.d.comb += [
                clipped.eq(total[-1] ^ total[-2]),       # outside the accumulator's range
                sat_acc[a].eq(Mux(clipped, Mux(total[-1], fmt.min, fmt.max), total[:fmt.bits])),
                sat_overflow[a].eq(clipped | add_overflow[a]),
            ]
            for g in range(group):
                with m.If(add_hit[g]):
                    m.d.sync += [acc[a][g].eq(sat_acc[a]), overflow[a][g].eq(sat_overflow[a])]

        # The finished MVM into the result bank, on the edge of its last write: each column from the
        # accumulator, or from stage 4's saturated sum for the column that write goes to.
        last_held, last_operands, copy = Signal(), Signal(), Signal()
        pending = Signal()                    # a last transfer is on its way to the bank
        m.d.sync += [
            last_held.eq(accept & inp.last),
            last_operands.eq(last_held),
            copy.eq(last_operands),           # the last transfer's sum is in stage 4
        ]
        m.d.comb += [
            pending.eq(last_held | last_operands | copy),
            self.inp.ready.eq(~inp.last | ~(pending | self.bank_valid)),
        ]
        with m.If(copy):
            m.d.sync += self.bank_valid.eq(1)
            for j in range(cols):
                a, g = column_adc(spec, j)
                m.d.sync += [bank[j].eq(Mux(add_hit[g], sat_acc[a], acc[a][g])),
                             bank_overflow[j].eq(Mux(add_hit[g], sat_overflow[a], overflow[a][g]))]
        with m.Elif(self.bank_release):
            m.d.sync += self.bank_valid.eq(0)

        in_range = self.rd_col < cols
        m.d.comb += [
            self.rd_acc.eq(Mux(in_range, bank[self.rd_col], 0)),
            self.rd_overflow.eq(in_range & bank_overflow.bit_select(self.rd_col, 1)),
        ]
        return m
