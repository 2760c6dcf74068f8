"""cocotb bench: per-column calibration on the generated periphery, whose analog macros have per-column
gain and offset errors (sim.verify.calibration_macro.ColumnErrorMacroModel).

`test_c_calibration` runs the real C driver (firmware/aimc_calibrate.c through its HAL, as
benches/firmware_bench.py does) on the periphery top `Accelerator(spec, emulated=False)`:
  1. aimc_init, program-and-verify of the weights;
  2. the held-out vectors with the target coefficients (uncalibrated outputs);
  3. aimc_calibrate_columns with the calibration vectors; the held-out vectors again (calibrated);
  4. drift: aimc_pcdc_measure with the calibrated scales (reference), then every column loses gain by its
     own factor (config `drift`, applied to the macro models as drift would), then aimc_drift_compensate
     global and per column, each followed by the held-out vectors with the compensated scales and the
     calibrated offsets.
`test_host_calibration` runs the host driver (sim.host.driver.AimcHost, sim.host.calibration) over its UART
protocol into the UART-to-Wishbone bridge of sim.verify.calibration_uart_top, steps 2 and 3 only.

Configuration ($AIMCGEN_BENCH_CONFIG): library (C driver library of the spec), weights, gain and
offset_lsb (per logical column), cal_vectors, test_vectors, target_scale, target_offset, drift (per
logical column gain factors), divisor (UART clock cycles per bit, host test).
Report ($AIMCGEN_BENCH_REPORT) under the test's name: before, after (outputs of the held-out vectors),
scale, offset, status (per column), cal_status (the routine's return), and for the C driver reference,
drift_global / drift_per_column (scales, outputs); cycles.
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge
from cocotb.triggers import RisingEdge

from aimcgen.contract.calibration import measurement_window
from aimcgen.firmware.c_calibration import CalibrationDriver
from aimcgen.sim.host.calibration import calibrate_columns
from aimcgen.sim.host.driver import AimcHost
from aimcgen.sim.verify.benches.firmware_bench import start_c_driver
from aimcgen.sim.verify.calibration_macro import ColumnErrorMacroModel, ColumnErrors, tile_errors
from aimcgen.sim.verify.calibration_uart_transport import CocotbUartTransport
from aimcgen.sim.verify.cocotb_macro import CocotbAnalogMacro
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneMaster

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 100_000


def serve_error_tiles(dut, spec, errors: ColumnErrors) -> list[ColumnErrorMacroModel]:
    """One ColumnErrorMacroModel per tile on its analog ports (devices start erased, code 0)."""
    models = []
    for i in range(spec.tiles):
        gain, offset = tile_errors(errors, spec, i)
        models.append(ColumnErrorMacroModel(spec, gain, offset, tile_index=i))
        CocotbAnalogMacro(dut, f"analog_{i}", models[-1]).start()
    return models


def apply_drift(spec, models, factors) -> None:
    """Every column's gain times its drift factor (devices lose conductance, so the column its gain)."""
    for i, model in enumerate(models):
        gain, _ = tile_errors(ColumnErrors(np.asarray(factors, dtype=np.float64), np.zeros(len(factors))), spec, i)
        model.gain = model.gain * gain


def bench_errors(cfg) -> ColumnErrors:
    """The per-column gain and offset errors a calibration bench's config injects."""
    return ColumnErrors(np.array(cfg["gain"], dtype=np.float64), np.array(cfg["offset_lsb"], dtype=np.float64))


@cocotb.test()
async def test_c_calibration(dut):
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    models = serve_error_tiles(dut, spec, bench_errors(cfg))
    cycles, drv = await start_c_driver(dut, master, spec, cfg["library"])
    cal = CalibrationDriver(drv)
    window = measurement_window(spec)
    w = np.array(cfg["weights"])
    tests = np.array(cfg["test_vectors"])
    scale_t, offset_t = np.array(cfg["target_scale"]), np.array(cfg["target_offset"])
    result = {}

    def firmware():
        drv.init(100_000)
        status, result["program"] = drv.program_weights(w, tolerance=0, max_retries=3)
        drv.load_coefficients(0, scale_t, offset_t)
        result["before"] = drv.run_batch(tests)
        result["cal_status"], result["scale"], result["offset"], result["status"] = cal.calibrate_columns(
            w, np.array(cfg["cal_vectors"]), window, scale_t, offset_t, check=False)
        result["after"] = drv.run_batch(tests)
        reference = cal.pcdc_measure(tests, result["scale"])
        result["reference"] = reference
        apply_drift(spec, models, cfg["drift"])
        drv.load_coefficients(0, result["scale"], result["offset"])
        result["drifted"] = drv.run_batch(tests)
        for mode in ("global", "per_column"):
            rc, scale = cal.drift_compensate(mode, tests, reference, result["scale"], result["offset"])
            result[f"drift_{mode}"] = {"status": rc, "scale": scale, "outputs": drv.run_batch(tests)}
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    record_bench_report("test_c_calibration", {**result, "cycles": cycles["n"], "bus_accesses": master.accesses})


@cocotb.test()
async def test_host_calibration(dut):
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    serve_error_tiles(dut, spec, bench_errors(cfg))
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    link = CocotbUartTransport(dut, divisor=int(cfg["divisor"]))
    link.start()
    w = np.array(cfg["weights"])
    tests = np.array(cfg["test_vectors"])
    scale_t, offset_t = np.array(cfg["target_scale"]), np.array(cfg["target_offset"])
    result = {}

    def host_side():
        host = AimcHost(link.blocking(), spec=spec, retries=0)
        host.check_identity()
        result["prog_failures"] = host.program_weights(w, tolerance=0, max_retries=3)
        host.load_coefficients(scale_t, offset_t)
        host.write("CONFIG", 0)
        result["before"] = host.run(tests)
        done = calibrate_columns(host, spec, w, np.array(cfg["cal_vectors"]), scale_t, offset_t)
        result.update(scale=done.scale, offset=done.offset, status=done.status, gain=done.gain,
                      offset_lsb=done.offset_lsb, samples=done.samples)
        result["after"] = host.run(tests)
        result["frames"] = host.frames

    await bridge(host_side)()
    record_bench_report("test_host_calibration", {**result, "cycles": link.cycles})
