"""cocotb bench of the Verilog of `TileController(spec)` with [sparsity] options: the tile's activity events,
counted every cycle, equal sim.models.activity's prediction, and the accumulators equal the golden model's
(noise included) on random sparse inputs and random layer column ranges.

Run it like tile_controller_bench (same top module `tile_controller`, configuration in
$AIMCGEN_BENCH_CONFIG; fields: seed (default 1), mvms (default 16), stall_probability (default 0.2)).

Test test_activity_counts: vectors with 0..100 % zeros and random bit planes cleared (vector 1 all zero),
each with a random local column range (set on col_lo / col_hi when sparsity.layer_columns is on), run
back to back behind a randomly stalling MacroModel; reports the counted and predicted activity.
"""

from __future__ import annotations

import cocotb
import numpy as np
from aimcgen.rtl.tile_controller import activity_layout
from aimcgen.sim.models.activity import Activity, tile_activity
from aimcgen.sim.models.golden import GoldenTile
from aimcgen.sim.verify.benches.tile_controller_bench import (
    TileBench,
    check_equal,
    random_weights,
)
from aimcgen.sim.verify.cocotb_macro import pack, read_unsigned, unpack
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.macro_model import MacroModel
from cocotb.triggers import ReadOnly, RisingEdge

from aimcgen.spec import DesignSpec


def sparse_stimulus(spec: DesignSpec, rng: np.random.Generator, count: int):
    """(vectors, local column ranges): 0..100 % zeros, random planes cleared, vector 1 all zero."""
    m, rows, cols = spec.input.max_magnitude, spec.tile.rows, spec.tile.cols
    xs = rng.integers(-m, m + 1, (count, rows))
    xs[rng.random((count, rows)) < rng.choice([0.0, 0.5, 0.8, 1.0], count)[:, None]] = 0
    xs = np.sign(xs) * (np.abs(xs) & rng.integers(0, m + 1, count)[:, None])
    if count > 1:
        xs[1] = 0
    lo = rng.integers(0, cols + 1, count)
    hi = np.minimum(cols, lo + rng.integers(0, cols + 1, count))
    return xs, list(zip(lo.tolist(), hi.tolist()))


class SparseTileBench(TileBench):
    """TileBench that also presents each MVM's column range and counts the activity events."""

    def __init__(self, dut, spec: DesignSpec, model, **kw):
        super().__init__(dut, spec, model, **kw)
        self.columns: list[tuple[int, int]] = []
        self.events = Activity()
        self._layout = activity_layout(spec)

    async def count_activity(self):
        while True:
            await ReadOnly()
            e = unpack(self._layout, read_unsigned(self.dut.activity))
            self.events = self.events + Activity.of_cycle(e["mvm"], e["drive"], e["row_en"], e["conversion"],
                                                          self.spec.adc.count)
            await RisingEdge(self.dut.clk)

    async def feed(self, xs) -> None:
        dut = self.dut
        for x, (lo, hi) in zip(xs, self.columns or [(0, self.spec.tile.cols)] * len(xs)):
            dut.x.value = pack(self.x_layout, [int(v) for v in x])
            if self.spec.sparsity.layer_columns == "on":
                dut.col_lo.value, dut.col_hi.value = lo, hi
            dut.start__valid.value = 1
            while True:                                  # an idle MVM may release x on its start cycle
                await ReadOnly()
                started, released = read_unsigned(dut.start__ready), read_unsigned(dut.x_done)
                await RisingEdge(dut.clk)
                if started:
                    break
            self.starts.append(self.cycle)
            dut.start__valid.value = 0
            if not released:
                await self._until(dut.x_done)


@cocotb.test()
async def test_activity_counts(dut):
    spec, cfg = load_bench_config()
    seed = cfg.get("seed", 1)
    rng = np.random.default_rng(seed)
    w = random_weights(spec, rng)
    xs, columns = sparse_stimulus(spec, rng, cfg.get("mvms", 16))
    if spec.sparsity.layer_columns != "on":
        columns = [(0, spec.tile.cols)] * len(xs)
    tb = SparseTileBench(dut, spec, MacroModel(spec, w), stall_probability=cfg.get("stall_probability", 0.2),
                         stall_seed=seed + 1)
    tb.columns = columns
    await tb.reset()
    cocotb.start_soon(tb.count_activity())
    acc, ovf = await tb.run_mvms(xs)
    golden, predicted = GoldenTile(spec, w), Activity()
    expected_acc, expected_ovf = [], []
    for x, cols in zip(xs, columns):
        r = golden.run(x[None], cols if spec.sparsity.layer_columns == "on" else None)
        expected_acc.append(r.accumulator[0])
        expected_ovf.append(r.overflow[0])
        predicted = predicted + tile_activity(x[None], r.plan, spec)
    check_equal(acc, ovf, np.array(expected_acc), np.array(expected_ovf), xs, f"{spec.name} sparse")
    counted = {k: getattr(tb.events, k) for k in ("mvms", "drive_cycles", "row_activations", "conversions")}
    expected = {k: getattr(predicted, k) for k in counted}
    assert counted == expected, f"activity counted {counted}, predicted {expected}"
    assert tb.macro.commands == predicted.analog_commands, (
        f"macro executed {tb.macro.commands} commands, predicted {predicted.analog_commands}")
    record_bench_report("test_activity_counts", {"counted": counted, "predicted": expected,
                                                 "skipped": predicted.skipped, "commands": tb.macro.commands})
