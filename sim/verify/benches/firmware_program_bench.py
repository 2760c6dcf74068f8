"""cocotb bench: a whole chip program loaded and run by the C driver (aimc_load_program, aimc_run_network).

The driver library (aimcgen.firmware.c_driver.compile_driver_library, optionally with the program's C tables
from aimcgen.firmware.program_c compiled in) runs in a cocotb `bridge` thread; its HAL callbacks are Wishbone
transactions on the generated top, as in sim.verify.benches.firmware_bench (whose tile models serve the
periphery top's analog ports, `serve_tiles`; the emulated top needs none).

Sequence: aimc_init; aimc_load_program (the compiled-in `program_symbol` when given, else the aimc_program_t
built from the ChipProgram file); aimc_run_network on `inputs`; then, when `more_inputs` is given, the program
is selected again as built in memory from the ChipProgram (no reload) and run on them, so that both table
sources run on the chip; the noise of the emulated tile carries on between the runs, as in one golden chip.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config):
  library         the driver shared library built for this spec
  program         path of the program.aimc (aimcgen.contract.chip_program.write_program)
  program_symbol  optional: name of the aimc_program_t compiled into the library
  inputs          input codes (n x the program's in_features)
  more_inputs     optional: input codes of the second run
Report ($AIMCGEN_BENCH_REPORT) under "test_program_on_rtl": spec_hash, load_status, load (the
aimc_prog_report_t), codes / predictions (first run), more_codes / more_predictions, errors (ERRORS after the
runs), cycles, bus_accesses.
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge

from aimcgen.contract.chip_program import read_program
from aimcgen.sim.verify.benches.firmware_bench import BUS_TIMEOUT_CYCLES, CLOCK_NS, serve_tiles, start_c_driver
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_wishbone import WishboneMaster


@cocotb.test()
async def test_program_on_rtl(dut):
    spec, cfg = load_bench_config()
    program = read_program(cfg["program"], spec)
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    serve_tiles(dut, spec)
    cycles, drv = await start_c_driver(dut, master, spec, cfg["library"])
    result = {}

    def firmware():
        drv.init(100_000)
        result["spec_hash"] = drv.dev.spec_hash
        result["load_status"], result["load"] = drv.load_program(cfg.get("program_symbol") or program,
                                                                 tolerance=0, max_retries=3, check=False)
        result["codes"], result["predictions"] = drv.run_network(np.array(cfg["inputs"]))
        if cfg.get("more_inputs"):
            drv.use_program(program)
            result["more_codes"], result["more_predictions"] = drv.run_network(np.array(cfg["more_inputs"]))
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    record_bench_report("test_program_on_rtl", {**result, "cycles": cycles["n"], "bus_accesses": master.accesses})
