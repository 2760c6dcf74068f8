"""The digital half of the tile's ADCs: what every kind shares (rtl.adc_controller picks a kind).

The analog macro only answers comparator decisions (rtl.boundary); the search that turns them into codes
lives here, in the periphery, so SAR, ramp and flash differ only in which trial codes they send and how an
answer updates the per-ADC working value. `AdcController` owns everything else: the request and result
handshakes, the command stream, and the buffering that lets conversions run back to back.

Timing (all `spec.adc.count` ADCs in lock step, L = `conversion_cycles(spec.adc)` commands per conversion):
- A request is accepted on the cycle its first command (start=1, col_sel = req.payload) is accepted:
  req.ready = cmd.ready whenever the controller may start; cmd.valid follows req.valid in that state.
- Every command's col_sel is req.payload as it stands, a wire with no logic: only the first command (start=1)
  samples a column, and the macro ignores col_sel without start (rtl.boundary). The macro's readiness for a
  sample depends on the position sampled, so the way from the requester's position register to that
  readiness and back to the acceptance holds no multiplexer (the tile controller keeps req.payload in a
  register that changes only on a cycle whose offered command, if any, is accepted).
- Command k+1 is issued on the cycle the answer of command k arrives on resp, so a conversion whose
  commands are accepted on cycles s .. s+L-1 has its last answer on resp on cycle s+L.
- On that cycle the codes are on `result` (payload combinational from resp, valid from registers) and the
  next conversion's first command may issue: no idle command cycle between conversions.
- Answers are folded into registers the cycle they arrive: resp is only read on the cycle after a command
  was accepted, so the tile controller may issue other commands (INTEGRATE) right after a conversion, or
  between its commands: a conversion whose next command waits (cmd.ready low) offers it unchanged (its
  col_sel too while the requester holds req.payload), and
  `pending` is high while a started conversion has commands left to issue.
Buffering: one result register plus the working registers of the conversion. A new conversion starts only
if its result can be stored: when the previous result still waits in the result register, the finishing
conversion parks its codes in its working registers and the next one waits for the result to be taken.
"""

from __future__ import annotations

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.rtl.boundary import AnalogOp, adc_codes_layout, command_layout, response_layout
from aimcgen.contract.adc import conversion_cycles
from aimcgen.spec import DesignSpec


def col_sel_shape(spec: DesignSpec):
    """Shape of a column position inside one ADC's group (the `col_sel` of a command)."""
    return command_layout(spec)["col_sel"].shape


def adc_controller_signature(spec: DesignSpec) -> wiring.Signature:
    """The periphery-side ports every ADC controller has."""
    return wiring.Signature({
        "req": In(stream.Signature(col_sel_shape(spec))),
        "cmd": Out(stream.Signature(command_layout(spec))),
        "resp": In(response_layout(spec)),
        "result": Out(stream.Signature(adc_codes_layout(spec))),
        "pending": Out(1),
    })


class AdcController(wiring.Component):
    """Sequencer shared by the ADC kinds; subclasses define the search (class attributes and hooks).

    Hooks, all per ADC: `_work_shape()` of the working register (reset to 0 at each conversion start),
    `_trial(k, work)` the trial code of command k given the working value with every earlier answer
    folded in, `_fold(k, work, comp, code)` the working value after the answer to command k, and
    `_code(work)` the signed result code of a finished working value.
    """

    kind: str = None
    op: AnalogOp = AnalogOp.COMPARE

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if spec.adc.kind != self.kind:
            raise ValueError(f"{type(self).__name__} implements adc.kind = {self.kind!r}, but the spec has "
                             f"adc.kind = {spec.adc.kind!r} (use adc_controller(spec) to pick the right one)")
        self.spec = spec
        self.commands = conversion_cycles(spec.adc)
        super().__init__(adc_controller_signature(spec))

    def _work_shape(self):
        raise NotImplementedError

    def _trial(self, k, work):
        raise NotImplementedError

    def _fold(self, k, work, comp, code):
        raise NotImplementedError

    def _code(self, work):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        count, last = self.spec.adc.count, self.commands
        codes = adc_codes_layout(self.spec)

        busy = Signal()                       # a conversion started whose last answer has not arrived yet
        issued = Signal(range(last + 1))      # commands of that conversion accepted so far
        answered = Signal()                   # a command was accepted last cycle: its answer is on resp
        work = Signal(data.ArrayLayout(self._work_shape(), count))
        parked = Signal()                     # work holds a finished conversion waiting for `held`
        held = Signal(codes)                  # the result register
        held_valid = Signal()

        # Registered rather than issued - 1: the answer's bit position then decodes from flops, keeping a
        # subtractor out of the path from the comparator answers to the command and the result.
        answered_k = Signal.like(issued)      # index of the command whose answer is on resp

        # A conversion's working value starts at 0 through `fresh` (its first cycle) rather than by clearing
        # `work` on the accepting edge: the acceptance, which comes back from the macro, then reaches a
        # handful of registers here instead of every ADC's working register (on an FPGA, spread toward the
        # ADC front ends it feeds).
        fresh = Signal()
        base = Signal.like(work)              # the working value the answer on resp folds into
        m.d.comb += base.eq(Mux(fresh, 0, work))
        work_now = Signal.like(work)          # work with the answer on resp folded in
        final = Signal(codes)                 # codes of the conversion in work_now
        for a in range(count):
            m.d.comb += [
                work_now[a].eq(Mux(answered, self._fold(answered_k, base[a], self.resp.comp[a],
                                                       self.resp.code[a]), base[a])),
                final[a].eq(self._code(work_now[a])),
            ]

        ending = Signal()                     # the last answer of the running conversion is on resp
        continuing = Signal()                 # the running conversion has commands left to issue
        may_start = Signal()                  # a new conversion may issue its first command this cycle
        # `continuing` is busy & (issued != last), kept in a register updated beside them: it selects the
        # command's start, which reaches the macro's samplers and comes back as its ready, and busy &
        # ~continuing is issued == last without a comparator on the way to the next request's acceptance.
        m.d.comb += [
            ending.eq(busy & answered & ~continuing),
            may_start.eq(Mux(busy, ending & ~held_valid, ~parked)),
            self.pending.eq(continuing),
        ]

        # Command stream: the next command of the running conversion, or the first of the requested one.
        cmd = self.cmd
        m.d.comb += [cmd.payload.op.eq(self.op), cmd.payload.col_sel.eq(self.req.payload)]
        with m.If(continuing):
            m.d.comb += cmd.valid.eq(1)
            for a in range(count):
                m.d.comb += cmd.payload.trial[a].eq(self._trial(issued, work_now[a]))
        with m.Else():
            m.d.comb += [
                cmd.valid.eq(may_start & self.req.valid),
                cmd.payload.start.eq(1),
                self.req.ready.eq(may_start & cmd.ready),
            ]
            for a in range(count):
                m.d.comb += cmd.payload.trial[a].eq(self._trial(Const(0, issued.shape()),
                                                                Const(0, self._work_shape())))

        started = Signal()
        m.d.comb += started.eq(self.req.valid & self.req.ready)
        m.d.sync += answered.eq(cmd.valid & cmd.ready)
        m.d.sync += [work.eq(work_now), fresh.eq(started)]
        with m.If(started):
            m.d.sync += [busy.eq(1), issued.eq(1), answered_k.eq(0), continuing.eq(last != 1)]
        with m.Else():
            with m.If(continuing & cmd.ready):
                m.d.sync += [issued.eq(issued + 1), answered_k.eq(issued), continuing.eq(issued + 1 != last)]
            with m.If(ending):
                m.d.sync += busy.eq(0)

        # Results in order: the result register first, then the finished conversion (arriving or parked).
        finished = ending | parked
        m.d.comb += [
            self.result.valid.eq(held_valid | finished),
            self.result.payload.eq(Mux(held_valid, held, final)),
        ]
        with m.If(held_valid):
            with m.If(self.result.ready):
                m.d.sync += [held.eq(final), held_valid.eq(finished), parked.eq(0)]
            with m.Elif(ending):
                m.d.sync += parked.eq(1)       # work keeps the codes (no conversion starts meanwhile)
        with m.Elif(finished & ~self.result.ready):
            m.d.sync += [held.eq(final), held_valid.eq(1), parked.eq(0)]
        return m
