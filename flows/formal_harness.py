"""Formal harnesses around the generated components (used by flows/formal.py).

Each `build_*` function returns an Amaranth `Module`: the real component from rtl/ (elaborated from the
spec), an environment of free inputs (`AnySeq`) restricted by `Assume`s to what the component's interface
promises its neighbours, and the properties as `Assert` / `Cover` statements. A `mutant` argument swaps in
a deliberately broken variant that the same properties must catch.

Amaranth 0.5 has no `Past`: `_History.past` keeps a register of the previous cycle's value, and
`_History.valid` is low in the first cycle (`Initial`), so a property never looks before time 0. Reset is
held low (`Assume(~rst)`): the components start from their init values.
"""

from __future__ import annotations

import contextlib

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cat, Const, Cover, Module, Mux, ResetSignal, Signal, Value

from aimcgen.contract import uart_protocol as proto
from aimcgen.contract.adc import conversion_cycles
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.schedule import col_sel_settled, drive_cycles, tail_commands
from aimcgen.rtl import accumulator as accumulator_module
from aimcgen.rtl import uart_bridge as uart_bridge_module
from aimcgen.rtl.accelerator_core import AcceleratorCore
from aimcgen.rtl.accumulator import ShiftAddAccumulator
from aimcgen.rtl.boundary import AnalogOp
from aimcgen.rtl.register_bank import RegisterBank
from aimcgen.rtl.tile_controller import TileController
from aimcgen.rtl.uart_bridge import UartBridge
from aimcgen.spec import DesignSpec

# Environment bounds of the liveness harnesses (cycles).
MACRO_STALL = 2          # the analog macro holds cmd.ready low at most this many cycles in a row
RELEASE_WAIT = 2         # the output side releases a full result bank within this many cycles
TX_STALL = 2             # the UART transmitter takes a response byte within this many cycles
UART_FRAME_TIMEOUT = 4   # the bridge's frame timeout in the formal harness (the RTL default is 65536)
CHAIN_LAYERS = 2         # layers of the sequencer cover's chain
LAYER_OVERHEAD = 10      # cycles per layer besides its commands and output beats when nothing stalls: the
                         # registered commit, the accumulator's and the post-processor's register stages
                         # (the default preset's formal spec runs a two-layer chain in 56 cycles)
CHAIN_STALL_PERIOD = 3   # in the sequencer cover, the macro and the output stream each stall one cycle in 3
UART_BUS_TIMEOUT = 4


class _History:
    def __init__(self, m: Module):
        self.m = m
        self.valid = Signal(name="past_valid")      # low in the first cycle only
        m.d.sync += self.valid.eq(1)
        m.d.comb += Assume(~ResetSignal("sync"))

    def past(self, expr, name: str):
        value = Value.cast(expr)
        reg = Signal(value.shape(), name=f"past_{name}")
        self.m.d.sync += reg.eq(value)
        return reg


def _free(m: Module, target, name: str | None = None):
    """Drive `target` (a port or view) from a fresh unconstrained input."""
    value = Value.cast(target)
    m.d.comb += value.eq(AnySeq(len(value)))


def _new_module() -> tuple[Module, _History]:
    m = Module()                 # the implicit `sync` domain: clk and rst become ports of the top
    return m, _History(m)


@contextlib.contextmanager
def _capture_signals(module):
    """Record the signals an rtl module's `elaborate` creates, by name (the harness reads internal state).

    The module's global `Signal` is swapped for a recording factory while the component elaborates; the
    names stay those of the source (the tracer is pointed one frame up)."""
    original = module.Signal
    captured: dict[str, object] = {}

    def recording(*args, src_loc_at=0, **kwargs):
        sig = original(*args, src_loc_at=src_loc_at + 1, **kwargs)
        captured.setdefault(Value.cast(sig).name, sig)
        return sig

    module.Signal = recording
    try:
        yield captured
    finally:
        module.Signal = original


def _elaborated(component):
    """The component's own module (its ports stay its attributes); the component itself is used up."""
    component._MustUse__silence = True
    return component.elaborate(None)


def _fsm_state(module: Module, name: str = "fsm"):
    """The state register of FSM `name` in an elaborated module, and its number of states. Amaranth keeps
    the FSM on the Module that built it; an induction proof needs the register to state that it only ever
    holds one of the encodings (0 .. states-1: the states in order of first mention)."""
    fsm = module._generated[name]
    return fsm.state, len(fsm.encoding)


def _stall_bound(m: Module, stalled, bound: int, name: str):
    """Assume `stalled` is never high for more than `bound` cycles in a row."""
    run = Signal(range(bound + 2), name=f"{name}_run")
    with m.If(stalled):
        m.d.sync += run.eq(Mux(run > bound, run, run + 1))
    with m.Else():
        m.d.sync += run.eq(0)
    m.d.comb += Assume(~(stalled & (run >= bound)))


# -- (a) Wishbone register bank -------------------------------------------------------------------------------

def build_wishbone_bank(spec: DesignSpec, mutant: str | None = None) -> Module:
    """The register bank of `aimc_register_map(spec)` behind a classic Wishbone initiator that holds each
    request until it is answered. Mutant "double_ack": the bank answers every request twice."""
    m, h = _new_module()
    regmap = aimc_register_map(spec)
    m.submodules.bank = bank = RegisterBank(regmap)
    bus = bank.bus
    for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
        _free(m, getattr(bus, name))
    # Everything the rest of the accelerator feeds the bank is free: ro fields, w1c set inputs, windows.
    for reg in regmap.registers:
        for f in reg.fields:
            port = f"{reg.name}_{f.name}".lower()
            if f.access == "ro":
                _free(m, getattr(bank, port))
            if f.access == "w1c":
                _free(m, getattr(bank, port + "_set"))
    for w in regmap.windows:
        _free(m, bank.window_port(w.name, "rdata"))
        _free(m, bank.window_port(w.name, "ack"))

    ack, err = Signal(), Signal()
    m.d.comb += [ack.eq(bus.ack), err.eq(bus.err)]
    if mutant == "double_ack":
        again = h.past(bus.ack, "ack")
        m.d.comb += ack.eq(bus.ack | again)
    elif mutant is not None:
        raise ValueError(f"unknown mutant {mutant!r}")

    answered = Signal()
    active = Signal()
    m.d.comb += [answered.eq(ack | err), active.eq(bus.cyc & bus.stb)]
    # The initiator: a transfer starts when stb rises (or right after an answer) and is held, unchanged,
    # until its answer (Wishbone classic: no retraction).
    pending = Signal()                           # a transfer was live and unanswered at the end of last cycle
    m.d.sync += pending.eq(active & ~answered)
    held = Cat(bus.adr, bus.we, bus.dat_w, bus.sel)
    past_held = h.past(held, "request")
    m.d.comb += Assume(~pending | (active & (held == past_held)))

    # Reference counters: transfers started and answers seen (mod 16).
    started, answers = Signal(4), Signal(4)
    with m.If(active & ~pending):
        m.d.sync += started.eq(started + 1)
    with m.If(answered):
        m.d.sync += answers.eq(answers + 1)

    waiting = Const(0, 1)                        # a window access waits for its target's ack this cycle
    for w in regmap.windows:
        waiting = waiting | (bank.window_port(w.name, "stb") & ~bank.window_port(w.name, "ack"))
    past_waiting = h.past(waiting, "window_wait")

    # Decode of the map, written from the map itself (not from the bank's decoder).
    adr = bus.adr
    mapped = Const(0, 1)
    register_read = Const(0, 1)
    for reg in regmap.registers:
        hit = adr == (reg.address >> 2)
        mapped = mapped | hit
        register_read = register_read | hit
    for w in regmap.windows:
        base = w.address >> 2
        mapped = mapped | ((adr >= base) & (adr < base + w.depth))
    past_unmapped = h.past(~mapped, "unmapped")
    past_register_read = h.past(register_read & ~bus.we, "register_read")

    with m.If(h.valid):
        m.d.comb += [
            Assert(~(ack & err), "ack and err together"),
            Assert(~answered | pending, "an answer without a live request"),
            Assert(started == (answers + pending)[:4], "requests and answers do not pair up one to one"),
            Assert(~pending | past_waiting | answered, "a register request was not answered in the next cycle"),
            Assert(~(answered & past_unmapped) | err, "an unmapped address was not answered with err"),
            Assert(~(answered & past_register_read) | ack, "a register read was not acked"),
        ]
    m.d.comb += Cover(answered & err & past_unmapped)
    return m


# -- (b) the analog boundary as the tile controller drives it -------------------------------------------------

class _MacroModel:
    """The analog macro at a boundary, for a cover: ready follows `ready` (the harness's stall pattern) and
    every answer is zero (comparators that always answer 0; answers steer no handshake)."""

    def __init__(self, m: Module, boundary, name: str, ready):
        self.ready = Signal(name=f"{name}_ready")
        self.accept = Signal(name=f"{name}_accept")
        m.d.comb += [
            self.ready.eq(ready),
            boundary.cmd.ready.eq(self.ready),
            self.accept.eq(boundary.cmd.valid & self.ready),
            Value.cast(boundary.resp).eq(0),
        ]


def _mvm_commands(spec: DesignSpec) -> tuple[int, int]:
    """(INTEGRATE commands, ADC commands) of one MVM: the analog bound of rtl.tile_controller."""
    steps = spec.input.steps
    return steps * drive_cycles(spec), steps * spec.columns_per_adc * conversion_cycles(spec.adc)


def _tile_environment(m: Module, h: _History, tile: TileController, *, release_wait: int | None):
    """Inputs of a tile controller: x held from start until x_done, no weight programming, the result bank
    released by a free (or, with `release_wait`, bounded) output side."""
    _free(m, tile.x)
    holding = Signal()                           # x must hold (from the cycle after start is accepted)
    with m.If(tile.start.valid & tile.start.ready):
        m.d.sync += holding.eq(1)
    with m.If(tile.x_done):
        m.d.sync += holding.eq(0)
    past_x = h.past(tile.x, "x")
    m.d.comb += Assume(~holding | (Value.cast(tile.x) == past_x))
    _free(m, tile.start.valid)
    m.d.comb += tile.prog.valid.eq(0)
    _free(m, tile.prog_resp.ready)
    _free(m, tile.rd_col)
    _free(m, tile.bank_release)
    if release_wait is not None:
        _stall_bound(m, tile.bank_valid & ~tile.bank_release, release_wait, "release")


def build_boundary_handshake(spec: DesignSpec, mutant: str | None = None) -> Module:
    """The tile controller's command stream against a macro with a free ready. Mutants: "drop_on_stall"
    (the controller moves on from an INTEGRATE that was not accepted), "unstable_payload" (the command's
    trial codes change while it waits for ready), "unsettled_col_sel" (with conversions of two or more
    commands, a sampling command's position is not on the pins the cycle before it is offered)."""
    m, h = _new_module()
    m.submodules.tile = tile = TileController(spec)
    _tile_environment(m, h, tile, release_wait=None)
    cmd = tile.analog.cmd

    # What the macro sees (the controller's stream, or the mutant's view of it).
    valid, payload, row_en, row_sign = Signal(), Signal(cmd.payload.shape()), Signal(len(tile.analog.row_en)), \
        Signal(len(tile.analog.row_sign))
    ready = Signal()
    m.d.comb += [ready.eq(AnySeq(1)), valid.eq(cmd.valid), payload.eq(cmd.payload),
                 row_en.eq(tile.analog.row_en), row_sign.eq(tile.analog.row_sign), cmd.ready.eq(ready)]
    if mutant == "drop_on_stall":
        m.d.comb += cmd.ready.eq(ready | (cmd.payload.op == AnalogOp.INTEGRATE))
    elif mutant == "unstable_payload":
        stalled = h.past(cmd.valid & ~ready, "stalled_mutant")
        m.d.comb += payload.trial.eq(Value.cast(cmd.payload.trial) ^ stalled)
    elif mutant == "unsettled_col_sel":
        samples = (cmd.payload.op == AnalogOp.COMPARE) & cmd.payload.start
        offered_before = h.past(cmd.valid & samples, "offered_mutant")
        m.d.comb += payload.col_sel.eq(cmd.payload.col_sel ^ (cmd.valid & samples & ~offered_before))
    elif mutant is not None:
        raise ValueError(f"unknown mutant {mutant!r}")
    accept = Signal()
    m.d.comb += accept.eq(valid & ready)
    resp = Signal(tile.analog.resp.shape())
    with m.If(accept):
        m.d.sync += Value.cast(resp).eq(AnySeq(len(Value.cast(resp))))
    m.d.comb += tile.analog.resp.eq(resp)

    # (1) a command waiting for ready stays as it is
    waiting = h.past(valid & ~ready, "waiting")
    past_payload = h.past(payload, "payload")
    past_rows = h.past(Cat(row_en, row_sign), "rows")
    with m.If(h.valid & waiting):
        m.d.comb += [
            Assert(valid, "a command was withdrawn before it was accepted"),
            Assert(Value.cast(payload) == past_payload, "a command changed while it waited for ready"),
            Assert((payload.op != AnalogOp.INTEGRATE) | (Cat(row_en, row_sign) == past_rows),
                   "the row drive of an INTEGRATE changed while it waited for ready"),
        ]
    # (1b) with conversions of two or more commands, a sampling command's position is on the pins from the
    # cycle before it is offered (contract.schedule.col_sel_settled): a macro may read it from its own register
    if col_sel_settled(spec):
        past_col_sel = h.past(payload.col_sel, "col_sel")
        sampling = valid & (payload.op == AnalogOp.COMPARE) & payload.start
        with m.If(h.valid & sampling):
            m.d.comb += Assert(payload.col_sel == past_col_sel,
                               "a sampling command's col_sel was not on the pins the cycle before")
    # (2) every MVM gets exactly its commands: counted against the reference (the analog bound). An MVM may
    # end with up to `tail` commands of its last conversion still to come (contract.schedule.tail_commands):
    # the next MVM's count starts that many below 0, so they are the previous MVM's.
    n_integrate, n_adc = _mvm_commands(spec)
    tail = tail_commands(spec)
    integrates = Signal(range(n_integrate + 2))
    adcs = Signal(range(-tail, n_adc + 2))
    is_integrate = payload.op == AnalogOp.INTEGRATE
    now_integrates = Signal.like(integrates)
    now_adcs = Signal.like(adcs)
    m.d.comb += [now_integrates.eq(integrates + (accept & is_integrate)),
                 now_adcs.eq(adcs + (accept & ~is_integrate))]
    in_mvm = Signal()                            # an MVM has been started
    start = tile.start.valid & tile.start.ready
    with m.If(start):
        m.d.sync += [integrates.eq(0), adcs.eq(Mux(in_mvm, now_adcs - n_adc, 0)), in_mvm.eq(1)]
    with m.Else():
        m.d.sync += [integrates.eq(Mux(now_integrates > n_integrate, n_integrate + 1, now_integrates)),
                     adcs.eq(Mux(now_adcs > n_adc, n_adc + 1, now_adcs))]
    past_busy = h.past(tile.busy, "busy")
    m.d.comb += [
        Assert(~accept | in_mvm, "a command before any MVM was started"),
        Assert(now_integrates <= n_integrate, f"more than {n_integrate} INTEGRATE commands in one MVM"),
        Assert(now_adcs <= n_adc, f"more than {n_adc} ADC commands in one MVM"),
    ]
    complete = (now_integrates == n_integrate) & (now_adcs >= n_adc - tail) & (now_adcs <= n_adc)
    with m.If(start & in_mvm):
        m.d.comb += Assert(complete, f"an MVM ended before all its commands but the last {tail} were accepted")
    with m.If(h.valid & past_busy & ~tile.busy & in_mvm):
        m.d.comb += Assert((integrates == n_integrate) & (adcs == n_adc),
                           "the controller went idle before all the MVM's commands were accepted")
    m.d.comb += Cover(start & in_mvm)
    return m


# -- (c) liveness: the tile controller and the layer sequencer return to idle ---------------------------------

def mvm_cycle_bound(spec: DesignSpec) -> int:
    """Cycles from an accepted start until the tile controller is idle again, with every command stalled
    MACRO_STALL cycles and the result bank released RELEASE_WAIT cycles late."""
    n_integrate, n_adc = _mvm_commands(spec)
    return (n_integrate + n_adc) * (MACRO_STALL + 1) + RELEASE_WAIT + 8


def build_tile_liveness(spec: DesignSpec, mutant: str | None = None) -> Module:
    """The tile controller with a stalling macro (ready low at most MACRO_STALL cycles in a row) and an
    output side that releases the bank within RELEASE_WAIT cycles: every MVM ends within `mvm_cycle_bound`
    cycles (no deadlock), and a trace from start back to idle exists (cover). Mutant "lost_ready": the
    controller misses the macro's ready on the first ADC command of an MVM while it is stalled once, and
    waits for it forever.

    `running` starts at 0 and grows by at most one per cycle, so the assertion cannot fail before step
    bound + 1: a BMC may skip the steps before it (flows/formal.py does)."""
    m, h = _new_module()
    m.submodules.tile = tile = TileController(spec)
    _tile_environment(m, h, tile, release_wait=RELEASE_WAIT)
    cmd = tile.analog.cmd
    macro_ready = Signal()
    m.d.comb += macro_ready.eq(AnySeq(1))
    _stall_bound(m, cmd.valid & ~macro_ready, MACRO_STALL, "macro")
    m.d.comb += cmd.ready.eq(macro_ready)
    if mutant == "lost_ready":
        deaf = Signal()
        with m.If(cmd.valid & ~macro_ready & (cmd.payload.op != AnalogOp.INTEGRATE)):
            m.d.sync += deaf.eq(1)
        m.d.comb += cmd.ready.eq(macro_ready & ~deaf)
    elif mutant is not None:
        raise ValueError(f"unknown mutant {mutant!r}")
    resp = Signal(tile.analog.resp.shape())
    with m.If(cmd.valid & cmd.ready):
        m.d.sync += Value.cast(resp).eq(AnySeq(len(Value.cast(resp))))
    m.d.comb += tile.analog.resp.eq(resp)

    bound = mvm_cycle_bound(spec)
    running = Signal(range(bound + 2))
    started = Signal()
    with m.If(tile.start.valid & tile.start.ready):
        m.d.sync += [running.eq(1), started.eq(1)]
    with m.Elif(tile.busy):
        m.d.sync += running.eq(Mux(running > bound, running, running + 1))
    with m.Else():
        m.d.sync += running.eq(0)
    m.d.comb += Assert(running <= bound, f"an MVM still runs {bound} cycles after its start")
    m.d.comb += Cover(h.valid & started & h.past(tile.busy, "busy") & ~tile.busy)
    return m


def _cycles_for(transfers: int) -> int:
    """The fewest cycles in which `transfers` handshakes can complete when ready is low one cycle in every
    CHAIN_STALL_PERIOD: any L consecutive cycles hold at least L // CHAIN_STALL_PERIOD stalled ones."""
    cycles = transfers
    while cycles - cycles // CHAIN_STALL_PERIOD < transfers:
        cycles += 1
    return cycles


def chain_cover_window(spec: DesignSpec) -> tuple[int, int]:
    """(first step searched, depth) of the sequencer cover. A layer's output beats follow its commands, and
    the next layer's commands follow those beats, so no trace ends the chain before every layer's commands
    and beats have had their fewest cycles under the stall pattern (`_cycles_for`): the search starts there.
    The depth is twice the stall-free length of the chain (commands, beats and LAYER_OVERHEAD per layer)."""
    n_integrate, n_adc = _mvm_commands(spec)
    first = CHAIN_LAYERS * (_cycles_for(n_integrate + n_adc) + _cycles_for(spec.logical_cols))
    depth = 2 * CHAIN_LAYERS * (n_integrate + n_adc + spec.logical_cols + LAYER_OVERHEAD)
    return first, depth


def build_sequencer_liveness(spec: DesignSpec, mutant: str | None = None) -> Module:
    """The accelerator core (layer sequencer, input buffer, output sequencer, post-processor) of a spec whose
    macros are outside, each a stalling macro model: a two-layer chain started by software runs both MVMs
    (every macro accepts all the INTEGRATE and ADC commands of two MVMs, counted at the boundary), feeds
    layer 0's outputs back as layer 1's input, and gets back to idle with OUT_COUNT advanced to 1. Cover
    mode: such a trace exists.

    The environment is one fixed scenario, the one a driver runs (firmware/): LAYER_COUNT = 2 with both
    descriptors zero (start 0, count 0: the whole grid), no coefficient, input or weight writes, one
    CTRL.start (in_commit) in the first cycle, the output stream enabled. Every macro and the output stream
    stall one cycle in CHAIN_STALL_PERIOD (ready low, out of phase), and the macros answer zeros (answers
    steer no handshake). With free stalls, answers and software inputs, each search step past step 40 cost
    the solver minutes (a 4x4 tile's chain needs 56 or more); the fixed scenario keeps the cover a
    deterministic witness the solver reaches in a few minutes."""
    if mutant is not None:
        raise ValueError(f"unknown mutant {mutant!r}")
    m, h = _new_module()
    m.submodules.core = core = AcceleratorCore(spec, emulated=False)
    n_integrate, n_adc = _mvm_commands(spec)
    chain = CHAIN_LAYERS
    phase = Signal(range(CHAIN_STALL_PERIOD))
    m.d.sync += phase.eq(Mux(phase == CHAIN_STALL_PERIOD - 1, 0, phase + 1))
    counted = []
    for i in range(spec.tiles):
        boundary = getattr(core, f"analog_{i}")
        macro = _MacroModel(m, boundary, f"macro_{i}", ready=phase != 0)
        integrates = Signal(range(chain * n_integrate + 2), name=f"macro_{i}_integrates")
        adcs = Signal(range(chain * n_adc + 2), name=f"macro_{i}_adcs")
        is_integrate = boundary.cmd.payload.op == AnalogOp.INTEGRATE
        with m.If(macro.accept & is_integrate & (integrates <= chain * n_integrate)):
            m.d.sync += integrates.eq(integrates + 1)
        with m.If(macro.accept & ~is_integrate & (adcs <= chain * n_adc)):
            m.d.sync += adcs.eq(adcs + 1)
        counted.append((integrates == chain * n_integrate) & (adcs == chain * n_adc))
    for name in ("in_wr_en", "coef_scale_we", "coef_offset_we"):
        m.d.comb += getattr(core, name).eq(0)
    for name in ("pv_tolerance", "pv_max_retries", "out_rd_addr", "in_wr_addr", "in_wr_data", "coef_addr"):
        m.d.comb += Value.cast(getattr(core, name)).eq(0)
    m.d.comb += [core.inp.valid.eq(0), core.weight.valid.eq(0), core.layer_count.eq(chain),
                 Value.cast(core.layers).eq(0), core.in_commit.eq(~h.valid)]
    m.d.comb += [core.out_stream_enable.eq(1), core.out.ready.eq(phase != 1)]
    all_commands = Const(1, 1)
    for done in counted:
        all_commands = all_commands & done
    m.d.comb += Cover(h.valid & h.past(core.busy, "busy") & ~core.busy & (core.out_count == 1) & all_commands)
    return m


# -- (d) the shift-add accumulator saturates ------------------------------------------------------------------

class _WrongRailAccumulator(ShiftAddAccumulator):
    """Mutant: saturates to the opposite rail (min and max swapped), as a wrapping adder would."""

    def __init__(self, spec):
        super().__init__(spec)
        good = self.format

        class _Swapped:
            bits, frac, min, max = good.bits, good.frac, good.max, good.min
        self.format = _Swapped


def build_accumulator_saturation(spec: DesignSpec, mutant: str | None = None) -> Module:
    """Any transfers into the accumulator: every column update moves the value in the direction of the
    addend (never wraps: adding a non-negative term never makes it smaller, a negative one never larger),
    and the first add of an MVM has the sign of its term. Mutant "wrong_rail"."""
    m, h = _new_module()
    if mutant == "wrong_rail":
        acc = _WrongRailAccumulator(spec)
    elif mutant is None:
        acc = ShiftAddAccumulator(spec)
    else:
        raise ValueError(f"unknown mutant {mutant!r}")
    with _capture_signals(accumulator_module) as sigs:
        m.submodules.accumulator = _elaborated(acc)
    state, held, op_hit, op_term = sigs["acc"], sigs["held"], sigs["op_hit"], sigs["op_term"]
    # rtl.accumulator's stages: `held` (stage 1) -> operands `op_*` (stage 2) -> the column write (stage 3).
    first_op = h.past(held.first, "first_op")   # `first` of the transfer whose operands are in stage 2
    _free(m, acc.inp.valid)
    _free(m, acc.inp.payload)
    _free(m, acc.bank_release)
    _free(m, acc.rd_col)
    # The tile controller never sends a shift beyond the last bit plane.
    m.d.comb += Assume(acc.inp.payload.shift < spec.input.steps)

    bits = acc.format.bits
    for a in range(spec.adc.count):
        past_term = h.past(op_term[a], f"term_{a}")
        past_first = h.past(first_op, f"first_{a}")
        for g in range(spec.columns_per_adc):
            old = h.past(state[a][g], f"acc_{a}_{g}")
            new = state[a][g]
            wrote = h.past(op_hit[g], f"hit_{a}_{g}")
            with m.If(h.valid & wrote & ~past_first):
                m.d.comb += [
                    Assert((past_term < 0) | (new >= old), f"column {a}.{g}: a non-negative term decreased it"),
                    Assert((past_term >= 0) | (new <= old), f"column {a}.{g}: a negative term increased it"),
                ]
            with m.If(h.valid & wrote & past_first):
                m.d.comb += Assert((new < 0) == (past_term < 0), f"column {a}.{g}: the first term's sign was lost")
    m.d.comb += Cover(h.valid & (state[0][0] == (1 << (bits - 1)) - 1))
    return m


# -- (e) the UART bridge's framing recovers --------------------------------------------------------------------

class _NoTimeoutBridge(UartBridge):
    """Mutant: the frame timeout is gone (a stalled frame keeps the bridge waiting forever)."""

    def _frame_timeout(self, m, got, timer):
        pass


def build_uart_recovery(spec: DesignSpec, mutant: str | None = None) -> Module:
    """Any byte sequence on rx, any tx.ready and bus answers: a frame that stalls while being received
    (no byte for UART_FRAME_TIMEOUT cycles) is dropped and the bridge is idle; an idle bridge stays idle on
    any byte but SYNC, and a SYNC starts a frame. Mutant "no_timeout"."""
    m, h = _new_module()
    addr_width = aimc_register_map(spec).addr_width
    cls = {None: UartBridge, "no_timeout": _NoTimeoutBridge}.get(mutant)
    if cls is None:
        raise ValueError(f"unknown mutant {mutant!r}")
    bridge = cls(addr_width, frame_timeout=UART_FRAME_TIMEOUT, bus_timeout=UART_BUS_TIMEOUT)
    with _capture_signals(uart_bridge_module) as sigs:
        m.submodules.bridge = inner = _elaborated(bridge)
    receiving, timer = sigs["receiving"], sigs["timer"]
    state, n_states = _fsm_state(inner)
    rx = bridge.rx
    _free(m, rx.valid)
    _free(m, rx.payload)
    _free(m, bridge.tx.ready)
    _free(m, bridge.bus.ack)
    _free(m, bridge.bus.err)
    _free(m, bridge.bus.dat_r)

    idle = ~bridge.busy
    framing = Signal()                          # inside a frame, waiting for its next byte
    m.d.comb += framing.eq(bridge.busy & receiving)
    quiet = Signal(range(UART_FRAME_TIMEOUT + 2))
    with m.If(framing & ~rx.valid):
        m.d.sync += quiet.eq(Mux(quiet > UART_FRAME_TIMEOUT, quiet, quiet + 1))
    with m.Else():
        m.d.sync += quiet.eq(0)
    sync_byte = rx.valid & (rx.payload == proto.REQUEST_SYNC)
    past_idle = h.past(idle, "idle")
    past_sync = h.past(sync_byte, "sync")
    m.d.comb += Assert(~framing | (quiet < UART_FRAME_TIMEOUT),
                       f"a stalled frame was not dropped after {UART_FRAME_TIMEOUT} quiet cycles")
    # Invariants that make the properties inductive (asserted, so they are proven, not assumed): the state
    # register holds a state, and inside a frame the bridge's frame timer counts exactly the quiet cycles
    # (both restart on every byte of the frame, and a frame starts with its SYNC byte).
    m.d.comb += [
        Assert(state < n_states, "the framing state register holds no state"),
        Assert(~framing | (timer == quiet), "the frame timer differs from the quiet cycles of the frame"),
    ]
    with m.If(h.valid & past_idle):
        m.d.comb += [
            Assert(~past_sync | framing, "SYNC on an idle bridge did not start a frame"),
            Assert(past_sync | idle, "a byte other than SYNC took an idle bridge out of idle"),
        ]
    m.d.comb += Cover(h.valid & h.past(framing, "framing") & idle)
    return m
