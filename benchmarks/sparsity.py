"""Work per MVM against input sparsity with the spec's [sparsity] options, and on the digits MLP's real inputs.

    .venv/bin/python benchmarks/sparsity.py [--mvms 400] [--seed 1]

Counted from the conversion plans of contract.sparsity (sim.models.activity), the same rules the RTL runs
(tests/test_rtl_sparsity*.py check RTL == golden model, noise included, and the RTL's activity counters ==
these counts on random sparse inputs). Per MVM:
- commands: what the analog macro executes (INTEGRATE + ADC commands), the period of back-to-back MVMs
  when the macro keeps pace; the tile controller adds one digital cycle per column position it clears
  without converting (the `zero pass`, listed separately);
- conversions: ADC samples; energy: sim.deploy.energy.mvm_energy (array, DAC, ADC, digital) with the
  counted conversions, on random weights.
Part 1, synthetic: inputs uniform in -max..max with a share of exact zeros (0, 25, 50, 75, 90 %), one layer
on all columns and one on 10 columns (0..9) (on default: 5 columns, 0..4), for the presets default
(bit-serial, and with PWM inputs), tile64 (bit-serial) and hermes256 (PWM), each option alone and all
together. Part 2, the digits MLP deployed on tile64 (as shipped, with adc.column_assignment = interleaved,
and with PWM inputs): the MVM inputs the chip sees for the test set (pixels, then ReLU activations), each MVM
under its own layer's columns.
Timed: the whole script (plans and energy, no RTL).
Part 3, with --rtl N (a few minutes per run): the digits MLP on tile64 with interleaved ADC columns, options
none and all, through the generated Verilog of the whole emulated chip (sim.deploy.rtl_check, noise on) for
the first N test inputs: output codes against the golden model's, and the measured cycles per inference
(from the CTRL.start acknowledge to that of the OUT_COUNT read, polling included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.energy import mvm_energy
from aimcgen.sim.deploy.report import dataset
from aimcgen.sim.deploy.rtl_check import check_program_on_rtl
from aimcgen.sim.deploy.run import mvm_schedule
from aimcgen.sim.eval.estimates import EnergyModel
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.models.activity import Activity, accelerator_activity
from aimcgen.sim.verify.cocotb_setup import SIMULATORS

from aimcgen.contract.sparsity import conversion_plan, local_columns
from aimcgen.presets import load_preset

OPTIONS = {
    "bit_serial": ["skip_zero_planes", "skip_zero_tiles", "layer_columns"],
    "pwm": ["pwm_window", "skip_zero_tiles", "layer_columns"],
}
ZERO_SHARES = (0.0, 0.25, 0.5, 0.75, 0.9)


def variants(spec):
    """(label, spec) for no option, each option alone, all options."""
    names = OPTIONS[spec.input.encoding]
    out = [("none", spec)]
    out += [(n, spec.replace(sparsity={n: "on"})) for n in names]
    out.append(("all", spec.replace(sparsity={n: "on" for n in names})))
    return out


def zero_pass_cycles(spec, x, layer) -> int:
    """Digital cycles the tile controllers spend clearing positions they do not convert, over all MVMs of x;
    the tiles run in parallel, so the busiest tile's."""
    rows, ct = spec.tile.rows, spec.array.col_tiles
    worst = 0
    for i in range(spec.tiles):
        part = x[:, (i // ct) * rows:(i // ct + 1) * rows]
        plan = conversion_plan(part, spec, local_columns(spec, i % ct, layer))
        worst = max(worst, int((spec.columns_per_adc - plan.positions.sum(axis=1)).sum()))
    return worst


def per_mvm(spec, weights, x, layer, model) -> dict:
    a = accelerator_activity(x, spec, layer)
    e = mvm_energy(spec, weights, x, model)
    return {"commands": a.analog_commands / spec.tiles / len(x),
            "zero_pass": zero_pass_cycles(spec, x, layer) / len(x),
            "conversions": a.conversions / len(x), "energy_nj": 1e9 * sum(e.values()) / len(x)}


def synthetic(spec, name, mvms, rng, model):
    m = spec.input.max_magnitude
    weights = rng.integers(-spec.tile.conductance_levels, spec.tile.conductance_levels + 1,
                           (spec.logical_rows, spec.logical_cols))
    print(f"\n{name}: {spec.tile.rows} x {spec.tile.cols}, {spec.input.encoding} {spec.input.bits} bits, "
          f"{spec.adc.count} {spec.adc.kind} ADCs ({spec.columns_per_adc} columns each); per MVM and tile: "
          f"commands [+ zero pass], conversions, energy (nJ)")
    narrow = min(10, spec.columns_per_adc - 3) if spec.columns_per_adc > 4 else 10
    for layer_name, layer in (("all columns", None), (f"{narrow} columns", (0, narrow))):
        print("\n| zeros | " + " | ".join(label for label, _ in variants(spec)) + f" |   ({layer_name})")
        print("|---" * (len(variants(spec)) + 1) + "|")
        for share in ZERO_SHARES:
            x = rng.integers(-m, m + 1, (mvms, spec.logical_rows))
            x[rng.random(x.shape) < share] = 0
            cells = []
            for label, s in variants(spec):
                r = per_mvm(s, weights, x, layer, model)
                cells.append(f"{r['commands']:.0f} [+{r['zero_pass']:.1f}], {r['conversions']:.0f}, "
                             f"{r['energy_nj']:.2f}")
            print(f"| {share:.0%} | " + " | ".join(cells) + " |")


def digits(spec, name, model):
    net = load_network(default_model_path())
    x, _, calib = dataset(net, None)
    program = compile_network(net, spec, calib)
    schedule = mvm_schedule(program, spec, x)       # every MVM batch with its layer descriptor
    inputs = np.concatenate([batch.inputs for batch in schedule])
    print(f"\ndigits MLP on {name}: {len(x)} test inputs, {len(inputs)} MVMs, "
          f"{(inputs == 0).mean():.1%} of the MVM inputs are zero")
    print("| options | commands / inference | zero pass / inference | conversions / inference | "
          "energy / inference (nJ) | change in commands |")
    print("|---|---|---|---|---|---|")
    base = None
    for label, s in variants(spec):
        total, zero, energy = Activity(), 0, 0.0
        for batch in schedule:
            total = total + accelerator_activity(batch.inputs, s, batch.descriptor)
            zero += zero_pass_cycles(s, batch.inputs, batch.descriptor)
            energy += sum(mvm_energy(s, program.weights, batch.inputs, model, batch.descriptor).values())
        commands = total.analog_commands / s.tiles / len(x)
        base = commands if base is None else base
        print(f"| {label} | {commands:.1f} | {zero / len(x):.1f} | {total.conversions / len(x):.1f} | "
              f"{1e9 * energy / len(x):.2f} | {commands / base - 1:+.1%} |")


def rtl_check(spec, name, inferences, simulator):
    """Part 3: each variant's program through the generated Verilog, against the golden model."""
    net = load_network(default_model_path())
    x, _, calib = dataset(net, None)
    print(f"\nRTL check on {name}: first {inferences} test inputs, {simulator}, noise on")
    print("| options | output codes compared | mismatches | RTL cycles / inference [min, max] | run (s) |")
    print("|---|---|---|---|---|")
    for label, s in (v for v in variants(spec) if v[0] in ("none", "all")):
        program = compile_network(net, s, calib)
        with tempfile.TemporaryDirectory(prefix="sparsity_rtl_") as build:
            t0 = time.perf_counter()
            r = check_program_on_rtl(program, s, x[:inferences], simulator=simulator, build_dir=Path(build),
                                     progress=lambda _: None)
        low, high = r["cycles_per_inference_rtl_range"]
        print(f"| {label} | {r['codes_compared']} | {r['rtl_mismatches']} | {r['cycles_per_inference_rtl']:.1f} "
              f"[{low}, {high}] | {time.perf_counter() - t0:.0f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mvms", type=int, default=400, help="random MVMs per point of part 1")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rtl", type=int, default=0, metavar="N",
                   help="also check N digits inferences on the RTL (tile64, interleaved; part 3)")
    p.add_argument("--simulator", choices=SIMULATORS, default="icarus", help="simulator of --rtl")
    args = p.parse_args(argv)
    if args.rtl < 0:
        p.error(f"--rtl = {args.rtl}: must be >= 0")
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    model = EnergyModel()
    print(f"benchmarks/sparsity.py: {args.mvms} random MVMs per point, seed {args.seed}")
    default = load_preset("default")
    synthetic(default, "default", args.mvms, rng, model)
    synthetic(default.replace(input={"encoding": "pwm"}), "default with PWM inputs", args.mvms, rng, model)
    for name in ("tile64", "hermes256"):
        synthetic(load_preset(name), name, args.mvms, rng, model)
    tile64 = load_preset("tile64")
    digits(tile64, "tile64", model)
    digits(tile64.replace(adc={"column_assignment": "interleaved"}),
           "tile64 with interleaved ADC columns (--set adc.column_assignment=interleaved)", model)
    digits(tile64.replace(input={"encoding": "pwm"}), "tile64 with PWM inputs", model)
    print(f"\nparts 1 and 2: {time.perf_counter() - t0:.1f} s")
    if args.rtl:
        rtl_check(tile64.replace(adc={"column_assignment": "interleaved"}), "tile64 with interleaved ADC columns",
                  args.rtl, args.simulator)
        print(f"\nwhole script: {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
