"""Shift-add accumulators with saturation, double-buffered so post-processing overlaps the next MVM.

Every ADC result of step k of an MVM is added, shifted left by k, into the accumulator of its column:
    acc[j] = sat((0 if first else acc[j]) + (codes[a] << shift)),  j = column(a, col_sel)
(j the tile column at position col_sel of ADC a, contract.adc_columns: a*G + col_sel for blocks,
col_sel*A + a for interleaved),
saturating at datapath_formats(spec).accumulator after each add, exactly as sim.models.golden.shift_add; the
column's overflow flag is sticky over the MVM (cleared by `first`, set by every saturation). One transfer
per cycle, one adder per ADC (reading and writing its G columns through the col_sel mux).

Four register stages, for timing (100 MHz at SKY130's slow signoff corner ss_100C_1v60):
  1. the ADC codes arrive combinationally from the analog macro's comparator answers (rtl.adc_controller),
     so an accepted transfer is first registered as it is (codes, column, shift, first) with a one-hot
     column enable decoded ahead of the register;
  2. the operands are registered: the column's running sum read through the col_sel mux (0 on `first`)
     and the shifted code. When stage 3 writes that same column on this cycle (back-to-back transfers to
     one column: every cycle when an ADC serves a single column), the read is forwarded from stage 3's
     sum instead, so the result is the same as reading after the write (whether to forward is decided
     a cycle ahead, as the transfer enters stage 1, into a register per ADC);
  3. add and saturate from registers alone and write the column, its enable coming straight from a flop;
  4. a `last` transfer then copies every accumulator and overflow flag into the result bank the cycle
     after its add, from the accumulators themselves (the next MVM's first add, on that same cycle, does
     not disturb the copy).
No adder sits between the macro's pins and a register, the column mux and the adder are in different
stages, and the bank's wide load enable is a flop output. The stages add latency only (bank_valid rises
three cycles later than with the add on the input cycle), never a bubble: a transfer is accepted every
cycle.

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
        # The column read is forwarded from stage 3 when stage 3 writes that same column on this cycle
        # (back-to-back transfers to one column: every cycle when an ADC serves one column).
        op_acc = Signal(data.ArrayLayout(signed(fmt.bits), count))
        op_overflow = Signal(count)
        op_term = Signal(data.ArrayLayout(signed(fmt.bits), count))
        op_hit = Signal(group)
        sum_acc = Signal(data.ArrayLayout(signed(fmt.bits), count))      # stage 3's saturated sums
        sum_overflow = Signal(count)                                      # ... and sticky flags
        sel = held.col_sel if group > 1 else 0
        m.d.sync += op_hit.eq(hit)
        # Forward when (hit & op_hit).any(): stage 1 and stage 2 hold transfers to one column. That is a
        # register here, set when a transfer is accepted to the column that stage 1 holds, one copy per ADC
        # beside its operand multiplexers (`keep`: synthesis must not merge them, flows.fpga.KEEP_REGISTERS);
        # one combinational select fanned out to every ADC's was the EVN's worst path.
        same_column = hit.bit_select(inp.col_sel, 1) if group > 1 else hit[0]
        for a in range(count):
            forward = Signal(name=f"forward_{a}", attrs={"keep": 1})
            m.d.sync += forward.eq(accept & same_column)
            m.d.sync += [
                op_acc[a].eq(Mux(held.first, 0, Mux(forward, sum_acc[a], acc[a][sel]))),
                op_overflow[a].eq(~held.first & Mux(forward, sum_overflow[a], overflow[a][sel])),
                # The spec guarantees acc bits >= adc bits + steps - 1: the shifted code fits.
                op_term[a].eq(held.codes[a] << held.shift),
            ]

        # Stage 3: add and saturate from registers alone; write the column that `op_hit` selects.
        for a in range(count):
            total = Signal(signed(fmt.bits + 1), name=f"total_{a}")
            clipped = Signal(name=f"clipped_{a}")
            m.d.comb += [
                total.eq(op_acc[a] + op_term[a]),
                clipped.eq(total[-1] ^ total[-2]),       # outside the accumulator's range
                sum_acc[a].eq(Mux(clipped, Mux(total[-1], fmt.min, fmt.max), total[:fmt.bits])),
                sum_overflow[a].eq(clipped | op_overflow[a]),
            ]
            for g in range(group):
                with m.If(op_hit[g]):
                    m.d.sync += [acc[a][g].eq(sum_acc[a]), overflow[a][g].eq(sum_overflow[a])]

        # Stage 4: the finished MVM into the result bank, the cycle after its last add.
        last_held, last_operands, copy = Signal(), Signal(), Signal()
        pending = Signal()                    # a last transfer is on its way to the bank
        m.d.sync += [
            last_held.eq(accept & inp.last),
            last_operands.eq(last_held),
            copy.eq(last_operands),
        ]
        m.d.comb += [
            pending.eq(last_held | last_operands | copy),
            self.inp.ready.eq(~inp.last | ~(pending | self.bank_valid)),
        ]
        with m.If(copy):
            m.d.sync += self.bank_valid.eq(1)
            for j in range(cols):
                a, g = column_adc(spec, j)
                m.d.sync += [bank[j].eq(acc[a][g]), bank_overflow[j].eq(overflow[a][g])]
        with m.Elif(self.bank_release):
            m.d.sync += self.bank_valid.eq(0)

        in_range = self.rd_col < cols
        m.d.comb += [
            self.rd_acc.eq(Mux(in_range, bank[self.rd_col], 0)),
            self.rd_overflow.eq(in_range & bank_overflow.bit_select(self.rd_col, 1)),
        ]
        return m
