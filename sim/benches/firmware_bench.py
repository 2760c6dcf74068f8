"""cocotb bench: the real C driver (firmware/aimc_driver.c) against the generated Verilog of
`Accelerator(spec, emulated=True)` (top module `aimc_emulated`).

The driver is a blocking C library (ctypes); it runs in a cocotb `bridge` thread and its HAL callbacks
perform Wishbone classic transactions on the DUT through `resume`-wrapped coroutines (cocotb 2 names of
the former `@external` / `@function`), so the simulation advances only while the driver waits on the bus.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config):
  library       path of the driver shared library built for this spec (aimcgen.firmware.compile_driver_library)
  weights       logical weight matrix (rows x cols)
  scale, offset per-column coefficients
  vectors       inputs of the register-driven MVMs (n x rows)
  chain_vectors inputs of the layer chain; layers: [[start, count], ...]
Report ($AIMCGEN_BENCH_REPORT) under "test_driver_on_rtl": outputs, chain_outputs, program report, cycles.
The caller compares the outputs with GoldenAccelerator(...).run(vectors) then .run_layers(chain_vectors).
"""

from __future__ import annotations

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.task import bridge, resume
from cocotb.triggers import FallingEdge, RisingEdge

from aimcgen.firmware import BusError, Driver
from aimcgen.sim.cocotb_run import load_bench_config, record_bench_report

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 100_000


class WishboneHost:
    """Wishbone classic initiator on the DUT's `bus__*` ports (byte addresses)."""

    def __init__(self, dut):
        self.dut = dut
        self.accesses = 0
        for name in ("cyc", "stb", "we", "adr", "dat_w", "sel"):
            getattr(dut, f"bus__{name}").value = 0

    async def access(self, address: int, data: int | None = None) -> int:
        dut = self.dut
        dut.bus__cyc.value = 1
        dut.bus__stb.value = 1
        dut.bus__adr.value = address >> 2
        dut.bus__sel.value = 0xF
        dut.bus__we.value = int(data is not None)
        dut.bus__dat_w.value = 0 if data is None else data & 0xFFFFFFFF
        for _ in range(BUS_TIMEOUT_CYCLES):
            await FallingEdge(dut.clk)                # outputs of the last rising edge have settled
            ack, err = int(dut.bus__ack.value), int(dut.bus__err.value)
            if ack or err:
                break
        else:
            raise TimeoutError(f"Wishbone access to {address:#x}: no ack/err in {BUS_TIMEOUT_CYCLES} cycles")
        value = int(dut.bus__dat_r.value)
        dut.bus__cyc.value = 0
        dut.bus__stb.value = 0
        dut.bus__we.value = 0
        self.accesses += 1
        if err:
            raise BusError(f"Wishbone {'write' if data is not None else 'read'} at {address:#x}: err")
        return value


@cocotb.test()
async def test_driver_on_rtl(dut):
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    host = WishboneHost(dut)
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

    read = resume(host.access)

    def write(address, value):
        resume(host.access)(address, value)

    drv = Driver(cfg["library"], spec, read, write)
    result = {}

    def firmware():
        drv.init(100_000)
        result["spec_hash"] = drv.dev.spec_hash
        _, result["program"] = drv.program_weights(np.array(cfg["weights"]), tolerance=0, max_retries=3)
        drv.load_coefficients(0, cfg["scale"], cfg["offset"])
        result["coefficients"] = drv.read_coefficients(0, spec.logical_cols)
        result["outputs"] = drv.run_batch(np.array(cfg["vectors"]))
        result["chain_outputs"] = drv.run_chain([tuple(layer) for layer in cfg["layers"]],
                                                np.array(cfg["chain_vectors"]))
        result["errors"] = drv.read_errors()

    await bridge(firmware)()
    assert result["coefficients"] == (list(cfg["scale"]), list(cfg["offset"])), result["coefficients"]
    assert result["program"]["failures"] == 0, result["program"]
    record_bench_report("test_driver_on_rtl", {**result, "cycles": cycles["n"], "bus_accesses": host.accesses})
