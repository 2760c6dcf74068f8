"""The activity counters: what the tiles did, counted in hardware and read over the bus.

Every cycle each tile reports its events (rtl.tile_controller.activity_layout); the counters add them over
the tiles: MVMs of the grid (tile 0's MVM starts: every tile starts every grid MVM), INTEGRATE commands,
enabled rows in them, and ADC samples (adc.count per conversion request). The skipped samples are
tile MVMs x steps x tile.cols - samples, from a counter of the planned samples. All counts are 32 bits
and wrap (modulo 2^32), as sim.models.activity.Activity.registers() predicts them.
"""

from __future__ import annotations

from aimcgen.rtl.tile_controller import activity_layout
from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from aimcgen.contract.aimc_registers import ACTIVITY_COUNTERS
from aimcgen.spec import DesignSpec

COUNTER_BITS = 32
#: Fan-in of one stage of the registered adder tree that counts enabled rows.
GROUP = 8


def counters_layout() -> data.StructLayout:
    """One 32-bit count per counter of contract.aimc_registers.ACTIVITY_COUNTERS."""
    return data.StructLayout({counter: COUNTER_BITS for _, _, counter, _ in ACTIVITY_COUNTERS})


class ActivityCounters(wiring.Component):
    """Adds the tiles' activity events into the five bus-readable counts."""

    def __init__(self, spec: DesignSpec):
        if not isinstance(spec, DesignSpec):
            raise TypeError(f"spec must be a DesignSpec, not {type(spec).__name__}")
        self.spec = spec
        super().__init__({
            "events": In(data.ArrayLayout(activity_layout(spec), spec.tiles)),
            "counts": Out(counters_layout()),
        })

    def elaborate(self, platform):
        m = Module()
        spec = self.spec
        # The events are registered first: they come off the tiles' handshakes (a conversion request is
        # accepted late in the cycle), which should not also drive 32-bit carry chains. The enabled rows are
        # then counted by a tree of registered adders, GROUP bits or sums a stage, so no stage adds more than
        # GROUP small numbers. The counts lag the events by 2 cycles (rows: 2 + the tree's stages, 3 for up to
        # 512 rows per grid), long before an MVM's outputs (and STATUS.busy = 0) can be seen.
        held = Signal.like(self.events)
        m.d.sync += held.eq(self.events)
        events = [held[i] for i in range(spec.tiles)]
        # A tile's row_en is its driver's, whatever is accepted: it counts only with that tile's drive.
        row_bits = [events[i].row_en[r] & events[i].drive
                    for i in range(spec.tiles) for r in range(spec.tile.rows)]
        enabled_rows = _registered_sum(m, row_bits)
        counts = self.counts
        # Constant weights through muxes and adders only: a multiplier here would take an FPGA DSP block.
        dense = spec.input.steps * spec.tile.cols
        samples = Signal(COUNTER_BITS)
        planned = Signal(COUNTER_BITS)              # samples every tile MVM would take without skipping
        m.d.sync += [
            counts.mvms.eq(counts.mvms + events[0].mvm),
            planned.eq(planned + sum(Mux(e.mvm, dense, 0) for e in events)),
            counts.drive_cycles.eq(counts.drive_cycles + sum(e.drive for e in events)),
            counts.row_activations.eq(counts.row_activations + enabled_rows),
            samples.eq(samples + sum(Mux(e.conversion, spec.adc.count, 0) for e in events)),
        ]
        m.d.comb += [
            counts.conversions.eq(samples),
            counts.skipped.eq(planned - samples),
        ]
        return m


def _registered_sum(m: Module, values: list):
    """The sum of `values`, through registered stages of at most GROUP operands each (one cycle a stage)."""
    while len(values) > 1:
        sums = []
        for k in range(0, len(values), GROUP):
            part = values[k:k + GROUP]
            total = Signal(range(sum(1 << len(v) for v in part) + 1))
            m.d.sync += total.eq(sum(part))
            sums.append(total)
        values = sums
    return values[0]
