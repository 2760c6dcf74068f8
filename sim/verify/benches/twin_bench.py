"""cocotb bench: program-and-verify against the digital twin's devices on ONE generated emulated top.

With spec [twin] on (contract.device_twin) the emulated tiles land every write with a programming error and
hold stuck devices, so program-and-verify retries and reports failures. Through the Wishbone bus, by register
name, the bench writes every weight of the logical matrix in row-major order (WEIGHTS window; zeros too:
a device may land off zero or be stuck), with PROG_CTRL at its reset values (the spec's program_verify),
waits for STATUS.prog_busy = 0, reads the report registers, then runs each input vector as one register-
driven MVM (INPUT window, CTRL.start, poll OUT_COUNT, read OUTPUT). The outputs depend on every weight
that landed, so equal outputs mean the golden model replayed each draw and each retry.

Configuration ($AIMCGEN_BENCH_CONFIG, cocotb_run.write_bench_config): regmap_json, weights (logical_rows x
logical_cols codes), inputs (n x logical_rows codes), optional epochs (with twin.drift on: the inputs run
once per epoch, after a write of DRIFT_EPOCH). Report ($AIMCGEN_BENCH_REPORT) under "test_twin_program":
prog_status, prog_count, first_fail, last_fail ({"row", "col"}), errors, outputs (per epoch, per input).
"""

from __future__ import annotations


import numpy as np

import cocotb

from aimcgen.contract.aimc_registers import col_stride
from aimcgen.sim.verify.cocotb_run import load_bench_config, record_bench_report
from aimcgen.sim.verify.benches.chip_program_bench import start_chip

MAX_POLLS = 200_000


@cocotb.test()
async def test_twin_program(dut):
    spec, cfg = load_bench_config()
    _, regs = await start_chip(dut, cfg)
    weights = np.asarray(cfg["weights"], dtype=np.int64)
    stride = col_stride(spec)
    for (r, c), value in np.ndenumerate(weights):
        await regs.write_window("WEIGHTS", r * stride + c, int(value))
    await regs.poll("STATUS", "prog_busy", 0, max_reads=MAX_POLLS)
    report = {"prog_status": await regs.read_field("PROG_STATUS", "failures"),
              "prog_count": await regs.read_field("PROG_COUNT", "weights"),
              "first_fail": await regs.read_fields("PROG_FIRST_FAIL_ADDR"),
              "last_fail": await regs.read_fields("PROG_FAIL_ADDR"),
              "errors": await regs.read_fields("ERRORS")}
    await regs.write("CONFIG", out_stream=0)
    outputs, done = [], 0
    for epoch in cfg.get("epochs", [None]):
        if epoch is not None:
            await regs.write("DRIFT_EPOCH", epoch=int(epoch))
        for x in cfg["inputs"]:
            for i, v in enumerate(x):
                await regs.write_window("INPUT", i, int(v))
            await regs.write("CTRL", start=1)
            await regs.poll("OUT_COUNT", "count", lambda count, done=done: count > done, max_reads=MAX_POLLS)
            done += 1
            outputs.append([await regs.read_window("OUTPUT", c) for c in range(spec.logical_cols)])
    record_bench_report("test_twin_program", {**report, "outputs": outputs})
