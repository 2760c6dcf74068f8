"""cocotb bench: the centred per-column calibration (contract.calibration's centring rule) on the generated
periphery, whose analog macros have per-column gain and offset errors large enough that the plain
routine's read-outs clamp (sim.verify.calibration_macro.ColumnErrorMacroModel).

Both tests run the same sequence on a fresh chip (fresh macro models, so the same read-noise draws in the
same order) and differ only in who runs the calibration routines:
  `test_c_centred`: the C driver's aimc_calibrate_columns and aimc_calibrate_columns_centred
  (firmware/aimc_calibrate.c through its HAL on the Wishbone bus);
  `test_host_routine_centred`: the host driver's calibrate_columns and calibrate_columns_centred
  (sim.host.calibration) over the same bus, through `DriverBusHost` (the host interface on the C driver's
  bus primitives: coefficient loads, layer descriptors and MVM batches).
Sequence: aimc_init, program-and-verify of the weights; the held-out vectors with the target coefficients
(before); the plain routine, held-out vectors (after_plain); the centred routine, held-out vectors (after).

Configuration ($AIMCGEN_BENCH_CONFIG): library, weights, gain, offset_lsb, cal_vectors, test_vectors,
target_scale, target_offset, rounds. Report ($AIMCGEN_BENCH_REPORT) under the test's name: before,
after_plain, after, plain / centred (scale, offset, status, and the centred trim), cal_status (the C
routines' returns).
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge

from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.contract.calibration import measurement_window
from aimcgen.firmware.c_calibration import CalibrationDriver
from aimcgen.firmware.c_driver import Driver
from aimcgen.sim.host.calibration import calibrate_columns, calibrate_columns_centred
from aimcgen.sim.verify.benches.calibration_bench import bench_errors, serve_error_tiles
from aimcgen.sim.verify.benches.firmware_bench import start_c_driver
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneMaster

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 100_000


class DriverBusHost:
    """The host driver's interface (regmap, set_layers, load_coefficients, run) on the C driver's bus
    primitives, so sim.host.calibration's routines drive the chip with the MVMs the C routines would."""

    def __init__(self, drv: Driver):
        self.drv = drv
        self.regmap = aimc_register_map(drv.spec)

    def set_layers(self, descriptors) -> None:
        self.drv.set_layers([tuple(int(v) for v in d) for d in descriptors])

    def load_coefficients(self, scale=None, offset=None) -> None:
        self.drv.load_coefficients(0, scale, offset)

    def run(self, xs) -> np.ndarray:
        return self.drv.run_batch(np.atleast_2d(xs))


async def _run(dut, name: str, calibrate) -> None:
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    serve_error_tiles(dut, spec, bench_errors(cfg))
    cycles, drv = await start_c_driver(dut, master, spec, cfg["library"])
    w = np.array(cfg["weights"])
    tests = np.array(cfg["test_vectors"])
    scale_t, offset_t = np.array(cfg["target_scale"]), np.array(cfg["target_offset"])
    result = {}

    def firmware():
        drv.init(100_000)
        drv.program_weights(w, tolerance=0, max_retries=3)
        drv.load_coefficients(0, scale_t, offset_t)
        result["before"] = drv.run_batch(tests)
        result["plain"] = calibrate(drv, spec, w, np.array(cfg["cal_vectors"]), scale_t, offset_t, 0)
        result["after_plain"] = drv.run_batch(tests)
        result["centred"] = calibrate(drv, spec, w, np.array(cfg["cal_vectors"]), scale_t, offset_t,
                                      int(cfg["rounds"]))
        result["after"] = drv.run_batch(tests)
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    record_bench_report(name, {**result, "cycles": cycles["n"], "bus_accesses": master.accesses})


def _c_routine(drv, spec, w, xs, scale_t, offset_t, rounds: int) -> dict:
    cal, window = CalibrationDriver(drv), measurement_window(spec)
    if rounds == 0:
        rc, scale, offset, status = cal.calibrate_columns(w, xs, window, scale_t, offset_t, check=False)
        trim = np.zeros(len(scale), dtype=np.int64)
    else:
        rc, scale, offset, status, trim = cal.calibrate_columns_centred(w, xs, window, rounds, scale_t, offset_t,
                                                                        check=False)
    return {"cal_status": rc, "scale": scale, "offset": offset, "status": status, "trim": trim}


def _host_routine(drv, spec, w, xs, scale_t, offset_t, rounds: int) -> dict:
    host = DriverBusHost(drv)
    done = (calibrate_columns(host, spec, w, xs, scale_t, offset_t) if rounds == 0 else
            calibrate_columns_centred(host, spec, w, xs, scale_t, offset_t, rounds=rounds))
    return {"scale": done.scale, "offset": done.offset, "status": done.status, "trim": done.trim}


@cocotb.test()
async def test_c_centred(dut):
    await _run(dut, "test_c_centred", _c_routine)


@cocotb.test()
async def test_host_routine_centred(dut):
    await _run(dut, "test_host_routine_centred", _host_routine)
