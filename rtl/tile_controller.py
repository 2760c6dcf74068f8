"""The tile controller: sequences drive, integrate, convert and accumulate for one tile, back to back.

Per MVM and per drive step k (one step for PWM, one per magnitude bit plane for bit-serial):
  INTEGRATE x D      D = 2^(bits-1)-1 drive cycles for PWM (fixed window), 1 for bit-serial; the first
                     command has start=1 and zeroes the integrators
  G conversions      G = cols / adc.count column positions; the ADC controller owns the command stream
                     and issues `conversion_cycles(adc)` commands per conversion
The analog macro needs exactly these commands, so their count is the analog bound of an MVM. The controller
adds no idle command cycles between phases, steps or MVMs when the macro keeps pace: conversion requests
are handed to the ADC controller ahead of time (its commands wait until the phase grants it the stream),
and a step ends when its last conversion has sampled, so the next step's (or MVM's) INTEGRATEs go before
that conversion's remaining comparisons, which use the held sample (rtl.boundary). A macro whose charge is
whole only some cycles after an INTEGRATE (the emulated tile's adder pipeline) thus waits behind those
comparisons instead of in the command stream. Exactly:
- conversions of one command (flash: CONVERT samples and answers): the step ends on the cycle its last
  conversion is accepted;
- longer conversions (SAR, ramp: COMPARE with start samples): on the cycle its last conversion's second
  command is accepted (the cycle after the sampling command when the macro keeps pace); the conversion's
  remaining conversion_cycles - 2 commands (contract.schedule.tail_commands) follow the next step's
  INTEGRATEs.
The ADC controller gets the command stream whenever the tile controller issues nothing of its own (CONVERT,
the zero pass, IDLE), so a last conversion finishes while no MVM runs; programming waits until it has. An
ADC command offered to the macro stays offered until it is accepted (rtl.boundary's stream rule): the
controller leaves those states for INTEGRATE only on a cycle with no ADC command waiting.
ADC results drain into the shift-add accumulator on their own handshake, and the accumulator's result
bank lets post-processing of MVM m overlap MVM m+1.

Weight programming commands (PROG_WRITE, PROG_READ) are executed between MVMs, before a waiting MVM.

With the spec's [sparsity] options (contract.sparsity) the MVM's plan is decided on the cycle it starts,
from the input vector (rtl.input_sparsity) and, with layer_columns, the layer's local column range
(col_lo, col_hi): only the planned steps run (ascending), each with its drive window D (PWM window:
max(1, largest |x|)) and its converted positions (pos_first + j mod G, j < pos_count); positions that are
not converted are cleared first, one accumulator transfer per cycle and no analog command (the zero pass,
every position for an idle MVM). Every accumulator transfer is tagged in a small queue when it is
requested (column, shift, first, last, zero), so results keep their meaning whatever steps were skipped.
The `activity` port reports the cycle's events (MVM start, INTEGRATE with its enabled rows, conversion
request) for rtl.activity_counters.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from aimcgen.rtl.accumulator import ShiftAddAccumulator
from aimcgen.rtl.adc_controller import adc_controller
from aimcgen.rtl.boundary import AnalogBoundarySignature, AnalogOp
from aimcgen.rtl.input_sparsity import InputSparsity
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


def activity_layout(spec: DesignSpec) -> data.StructLayout:
    """One cycle's activity events of a tile (the accelerator's counters add them up)."""
    return data.StructLayout({
        "mvm": 1,                                  # an MVM starts
        "drive": 1,                                # an INTEGRATE command is accepted
        "row_en": spec.tile.rows,                  # the rows the driver enables this cycle, whatever is
                                                   # accepted: they count only with `drive` (ungated here, so
                                                   # the acceptance does not reach every bit's register), in
                                                   # a pipelined tree by rtl.activity_counters (a one-cycle
                                                   # popcount of 64+ enables misses 100 MHz at the ss corner)
        "conversion": 1,                           # a conversion request is accepted (one sample per ADC)
    })


class TileController(wiring.Component):
    """The digital periphery of one tile: row drivers, ADC controllers, accumulators and the sequencer.

    `x` must hold the MVM's input vector from the cycle `start` is accepted until `x_done` pulses.
    `x_done` pulses on the cycle after the MVM's last INTEGRATE is accepted, from a register: it releases
    the whole input buffer, a wide load enable that should not hang off the macro's cmd.ready. The next
    vector still arrives in time, since at least two conversion commands follow. When a step's conversions
    are a single command (flash, one column per ADC) that one cycle would delay every MVM, so there
    `x_done` pulses on the accepting cycle itself. An idle MVM ([sparsity]: nothing to drive or convert)
    releases x at its start: on the start cycle itself in the latter case, one cycle later otherwise.
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
            "activity": Out(activity_layout(spec)),
        } | ({
            # the current layer's local column range [col_lo, col_hi), read when an MVM starts
            "col_lo": In(range(spec.tile.cols + 1)),
            "col_hi": In(range(spec.tile.cols + 1)),
        } if spec.sparsity.layer_columns == "on" else {}))

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        sp = spec.sparsity
        steps, group, drive = spec.input.steps, spec.columns_per_adc, drive_cycles(spec)
        cc = conversion_cycles(spec.adc)
        step_commands = group * cc

        m.submodules.row_driver = rows = row_driver(spec)
        m.submodules.adc = adc = adc_controller(spec)
        m.submodules.accumulator = acc = self._accumulator
        m.submodules.sparsity = sparse = InputSparsity(spec)

        # Result bank pass-through.
        m.d.comb += [
            self.bank_valid.eq(acc.bank_valid),
            acc.bank_release.eq(self.bank_release),
            acc.rd_col.eq(self.rd_col),
            self.rd_acc.eq(acc.rd_acc),
            self.rd_overflow.eq(acc.rd_overflow),
        ]

        step = Signal(range(max(2, steps)))
        steps_left = Signal(max(1, steps))          # performed steps still to come after `step`
        cycle = Signal(range(max(2, drive)))
        window = Signal(range(drive + 1), init=drive)      # INTEGRATE commands per step
        first_step = Signal()
        pos_first = Signal(range(max(2, group)))    # converted positions: pos_first + j (mod G), j < pos_count
        pos_count = Signal(range(group + 1), init=group)
        req_j = Signal(range(group + 1))            # next conversion request of this step (pos_count = all sent)
        # position(req_j), kept in a register beside req_j: the request's col_sel goes to the macro's
        # samplers and back as its ready, so no adder lies on that way.
        req_pos = Signal(range(max(2, group)))
        zero_j = Signal(range(group + 1))           # next position the zero pass clears
        idle = Signal()                             # this MVM neither drives nor converts
        sampled = Signal()                          # (cc > 1) the step's last conversion has sampled

        m.d.comb += [
            sparse.x.eq(self.x),
            rows.x.eq(self.x),
            rows.step.eq(step),
            rows.cycle.eq(cycle),
            self.analog.row_en.eq(rows.row_en),
            self.analog.row_sign.eq(rows.row_sign),
            self.activity.row_en.eq(rows.row_en),        # ungated: counted only with activity.drive
            adc.resp.eq(self.analog.resp),
        ]

        def position(j):
            p = pos_first + j
            return Mux(p >= group, p - group, p)

        # Every accumulator transfer of an MVM is tagged in order: a conversion request pushes the tag its
        # result will carry, the zero pass pushes tags that clear positions without a conversion. Results
        # leave the ADC in request order, so the queue's head always describes the next transfer.
        tag_layout = data.StructLayout({
            "col": range(max(2, group)), "shift": range(max(2, steps)), "first": 1, "last": 1, "zero": 1})
        # With a zero pass (any [sparsity] option), deep enough for a whole pass behind the last conversion
        # of the MVM before (whose result comes after its remaining comparisons) and one result more: the
        # pass never waits for the results.
        zero_pass = "on" in (sp.layer_columns, sp.skip_zero_tiles, sp.skip_zero_planes)
        m.submodules.tags = tags = SyncFIFO(width=tag_layout.size, depth=max(4, group + 2) if zero_pass else 4)
        push, head = Signal(tag_layout), Signal(tag_layout)
        m.d.comb += [tags.w_data.eq(push), head.eq(tags.r_data)]
        m.d.comb += [
            acc.inp.payload.codes.eq(Mux(head.zero, 0, adc.result.payload)),
            acc.inp.payload.col_sel.eq(head.col),
            acc.inp.payload.shift.eq(head.shift),
            acc.inp.payload.first.eq(head.first),
            acc.inp.payload.last.eq(head.last),
            acc.inp.valid.eq(tags.r_rdy & (head.zero | adc.result.valid)),
            adc.result.ready.eq(tags.r_rdy & ~head.zero & acc.inp.ready),
            tags.r_en.eq(acc.inp.valid & acc.inp.ready),
        ]

        # Conversion requests: the step's converted positions, handed over as early as the ADC takes them.
        last_step = Signal()
        m.d.comb += [
            last_step.eq(steps_left == 0),
            adc.req.payload.eq(req_pos),
        ]

        last_request = Signal()                     # the step's last conversion samples this cycle
        m.d.comb += last_request.eq(adc.req.valid & adc.req.ready & (req_j == pos_count - 1))

        def request():
            m.d.comb += adc.req.valid.eq((req_j < pos_count) & tags.w_rdy)
            with m.If(adc.req.valid & adc.req.ready):
                m.d.comb += [
                    self.activity.conversion.eq(1),
                    tags.w_en.eq(1),
                    push.col.eq(req_pos), push.shift.eq(step), push.first.eq(first_step),
                    push.last.eq(last_step & (req_j == pos_count - 1)),
                ]
                # The next position by an increment that wraps at G, not position(req_j + 1): its adder and
                # compare put the default preset past the UP5K's 90 % budget (90.27 % of its cells).
                m.d.sync += [req_j.eq(req_j + 1), req_pos.eq(Mux(req_pos == group - 1, 0, req_pos + 1))]

        cmd = self.analog.cmd
        prog_read = Signal()
        prog_data, prog_valid = Signal.like(self.prog_resp.payload), Signal()
        m.d.comb += [self.prog_resp.valid.eq(prog_valid), self.prog_resp.payload.eq(prog_data)]
        x_released = Signal()                       # the MVM's last INTEGRATE is accepted this cycle
        if step_commands > 1:
            m.d.sync += self.x_done.eq(x_released)
        else:
            m.d.comb += self.x_done.eq(x_released)

        # The MVM's plan (contract.sparsity), decided from the input vector on the cycle it starts.
        planes = Signal(max(1, steps))
        lowest = Signal(range(max(2, steps)))       # lowest performed step of `planes`
        plan_idle = Signal()
        plan_count = Signal.like(pos_count)
        plan_first = Signal.like(pos_first)
        if sp.skip_zero_planes == "on":
            m.d.comb += planes.eq(sparse.planes)
        else:
            m.d.comb += planes.eq((1 << steps) - 1)
        for k in reversed(range(steps)):
            with m.If(planes[k]):
                m.d.comb += lowest.eq(k)
        if sp.layer_columns == "on":
            lo, hi = self.col_lo, self.col_hi
            if spec.adc.column_assignment == "interleaved":
                # contract.sparsity's position span: positions lo//A .. (hi-1)//A (A = adc.count)
                count = spec.adc.count
                m.d.comb += [
                    plan_first.eq(Mux(hi <= lo, 0, lo // count)),
                    plan_count.eq(Mux(hi <= lo, 0, (hi - 1) // count - lo // count + 1)),
                ]
            else:
                m.d.comb += [
                    plan_first.eq(lo % group),
                    plan_count.eq(Mux(hi <= lo, 0, Mux(hi - lo >= group, group, hi - lo))),
                ]
        else:
            m.d.comb += [plan_first.eq(0), plan_count.eq(group)]
        skip_zero = sp.skip_zero_tiles == "on" or sp.skip_zero_planes == "on"
        m.d.comb += plan_idle.eq((plan_count == 0) | (~sparse.nonzero if skip_zero else 0))

        def next_step(mask):
            """Move to the lowest step set in mask and drop it from the steps still to come."""
            for k in reversed(range(steps)):
                with m.If(mask[k]):
                    m.d.sync += [step.eq(k), steps_left.eq(mask & ~(1 << k) & ((1 << steps) - 1))]

        def begin_mvm():
            m.d.comb += [self.start.ready.eq(1), self.activity.mvm.eq(1)]
            m.d.sync += [
                cycle.eq(0), req_j.eq(0), req_pos.eq(plan_first), first_step.eq(1),
                step.eq(lowest), steps_left.eq(planes & ~(1 << lowest) & ((1 << steps) - 1) if steps > 1 else 0),
                window.eq(Mux(sparse.peak == 0, 1, sparse.peak) if sp.pwm_window == "on" else drive),
                idle.eq(plan_idle),
                pos_first.eq(plan_first),
                pos_count.eq(Mux(plan_idle, 0, plan_count)),
                zero_j.eq(Mux(plan_idle, 0, plan_count)),
            ]
            with m.If(plan_idle):
                m.d.comb += x_released.eq(1)
                m.next = "ZERO"
            with m.Elif(plan_count != group):
                m.next = "ZERO"
            with m.Else():
                m.next = "INTEGRATE"

        def end_mvm():
            with m.If(self.prog.valid):
                m.next = "IDLE"
            with m.Elif(self.start.valid):
                begin_mvm()
            with m.Else():
                m.next = "IDLE"

        def pass_adc_stream():
            """The ADC controller issues its commands (a conversion's remaining ones, or a requested one)."""
            m.d.comb += [cmd.valid.eq(adc.cmd.valid), cmd.payload.eq(adc.cmd.payload), adc.cmd.ready.eq(cmd.ready)]

        adc_waiting = Signal()                      # an ADC command is offered and not accepted this cycle
        m.d.comb += adc_waiting.eq(adc.cmd.valid & ~cmd.ready)

        with m.FSM():
            with m.State("IDLE"):
                pass_adc_stream()
                m.d.comb += self.busy.eq(adc.pending)
                with m.If(self.prog.valid):
                    with m.If(~adc.pending):
                        m.next = "PROG"
                with m.Elif(self.start.valid & ~adc_waiting):
                    begin_mvm()

            with m.State("ZERO"):
                # Positions this MVM does not convert are cleared through the accumulator, one per cycle.
                pass_adc_stream()
                leaving = zero_j == group - 1               # the pass ends with this position
                m.d.comb += [
                    self.busy.eq(1),
                    tags.w_en.eq(~leaving | ~adc_waiting),
                    push.col.eq(position(zero_j)), push.first.eq(1), push.zero.eq(1),
                    push.last.eq(idle & leaving),
                ]
                with m.If(tags.w_en & tags.w_rdy):
                    m.d.sync += zero_j.eq(zero_j + 1)
                    with m.If(zero_j == group - 1):
                        with m.If(idle):
                            end_mvm()
                        with m.Else():
                            m.next = "INTEGRATE"

            with m.State("INTEGRATE"):
                m.d.comb += [
                    self.busy.eq(1),
                    cmd.valid.eq(1),
                    cmd.payload.op.eq(AnalogOp.INTEGRATE),
                    cmd.payload.start.eq(cycle == 0),
                ]
                request()
                with m.If(cmd.ready):
                    m.d.comb += self.activity.drive.eq(1)
                    m.d.sync += cycle.eq(cycle + 1)
                    with m.If(cycle == window - 1):
                        m.d.sync += cycle.eq(0)
                        m.d.comb += x_released.eq(last_step)
                        m.next = "CONVERT"

            with m.State("CONVERT"):
                m.d.comb += self.busy.eq(1)
                pass_adc_stream()
                request()
                step_ends = Signal()
                if cc == 1:
                    m.d.comb += step_ends.eq(last_request)
                else:
                    m.d.comb += step_ends.eq(sampled & ~adc_waiting)
                    with m.If(last_request):
                        m.d.sync += sampled.eq(1)
                with m.If(step_ends):
                    m.d.sync += [req_j.eq(0), req_pos.eq(pos_first), first_step.eq(0), sampled.eq(0)]
                    with m.If(last_step):
                        end_mvm()
                    with m.Else():
                        next_step(steps_left)
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

        # col_sel and trial mean something to the ADC's commands only (rtl.boundary): they follow the ADC
        # controller in every state, so no state decode lies on their way into the macro's samplers (on the
        # FPGA, the emulated tile's column select and comparators, far from here).
        m.d.comb += [cmd.payload.col_sel.eq(adc.cmd.payload.col_sel), cmd.payload.trial.eq(adc.cmd.payload.trial)]
        return m
