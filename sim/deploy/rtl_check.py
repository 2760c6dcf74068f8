"""The chip program on the generated Verilog, end to end, code for code against the golden model.

One emulated accelerator top is generated from the chip's own spec (sim.verify.emulated_top); the cocotb
bench sim.verify.benches.chip_program_bench programs the program's weight matrix and post-processor codes over
Wishbone, then runs every test input through the program's segments, segment by segment over the batch, with
the layer sequencer chaining each segment's layers in the chip (the host's relu/clamp steps between segments
done by the bench as the program says). The golden model runs the same program on the same inputs in the
same order (sim.deploy.run.run_golden: one GoldenAccelerator, so the emulated read noise advances per MVM
exactly as in the RTL), and the last segment's output codes must be equal, every code.

Cycles per inference (RTL): the sum over segments of the cycles one chain took, from the cycle after the
CTRL.start write was acknowledged to the acknowledgement of the OUT_COUNT read that saw the result (so it
includes up to one register poll, a few bus cycles), averaged over the inputs. Not counted: writing the
inputs, reading the outputs, the host's steps.

Programs with convolutions (host_per_position segments: im2col, flatten) are refused with DeployError:
the bench performs relu and clamp between segments only.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from aimcgen.contract.chip_program import ChipProgram
from aimcgen.sim.deploy.run import execute, expected_prog_failures, golden_chip, noise_free, quantize_input
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.emulated_top import write_emulated_top
from aimcgen.spec import DesignSpec

BENCH = "aimcgen.sim.verify.benches.chip_program_bench"
BENCH_HOST_STEPS = {"relu", "clamp"}
MAX_MESSAGES = 10


class DeployError(ValueError):
    """A request the deploy tools cannot carry out as asked; the message says why and what would work."""


def check_supported(program: ChipProgram) -> None:
    for seg in program.segments:
        steps = set(seg.host_before) | set(seg.host_after)
        if seg.driver != "sequencer" or not steps <= BENCH_HOST_STEPS:
            raise DeployError(f"--rtl-check: segment {seg.index} is driven by {seg.driver} with host steps "
                              f"{sorted(steps)}; the RTL check runs sequencer segments with relu/clamp "
                              "between them (dense networks) only")


def golden_last_segment(program: ChipProgram, spec: DesignSpec, x, *, noise: bool) -> np.ndarray:
    """The last segment's output codes (n, count) of the golden run, before any host step after it."""
    chip = golden_chip(program, spec, noise=noise)
    seen = []

    def run_segment(inputs, descriptors):
        out = chip.run_layers(inputs, descriptors)
        seen.append(out)
        return out

    execute(program, x, run_segment)
    return seen[-1]


def check_program_on_rtl(program: ChipProgram, spec: DesignSpec, x, *, simulator: str, build_dir: Path,
                         noise: bool = True, progress=print) -> dict:
    """Run the test inputs `x` (real values) through the generated top; returns the JSON-ready summary:
    rtl_inferences, rtl_mismatches, cycles_per_inference_rtl, the first differences and the times."""
    check_supported(program)
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    chip_spec = spec if noise else noise_free(spec)
    expected = golden_last_segment(program, spec, x, noise=noise)
    build_dir = Path(build_dir).resolve()
    start = time.monotonic()
    source, top, regmap = write_emulated_top(chip_spec, build_dir)
    progress(f"RTL check: {top} generated, {len(x)} input(s) on {simulator}")
    segments = [{"descriptors": [list(d) for d in s.descriptors], "host_after": list(s.host_after)}
                for s in program.segments]
    config = write_bench_config(build_dir / f"config_{simulator}.json", chip_spec, regmap_json=str(regmap),
                                weights=program.weights.astype(np.int64), scale=program.scale.astype(np.int64),
                                offset=program.offset.astype(np.int64), segments=segments,
                                inputs=quantize_input(program, x),
                                expected_prog_failures=expected_prog_failures(program, chip_spec))
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=BENCH, simulator=simulator,
                       build_dir=build_dir, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    bench = result.report["test_chip_program"]
    got = np.asarray(bench["outputs"], dtype=np.int64).reshape(expected.shape)
    differing = np.argwhere(got != expected)
    messages = [f"input {n}, output {c}: expected {expected[n, c]}, got {got[n, c]}" for n, c in differing]
    chain_cycles = np.asarray(bench["chain_cycles"], dtype=np.int64)       # (segments, inputs)
    per_inference = chain_cycles.sum(axis=0)
    progress(f"RTL check: {'exact' if not messages else f'{len(messages)} of {got.size} codes differ'}, "
             f"{per_inference.mean():.0f} cycles/inference ({time.monotonic() - start:.1f} s)")
    return {"simulator": simulator, "golden_noise": noise, "rtl_inferences": int(len(x)),
            "rtl_mismatches": int(len(messages)), "codes_compared": int(got.size),
            "cycles_per_inference_rtl": float(per_inference.mean()),
            "cycles_per_inference_rtl_range": [int(per_inference.min()), int(per_inference.max())],
            "cycles_rtl_counts": "per inference, the sum over segments of the cycles from the CTRL.start ack to "
                                 "the ack of the OUT_COUNT read that saw the result (includes up to one poll)",
            "weight_writes": bench["weight_writes"], "prog_failures": bench["prog_failures"],
            "bus_accesses": bench["bus_accesses"],
            "cycles_total": bench["cycles"],
            "errors_flags": bench["errors"], "mismatches": messages[:MAX_MESSAGES],
            "build_s": round(result.build_s, 2), "run_s": round(result.run_s, 2)}
