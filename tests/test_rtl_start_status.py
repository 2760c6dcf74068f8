"""CTRL.start, STATUS.busy, ERRORS.start_dropped and PROG_CTRL.tolerance: the rules of the register map
(aimcgen/contract/aimc_registers.py) on the RTL.

- STATUS.busy is 1 from the cycle the CTRL.start write is acknowledged until the MVM's (or the chain's)
  outputs are in OUTPUT and OUT_COUNT, so "write CTRL.start; poll until busy == 0; read OUTPUT" is correct;
  at the core, busy has no gap from the start pulse to the OUT_COUNT increment.
- A start that cannot be queued (the load buffer still holds a queued vector, or a layer chain runs) sets
  the sticky ERRORS.start_dropped and is otherwise ignored: it runs nothing.
- PROG_CTRL.tolerance saturates at 2^weight_bits - 1 (every read back accepted); it is not cut to its low
  weight_bits bits.
"""

import numpy as np
import pytest

from aimcgen.contract.aimc_registers import col_stride
from aimcgen.rtl.accelerator import Accelerator
from aimcgen.rtl.accelerator_core import AcceleratorCore
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.macro_model import MacroModel, stuck_devices
from aimcgen.spec import from_dict
from amaranth_registers import Host as RegisterHost, signed32, simulate

SPEC = {"tile": {"rows": 6, "cols": 4}, "array": {"row_tiles": 2, "col_tiles": 1},
        "input": {"bits": 4}, "adc": {"count": 2, "bits": 6, "full_scale": 32},
        "postproc": {"activation": "none", "scale_bits": 8, "scale_frac_bits": 2}, "noise": {"sigma_lsb": 1.0}}
BUSY, IN_FREE = 0b001, 0b010
LAYERS = [(0, 3), (3, 1)]


class Host(RegisterHost):
    """Register access by name; windows read back as signed 32-bit values."""

    async def read_window(self, window, index):
        return signed32(await super().read_window(window, index))

    async def write_input(self, x):
        for i, value in enumerate(x):
            await self.write_window("INPUT", i, value)

    async def wait_idle(self, limit=10_000):
        """Poll STATUS until busy = 0; returns the number of reads."""
        for n in range(1, limit):
            if not (await self.read("STATUS")) & BUSY:
                return n
        raise AssertionError("STATUS.busy never fell")

    async def read_output(self, n):
        return [await self.read_window("OUTPUT", c) for c in range(n)]


def weights(spec, seed):
    return np.random.default_rng(seed).integers(-7, 8, (spec.logical_rows, spec.logical_cols))


# ----------------------------------------------------------------------------- STATUS.busy

@pytest.mark.parametrize("layers", [None, LAYERS], ids=["single", "chain"])
def test_busy_reads_1_after_the_start_ack_and_0_once_output_is_valid(layers):
    spec = from_dict(SPEC)
    w = weights(spec, 3)
    xs = np.random.default_rng(4).integers(-7, 8, (3, spec.logical_rows))
    dut = Accelerator(spec, init_weights=w)
    log = []

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        if layers:
            await host.write("LAYER_COUNT", len(layers))
            for i, (start, count) in enumerate(layers):
                await host.write(f"LAYER_{i}", start | count << 16)
        for x in xs:
            before = await host.read("OUT_COUNT")
            await host.write_input(x)
            await host.write("CTRL", 1)
            first = await host.read("STATUS")                # the first read after the ack
            polls = await host.wait_idle()
            after = await host.read("OUT_COUNT")
            n = layers[-1][1] if layers else spec.logical_cols
            log.append((first, polls, after - before, await host.read_output(n)))

    simulate(dut, firmware)
    golden = GoldenAccelerator(spec, w)
    expected = golden.run_layers(xs, layers) if layers else golden.run(xs).outputs
    for k, (first, polls, advanced, got) in enumerate(log):
        assert first & BUSY, f"vector {k}: STATUS = {first:#x} on the first read after the CTRL.start ack"
        assert polls > 1, f"vector {k}: busy fell after {polls} read(s)"
        assert advanced == 1, f"vector {k}: OUT_COUNT advanced by {advanced} when busy fell"
        np.testing.assert_array_equal(got, expected[k], err_msg=f"vector {k}: OUTPUT when busy fell")


@pytest.mark.parametrize("layers", [None, LAYERS], ids=["single", "chain"])
def test_core_busy_has_no_gap_from_start_to_out_count(layers):
    """Cycle by cycle at the core: busy is 1 from the in_commit pulse (two queued starts) until OUT_COUNT
    has advanced by both, and 0 in the cycle OUT_COUNT shows the last increment."""
    spec = from_dict(SPEC)
    w = weights(spec, 5)
    xs = np.random.default_rng(6).integers(-7, 8, (2, spec.logical_rows))
    dut = AcceleratorCore(spec, init_weights=w)
    trace = []

    async def commit(ctx, x):
        for i, value in enumerate(x):
            ctx.set(dut.in_wr_addr, i)
            ctx.set(dut.in_wr_data, int(value))
            ctx.set(dut.in_wr_en, 1)
            await ctx.tick()
        ctx.set(dut.in_wr_en, 0)
        ctx.set(dut.in_commit, 1)
        trace.append((ctx.get(dut.busy), ctx.get(dut.out_count)))
        await ctx.tick()
        ctx.set(dut.in_commit, 0)

    async def host(ctx):
        ctx.set(dut.out_stream_enable, 0)
        if layers:
            ctx.set(dut.layer_count, len(layers))
            for i, (start, count) in enumerate(layers):
                ctx.set(dut.layers[i], {"start": start, "count": count})
        await commit(ctx, xs[0])
        while not ctx.get(dut.in_free):                        # as INPUT writes wait for it
            trace.append((ctx.get(dut.busy), ctx.get(dut.out_count)))
            await ctx.tick()
        await commit(ctx, xs[1])
        for _ in range(20_000):
            busy, count = ctx.get(dut.busy), ctx.get(dut.out_count)
            trace.append((busy, count))
            if count == 2:
                break
            await ctx.tick()

    simulate(dut, host)
    busy = [b for b, _ in trace]
    assert trace[-1][1] == 2, "the two MVMs did not complete"
    assert all(busy[:-1]), f"busy fell at cycle {busy.index(0)} with OUT_COUNT = {trace[busy.index(0)][1]}"
    assert busy[-1] == 0, "busy still 1 in the cycle OUT_COUNT shows the last MVM"


# ----------------------------------------------------------------------------- ERRORS.start_dropped

def test_a_start_that_cannot_be_queued_sets_start_dropped_and_runs_nothing():
    spec = from_dict(SPEC)
    w = weights(spec, 7)
    xs = np.random.default_rng(8).integers(-7, 8, (3, spec.logical_rows))
    dut = Accelerator(spec, init_weights=w)
    dropped = dut.regmap.register("ERRORS").field("start_dropped").mask
    info = {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        await host.write_input(xs[0])
        await host.write("CTRL", 1)                        # runs at once
        await host.write_input(xs[1])                      # the load buffer is free again
        await host.write("CTRL", 1)                        # queued behind xs[0]: the double buffer is full
        info["status_full"] = await host.read("STATUS")
        info["errors_before"] = await host.read("ERRORS")
        await host.write("CTRL", 1)                        # the third start: cannot be queued
        info["errors_third"] = await host.read("ERRORS")
        await host.wait_idle()
        info["count"] = await host.read("OUT_COUNT")
        info["out"] = await host.read_output(spec.logical_cols)
        for _ in range(200):                                # nothing else runs later
            await ctx.tick()
        info["count_later"] = await host.read("OUT_COUNT")
        info["status_idle"] = await host.read("STATUS")
        await host.write("ERRORS", dropped)                # write 1 to clear
        info["errors_cleared"] = await host.read("ERRORS")
        await host.write_input(xs[2])                      # the accelerator goes on normally
        await host.write("CTRL", 1)
        await host.wait_idle()
        info["count_next"] = await host.read("OUT_COUNT")
        info["out_next"] = await host.read_output(spec.logical_cols)
        info["errors_next"] = await host.read("ERRORS")

    simulate(dut, firmware)
    expected = GoldenAccelerator(spec, w).run(xs).outputs
    assert info["status_full"] & BUSY and not info["status_full"] & IN_FREE
    assert not info["errors_before"] & dropped, "two starts fit the double buffer"
    assert info["errors_third"] & dropped, f"ERRORS = {info['errors_third']:#x} after the third start"
    assert info["count"] == info["count_later"] == 2, "the dropped start ran"
    np.testing.assert_array_equal(info["out"], expected[1])
    assert info["status_idle"] & BUSY == 0
    assert info["errors_cleared"] & dropped == 0
    assert info["count_next"] == 3
    np.testing.assert_array_equal(info["out_next"], expected[2])
    assert not info["errors_next"] & dropped


def test_a_start_during_a_layer_chain_sets_start_dropped():
    spec = from_dict(SPEC)
    w = weights(spec, 9)
    xs = np.random.default_rng(10).integers(-7, 8, (2, spec.logical_rows))
    dut = Accelerator(spec, init_weights=w)
    dropped = dut.regmap.register("ERRORS").field("start_dropped").mask
    info = {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("CONFIG", 0)
        await host.write("LAYER_COUNT", len(LAYERS))
        for i, (start, count) in enumerate(LAYERS):
            await host.write(f"LAYER_{i}", start | count << 16)
        await host.write_input(xs[0])
        await host.write("CTRL", 1)
        await host.write("CTRL", 1)                        # the chain owns the load buffer
        info["errors"] = await host.read("ERRORS")
        await host.wait_idle()
        info["count"] = await host.read("OUT_COUNT")
        info["out"] = await host.read_window("OUTPUT", 0)
        await host.write("ERRORS", dropped)
        await host.write_input(xs[1])
        await host.write("CTRL", 1)
        await host.wait_idle()
        info["count_next"] = await host.read("OUT_COUNT")
        info["out_next"] = await host.read_window("OUTPUT", 0)
        info["errors_next"] = await host.read("ERRORS")

    simulate(dut, firmware)
    expected = GoldenAccelerator(spec, w).run_layers(xs, LAYERS)
    assert info["errors"] & dropped
    assert info["count"] == 1 and info["out"] == expected[0][0]
    assert info["count_next"] == 2 and info["out_next"] == expected[1][0]
    assert not info["errors_next"] & dropped


# ----------------------------------------------------------------------------- PROG_CTRL.tolerance

@pytest.mark.parametrize("tolerance, lands, target, ok", [
    (16, None, 2, True),        # 3 codes off: 16 saturates to 15 (cut to 4 bits it would be 0)
    (18, None, 2, True),        # ... (cut to 4 bits: 2 < 3)
    (16, 7, -8, True),          # the largest possible difference, |7 - -8| = 15 = 2^4 - 1
    (255, 7, -8, True),
    (15, 7, -8, True),
    (14, 7, -8, False),         # below the saturation the tolerance counts as written
    (2, None, 2, False),
])
def test_tolerance_above_the_weight_range_saturates(tolerance, lands, target, ok):
    spec = from_dict(SPEC)
    assert spec.tile.weight_bits == 4
    dut = Accelerator(spec, emulated=False)
    write_error = (lambda r, c, t: 3 if (r, c) == (0, 2) else 0) if lands is None else stuck_devices({(0, 2): lands})
    macros = [MacroModel(spec, tile_index=i, write_error=write_error if i == 0 else None)
              for i in range(spec.tiles)]
    info = {}

    async def firmware(ctx):
        host = Host(ctx, dut)
        await host.write("PROG_CTRL", tolerance | 2 << 8)  # 2 retries
        info["prog_ctrl"] = await host.read("PROG_CTRL")
        await host.write_window("WEIGHTS", 0 * col_stride(spec) + 2, target)
        while (await host.read("STATUS")) & 0b100:
            pass
        info["errors"] = await host.read("ERRORS")
        info["failures"] = await host.read("PROG_STATUS")

    simulate(dut, firmware, macros=macros)
    fail = dut.regmap.register("ERRORS").field("prog_verify_fail").mask
    assert info["prog_ctrl"] & 0xFF == tolerance, "PROG_CTRL.tolerance reads back as written"
    assert bool(info["errors"] & fail) == (not ok)
    assert info["failures"] == (0 if ok else 1)
