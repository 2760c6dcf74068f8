"""The tile controller: sequences drive, integrate, convert and accumulate for one tile, back to back.

Per MVM and per drive step k (one step for PWM, one per magnitude bit plane for bit-serial):
  INTEGRATE x D      D = 2^(bits-1)-1 drive cycles for PWM (fixed window), 1 for bit-serial; the first
                     command has start=1 and zeroes the integrators
  G conversions      G = cols / adc.count column positions; the ADC controller owns the command stream
                     and issues `conversion_cycles(adc)` commands per conversion
The analog macro needs exactly these commands, so their count is the analog bound of an MVM. The controller
adds no idle command cycles between phases, steps or MVMs when the macro keeps pace: conversion requests
are handed to the ADC controller ahead of time (its commands wait until the phase grants it the stream),
the step ends on the cycle its last ADC command is accepted, and the next MVM starts on the next cycle.
ADC results drain into the shift-add accumulator on their own handshake, and the accumulator's result
bank lets post-processing of MVM m overlap MVM m+1.

Weight programming commands (PROG_WRITE, PROG_READ) are executed between MVMs, before a waiting MVM.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.rtl.accumulator import ShiftAddAccumulator
from aimcgen.rtl.adc_controller import adc_controller
from aimcgen.rtl.boundary import AnalogBoundarySignature, AnalogOp
from aimcgen.rtl.row_driver import input_vector_layout, row_driver
from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.schedule import drive_cycles
from aimcgen.spec import DesignSpec


class ProgOp(enum.Enum, shape=1):
    WRITE = 0
    READ = 1


def prog_request_layout(spec: DesignSpec) -> data.StructLayout:
    return data.StructLayout({
        "op": ProgOp,
        "row": range(max(2, spec.tile.rows)),
        "col": range(max(2, spec.tile.cols)),
        "target": signed(spec.tile.weight_bits),
    })


class TileController(wiring.Component):
    """The digital periphery of one tile: row drivers, ADC controllers, accumulators and the sequencer.

    `x` must hold the MVM's input vector from the cycle `start` is accepted until `x_done` pulses.
    `x_done` pulses on the cycle after the MVM's last INTEGRATE is accepted, from a register: it releases
    the whole input buffer, a wide load enable that should not hang off the macro's cmd.ready. The next
    vector still arrives in time, since at least two conversion commands follow. When a step's conversions
    are a single command (flash, one column per ADC) that one cycle would delay every MVM, so there
    `x_done` pulses on the accepting cycle itself.
    """

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        self._accumulator = ShiftAddAccumulator(spec)
        acc_sig = self._accumulator.signature.members
        super().__init__({
            "analog": Out(AnalogBoundarySignature(spec)),
            "x": In(input_vector_layout(spec)),
            "start": In(stream.Signature(0)),
            "x_done": Out(1),
            "prog": In(stream.Signature(prog_request_layout(spec))),
            "prog_resp": Out(stream.Signature(signed(spec.tile.weight_bits))),
            "busy": Out(1),
            "bank_valid": Out(acc_sig["bank_valid"].shape),
            "bank_release": In(acc_sig["bank_release"].shape),
            "rd_col": In(acc_sig["rd_col"].shape),
            "rd_acc": Out(acc_sig["rd_acc"].shape),
            "rd_overflow": Out(acc_sig["rd_overflow"].shape),
        })

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        steps, group, drive = spec.input.steps, spec.columns_per_adc, drive_cycles(spec)
        step_commands = group * conversion_cycles(spec.adc)

        m.submodules.row_driver = rows = row_driver(spec)
        m.submodules.adc = adc = adc_controller(spec)
        m.submodules.accumulator = acc = self._accumulator

        # Result bank pass-through.
        m.d.comb += [
            self.bank_valid.eq(acc.bank_valid),
            acc.bank_release.eq(self.bank_release),
            acc.rd_col.eq(self.rd_col),
            self.rd_acc.eq(acc.rd_acc),
            self.rd_overflow.eq(acc.rd_overflow),
        ]

        step = Signal(range(max(2, steps)))
        cycle = Signal(range(max(2, drive)))
        req_col = Signal(range(group + 1))          # next conversion request of this step (group = all sent)
        adc_commands = Signal(range(max(2, step_commands)))

        m.d.comb += [
            rows.x.eq(self.x),
            rows.step.eq(step),
            rows.cycle.eq(cycle),
            self.analog.row_en.eq(rows.row_en),
            self.analog.row_sign.eq(rows.row_sign),
            adc.resp.eq(self.analog.resp),
        ]

        # Conversion requests: the step's G column positions, handed over as early as the ADC takes them.
        m.d.comb += adc.req.payload.eq(req_col)

        # ADC results -> accumulator, tagged by counters that follow the results in order.
        res_col = Signal(range(max(2, group)))
        res_step = Signal(range(max(2, steps)))
        m.d.comb += [
            acc.inp.valid.eq(adc.result.valid),
            adc.result.ready.eq(acc.inp.ready),
            acc.inp.payload.codes.eq(adc.result.payload),
            acc.inp.payload.col_sel.eq(res_col),
            acc.inp.payload.shift.eq(res_step),
            acc.inp.payload.first.eq(res_step == 0),
            acc.inp.payload.last.eq((res_step == steps - 1) & (res_col == group - 1)),
        ]
        with m.If(acc.inp.valid & acc.inp.ready):
            with m.If(res_col == group - 1):
                m.d.sync += res_col.eq(0)
                with m.If(res_step == steps - 1):
                    m.d.sync += res_step.eq(0)
                with m.Else():
                    m.d.sync += res_step.eq(res_step + 1)
            with m.Else():
                m.d.sync += res_col.eq(res_col + 1)

        cmd = self.analog.cmd
        prog_read = Signal()
        prog_data, prog_valid = Signal.like(self.prog_resp.payload), Signal()
        m.d.comb += [self.prog_resp.valid.eq(prog_valid), self.prog_resp.payload.eq(prog_data)]
        x_released = Signal()                       # the MVM's last INTEGRATE is accepted this cycle
        if step_commands > 1:
            m.d.sync += self.x_done.eq(x_released)
        else:
            m.d.comb += self.x_done.eq(x_released)

        def begin_mvm():
            m.d.comb += self.start.ready.eq(1)
            m.d.sync += [step.eq(0), cycle.eq(0), req_col.eq(0), adc_commands.eq(0)]
            m.next = "INTEGRATE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.prog.valid):
                    m.next = "PROG"
                with m.Elif(self.start.valid):
                    begin_mvm()

            with m.State("INTEGRATE"):
                m.d.comb += [
                    self.busy.eq(1),
                    cmd.valid.eq(1),
                    cmd.payload.op.eq(AnalogOp.INTEGRATE),
                    cmd.payload.start.eq(cycle == 0),
                    adc.req.valid.eq(req_col < group),
                ]
                with m.If(adc.req.valid & adc.req.ready):
                    m.d.sync += req_col.eq(req_col + 1)
                with m.If(cmd.ready):
                    m.d.sync += cycle.eq(cycle + 1)
                    with m.If(cycle == drive - 1):
                        m.d.sync += cycle.eq(0)
                        m.d.comb += x_released.eq(step == steps - 1)
                        m.next = "CONVERT"

            with m.State("CONVERT"):
                m.d.comb += [
                    self.busy.eq(1),
                    cmd.valid.eq(adc.cmd.valid),
                    cmd.payload.eq(adc.cmd.payload),
                    adc.cmd.ready.eq(cmd.ready),
                    adc.req.valid.eq(req_col < group),
                ]
                with m.If(adc.req.valid & adc.req.ready):
                    m.d.sync += req_col.eq(req_col + 1)
                with m.If(cmd.valid & cmd.ready):
                    m.d.sync += adc_commands.eq(adc_commands + 1)
                    with m.If(adc_commands == step_commands - 1):
                        m.d.sync += [adc_commands.eq(0), req_col.eq(0)]
                        with m.If(step == steps - 1):
                            with m.If(self.prog.valid):
                                m.next = "IDLE"
                            with m.Elif(self.start.valid):
                                begin_mvm()
                            with m.Else():
                                m.next = "IDLE"
                        with m.Else():
                            m.d.sync += step.eq(step + 1)
                            m.next = "INTEGRATE"

            with m.State("PROG"):
                m.d.comb += [
                    self.busy.eq(1),
                    cmd.valid.eq(1),
                    cmd.payload.op.eq(AnalogOp.PROG_WRITE),
                    cmd.payload.row.eq(self.prog.payload.row),
                    cmd.payload.col.eq(self.prog.payload.col),
                    cmd.payload.target.eq(self.prog.payload.target),
                    self.prog.ready.eq(cmd.ready),
                ]
                with m.If(self.prog.payload.op == ProgOp.READ):
                    m.d.comb += cmd.payload.op.eq(AnalogOp.PROG_READ)
                with m.If(cmd.ready):
                    m.d.sync += prog_read.eq(self.prog.payload.op == ProgOp.READ)
                    m.next = "PROG_RESPONSE"

            with m.State("PROG_RESPONSE"):
                # The macro's answer is registered: it is on resp from this cycle on. It is registered once
                # more here, so that the program-and-verify arithmetic starts from flops (one cycle per read,
                # off the MVM path).
                m.d.comb += self.busy.eq(1)
                m.d.sync += [prog_data.eq(self.analog.resp.read_data), prog_valid.eq(prog_read)]
                m.next = "IDLE"
                with m.If(prog_read):
                    m.next = "PROG_DONE"

            with m.State("PROG_DONE"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.prog_resp.ready):
                    m.d.sync += prog_valid.eq(0)
                    m.next = "IDLE"
        return m
