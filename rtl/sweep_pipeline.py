"""The parallel integrators' sweep and pipeline tags: one rule, built beside the trees and copied by the tile.

Why: the emulated tile's `ready` asks whether the trees take an INTEGRATE, whether a column position's charge
is whole and whether any sum is still owed. Those status registers read the tags that steer every tree's
charge registers, so on an FPGA they sat by the trees, and the tile's ready logic (status, noise readiness,
the command's op and col_sel) spanned the chip: the ULX3S's worst path crossed it twice inside the tile. The
tags depend only on the accepted INTEGRATEs, so the tile keeps a copy of them (`SweepStatus`) beside its
command logic, strobed with the same `begin`; the integrator keeps its own for the charges. Both
copies' registers are marked `keep`, which the FPGA flow turns into flip-flops that synthesis does not merge
(flows.fpga.KEEP_REGISTERS); with only one copy marked, yosys merged the other into it, and the tile's
`begun` pulled the trees' row-enable multiplexers toward the command logic (the ULX3S's worst path, 58 MHz).

The sweep (cycles counted from the one that accepts the INTEGRATE, whose edge registers `begin` as `begun`):
step q (0..S-1, S = rtl.parallel_integrator.sweep_steps) enters the trees in cycle 1 + q; its tag (valid,
start, step) then rides D = latency - 1 registers beside the sums and lands (writes the charge of position
q) at the end of cycle latency + q. A sweep's later steps end before the next INTEGRATE's first.

Status (registers holding next cycle's values, `begin` entering last through one mux, so `ready` starts at
a register): `ready_positions` bit q is set while no accepted INTEGRATE still owes position q (the sweep has
not entered it, or a tag of q is in the pipeline); `busy` is high while any sum is owed; `accepting` is high
when an INTEGRATE may be accepted: always for S = 1, otherwise with no sweep running or in its last step.
`PositionReady` picks the status of the position a sampling command names; the FPGA flow keeps it a module
of its own (its docstring says why).
"""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from aimcgen.spec import DesignSpec


@dataclass
class Sweep:
    """Signals of one sweep tracker: the tag entering the trees (`tags[0]`) and the D registered ones after
    it (`tags[-1]` lands this cycle), each (valid, start, step); the next cycle's sweep state."""
    tags: list
    sweeping_next: Signal
    step_next: Signal


def any_of(flags: list):
    """OR of 1-bit values (0 for none)."""
    result = 0
    for flag in flags:
        result = result | flag
    return result


def sweep_tags(m: Module, steps: int, depth: int, begun, start, *, name: str) -> Sweep:
    """The sweep of `steps` positions started by `begun` (an INTEGRATE accepted last cycle, a register marked
    keep) and its tags through `depth` registers; `start` is the start flag of the step entering the trees.
    Registers are named `{name}_...` and marked keep: synthesis merges equal registers into one (yosys
    opt_merge), a marked one too, so every copy is marked."""
    attrs = {"keep": 1}
    step = Signal(range(max(2, steps)), name=f"{name}_step", attrs=attrs)   # the next step of a running sweep
    sweeping = Signal(name=f"{name}_sweeping", attrs=attrs)    # a sweep runs on (its first step was earlier)
    active, step_now = Signal(name=f"{name}_active"), Signal.like(step, name=f"{name}_step_now")
    m.d.comb += [active.eq(begun | sweeping), step_now.eq(Mux(begun, 0, step))]
    sweeping_next, step_next = Signal(name=f"{name}_sweeping_next"), Signal.like(step, name=f"{name}_step_next")
    m.d.comb += [sweeping_next.eq(active & (step_now != steps - 1)),
                 step_next.eq(Mux(step_now == steps - 1, 0, step_now + 1))]
    m.d.sync += [sweeping.eq(sweeping_next), step.eq(step_next)]
    tags = [(active, start, step_now)]
    for k in range(depth):
        valid_k = Signal(name=f"{name}_tag_valid_{k}", attrs=attrs)
        start_k = Signal(name=f"{name}_tag_start_{k}", attrs=attrs)
        step_k = Signal.like(step, name=f"{name}_tag_step_{k}", attrs=attrs)
        m.d.sync += [valid_k.eq(tags[-1][0]), start_k.eq(tags[-1][1]), step_k.eq(tags[-1][2])]
        tags.append((valid_k, start_k, step_k))
    return Sweep(tags=tags, sweeping_next=sweeping_next, step_next=step_next)


class SweepStatus(wiring.Component):
    """The tile's copy of the integrator's sweep, for its `ready` (module docstring).

    Ports: `begin` (an INTEGRATE is accepted this cycle; only while `accepting`), `ready_positions`
    (columns_per_adc bits), `busy`, `accepting`. `depth` is rtl.parallel_integrator.latency(spec) - 1.
    """

    def __init__(self, spec: DesignSpec, *, steps: int, depth: int):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if steps < 1 or depth < 0:
            raise ValueError(f"steps = {steps}, depth = {depth}: need steps >= 1 and depth >= 0")
        self.steps, self.depth = steps, depth
        self.group = spec.columns_per_adc
        super().__init__({
            "begin": In(1),
            "ready_positions": Out(self.group, init=(1 << self.group) - 1),
            "busy": Out(1),
            "accepting": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        steps, group = self.steps, self.group
        begun = Signal(name="status_begun", attrs={"keep": 1})
        m.d.sync += begun.eq(self.begin)
        sweep = sweep_tags(m, steps, self.depth, begun, Const(0), name="status")
        staying = sweep.tags[:-1]           # the last tag lands at the end of this cycle
        for q in range(group):
            if steps > 1:
                later = [valid & (tag_step == q) for valid, _, tag_step in staying]
                entering = sweep.sweeping_next & (sweep.step_next <= q)
            else:
                later, entering = [valid for valid, _, _ in staying], 0
            m.d.sync += self.ready_positions[q].eq(Mux(self.begin, 0, ~(entering | any_of(later))))
        still_busy = sweep.sweeping_next | any_of([valid for valid, _, _ in staying])
        m.d.sync += [self.busy.eq(self.begin | still_busy),
                     self.accepting.eq(Mux(self.begin, steps == 1,
                                           ~sweep.sweeping_next | (sweep.step_next == steps - 1)))]
        return m


# The submodule name the emulated tile gives its PositionReady; the FPGA flow keeps that module's hierarchy
# (flows.fpga.KEEP_HIERARCHY).
POSITION_SELECT = "position_select"   # not the tile's signal `position_ready`: Amaranth would rename the module


class PositionReady(wiring.Component):
    """Whether the column position a sampling command names is whole: `ready_positions` (SweepStatus) at
    `col_sel` (1 for a position beyond the group), ANDed with `late` copies of it each a cycle later (a
    sample that waits for position gains, rtl.noise.position_gain_wait).

    Why a module of its own: synthesis shared this select's column decode with an ADC front end's sample
    mux, so the LUT on the path from the command's col_sel to the tile's ready sat by ADC 0, across the chip
    from the command logic (the EVN's worst path, 2.4 ns each way). The FPGA flow keeps this module's
    hierarchy (it is not flattened before LUT mapping), so its LUTs are its own.
    """

    def __init__(self, spec: DesignSpec, *, late: int):
        if late < 0:
            raise ValueError(f"late = {late}: must be >= 0")
        self.group, self.late = spec.columns_per_adc, late
        super().__init__({
            "ready_positions": In(self.group),
            "col_sel": In(range(max(2, self.group))),
            "ready": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        group = self.group
        positions, whole = self.ready_positions, self.ready_positions
        for k in range(self.late):
            late = Signal(group, name=f"late_{k}")
            m.d.sync += late.eq(whole)
            positions, whole = positions & late, late
        if group > 1:
            m.d.comb += self.ready.eq(positions.bit_select(self.col_sel, 1) | (self.col_sel >= group))
        else:
            m.d.comb += self.ready.eq(positions[0])
        return m
