"""sim.eval.neurobench_harness: the mapped network through the neurobench package's Benchmark harness, its
custom metrics equal to report.json's, NeuroBench's own figures on the float network beside them."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("neurobench")

from aimcgen.presets import load_preset
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.layers import DenseLayer, Network
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network
from aimcgen.sim.eval.neurobench_harness import run_benchmark


def test_custom_metrics_equal_the_report_object():
    """One batch of the whole test set: the harness's figures are report.json's neurobench object."""
    spec = load_preset("tile64")
    net = load_network(default_model_path())
    x, y, calib = checked_test_set(net)
    mapping = map_network(net, spec, calib)
    r = run_benchmark(mapping, x, y)
    trace = GoldenBackend(mapping, noise=True).run_codes(x)
    correct = np.argmax(mapping.layers[-1].dequantize(trace[-1].codes), axis=1) == y
    ours = nb.metrics(nb.mapping_runs(mapping, trace), [l.spec for l in mapping.layers], correct, source="test")
    hw = r["hardware"]
    assert hw["AimcFootprint"] == ours["footprint_bytes"]
    assert hw["AimcConnectionSparsity"] == ours["connection_sparsity"]
    assert hw["AimcActivationSparsity"] == ours["activation_sparsity"]["overall"]
    assert hw["AimcSynapticOperations"]["Effective_MACs"] == pytest.approx(ours["synaptic_operations"]["effective_macs"])
    assert hw["AimcSynapticOperations"]["Dense"] == ours["synaptic_operations"]["dense"]
    assert hw["ClassificationAccuracy"] == pytest.approx(ours["accuracy"])
    # NeuroBench's own on the float network: float32 parameters, the same dense count, no zero weights.
    fl = r["float"]
    assert fl["Footprint"] == 4 * (64 * 32 + 32 + 32 * 10 + 10)
    assert fl["SynapticOperations"]["Dense"] == ours["synaptic_operations"]["dense"]
    assert fl["ClassificationAccuracy"] == pytest.approx(net.meta["float_test_accuracy"])


def test_counts_agree_with_neurobench_where_quantization_is_exact():
    """Integer inputs and weights that map onto codes without rounding: NeuroBench's effective MACs and
    activation sparsity of the float network equal ours from the hardware's codes; batches accumulate."""
    spec = load_preset("tile64").replace(noise={"sigma_lsb": 0.0})
    rng = np.random.default_rng(2)
    w0 = rng.integers(-1, 2, size=(8, 6)).astype(float)
    w0[:, 0] = 1.0                                     # every column holds a top code
    w1 = rng.integers(-1, 2, size=(6, 3)).astype(float)
    w1[0] = 1.0
    net = Network([DenseLayer(w0, None, "relu"), DenseLayer(w1, None, "none")])
    x = rng.integers(-1, 2, size=(40, 8)).astype(float)
    x[0] = 1.0
    y = net.predict(x)
    mapping = map_network(net, spec, x, weight_quantization="max_abs", device_aware=False, bias_correction=False,
                          weight_bias_correction=False)
    r = run_benchmark(mapping, x, y, batch_size=16, noise=False)
    hw, fl = r["hardware"], r["float"]
    # NeuroBench books a batch's operations of a layer as ACs when that batch's inputs happen to be all 0/1;
    # the hardware's inputs are multi-bit codes, so every effective operation is a MAC here.
    fl_ops = fl["SynapticOperations"]
    assert hw["AimcSynapticOperations"]["Effective_MACs"] == pytest.approx(fl_ops["Effective_MACs"] + fl_ops["Effective_ACs"])
    assert hw["AimcSynapticOperations"]["Dense"] == fl_ops["Dense"] == 8 * 6 + 6 * 3
    assert hw["AimcActivationSparsity"] == pytest.approx(fl["ActivationSparsity"])
    assert hw["AimcConnectionSparsity"] == pytest.approx(fl["ConnectionSparsity"], abs=5e-5)   # NeuroBench: 4 decimals
