"""The digits MLP's first layer on one twin chip of sim.eval.twin_accuracy, through the generated Verilog at
drift epoch 7 (1 day): programming error, drift and device read noise on, every weight written once (one
programming shot, as the accuracy study programs), and the MVM outputs equal to the golden model's code for
code; the golden chip is the one TwinBackend measures accuracy on (same devices)."""

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.eval.twin_accuracy import TwinBackend, twin_layer_spec
from aimcgen.sim.models.golden import GoldenAccelerator
from aimcgen.sim.verify.cocotb_run import run_bench, write_bench_config
from aimcgen.sim.verify.emulated_top import write_emulated_top

BENCH = "aimcgen.sim.verify.benches.twin_bench"
CHIP, EPOCH, INPUTS = 3, 7, 2


@pytest.mark.slow
def test_mlp_layer_on_rtl_at_one_day(tmp_path, fast_simulator):
    net = load_network(default_model_path())
    mapping = map_network(net, load_preset("tile64"), net.meta["x_calib"])
    layer = mapping.layers[0]
    spec = twin_layer_spec(layer.spec, CHIP, layer.index)
    xs = mapping.layer_input(layer, mapping.quantize_input(net.meta["x_test"][:INPUTS]))
    golden = GoldenAccelerator(spec, np.zeros_like(layer.weight_codes))
    golden.program_weights(layer.weight_codes)
    backend = TwinBackend(mapping, chip=CHIP, epoch=EPOCH, compensation=False)
    golden.set_drift_epoch(EPOCH)
    for ours, theirs in zip(golden.tiles, backend.accels[0].tiles):       # the accuracy study's chip
        np.testing.assert_array_equal(ours.weights, theirs.weights)
    assert (golden.tiles[0].weights != layer.weight_codes).sum() > 100      # the twin moved many weights
    expected = golden.run(xs).outputs

    source, top, regmap = write_emulated_top(spec, tmp_path)
    config = write_bench_config(tmp_path / "config.json", spec, regmap_json=str(regmap),
                                weights=layer.weight_codes, inputs=xs, epochs=[EPOCH])
    result = run_bench(verilog_sources=[source], toplevel=top, test_module=BENCH, simulator=fast_simulator,
                       build_dir=tmp_path / "run", extra_env={"AIMCGEN_BENCH_CONFIG": str(config)})
    got = result.report["test_twin_program"]
    assert got["prog_count"] == layer.weight_codes.size
    np.testing.assert_array_equal(np.array(got["outputs"]), expected)
    print(f"digits MLP layer 0 on {fast_simulator}, twin chip {CHIP}, epoch {EPOCH}: {expected.size} codes equal; "
          f"build {result.build_s:.1f} s, run {result.run_s:.1f} s")
