"""cocotb bench: a whole network's chip program on ONE generated accelerator top, driven as firmware would.

`aimcgen deploy --rtl-check N` (sim.deploy.rtl_check) runs it on the emulated top of the chip's own spec.
Through the Wishbone bus, by register name from the register map, it programs the logical weight matrix
(WEIGHTS window; devices start erased at code 0, so only non-zero codes are written, each through
program-and-verify), loads SCALE / OFFSET for every logical column, turns the output stream off, and then runs
every input vector through the program's segments in order, segment by segment over the whole batch (the order sim.deploy.run uses):

  for each segment (a chain of layer descriptors the sequencer runs without the host):
      LAYER_COUNT.count = len(segment); LAYER_i.start / LAYER_i.count = the descriptors
      for each input vector, in order:
          INPUT window rows 0..R-1 = the vector (rows past its length are written 0)
          CTRL.start = 1; poll OUT_COUNT until it counts this chain; read OUTPUT words 0..count-1 (the
          segment's last descriptor's columns)
      the host steps after the segment, in order, on those outputs (contract.chip_program.host_steps_after:
      "relu" max(code, 0), "clamp" clip to +-input.max_magnitude); they are the next segment's input vectors

Order matters: the emulated read noise advances with every MVM the sequencer runs, as the golden model's
does, so the caller compares against a golden run of the same inputs in the same order.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config):
  regmap_json   path of the top's regmap.json
  weights       logical weight codes (logical_rows x logical_cols)
  scale, offset per-column coefficient codes (logical_cols each)
  segments      list of {"descriptors": [[start, count], ...] (count >= 1), "host_after": ["relu" | "clamp"]}
  inputs        input codes of the first segment, one inference per row (n x at most logical_rows)
  expected_prog_failures  weights program-and-verify must report failed (0 without the digital twin; with it,
                the golden chip's count of the same writes, sim.deploy.run.expected_prog_failures); default 0
Report ($AIMCGEN_BENCH_REPORT) under "test_chip_program": outputs (n x last count), weight_writes,
prog_failures, errors (the ERRORS fields after the run), chain_cycles (per segment and inference: cycles
from the cycle after the CTRL.start write was acknowledged to the cycle the OUT_COUNT read that saw the result
was acknowledged, so it includes up to one poll of bus latency), cycles (whole run), bus_accesses.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge

from aimcgen.contract.aimc_registers import col_stride
from aimcgen.contract.chip_program import host_steps_after
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.cocotb_streams import sim_cycle
from aimcgen.sim.verify.cocotb_wishbone import RegisterAccess, WishboneMaster

CLOCK_NS = 10
BUS_TIMEOUT_CYCLES = 200_000
MAX_POLLS = 200_000


async def start_chip(dut, cfg) -> tuple[WishboneMaster, RegisterAccess]:
    """Start the clock, reset the emulated top with its streams idle (output always ready), and return its
    Wishbone master and the register access by name from cfg["regmap_json"]."""
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    master = WishboneMaster(dut, timeout_cycles=BUS_TIMEOUT_CYCLES)
    regs = RegisterAccess.from_json(master, Path(cfg["regmap_json"]))
    dut.inp__valid.value, dut.out__ready.value, dut.rst.value = 0, 1, 1
    await ClockCycles(dut.clk, 3)
    dut.rst.value = 0
    await FallingEdge(dut.clk)
    return master, regs


async def program_chip(regs: RegisterAccess, spec, weights: np.ndarray, scale, offset) -> tuple[int, int]:
    """Write every non-zero weight code and the coefficients; returns (weights written, verify failures)."""
    stride = col_stride(spec)
    nonzero = np.argwhere(weights != 0)
    for r, c in nonzero:
        await regs.write_window("WEIGHTS", int(r) * stride + int(c), int(weights[r, c]))
    await regs.poll("STATUS", "prog_busy", 0, max_reads=MAX_POLLS)
    failures = await regs.read_field("PROG_STATUS", "failures")
    for name, values in (("SCALE", scale), ("OFFSET", offset)):
        for c, value in enumerate(values):
            await regs.write_window(name, c, int(value))
    return len(nonzero), failures


async def set_layers(regs: RegisterAccess, descriptors) -> None:
    await regs.write("LAYER_COUNT", count=len(descriptors))
    for i, (start, count) in enumerate(descriptors):
        await regs.write(f"LAYER_{i}", start=int(start), count=int(count))


async def run_chain(regs: RegisterAccess, spec, descriptors, x, done_before: int) -> tuple[list[int], int]:
    """One sequencer chain on input `x`; returns (the last layer's output codes, cycles it took)."""
    padded = np.zeros(spec.logical_rows, dtype=np.int64)
    padded[:len(x)] = x
    for i, v in enumerate(padded):
        await regs.write_window("INPUT", i, int(v))
    await regs.write("CTRL", start=1)
    begin = sim_cycle(CLOCK_NS)
    await regs.poll("OUT_COUNT", "count", lambda done: done > done_before, max_reads=MAX_POLLS)
    cycles = sim_cycle(CLOCK_NS) - begin
    count = int(descriptors[-1][1])
    return [await regs.read_window("OUTPUT", c) for c in range(count)], cycles


@cocotb.test()
async def test_chip_program(dut):
    spec, cfg = load_bench_config()
    master, regs = await start_chip(dut, cfg)
    start = sim_cycle(CLOCK_NS)
    weights = np.asarray(cfg["weights"], dtype=np.int64)
    written, failures = await program_chip(regs, spec, weights, cfg["scale"], cfg["offset"])
    # Exact devices hold every weight; with the digital twin, the golden chip's own count of the same writes.
    expected = int(cfg.get("expected_prog_failures", 0))
    assert failures == expected, (f"program-and-verify reported {failures} failed weight(s), the golden chip "
                                  f"{expected}; last failure at {await regs.read_fields('PROG_FAIL_ADDR')}")
    await regs.write("CONFIG", out_stream=0)
    top = spec.input.max_magnitude
    vectors = [np.asarray(x, dtype=np.int64) for x in cfg["inputs"]]
    chain_cycles, chains = [], 0
    for segment in cfg["segments"]:
        descriptors = [(int(s), int(c)) for s, c in segment["descriptors"]]
        await set_layers(regs, descriptors)
        outputs, per_input = [], []
        for x in vectors:
            out, cycles = await run_chain(regs, spec, descriptors, x, chains)
            chains += 1
            outputs.append(out)
            per_input.append(cycles)
        chain_cycles.append(per_input)
        vectors = [host_steps_after(np.asarray(o, dtype=np.int64), segment["host_after"], top) for o in outputs]
    record_bench_report("test_chip_program", {
        "weight_writes": written, "prog_failures": failures,
        "outputs": [list(map(int, o)) for o in outputs],
        "errors": await regs.read_fields("ERRORS"), "chain_cycles": chain_cycles,
        "cycles": sim_cycle(CLOCK_NS) - start, "bus_accesses": master.accesses})
