"""cocotb bench: the real C driver (firmware/aimc_driver.c) against the generated Verilog of the accelerator.

Either top: `Accelerator(spec, emulated=True)` (emulated tiles inside, every write lands exactly) or the
periphery `Accelerator(spec, emulated=False)`, whose analog ports `analog_<i>__*` are served from Python
(CocotbAnalogMacro with sim.verify.macro_model.MacroModel, bit-exact to the golden model). On the periphery a
device pair can be made stuck (config `stuck`), so that program-and-verify fails where real devices do and
the driver's failure report is checked against the RTL's PROG_STATUS / PROG_FAIL_ADDR / ERRORS.

The driver is a blocking C library (ctypes); it runs in a cocotb `bridge` thread and its HAL callbacks
perform Wishbone classic transactions on the DUT through `resume`-wrapped coroutines (cocotb 2 names of
the former `@external` / `@function`), so the simulation advances only while the driver waits on the bus.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config):
  library       path of the driver shared library built for this spec (aimcgen.firmware.c_driver.compile_driver_library)
  weights       logical weight matrix (rows x cols)
  scale, offset per-column coefficients
  vectors       inputs of the register-driven MVMs (n x rows)
  chain_vectors inputs of the layer chain; layers: [[start, count], ...]
  stuck         optional [row, col, code] (periphery top only): the device pair at logical (row, col) lands
                on `code` whatever is written
Report ($AIMCGEN_BENCH_REPORT) under "test_driver_on_rtl": program status and report, the ERRORS word and
its name after programming, the landed weights (periphery top), outputs, chain_outputs, cycles. The caller
compares the outputs with GoldenAccelerator(landed weights, ...).run(vectors) then .run_layers(chain_vectors).
A failed program-and-verify is accepted as firmware would accept a stuck device: the flag is cleared and the
MVMs run on the weights that landed.
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import FallingEdge, RisingEdge

from aimcgen.firmware.c_driver import STATUS_CODE, BusError, Driver
from aimcgen.contract.aimc_registers import aimc_register_map
from aimcgen.sim.verify.cocotb_macro import CocotbAnalogMacro
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneError, WishboneMaster, WishboneTimeout
from aimcgen.sim.verify.macro_model import MacroModel, stuck_devices
from aimcgen.spec import DesignSpec

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 100_000


def serve_tiles(dut, spec: DesignSpec, stuck=None) -> list[MacroModel]:
    """On the periphery top, one MacroModel per tile on its analog ports (devices start erased, code 0, like
    the emulated tile's memory); `stuck` = (row, col, code) at a logical address. [] on the emulated top."""
    if not hasattr(dut, "analog_0__cmd__valid"):
        if stuck is not None:
            raise ValueError("stuck devices need the periphery top (analog ports), not the emulated one")
        return []
    R, C = spec.tile.rows, spec.tile.cols
    models = []
    for i in range(spec.tiles):
        r, c = divmod(i, spec.array.col_tiles)
        mine = {}
        if stuck is not None and (stuck[0] // R, stuck[1] // C) == (r, c):
            mine[(stuck[0] % R, stuck[1] % C)] = stuck[2]
        models.append(MacroModel(spec, tile_index=i, write_error=stuck_devices(mine)))
        CocotbAnalogMacro(dut, f"analog_{i}", models[-1]).start()
    return models


def landed_weights(spec: DesignSpec, models: list[MacroModel]) -> np.ndarray:
    """The logical weight matrix the devices of the tiles hold."""
    C = spec.array.col_tiles
    return np.block([[models[r * C + c].weights for c in range(C)] for r in range(spec.array.row_tiles)])


async def start_c_driver(dut, master: WishboneMaster, spec: DesignSpec, library) -> tuple[dict, Driver]:
    """Reset the top, count its cycles, and give the C driver (`library`) a HAL on the Wishbone master:
    returns ({"n": cycles so far}, the Driver). A bus error answers the driver's access as one; a hung bus
    (WishboneTimeout) fails the bench."""
    dut.inp__valid.value = 0
    dut.out__ready.value = 1
    dut.rst.value = 1
    for _ in range(3):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    cycles = {"n": 0}

    async def count():
        while True:
            await RisingEdge(dut.clk)
            cycles["n"] += 1
    cocotb.start_soon(count())

    async def access(address, data=None):
        try:
            return await master.access(address, data)
        except WishboneTimeout:            # a hung bus is the bench's failure, not an answer to the driver
            raise
        except WishboneError as exc:       # err: the HAL reports a bus error to the driver
            raise BusError(str(exc)) from exc

    bus = resume(access)                   # read(offset) and write(offset, value) alike
    return cycles, Driver(library, spec, read=bus, write=bus)


@cocotb.test()
async def test_driver_on_rtl(dut):
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    models = serve_tiles(dut, spec, cfg.get("stuck"))
    cycles, drv = await start_c_driver(dut, master, spec, cfg["library"])
    prog_verify_fail = aimc_register_map(spec).register("ERRORS").field("prog_verify_fail").mask
    result = {}

    def firmware():
        drv.init(100_000)
        result["spec_hash"] = drv.dev.spec_hash
        status, result["program"] = drv.program_weights(np.array(cfg["weights"]), tolerance=0, max_retries=3,
                                                        check=False)
        result["program_status"] = status
        result["error_name"] = drv.error_name(result["program"]["errors"])
        if status == STATUS_CODE["AIMC_ERR_PROG_VERIFY"]:
            drv.clear_errors(prog_verify_fail)
        drv.load_coefficients(0, cfg["scale"], cfg["offset"])
        result["coefficients"] = drv.read_coefficients(0, spec.logical_cols)
        result["outputs"] = drv.run_batch(np.array(cfg["vectors"]))
        result["chain_outputs"] = drv.run_chain([tuple(layer) for layer in cfg["layers"]],
                                                np.array(cfg["chain_vectors"]))
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    assert result["coefficients"] == (list(cfg["scale"]), list(cfg["offset"])), result["coefficients"]
    if models:
        result["landed"] = landed_weights(spec, models)
    record_bench_report("test_driver_on_rtl", {**result, "cycles": cycles["n"], "bus_accesses": master.accesses})
