"""The emulated tile's column integrators with every row summed at once: INTEGRATE at the analog bound.

Why: an analog crossbar sums all rows of a drive cycle in that cycle (Kirchhoff's current law); the serial
emulated tile reads one weight row per cycle from block RAM, so on tile64 an INTEGRATE takes up to 65
cycles. With twin.integrate = "parallel" the tile holds its weights in registers and sums each column's
enabled rows in a pipelined adder tree, so it accepts one INTEGRATE every cycle.

The sums are exactly the serial tile's (the golden model's): row i adds w_ij to column j while enabled, and
-w_ij when its sign is set. The negation is two's complement split in two: each device feeds the tree
en_i ? (s_i ? ~w_ij : w_ij) : 0 (~w = -w - 1, exact in w's width), and the column adds once the number of
enabled negative rows, one popcount shared by every column.

Pipeline (cycles counted from the one that accepts the INTEGRATE):
- the accept edge latches row_en, row_sign and start;
- ceil(log2(rows) / ADDER_LEVELS_PER_STAGE) register stages follow, each `ADDER_LEVELS_PER_STAGE` (2)
  levels of pairwise adds (the first also forms the device terms above);
- then the charge register: charge <= (start ? 0 : charge) + column sum + negatives.
`busy` is high while an accepted INTEGRATE has not yet reached the charge: `latency(spec)` cycles after
the accepting one (1 + the stages). The tile delays every other command meanwhile, so a sample reads the
whole charge; further INTEGRATEs enter the pipeline one per cycle.
"""

from __future__ import annotations

import numpy as np
from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.adc_columns import column_adc
from aimcgen.contract.formats import datapath_formats
from aimcgen.contract.device_twin_drift import fraction_bits
from aimcgen.spec import DesignSpec

ADDER_LEVELS_PER_STAGE = 2      # pairwise adds between two pipeline registers


def _stages(rows: int) -> int:
    levels = (rows - 1).bit_length()            # ceil(log2(rows)) levels of pairwise adds
    return -(-levels // ADDER_LEVELS_PER_STAGE)


def latency(spec: DesignSpec) -> int:
    """Cycles after an INTEGRATE's acceptance until its charge is complete (`busy` high): latch + stages."""
    return 1 + _stages(spec.tile.rows)


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
    """The registered sum of `leaves` after _stages(len(leaves)) stages (the leaves themselves if one)."""
    values, stage = leaves, 0
    while len(values) > 1:
        stage += 1
        summed = _add_levels(values, ADDER_LEVELS_PER_STAGE)
        registered = []
        for k, v in enumerate(summed):
            r = Signal(v.shape(), name=f"{name}_s{stage}_{k}")
            m.d.sync += r.eq(v)
            registered.append(r)
        values = registered
    return values[0]


class ParallelIntegrator(wiring.Component):
    """Weights in registers and all-row column sums of one emulated tile.

    Ports: `begin` (an INTEGRATE is accepted this cycle) with `start`, `row_en`, `row_sign` (the command's
    pins); `write` (store `write_data`, a fine weight, at cell `write_row`, `write_col`; cells beyond the
    tile are ignored); `charge` (charge_layout); `busy` (module docstring). `init_weights` (rows x cols fine
    weights) are the registers' reset values.
    """

    def __init__(self, spec: DesignSpec, init_weights: np.ndarray, row_bits: int, col_bits: int):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        self.init_weights = np.asarray(init_weights, dtype=np.int64)
        rows = spec.tile.rows
        self.weight_shape = signed(datapath_formats(spec).fine_weight.bits)
        super().__init__({
            "begin": In(1), "start": In(1), "row_en": In(rows), "row_sign": In(rows),
            "write": In(1), "write_row": In(row_bits), "write_col": In(col_bits),
            "write_data": In(self.weight_shape),
            "charge": Out(charge_layout(spec)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        spec = self.spec
        rows, cols = spec.tile.rows, spec.tile.cols
        m = Module()

        weights = [[Signal(self.weight_shape, name=f"w_{i}_{j}", init=int(self.init_weights[i, j]))
                    for j in range(cols)] for i in range(rows)]
        row_hit = [Signal(name=f"write_row_{i}") for i in range(rows)]
        col_hit = [Signal(name=f"write_col_{j}") for j in range(cols)]
        m.d.comb += [hit.eq(self.write & (self.write_row == i)) for i, hit in enumerate(row_hit)]
        m.d.comb += [hit.eq(self.write_col == j) for j, hit in enumerate(col_hit)]
        for i in range(rows):
            for j in range(cols):
                with m.If(row_hit[i] & col_hit[j]):
                    m.d.sync += weights[i][j].eq(self.write_data)

        # The accept edge latches the pins; `pending` and `starts` tag the INTEGRATEs in flight, a bit per cycle.
        en, sign = Signal(rows), Signal(rows)
        with m.If(self.begin):
            m.d.sync += [en.eq(self.row_en), sign.eq(self.row_sign)]
        depth = latency(spec)
        pending, starts = Signal(depth), Signal(depth)
        m.d.sync += [pending.eq((pending << 1) | self.begin),
                     starts.eq((starts << 1) | (self.begin & self.start))]
        m.d.comb += self.busy.eq(pending.any())

        negative = [en[i] & sign[i] for i in range(rows)]
        negatives = _pipelined_sum(m, negative, "negatives")
        for j in range(cols):
            terms = [Mux(en[i], Mux(sign[i], ~weights[i][j], weights[i][j]), 0) for i in range(rows)]
            column_sum = _pipelined_sum(m, terms, f"column_{j}")
            a, p = column_adc(spec, j)
            charge = self.charge[a][p]
            with m.If(pending[depth - 1]):
                m.d.sync += charge.eq(Mux(starts[depth - 1], 0, charge) + column_sum + negatives)
        return m
