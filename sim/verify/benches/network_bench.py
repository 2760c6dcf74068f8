"""cocotb bench: one mapped network layer on the generated accelerator top, driven as firmware would.

The evaluation's RTL cross-check (sim.eval.rtl_check) runs it once per layer, on the emulated top generated
for that layer's spec. Through the Wishbone bus, by register name from the register map, it programs the
layer's conductance codes (WEIGHTS window: each write goes through program-and-verify; devices start
erased at code 0, so only non-zero codes are written), loads SCALE / OFFSET, turns the output stream off and
runs the input vectors in order as register-driven MVMs (INPUT window, CTRL.start, OUT_COUNT, OUTPUT
window). Order matters: the emulated read noise advances with every MVM, as the golden model's does.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config):
  regmap_json   path of the layer top's regmap.json
  weights       logical weight codes (logical_rows x logical_cols)
  scale, offset per-column coefficient codes
  inputs        input codes, one MVM per row (n x logical_rows)
Report ($AIMCGEN_BENCH_REPORT) under "test_network_layer": outputs (n x logical_cols), weight_writes,
prog_failures, errors (the ERRORS fields after the run), cycles, bus_accesses. The caller compares the
outputs with the golden model; a failed program-and-verify fails here, since the golden model would then
hold other weights than the devices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from aimcgen.contract.aimc_registers import col_stride
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_streams import sim_cycle
from aimcgen.sim.verify.cocotb_wishbone import RegisterAccess, WishboneMaster

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 200_000
MAX_POLLS = 100_000


@cocotb.test()
async def test_network_layer(dut):
    spec, cfg = load_bench_config()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    regs = RegisterAccess.from_json(master, Path(cfg["regmap_json"]))
    dut.inp__valid.value, dut.out__ready.value, dut.rst.value = 0, 1, 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    start = sim_cycle(CLOCK_NS)
    weights = np.asarray(cfg["weights"], dtype=np.int64)
    stride = col_stride(spec)
    nonzero = np.argwhere(weights != 0)
    for r, c in nonzero:
        await regs.write_window("WEIGHTS", int(r) * stride + int(c), int(weights[r, c]))
    await regs.poll("STATUS", "prog_busy", 0, max_reads=MAX_POLLS)
    failures = await regs.read_field("PROG_STATUS", "failures")
    assert failures == 0, (f"program-and-verify failed on {failures} weight(s), first at "
                           f"{await regs.read_fields('PROG_FAIL_ADDR')}: the devices do not hold the mapping")
    for name, key in (("SCALE", "scale"), ("OFFSET", "offset")):
        for c, value in enumerate(cfg[key]):
            await regs.write_window(name, c, int(value))
    await regs.write("CONFIG", out_stream=0)
    outputs = []
    for n, x in enumerate(np.asarray(cfg["inputs"], dtype=np.int64)):
        for i, v in enumerate(x):
            await regs.write_window("INPUT", i, int(v))
        await regs.write("CTRL", start=1)
        await regs.poll("OUT_COUNT", "count", lambda done, n=n: done > n, max_reads=MAX_POLLS)
        outputs.append([await regs.read_window("OUTPUT", c) for c in range(spec.logical_cols)])
    record_bench_report("test_network_layer", {
        "outputs": outputs, "weight_writes": len(nonzero), "prog_failures": failures,
        "errors": await regs.read_fields("ERRORS"), "cycles": sim_cycle(CLOCK_NS) - start,
        "bus_accesses": master.accesses})
