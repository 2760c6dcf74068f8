"""IR drop's effect on network accuracy, with and without the mapping's reordering against it.

    .venv/bin/python benchmarks/ir_drop_accuracy.py [--chips 10] [--presets default,tile64,hermes256]
                                                    [--wire-r-ohm 0,1,5,10,20,40]
                                                    [--sense-amplifiers last_row,first_row]

The shipped digits MLP (64 -> 32 relu -> 10, its 360 test samples) mapped by sim.eval.mapping onto each preset's
tiles and run on the evaluation's physics back end (sim.eval.backends.measure_chips: PCM devices read 1 s after
programming, global drift compensation per tile, the spec's ADC and datapath in integers), at each wire resistance
per cell segment (device.wire_r_ohm), for each floorplan device.sense_amplifiers (the bit lines' end next to tile
row R - 1, "last_row", or next to row 0, "first_row": sim/models/ir_drop.py) with device.ir_drop_order "off" and
"on" (rule in sim/eval/ir_drop_order.py, which follows the floorplan; at 0 ohm only the first floorplan runs: it
changes nothing there). Chips are seeds 0..chips-1, the same for both orders (paired; the reordered weights sit on
other devices of the chip, so device draws are paired by position, not by weight). Cells: accuracy mean [Student t
95 % interval over chips]; on - off: the paired difference with the crossed interval over chips and test samples
(sim.eval.statistics.paired_accuracy_stat); layer-1 error: relative RMS error of the first layer's output against
the float network, mean over chips. The second table isolates the wires: ideal devices (no
noise, no drift), one deterministic chip per cell. Ideal devices at 0 ohm put every charge exactly on an
integer, often on an ADC code boundary; any wire resistance (1e-4 ohm does it) moves those just below, where
the sar/ramp floor loses one code more: a step between 0 and 1 ohm in that table is this, not the wires' size.
The third table is the first layer's MVM alone on one tile (ideal devices, no ADC, the physics model's
conductance read through the wires): the relative RMS error of x @ G_wired against the exact x @ W over the
calibration inputs' codes, for the layer's rows where the mapping puts them (rows 0..in-1), with the sense
amplifiers at the last row (the tile.rows - in rows below carry every column current to them, tile.rows - in + 1
segments in series) and at the first row (the layer's rows next to them, 1 segment).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

from aimcgen.presets import load_preset
from aimcgen.sim.eval import statistics as st
from aimcgen.sim.eval.backends import FloatBackend, measure_chips
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.models.ir_drop import SENSE_ENDS, block_sense_segments
from aimcgen.sim.models.physics import PhysicsCrossbar
from aimcgen.spec import device_preset

T_S = 1.0
ORDERS = ("off", "on")


def spec_for(preset: str, device: str, wire_r_ohm: float, order: str, sense_amplifiers: str):
    dev = dataclasses.replace(device_preset(device), wire_r_ohm=wire_r_ohm, ir_drop_order=order,
                              sense_amplifiers=sense_amplifiers)
    return dataclasses.replace(load_preset(preset), device=dev)


def run(net, preset: str, device: str, wire_r_ohm: float, sense_amplifiers: str, chips: int, ref) -> dict:
    """measure_chips results per order: the same chip seeds for both."""
    x, y, calib = net.meta["x_test"], net.meta["y_test"], net.meta["x_calib"]
    return {order: measure_chips(map_network(net, spec_for(preset, device, wire_r_ohm, order, sense_amplifiers),
                                             calib), x, y, calib, chips, t_s=T_S, ref=ref) for order in ORDERS}


def first_layer_wire_error(net, preset: str, wire_r_ohm: float, order: str, sense_amplifiers: str) -> float:
    """Relative RMS error of the first layer's MVM on its (single) tile through the wires: ideal devices, the
    physics model's read of the mapped tile (its active block, PhysicsCrossbar.wired)."""
    spec = spec_for(preset, "ideal", wire_r_ohm, order, sense_amplifiers)
    mapping = map_network(net, spec, net.meta["x_calib"])
    layer = mapping.layers[0]
    n_in, n_out = layer.in_features, layer.out_features
    if layer.tiles != 1:
        raise SystemExit(f"{preset}: the first layer ({n_in} x {n_out}) spans several tiles")
    x = mapping.layer_input(layer, mapping.quantize_input(net.meta["x_calib"]))[:, :n_in].astype(np.float64)
    read = PhysicsCrossbar(layer.spec, layer.weight_codes, 0, active=(n_in, n_out)).conductances(T_S)
    exact = x @ layer.weight_codes[:n_in, :n_out]
    wired = x @ read
    return float(np.sqrt(np.mean((wired - exact) ** 2) / np.mean(exact ** 2)))


def pct(stat: dict) -> str:
    return st.describe(stat, scale=100.0, digits=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chips", type=int, default=10)
    parser.add_argument("--presets", default="default,tile64,hermes256")
    parser.add_argument("--wire-r-ohm", default="0,1,5,10,20,40")
    parser.add_argument("--sense-amplifiers", default=",".join(SENSE_ENDS),
                        help="floorplans (device.sense_amplifiers) of the first two tables")
    parser.add_argument("--block-preset", default="hermes256", help="preset of the third table (one tile per "
                        "layer, the first layer shorter than tile.rows); empty: skip it")
    args = parser.parse_args()
    resistances = [float(r) for r in args.wire_r_ohm.split(",")]
    presets = args.presets.split(",")
    ends = args.sense_amplifiers.split(",")
    for end in ends:
        if end not in SENSE_ENDS:
            parser.error(f"--sense-amplifiers: {end!r} is not one of {', '.join(SENSE_ENDS)}")
    net = load_network(default_model_path())
    ref = FloatBackend(net).run(net.meta["x_test"])
    float_acc = float(np.mean(np.argmax(ref[-1], axis=1) == net.meta["y_test"]))
    print(f"digits MLP {net.describe()}, {len(net.meta['y_test'])} test samples, float accuracy "
          f"{100 * float_acc:.1f} %; physics back end, t = {T_S:g} s, global drift compensation; "
          f"os.cpu_count() = {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}\n")
    started = time.perf_counter()
    print(f"PCM devices, {args.chips} chips per cell (seeds 0..{args.chips - 1}, the same for both orders); "
          f"accuracy % mean [{st.T_METHOD}]\n")
    print("| preset (tile) | sense amplifiers | wire ohm/segment | order off | order on | on - off (points) | "
          "layer-1 error off | layer-1 error on |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in presets:
        tile = load_preset(preset).tile
        for end in ends:
            for r in resistances:
                if r == 0 and end != ends[0]:
                    continue                       # ideal wires: the floorplan changes nothing
                res = run(net, preset, "pcm", r, end, args.chips, ref)
                acc = {o: st.accuracy_stat(res[o]["correct"]) for o in ORDERS}
                diff = st.paired_accuracy_stat(res["on"]["correct"], res["off"]["correct"])
                err = {o: float(np.mean(res[o]["layer_error"][:, 0])) for o in ORDERS}
                print(f"| {preset} ({tile.rows}x{tile.cols}) | {end} | {r:g} | {pct(acc['off'])} | "
                      f"{pct(acc['on'])} | {pct(diff)}{'' if diff['significant'] else ' (n.s.)'} | "
                      f"{err['off']:.3f} | {err['on']:.3f} |", flush=True)
    print("\nIdeal devices (the wires alone), one deterministic chip per cell: accuracy % and layer-1 / layer-2 "
          "relative errors\n")
    print("| preset (tile) | sense amplifiers | wire ohm/segment | accuracy off | accuracy on | layer errors off | "
          "layer errors on |")
    print("|---|---|---|---|---|---|---|")
    for preset in presets:
        tile = load_preset(preset).tile
        for end in ends:
            for r in resistances:
                if r == 0 and end != ends[0]:
                    continue
                res = run(net, preset, "ideal", r, end, 1, ref)
                cells = [f"{100 * float(np.mean(res[o]['correct'])):.1f}" for o in ORDERS]
                cells += [", ".join(f"{e:.3f}" for e in res[o]["layer_error"][0]) for o in ORDERS]
                print(f"| {preset} ({tile.rows}x{tile.cols}) | {end} | {r:g} | " + " | ".join(cells) + " |",
                      flush=True)
    if args.block_preset:
        tile = load_preset(args.block_preset).tile
        n_in = net.layers[0].weight.shape[0]
        segments = {end: block_sense_segments(tile.rows, n_in, end) for end in SENSE_ENDS}
        print(f"\nFirst layer's MVM on one {args.block_preset} tile ({tile.rows}x{tile.cols}), ideal devices, no "
              f"ADC: relative RMS error through the wires, the layer's {n_in} rows on tile rows 0..{n_in - 1}, "
              + ", ".join(f"sense amplifiers {end} ({n} segment{'s' if n > 1 else ''} from the layer's rows)"
                          for end, n in segments.items()) + "\n")
        print("| wire ohm/segment | " + " | ".join(f"{end}, order {order}" for end in SENSE_ENDS for order in ORDERS)
              + " |")
        print("|---|---|---|---|---|")
        for r in resistances:
            cells = [first_layer_wire_error(net, args.block_preset, r, order, end)
                     for end in SENSE_ENDS for order in ORDERS]
            print(f"| {r:g} | " + " | ".join(f"{c:.3f}" for c in cells) + " |", flush=True)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
