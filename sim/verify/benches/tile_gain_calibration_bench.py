"""cocotb bench: the per-row-tile gain trims' calibration (contract.tile_gain_calibration) on the generated
periphery with trims (accumulator.tile_gain_bits > 0, two or more row tiles), whose analog macros convert
every row tile's columns with a gain and offset of their own (sim.verify.calibration_macro.
ColumnErrorMacroModel, one per tile: a column that spans the row tiles sees a different gain in each).

Both tests run the same sequence on a fresh chip (fresh macro models: the same read-noise draws in the same
order) and differ only in who runs the calibration:
  `test_c_tiles`: the C driver's aimc_calibrate_tile_gains (firmware/aimc_calibrate.c through its HAL on the
  Wishbone bus);
  `test_host_tiles`: the host driver's calibrate_tile_gains (sim.host.calibration) over the same bus, through
  `TrimBusHost` (centred_calibration_bench.DriverBusHost plus the C driver's aimc_load_tile_gains).
Sequence: aimc_init, program-and-verify of the weights, the target coefficients, unity trims (the TILE_GAIN
memory keeps its words across a reset, so the earlier test's trims would still be there); the held-out
vectors (before);
the calibration; the TILE_GAIN window read back; the held-out vectors (after).

Configuration ($AIMCGEN_BENCH_CONFIG): library, weights, gain and offset_lsb (row_tiles x logical columns:
row tile r's ADC gain and offset in column j), cal_vectors, tile_vectors (row_tiles sets, or null: the
calibration vectors masked), test_vectors, target_scale, target_offset, rounds. Report ($AIMCGEN_BENCH_REPORT)
under the test's name: before, after, gains, gain_status, scale, offset, status, trim, read_back (TILE_GAIN
words), cal_status (the C routine's return), errors (ERRORS at the end).
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge

from aimcgen.contract.calibration import measurement_window
from aimcgen.contract.tile_gain import unity_gains
from aimcgen.firmware.c_driver import Driver
from aimcgen.firmware.c_tile_gain import TileGainDriver
from aimcgen.sim.host.calibration import calibrate_tile_gains
from aimcgen.sim.verify.benches.centred_calibration_bench import DriverBusHost
from aimcgen.sim.verify.benches.firmware_bench import start_c_driver
from aimcgen.sim.verify.calibration_macro import ColumnErrorMacroModel
from aimcgen.sim.verify.cocotb_macro import CocotbAnalogMacro
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneMaster

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 100_000


class TrimBusHost(DriverBusHost):
    """DriverBusHost with the TILE_GAIN window, loaded by the C driver's aimc_load_tile_gains."""

    def load_tile_gains(self, gains) -> None:
        TileGainDriver(self.drv).load_tile_gains(gains)


def serve_row_tile_errors(dut, spec, gain, offset_lsb) -> list[ColumnErrorMacroModel]:
    """One ColumnErrorMacroModel per tile: tile (r, c) converts its columns with gain[r] and offset_lsb[r]
    of its logical columns (devices start erased, code 0)."""
    gain, offset_lsb = np.asarray(gain, dtype=np.float64), np.asarray(offset_lsb, dtype=np.float64)
    models = []
    for i in range(spec.tiles):
        r, c = divmod(i, spec.array.col_tiles)
        cols = slice(c * spec.tile.cols, (c + 1) * spec.tile.cols)
        models.append(ColumnErrorMacroModel(spec, gain[r, cols], offset_lsb[r, cols], tile_index=i))
        CocotbAnalogMacro(dut, f"analog_{i}", models[-1]).start()
    return models


async def _run(dut, name: str, calibrate) -> None:
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    serve_row_tile_errors(dut, spec, cfg["gain"], cfg["offset_lsb"])
    cycles, drv = await start_c_driver(dut, master, spec, cfg["library"])
    w = np.array(cfg["weights"])
    tests = np.array(cfg["test_vectors"])
    tile_xs = None if cfg.get("tile_vectors") is None else [np.array(t) for t in cfg["tile_vectors"]]
    scale_t, offset_t = np.array(cfg["target_scale"]), np.array(cfg["target_offset"])
    result = {}

    def firmware():
        drv.init(100_000)
        drv.program_weights(w, tolerance=0, max_retries=3)
        drv.load_coefficients(0, scale_t, offset_t)
        # the trims live in a memory that reset does not clear: the earlier test's trims are still there
        TileGainDriver(drv).load_tile_gains(unity_gains(spec))
        result["before"] = drv.run_batch(tests)
        result.update(calibrate(drv, spec, w, np.array(cfg["cal_vectors"]), tile_xs, scale_t, offset_t,
                                int(cfg["rounds"])))
        trims = DriverBusHost(drv).regmap.window("TILE_GAIN")
        result["read_back"] = [drv.read_cb(trims.address + 4 * i) for i in range(trims.depth)]   # the HAL's read
        result["after"] = drv.run_batch(tests)
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    record_bench_report(name, {**result, "cycles": cycles["n"], "bus_accesses": master.accesses})


def _c_routine(drv: Driver, spec, w, xs, tile_xs, scale_t, offset_t, rounds: int) -> dict:
    return TileGainDriver(drv).calibrate_tile_gains(w, xs, measurement_window(spec), rounds, scale_t, offset_t,
                                                    tile_xs, check=False)


def _host_routine(drv: Driver, spec, w, xs, tile_xs, scale_t, offset_t, rounds: int) -> dict:
    done = calibrate_tile_gains(TrimBusHost(drv), spec, w, xs, scale_t, offset_t, tile_xs, rounds=rounds)
    c = done.columns
    return {"gains": done.gains, "gain_status": done.status, "scale": c.scale, "offset": c.offset,
            "status": c.status, "trim": c.trim}


@cocotb.test()
async def test_c_tiles(dut):
    await _run(dut, "test_c_tiles", _c_routine)


@cocotb.test()
async def test_host_tiles(dut):
    await _run(dut, "test_host_tiles", _host_routine)
