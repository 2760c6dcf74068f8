"""The devices of the emulated tile's digital twin: where each write lands, stuck devices, drift, relaxation.

`EmulatedCrossbar` stores one signed weight per cell, which every read uses. With the twin on
(contract.device_twin, contract.device_twin_drift) that weight is no longer the target: this component
lands each PROG_WRITE's two devices with their programming error (draws of the tile's
ProgrammingNoiseGenerator), overrides stuck devices (a ROM of flags per cell), and with drift keeps every
device's landed and drift codes (and, where the preset relaxes, its relaxation direction,
contract.device_twin_relaxation) in a block RAM so that it can re-read the whole tile when the drift epoch
changes (a refresh: one cell per two cycles through a two-stage pipeline, the factor table, and with
relaxation the spread table, in block RAM and then the products and the clamp; the tile answers no
command meanwhile). Where the preset has 1/f noise, the refresh also draws each cell's shared 1/f
directions from a generator of its own that leaps once per cell, in the cell's two cycles, and moves each
device by its table entry (contract.device_twin_flicker); a write in between stores its devices without.
Whatever it computes, it hands to the tile as a `store` of one weight at one cell: with drift the fine
weight (FRACTION_BITS more bits, which the integrators sum) and the whole weight (which PROG_READ returns,
capped at L), contract.device_twin_drift. With drift a device holds up to L + H codes (the headroom above
the top level, device_top): its landed code, its drifted, relaxed and 1/f-moved value are clamped there,
and the spread tables, which have rows 0..L, are read at min(code, L).
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.device_twin import preload_devices, stuck_map, stuck_on
from aimcgen.contract.device_twin_drift import (DRIFT_CODES, EPOCH_BITS, FACTOR_FRAC_BITS, device_top, drift_on,
                                               factor_table, fine_weight_bits, fraction_bits)
from aimcgen.contract.device_twin_flicker import FLICKER_FRAC_BITS, flicker_on, flicker_seed, flicker_table
from aimcgen.contract.device_twin_relaxation import SPREAD_FRAC_BITS, Z_BITS, Z_CENTER, relaxation_on, spread_table
from aimcgen.rtl.drift_code_scanner import DriftCodeScanner
from aimcgen.rtl.leaping_lfsr import LeapingLfsr
from aimcgen.rtl.programming_noise import ProgrammingNoiseGenerator
from aimcgen.spec import DesignSpec


def device_layout(spec: DesignSpec) -> data.StructLayout:
    top = device_top(spec)          # L + H: with drift a device may land above the top level
    fields = {"plus": range(top + 1), "minus": range(top + 1),
              "plus_drift": range(DRIFT_CODES), "minus_drift": range(DRIFT_CODES)}
    if relaxation_on(spec):         # contract.device_twin_relaxation: each device's lasting direction z
        fields.update(plus_relax=signed(Z_BITS), minus_relax=signed(Z_BITS))
    return data.StructLayout(fields)


class TwinDevices(wiring.Component):
    """The twin's device state of tile `tile_index`, initialised from `init_weights` (rows x cols).

    Ports: `write` (strobe in the cycle the tile accepts a PROG_WRITE of `target` at `row`, `col`; only
    while `write_ready`), `hold` (the tile is busy with something else: no refresh starts), `epoch` (the
    chip's drift epoch; ignored without drift), `busy` (the tile must accept no command: a write landing,
    or a refresh pending or running), `store` / `store_row` / `store_col` / `stored` / `stored_code`
    (strobe: the tile stores the fine weight `stored`, 2^-fraction_bits code, at that cell for its
    integrators and its negation in the next cycle, and the whole weight `stored_code` for PROG_READ).
    """

    def __init__(self, spec: DesignSpec, tile_index: int, init_weights: np.ndarray, row_bits: int, col_bits: int):
        self.spec = spec
        self.tile_index = tile_index
        self.stuck = stuck_map(spec, tile_index)
        self.init_devices = preload_devices(spec, init_weights, self.stuck)
        super().__init__({
            "write": In(1), "row": In(row_bits), "col": In(col_bits),
            "target": In(signed(spec.tile.weight_bits)),
            "hold": In(1), "epoch": In(EPOCH_BITS),
            "write_ready": Out(1), "busy": Out(1),
            "store": Out(1), "store_row": Out(row_bits), "store_col": Out(col_bits),
            "stored": Out(signed(fine_weight_bits(spec))),
            "stored_code": Out(signed(spec.tile.weight_bits)),
        })

    def elaborate(self, platform):
        spec = self.spec
        m = Module()
        levels = spec.tile.conductance_levels
        drift = drift_on(spec)
        relax = relaxation_on(spec)
        flicker = flicker_on(spec)
        m.submodules.programming_noise = gen = ProgrammingNoiseGenerator(spec, self.tile_index)
        m.d.comb += self.write_ready.eq(gen.ready)
        row_bits, col_bits = len(self.row), len(self.col)

        # Stuck flags per cell, read at acceptance: bit 0 G+ stuck, bit 1 at set (else reset), bits 2-3 G-.
        # A block RAM's synchronous read port; none when no device is stuck.
        flag_data = Signal(4)
        if stuck_on(spec):
            flag_init = [0] * (1 << (row_bits + col_bits))
            for (i, j, p), code in np.ndenumerate(self.stuck):
                if code >= 0:
                    flag_init[(i << col_bits) | j] |= (1 | int(code == levels) << 1) << (2 * p)
            m.submodules.stuck_flags = rom = Memory(shape=4, depth=len(flag_init), init=flag_init)
            flags = rom.read_port(domain="sync")
            m.d.comb += [flags.addr.eq(Cat(self.col, self.row)), flags.en.eq(self.write),
                         flag_data.eq(flags.data)]

        # --- Landing a write: draws in order (G+ error, G- error, then with drift G+ and G- drift codes),
        # one per generator leap; the first in the cycle of acceptance. A drift draw's uniform goes to the
        # threshold scanner; the next drift draw waits for its code.
        draws = 4 if drift else 2
        aims = Signal(data.ArrayLayout(range(levels + 1), 2))
        new = Signal(device_layout(spec))
        step = Signal(range(draws + 2))          # draws done; 0 = idle
        landing = Signal()
        storing = Signal()                       # the landed devices are complete (one cycle)
        row, col = Signal.like(self.row), Signal.like(self.col)
        target = self.target
        m.d.comb += landing.eq(step != 0)
        scan_busy = Signal()
        if drift:
            m.submodules.drift_codes = scanner = DriftCodeScanner(spec)
            m.d.comb += [scanner.uniform.eq(gen.uniform), scan_busy.eq(scanner.busy)]
        with m.If(self.write):
            m.d.comb += [gen.code.eq(Mux(target > 0, target, 0)), gen.draw.eq(1)]
            m.d.sync += [aims[0].eq(Mux(target > 0, target, 0)), aims[1].eq(Mux(target < 0, -target, 0)),
                         new.plus.eq(gen.landed), new.plus_drift.eq(0), new.minus_drift.eq(0),
                         step.eq(1), row.eq(self.row), col.eq(self.col)]
        with m.Elif(landing & ~scan_busy & (gen.ready | (step == draws))):
            with m.Switch(step):
                with m.Case(1):
                    m.d.comb += [gen.code.eq(aims[1]), gen.draw.eq(1)]
                    m.d.sync += new.minus.eq(gen.landed)
                if drift:
                    with m.Case(2):
                        m.d.comb += [gen.draw.eq(1), scanner.start.eq(1), scanner.aimed.eq(aims[0])]
                        if relax:
                            m.d.sync += new.plus_relax.eq(gen.relax_z)
                    with m.Case(3):
                        m.d.comb += [gen.draw.eq(1), scanner.start.eq(1), scanner.aimed.eq(aims[1])]
                        m.d.sync += new.plus_drift.eq(scanner.code)
                        if relax:
                            m.d.sync += new.minus_relax.eq(gen.relax_z)
                    with m.Case(4):
                        m.d.sync += new.minus_drift.eq(scanner.code)
            last = draws if drift else draws - 1
            m.d.sync += step.eq(Mux(step == last, 0, step + 1))
            with m.If(step == last):
                m.d.sync += storing.eq(1)
        with m.If(storing):
            m.d.sync += storing.eq(0)

        # Stuck devices override what landed, and do not drift.
        landed = Signal(device_layout(spec))
        for p, name in enumerate(("plus", "minus")):
            flag = flag_data[2 * p:2 * p + 2]
            m.d.comb += [
                getattr(landed, name).eq(Mux(flag[0], Mux(flag[1], levels, 0), getattr(new, name))),
                getattr(landed, f"{name}_drift").eq(Mux(flag[0], 0, getattr(new, f"{name}_drift"))),
            ]
            if relax:
                m.d.comb += getattr(landed, f"{name}_relax").eq(Mux(flag[0], 0, getattr(new, f"{name}_relax")))

        if not drift:
            m.d.comb += [self.busy.eq(landing | storing), self.store.eq(storing), self.store_row.eq(row),
                         self.store_col.eq(col), self.stored.eq(landed.plus - landed.minus),
                         self.stored_code.eq(landed.plus - landed.minus)]
            return m

        # --- Drift: the devices in a block RAM; a refresh re-reads every cell when the epoch changes.
        init = [0] * (1 << (row_bits + col_bits))
        d = self.init_devices
        for (i, j), _ in np.ndenumerate(d.plus):
            init[(i << col_bits) | j] = {"plus": int(d.plus[i, j]), "minus": int(d.minus[i, j]),
                                         "plus_drift": int(d.plus_drift[i, j]),
                                         "minus_drift": int(d.minus_drift[i, j])}
            if relax:
                init[(i << col_bits) | j].update(plus_relax=int(d.plus_relax[i, j]),
                                                 minus_relax=int(d.minus_relax[i, j]))
        m.submodules.devices = devices = Memory(shape=device_layout(spec), depth=len(init), init=init,
                                                attrs={"no_rw_check": 1})
        dev_wr, dev_rd = devices.write_port(), devices.read_port(domain="sync")
        m.d.comb += [dev_wr.addr.eq(Cat(col, row)), dev_wr.data.eq(landed), dev_wr.en.eq(storing)]

        applied = Signal(EPOCH_BITS)             # the epoch the stored weights are drifted to
        refreshing = Signal()
        fetched = Signal()                       # the read port holds the device state of (walk_row, walk_col)
        walk_row, walk_col = Signal(row_bits), Signal(col_bits)
        stale = Signal()
        # A two-stage pipeline from device state to stored weight: factor ROMs (block RAM), then the
        # products; one cell enters every other cycle (the tile stores a weight and then its negation).
        enter, factored, product = Signal(), Signal(), Signal()
        m.d.comb += [stale.eq(self.epoch != applied),
                     self.busy.eq(landing | storing | stale | refreshing | factored | product)]
        with m.If(stale & ~refreshing & ~landing & ~storing & ~factored & ~product & ~self.hold):
            m.d.sync += [refreshing.eq(1), applied.eq(self.epoch), walk_row.eq(0), walk_col.eq(0),
                         fetched.eq(0)]
        m.d.comb += [dev_rd.addr.eq(Cat(walk_col, walk_row)), dev_rd.en.eq(refreshing & ~fetched)]
        with m.If(refreshing):
            m.d.sync += fetched.eq(~fetched)
            with m.If(fetched):
                last_col = walk_col == spec.tile.cols - 1
                m.d.sync += [walk_col.eq(Mux(last_col, 0, walk_col + 1)),
                             walk_row.eq(Mux(last_col, walk_row + 1, walk_row))]
                with m.If(last_col & (walk_row == spec.tile.rows - 1)):
                    m.d.sync += refreshing.eq(0)

        source = Signal(device_layout(spec))
        m.d.comb += [enter.eq(storing | (refreshing & fetched)), source.eq(Mux(refreshing, dev_rd.data, landed))]
        factors = factor_table(spec)
        m.submodules.factors = rom = Memory(shape=range(max(max(r) for r in factors) + 1),
                                            depth=DRIFT_CODES << EPOCH_BITS, init=sum(factors, []))
        held = Signal(device_layout(spec))
        cell_factored, cell_product = Signal(row_bits + col_bits), Signal(row_bits + col_bits)   # Cat(col, row)
        m.d.sync += [factored.eq(enter), product.eq(factored)]
        with m.If(enter):
            m.d.sync += [held.eq(source), cell_factored.eq(Cat(Mux(refreshing, walk_col, col),
                                                              Mux(refreshing, walk_row, row)))]
        fraction = fraction_bits(spec)
        shift = FACTOR_FRAC_BITS - fraction
        weight = Signal(signed(fine_weight_bits(spec)))      # the fine weight, up to 16 (L + H) (headroom)
        if flicker:     # contract.device_twin_flicker: a draw per cell entering the pipeline in a refresh
            m.submodules.flicker_noise = flicker_gen = LeapingLfsr(flicker_seed(spec, self.tile_index),
                                                                   leap_cycles=2)
            state = flicker_gen.state
            directions = [Signal(signed(Z_BITS), name=f"flicker_z_{name}") for name in ("plus", "minus")]
            m.d.comb += flicker_gen.draw.eq(refreshing & fetched)       # one cell every two cycles: always ready
            with m.If(enter):           # a write's devices have no shared part until the next refresh
                m.d.sync += [directions[0].eq(Mux(refreshing, state[0:8] + state[8:16] - Z_CENTER, 0)),
                             directions[1].eq(Mux(refreshing, state[16:24] + state[24:32] - Z_CENTER, 0))]
            flickers = flicker_table(spec)
            m.submodules.flickers = flicker_rom = Memory(shape=range(max(max(r) for r in flickers) + 1),
                                                         depth=(levels + 1) << EPOCH_BITS, init=sum(flickers, []))
        if relax:       # contract.device_twin_relaxation: spreads per (device code, epoch), a block RAM
            spreads = spread_table(spec)
            m.submodules.spreads = spread_rom = Memory(shape=range(max(max(r) for r in spreads) + 1),
                                                       depth=(levels + 1) << EPOCH_BITS, init=sum(spreads, []))
        drifted = []
        top = device_top(spec) << fraction          # 16 (L + H): the headroom above the top level
        for p, name in enumerate(("plus", "minus")):
            port = rom.read_port(domain="sync")
            m.d.comb += [port.addr.eq(Cat(applied, getattr(source, f"{name}_drift"))), port.en.eq(enter)]
            value = Signal(range(top + 1), name=f"drifted_{name}")
            fine = (getattr(held, name) * port.data + (1 << (shift - 1))) >> shift
            # The spread tables have rows 0..L: a device landed above L reads L's row.
            row = Signal(range(levels + 1), name=f"table_row_{name}")
            code = getattr(source, name)
            m.d.comb += row.eq(Mux(code > levels, levels, code))
            if relax:
                spread = spread_rom.read_port(domain="sync")
                m.d.comb += [spread.addr.eq(Cat(applied, row)), spread.en.eq(enter)]
                reach = top + ((Z_CENTER * max(max(r) for r in spreads)) >> SPREAD_FRAC_BITS) + 1
                moved = Signal(signed(reach.bit_length() + 1), name=f"relaxed_{name}")
                m.d.comb += [moved.eq(fine + ((getattr(held, f"{name}_relax") * spread.data
                                               + (1 << (SPREAD_FRAC_BITS - 1))) >> SPREAD_FRAC_BITS)),
                             value.eq(Mux(moved < 0, 0, Mux(moved > top, top, moved)))]
            else:
                m.d.comb += value.eq(fine)
            if flicker:
                entry = flicker_rom.read_port(domain="sync")
                m.d.comb += [entry.addr.eq(Cat(applied, row)), entry.en.eq(enter)]
                reach = top + ((top * Z_CENTER * max(max(r) for r in flickers)) >> FLICKER_FRAC_BITS) + 1
                shared = Signal(signed(reach.bit_length() + 1), name=f"flickered_{name}")
                scaled = directions[p] * entry.data         # beside the factor product, not after it
                m.d.comb += shared.eq(value + ((value * scaled + (1 << (FLICKER_FRAC_BITS - 1))) >> FLICKER_FRAC_BITS))
                value = Signal(range(top + 1), name=f"read_{name}")
                m.d.comb += value.eq(Mux(shared < 0, 0, Mux(shared > top, top, shared)))
            drifted.append(value)
        with m.If(factored):
            m.d.sync += [weight.eq(drifted[0] - drifted[1]), cell_product.eq(cell_factored)]
        # The whole weight: |fine| rounded half up to a code and capped at L, with the sign of fine.
        magnitude = Signal(len(weight))
        rounded = Signal(range(device_top(spec) + 1))
        whole = Signal(range(levels + 1))
        m.d.comb += [magnitude.eq(Mux(weight < 0, -weight, weight)),
                     rounded.eq((magnitude + (1 << (fraction - 1))) >> fraction),
                     whole.eq(Mux(rounded > levels, levels, rounded)),
                     self.stored_code.eq(Mux(weight < 0, -whole, whole))]
        m.d.comb += [self.store.eq(product), self.stored.eq(weight),
                     self.store_col.eq(cell_product[:col_bits]), self.store_row.eq(cell_product[col_bits:])]
        return m
