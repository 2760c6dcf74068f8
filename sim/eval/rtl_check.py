"""RTL cross-check of a mapped network: a few inputs through the generated Verilog, against the golden model.

The mapping gives every layer its own tile grid and noise seed (a copy of the spec, sim.eval.mapping), so
each layer is checked on the emulated accelerator top generated from that layer's spec: the cocotb bench
sim.verify.benches.chip_program_bench programs the layer's weight and coefficient codes over Wishbone and runs the
inputs as register-driven MVMs (one segment of one descriptor over every logical column). The layer sequencer is not used: it chains layers on one grid with one
noise seed, which is not what the mapping (and so the golden back end) computes.

Layer by layer, the RTL's output codes of every logical column must equal GoldenBackend's exactly
(emulated read noise included unless noise=False; the noise advances per MVM in input order in both). The
host then finishes them (host relu, clamp to the next input range: LayerMapping.finish) into the next
layer's inputs. The check stops at the first layer that differs, since later layers would see other
inputs; each difference is named by input, layer, column, expected and got.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.mapping import LayerMapping, NetworkMapping
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.emulated_top import write_emulated_top

BENCH = "aimcgen.sim.verify.benches.chip_program_bench"
MAX_MESSAGES = 10


def run_layer_on_rtl(layer: LayerMapping, inputs: np.ndarray, *, simulator: str, build_dir: Path) -> dict:
    """The bench report of `inputs` (n, logical_rows) through the layer's generated top, plus build/run
    wall times; raises what cocotb_run.run_bench raises (missing simulator, failed build or bench)."""
    build_dir = Path(build_dir).resolve()
    source, top, regmap = write_emulated_top(layer.spec, build_dir)
    config = write_bench_config(build_dir / f"config_{simulator}.json", layer.spec, regmap_json=str(regmap),
                                weights=layer.weight_codes, scale=layer.scale, offset=layer.offset,
                                segments=[{"descriptors": [[0, layer.spec.logical_cols]], "host_after": []}],
                                inputs=inputs)
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=BENCH, simulator=simulator,
                       build_dir=build_dir, extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    return {**result.report["test_chip_program"], "build_s": result.build_s, "run_s": result.run_s}


def mismatches(layer: int, expected: np.ndarray, got: np.ndarray, positions: int = 1) -> list[str]:
    """One message per differing output code; MVM n is position n % positions of input n // positions."""
    def where(n):
        return f"input {n // positions}" + (f" (position {n % positions})" if positions > 1 else "")
    return [f"{where(n)}, layer {layer}, column {c}: expected {expected[n, c]}, got {got[n, c]}"
            for n, c in np.argwhere(expected != got)]


def check_network_on_rtl(mapping: NetworkMapping, x, *, simulator: str, build_dir: Path, noise: bool = True,
                         golden: GoldenBackend | None = None, progress=print) -> dict:
    """Run the inputs `x` (real values, (n, features)) through every layer's generated top and compare
    with `golden` (default: a fresh GoldenBackend(mapping, noise)). Returns a JSON-ready summary:
    passed, per layer the codes compared and differing and the times, and the first differences."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    golden = golden or GoldenBackend(mapping, noise=noise)
    trace = golden.run_codes(x)
    codes = mapping.quantize_input(x)
    rows, messages = [], []
    for layer, t in zip(mapping.layers, trace):
        start = time.monotonic()
        bench = run_layer_on_rtl(layer, mapping.layer_input(layer, codes), simulator=simulator,
                                 build_dir=Path(build_dir) / f"layer{layer.index}")
        got = np.asarray(bench["outputs"], dtype=np.int64).reshape(t.outputs.shape)
        found = mismatches(layer.index, t.outputs, got, layer.positions)
        rows.append({"layer": layer.index, "tiles": layer.tiles,
                     "tile_grid": [layer.row_tiles, layer.col_tiles], "mvms": len(got),
                     "codes_compared": int(got.size), "codes_differing": len(found),
                     "weight_writes": bench["weight_writes"],
                     "cycles": bench["cycles"], "bus_accesses": bench["bus_accesses"],
                     "errors_flags": bench["errors"], "build_s": round(bench["build_s"], 2),
                     "run_s": round(bench["run_s"], 2)})
        progress(f"RTL check layer {layer.index} ({layer.tiles} tiles, {simulator}): "
                 f"{'exact' if not found else f'{len(found)} of {got.size} codes differ'} "
                 f"({time.monotonic() - start:.1f} s)")
        messages += found
        if found:
            break
        codes = mapping.layer_output(layer, got)
    passed = not messages and len(rows) == len(mapping.layers)
    return {"simulator": simulator, "inputs": len(x), "golden_noise": golden.noise, "passed": passed,
            "layers": rows, "layers_not_run": len(mapping.layers) - len(rows),
            "mismatches": messages[:MAX_MESSAGES], "mismatch_count": len(messages)}
