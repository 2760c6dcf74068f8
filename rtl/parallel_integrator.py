"""The emulated tile's column integrators with every row summed at once: INTEGRATEs at the analog bound.

Why: an analog crossbar sums all rows of a drive cycle in that cycle (Kirchhoff's current law); the serial
emulated tile reads one weight row per cycle from block RAM, so on tile64 an INTEGRATE takes up to 65
cycles. Here each column's enabled rows are summed in one pipelined adder tree. Two layouts (spec
twin.integrate):
- "parallel": one tree per column, the weights in registers; an INTEGRATE takes one cycle, back to back.
- "parallel_adc": one tree per ADC, which sweeps the ADC's columns_per_adc = G columns one per cycle, the
  weights in one small memory per ADC (a word per column position, every row in it: distributed RAM on an
  ECP5). An INTEGRATE occupies the trees G cycles (the next one is accepted G cycles later), a G-th of the
  logic: with bit-serial inputs (one INTEGRATE per step, then G conversions) it costs nothing, since the
  conversions of position p start no sooner than p conversion-lengths after the INTEGRATE.

The sums are exactly the serial tile's (the golden model's): row i adds w_ij to column j while enabled, and
-w_ij when its sign is set. The negation is two's complement split in two: each device feeds the tree
en_i ? (s_i ? ~w_ij : w_ij) : 0 (~w = -w - 1, exact in w's width), and the column adds once the number of
enabled negative rows, one popcount shared by every tree. With twin read noise each device also feeds a
variance tree its table entry (rtl/read_noise_variance.py); its table index min(|whole weight|, L), a
function of the weight alone, is stored beside the weight when the weight is written (a register, or a
second memory with the weights' addresses and enables), so the tree reads it as it reads the weight.

Pipeline (cycles counted from the one that accepts the INTEGRATE, whose edge registers row_en, row_sign, start;
with "parallel_adc" and read noise each lane, a charge tree and a variance tree, also registers them in a copy
of its own, beside it):
- sweep step q (0..G-1; G = 1 for "parallel") enters the trees in cycle 1 + q;
- ceil(ceil(log2(rows)) / ADDER_LEVELS_PER_STAGE) register stages follow (ADDER_LEVELS_PER_STAGE = 2), with
  the ceil(log2(rows)) levels of pairwise adds spread as stage_levels(rows) says: one level in the first
  stage (which also reads the weight memory and forms the device terms above, across the whole tree's
  width), the others two each, and the last one three where the levels are even (tile64: 1, 2, 3);
- then the charge register of column position q of every tree: charge <= (start ? 0 : charge) + sum +
  negatives.
So position q's charge gets its sum at the end of cycle latency(spec) + q, latency(spec) = 1 + the stages
(tile64: 4), and a sample of it can be accepted in the next cycle. When the trees take an INTEGRATE, which
positions are whole and whether a sum is owed are told by rtl.sweep_pipeline.SweepStatus, the same sweep
rule kept beside the tile's command logic: back-to-back INTEGRATEs are G cycles apart ("parallel_adc").
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from aimcgen.contract.adc_columns import adc_column, column_adc
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.device_read_noise import read_noise_on, variance_bits
from aimcgen.contract.device_twin_drift import fraction_bits
from aimcgen.rtl.lane_copies import lane_flip
from aimcgen.rtl.sweep_pipeline import SweepStatus, sweep_tags
from aimcgen.rtl.read_noise_variance import (entry_shape, scaled_entries, table_index, table_indices,
                                             variance_layout)
from aimcgen.spec import DesignSpec

ADDER_LEVELS_PER_STAGE = 2      # pairwise adds between two pipeline registers


def _stages(rows: int) -> int:
    levels = (rows - 1).bit_length()            # ceil(log2(rows)) levels of pairwise adds
    return -(-levels // ADDER_LEVELS_PER_STAGE)


def stage_levels(rows: int) -> list[int]:
    """Levels of pairwise adds in each of the _stages(rows) register stages of a tree of `rows` leaves: one in
    the first (the memory read and the device terms fill its cycle, and its adds are the widest and most
    spread), then ADDER_LEVELS_PER_STAGE each, the spare level going to the last (its adds are few and
    close). Same stage count, so the same latency: the first stage had been the trees' worst input on the
    ULX3S (BENCHMARKS.md)."""
    levels, stages = (rows - 1).bit_length(), _stages(rows)
    if stages <= 1:
        return [levels] if levels else []
    rest = levels - 1
    plan = [1] + [ADDER_LEVELS_PER_STAGE] * (stages - 1)
    plan[-1] += rest - ADDER_LEVELS_PER_STAGE * (stages - 1)
    return plan


def latency(spec: DesignSpec) -> int:
    """Cycles after an INTEGRATE's acceptance until the charge of sweep step 0 is whole: latch + stages."""
    return 1 + _stages(spec.tile.rows)


def sweep_steps(spec: DesignSpec) -> int:
    """Column positions each tree sweeps per INTEGRATE: 1 ("parallel"), columns_per_adc ("parallel_adc")."""
    return spec.columns_per_adc if spec.twin.integrate == "parallel_adc" else 1


def charge_layout(spec: DesignSpec) -> data.ArrayLayout:
    """The column integrators grouped by ADC: [a][p] is the column at position p of ADC a (contract.adc_columns),
    with fraction_bits(spec) more bits than the charge format (twin drift's fine weights)."""
    fmt = datapath_formats(spec)
    return data.ArrayLayout(data.ArrayLayout(signed(fmt.charge.bits + fraction_bits(spec)), spec.columns_per_adc),
                            spec.adc.count)


def _add_levels(values: list, levels: int) -> list:
    """Up to `levels` levels of pairwise sums (an odd one out passes through)."""
    for _ in range(levels):
        if len(values) == 1:
            break
        sums = [values[k] + values[k + 1] for k in range(0, len(values) - 1, 2)]
        values = sums + values[len(sums) * 2:]
    return values


def _pipelined_sum(m: Module, leaves: list, name: str):
    """The registered sum of `leaves` after _stages(len(leaves)) stages of stage_levels(len(leaves)) levels
    (the leaves themselves if one)."""
    values = leaves
    for stage, levels in enumerate(stage_levels(len(leaves)), start=1):
        summed = _add_levels(values, levels)
        registered = []
        for k, v in enumerate(summed):
            r = Signal(v.shape(), name=f"{name}_s{stage}_{k}")
            m.d.sync += r.eq(v)
            registered.append(r)
        values = registered
    return values[0]


class ParallelIntegrator(wiring.Component):
    """All-row column sums of one emulated tile, with the tile's (fine) weights.

    Ports: `begin` (an INTEGRATE is accepted this cycle; only while SweepStatus's `accepting`) with `start`,
    `row_en`, `row_sign` (the command's pins); `write` (store `write_data`, a fine weight, at cell
    `write_row`, `write_col`; cells beyond the tile are ignored; only while SweepStatus is not `busy`;
    "parallel_adc" stores it one edge later, through registers beside each lane's memory, so a `begin` must
    come at least one cycle after the write); `charge` (charge_layout). With twin read noise also `variance`
    (variance_layout, beside `charge`) and `landing_step` (the sweep step whose sums, if any, are written at
    this cycle's edge); with "parallel_adc" also `landed_variance` (per ADC, from the cycle after that edge:
    the V at position `landing_step` as it stands after the edge, written or not, so its gain logic reads it
    from a register of its own instead of through a select across the ADC's V's). `init_weights` (rows x
    cols fine weights) are the weights at configuration.
    """

    def __init__(self, spec: DesignSpec, init_weights: np.ndarray, row_bits: int, col_bits: int):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        if spec.twin.integrate not in ("parallel", "parallel_adc"):
            raise ValueError(f"twin.integrate = {spec.twin.integrate!r}: this component builds 'parallel' and "
                             f"'parallel_adc'")
        self.spec = spec
        self.init_weights = np.asarray(init_weights, dtype=np.int64)
        rows = spec.tile.rows
        self.weight_shape = signed(datapath_formats(spec).fine_weight.bits)
        super().__init__({
            "begin": In(1), "start": In(1), "row_en": In(rows), "row_sign": In(rows),
            "write": In(1), "write_row": In(row_bits), "write_col": In(col_bits),
            "write_data": In(self.weight_shape),
            "charge": Out(charge_layout(spec)),
        } | ({"variance": Out(variance_layout(spec)),
              "landing_step": Out(range(max(2, spec.columns_per_adc)))} if read_noise_on(spec) else {})
          | ({"landed_variance": Out(data.ArrayLayout(unsigned(variance_bits(spec)), spec.adc.count))}
             if read_noise_on(spec) and sweep_steps(spec) > 1 else {}))

    def status_copy(self) -> SweepStatus:
        """A copy of this integrator's sweep for the tile's `ready` (rtl/sweep_pipeline.py), with its steps and
        pipeline depth; strobe its `begin` with this one's."""
        return SweepStatus(self.spec, steps=sweep_steps(self.spec), depth=latency(self.spec) - 1)

    def elaborate(self, platform):
        spec = self.spec
        rows, cols = spec.tile.rows, spec.tile.cols
        sweep = sweep_steps(spec)
        m = Module()

        # The accept edge registers the pins and `begin` unconditionally (no enable hangs off the acceptance,
        # which comes from the periphery: the trees are far from it); a sweep walks q = 0..sweep-1 from the
        # next cycle on, the pins held for its later steps. With "parallel_adc" and read noise each lane's two
        # trees read rows of their own instead (_lane_rows); these feed the popcount and the sweep.
        begun, begun_start = Signal(name="begun", attrs={"keep": 1}), Signal()   # keep: rtl/sweep_pipeline.py
        pins_en, pins_sign = Signal(rows), Signal(rows)
        m.d.sync += [begun.eq(self.begin), begun_start.eq(self.start), pins_en.eq(self.row_en),
                     pins_sign.eq(self.row_sign)]
        if sweep > 1:
            held_en, held_sign, held_start = Signal(rows), Signal(rows), Signal()
            en, sign, start = Signal(rows), Signal(rows), Signal()
            m.d.comb += [en.eq(Mux(begun, pins_en, held_en)), sign.eq(Mux(begun, pins_sign, held_sign)),
                         start.eq(Mux(begun, begun_start, held_start))]
            m.d.sync += [held_en.eq(en), held_sign.eq(sign), held_start.eq(start)]
        else:
            en, sign, start = pins_en, pins_sign, begun_start
        # The sweep and the tags that ride the pipeline beside the sums (rtl/sweep_pipeline.py; the tile keeps
        # a copy of them for its ready).
        tracker = sweep_tags(m, sweep, latency(spec) - 1, begun, start, name="sweep")
        sweeping_next, step_next = tracker.sweeping_next, tracker.step_next
        out_valid, out_start, out_step = tracker.tags[-1]
        if read_noise_on(spec):
            m.d.comb += self.landing_step.eq(out_step)

        # Which lane (tree) and sweep position each column is: one tree per column, or per ADC.
        lanes = cols if sweep == 1 else spec.adc.count
        wr_lane, wr_pos = Signal(range(max(2, lanes))), Signal(range(max(2, sweep)))
        lane_of = [j if sweep == 1 else column_adc(spec, j)[0] for j in range(cols)]
        pos_of = [0 if sweep == 1 else column_adc(spec, j)[1] for j in range(cols)]
        in_tile = Signal()
        m.d.comb += [wr_lane.eq(Array(lane_of)[self.write_col]), wr_pos.eq(Array(pos_of)[self.write_col]),
                     in_tile.eq((self.write_col < cols) & (self.write_row < rows) & self.write)]

        negatives = _pipelined_sum(m, [en[i] & sign[i] for i in range(rows)], "negatives")
        # With twin read noise each enabled device also adds its (2c + 1) VT entry to its column's variance
        # (rtl/read_noise_variance.py), through a tree of the same depth: V is whole with the charge. The
        # entries are those of the command whose rows enter the trees (updated at each acceptance, seen
        # from the next cycle, when that command's first step enters; a sweep's later steps end before the
        # next acceptance takes effect).
        # Each device's table index is a function of its weight alone, so it is stored beside the weight when
        # the weight is written (computed once, from the write's data): no magnitude, rounding or cap lies
        # between a weight's read and the variance tree.
        noisy = read_noise_on(spec)
        scaled = scaled_entries(m, spec, self.begin, self.start) if noisy else None
        write_entry = table_index(m, spec, self.write_data, "write") if noisy else None
        for lane in range(lanes):
            weights, indices = self._lane_weights(m, lane, sweep, sweeping_next, step_next,
                                                  in_tile & (wr_lane == lane), wr_pos, write_entry)
            lane_en, lane_sign = self._lane_rows(m, lane) if noisy and sweep > 1 else (en, sign)
            terms = [Mux(lane_en[i], Mux(lane_sign[i], ~weights[i], weights[i]), 0) for i in range(rows)]
            total = _pipelined_sum(m, terms, f"lane_{lane}")
            if noisy:
                entries = [Mux(lane_en[i], scaled[indices[i]], 0) for i in range(rows)]
                variance_total = _pipelined_sum(m, entries, f"variance_lane_{lane}")
            targets = [lane] if sweep == 1 else [adc_column(spec, lane, q) for q in range(sweep)]
            for q, j in enumerate(targets):
                a, p = column_adc(spec, j)
                charge = self.charge[a][p]
                with m.If(out_valid & (out_step == q)):
                    m.d.sync += charge.eq(Mux(out_start, 0, charge) + total + negatives)
                    if noisy:
                        variance = self.variance[a][p]
                        m.d.sync += variance.eq(Mux(out_start, 0, variance) + variance_total)
            if noisy and sweep > 1:
                # The same V again, of whichever position lands (the ADC's lane is its tree, `lane`).
                old = Array(self.variance[lane][q] for q in range(sweep))[out_step]
                m.d.sync += self.landed_variance[lane].eq(Mux(out_valid, Mux(out_start, 0, old) + variance_total,
                                                              old))
        return m

    def _lane_rows(self, m: Module, lane: int) -> tuple:
        """The row enables and signs of the sweep step entering this cycle, from registers of `lane` alone:
        its own copies of `begun`, of the pins and of the held rows, the same rule as the shared ones
        (`keep`, flows.fpga.KEEP_REGISTERS: synthesis must not merge the equal copies). With read noise one
        shared select, `begun` fanned out to every row and each row to both trees of every lane, had put two
        cross-chip routes on the variance trees' first stage (tile64 on the EVN: 76.1 MHz, 89.0 with the
        copies); without it the copies did not pay (BENCHMARKS.md), so only read noise builds them."""
        rows = self.spec.tile.rows
        keep = {"keep": 1}
        begun = Signal(name=f"begun_{lane}", attrs=keep)
        pins_en = Signal(rows, name=f"pins_en_{lane}", attrs=keep)
        pins_sign = Signal(rows, name=f"pins_sign_{lane}", attrs=keep)
        held_en = Signal(rows, name=f"held_en_{lane}", attrs=keep)
        held_sign = Signal(rows, name=f"held_sign_{lane}", attrs=keep)
        en, sign = Signal(rows, name=f"en_{lane}"), Signal(rows, name=f"sign_{lane}")
        m.d.sync += [begun.eq(self.begin), pins_en.eq(self.row_en), pins_sign.eq(self.row_sign),
                     held_en.eq(en), held_sign.eq(sign)]
        m.d.comb += [en.eq(Mux(begun, pins_en, held_en)), sign.eq(Mux(begun, pins_sign, held_sign))]
        return en, sign

    def _lane_weights(self, m: Module, lane: int, sweep: int, sweeping_next, step_next, write, wr_pos,
                      write_entry) -> tuple:
        """The rows' fine weights of the column that `lane` sums in the sweep step entering this cycle, and
        with read noise (`write_entry` the table index of the write's data) their stored table indices."""
        spec = self.spec
        rows = spec.tile.rows
        noisy = write_entry is not None
        if sweep == 1:                              # registers: one column per lane
            # Reset-less, like the memories of the other layouts: a reset keeps the programmed devices.
            weights = [Signal(self.weight_shape, name=f"w_{i}_{lane}", init=int(self.init_weights[i, lane]),
                              reset_less=True) for i in range(rows)]
            init_indices = table_indices(spec, self.init_weights[:, lane]) if noisy else None
            indices = [Signal(entry_shape(spec), name=f"entry_{i}_{lane}", init=init_indices[i],
                              reset_less=True) for i in range(rows)] if noisy else None
            for i, w in enumerate(weights):
                with m.If(write & (self.write_row == i)):
                    m.d.sync += w.eq(self.write_data)
                    if noisy:
                        m.d.sync += indices[i].eq(write_entry)
            return weights, indices
        # One memory word per sweep position, every row in it, one write enable per row. Each lane reads
        # from its own address register, beside its memory: one shared step fanned out to every lane's
        # memories had put a cross-chip route on the FPGA's worst path. The register holds the step that
        # enters next cycle (0 when no sweep goes on: an INTEGRATE is accepted only then or in a sweep's
        # last step), XORed with a lane constant (position q sits at word q ^ flip) so that synthesis
        # keeps the copies apart instead of merging equal registers (rtl/lane_copies.py).
        depth, flip = lane_flip(sweep, lane)
        columns = [adc_column(spec, lane, q) for q in range(sweep)]
        init = [[int(self.init_weights[i, columns[a ^ flip]]) if a ^ flip < sweep else 0 for i in range(rows)]
                for a in range(depth)]
        memory = Memory(shape=data.ArrayLayout(self.weight_shape, rows), depth=depth, init=init,
                        attrs={"no_rw_check": 1})
        m.submodules[f"weights_{lane}"] = memory
        read = memory.read_port(domain="comb")
        port = memory.write_port(granularity=1)
        read_addr = Signal(range(depth), init=flip, name=f"read_addr_{lane}", attrs={"keep": 1})
        m.d.sync += read_addr.eq(Mux(sweeping_next, step_next, 0) ^ flip)
        m.d.comb += read.addr.eq(read_addr)
        # A write reaches the memory through registers of this lane (a cycle later): one shared write
        # address had fanned out to every lane's memory cells across the chip, the EVN's and the ULX3S's
        # worst net (10 to 15 ns). `keep` asks synthesis not to merge the lanes' equal copies
        # (flows.fpga.KEEP_REGISTERS).
        wr_addr = Signal(range(depth), name=f"write_addr_{lane}", attrs={"keep": 1})
        wr_data = Signal(self.weight_shape, name=f"write_data_{lane}", attrs={"keep": 1})
        wr_en = Signal(rows, name=f"write_en_{lane}", attrs={"keep": 1})
        m.d.sync += [wr_addr.eq(wr_pos ^ flip), wr_data.eq(self.write_data),
                     wr_en.eq(Cat(write & (self.write_row == i) for i in range(rows)))]
        m.d.comb += port.addr.eq(wr_addr)
        for i in range(rows):
            m.d.comb += [port.data[i].eq(wr_data), port.en[i].eq(wr_en[i])]
        weights = [read.data[i] for i in range(rows)]
        if not noisy:
            return weights, None
        # The table indices in a memory of their own beside the weights', same addresses and enables.
        index_memory = Memory(shape=data.ArrayLayout(entry_shape(spec), rows), depth=depth,
                              init=[table_indices(spec, word) for word in init], attrs={"no_rw_check": 1})
        m.submodules[f"entries_{lane}"] = index_memory
        index_read = index_memory.read_port(domain="comb")
        index_port = index_memory.write_port(granularity=1)
        wr_index = Signal(entry_shape(spec), name=f"write_entry_{lane}", attrs={"keep": 1})
        m.d.sync += wr_index.eq(write_entry)
        m.d.comb += [index_read.addr.eq(read_addr), index_port.addr.eq(wr_addr)]
        for i in range(rows):
            m.d.comb += [index_port.data[i].eq(wr_index), index_port.en[i].eq(wr_en[i])]
        return weights, [index_read.data[i] for i in range(rows)]
