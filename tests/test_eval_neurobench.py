"""sim.eval.neurobench: each NeuroBench metric on hand-built cases with known answers, and on real runs."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst
from hypothesis.extra import numpy as hnp

from aimcgen.presets import load_preset
from aimcgen.sim.deploy.activity import neurobench_of_program
from aimcgen.cli import main
from aimcgen.sim.deploy.compile import compile_network
from aimcgen.sim.deploy.run import run_golden
from aimcgen.sim.eval import neurobench as nb
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.layers import ConvLayer, DenseLayer, Network
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network


def test_synaptic_operations_neurobench_example():
    """NeuroBench's documented example: y = W x with W = [[1.3, 0, -3.2], [0, 1.2, -5.1], [-1.1, 2.7, 0]] and
    x = [0, 1.3, -1] gives 4 effective operations and 9 dense ones (our matrices are inputs x outputs: W.T)."""
    w = np.array([[1.3, 0, -3.2], [0, 1.2, -5.1], [-1.1, 2.7, 0]]).T
    assert nb.effective_macs(np.array([[0, 1.3, -1]]), w) == 4
    assert nb.dense_macs(DenseLayer(w, None)) == 9


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.int64, hst.tuples(hst.integers(1, 6), hst.integers(1, 7)), elements=hst.integers(-2, 2)),
       hst.integers(1, 5), hst.integers(0, 2**31 - 1))
def test_effective_macs_counts_every_nonzero_pair(x, cols, seed):
    w = np.random.default_rng(seed).integers(-1, 2, size=(x.shape[1], cols))
    brute = sum(int(x[n, r] != 0 and w[r, k] != 0) for n in range(len(x)) for r in range(x.shape[1])
                for k in range(cols))
    assert nb.effective_macs(x, w) == brute
    assert brute <= len(x) * nb.dense_macs(DenseLayer(w.astype(float), None))


def test_dense_macs_of_a_padded_convolution():
    """3x3 input, 3x3 kernel, pad 1: the kernel taps inside the input are 4 at each corner, 6 at each edge and 9
    in the centre, 4*4 + 4*6 + 9 = 49 per filter; 2 filters."""
    conv = ConvLayer(np.ones((2, 1, 3, 3)), None, (1, 3, 3), pads=(1, 1, 1, 1))
    assert conv.positions == 9
    assert nb.dense_macs(conv) == 98


def test_connection_sparsity_counts_zero_codes_and_removed_weights():
    a = np.array([[0, 1], [2, 0]])
    b = np.array([[0, 0, 3]])
    assert nb.connection_sparsity([a, b]) == pytest.approx(4 / 7)
    assert nb.connection_sparsity([a, b], removed=3) == pytest.approx(7 / 10)


def test_activation_sparsity_overall_counts_only_layers_with_an_activation():
    relu = nb.LayerRun(0, "relu", np.ones((2, 4)), np.ones((3, 2)), np.array([[1, 0, 0, 1], [1, 1, 0, 0]], bool), 8)
    linear = nb.LayerRun(1, "none", np.ones((4, 2)), np.ones((3, 4)), np.array([[1, 1], [1, 1]], bool), 8)
    a = nb.activation_sparsity([relu, linear])
    assert a["overall"] == 0.5
    assert [p["sparsity"] for p in a["per_layer"]] == [0.5, 1.0]
    assert nb.activation_sparsity([linear])["overall"] is None


def test_footprint_of_tile64_in_bits():
    """tile64: 64x64 devices pairs of 4-bit codes, 12+24-bit coefficients, 8-bit inputs, 20-bit accumulators."""
    fp = nb.footprint([load_preset("tile64")])
    assert fp["bits"] == {"devices": 64 * 64 * 2 * 4, "coefficients": 64 * 36, "input_buffer": 2 * 64 * 8,
                          "accumulators": 2 * 64 * 21, "total": 38784}
    assert fp["bytes"] == 4848


def test_counts_of_a_mapped_network_with_known_zeros():
    """A diagonal layer on tile64 with inputs that are zero in known places: every nonzero input meets
    exactly one nonzero weight code, so effective MACs per sample = nonzero inputs per sample; relu outputs of
    the negative inputs are zero."""
    spec = load_preset("tile64").replace(noise={"sigma_lsb": 0.0})
    net = Network([DenseLayer(np.eye(4), None, "relu"), DenseLayer(np.eye(4), None, "none")])
    x = np.array([[1.0, 0, 0.5, 0], [0, 0, 0, -1.0], [1.0, -1.0, 1.0, 1.0]])
    mapping = map_network(net, spec, x, weight_quantization="max_abs", device_aware=False, bias_correction=False,
                          weight_bias_correction=False)        # offsets 0: a zero charge gives a zero code
    trace = GoldenBackend(mapping, noise=False).run_codes(x)
    runs = nb.mapping_runs(mapping, trace)
    m = nb.metrics(runs, [l.spec for l in mapping.layers], np.ones(3, bool), source="test")
    assert m["connection_sparsity"] == pytest.approx(24 / 32)
    per_layer = m["synaptic_operations"]["per_layer"]
    assert per_layer[0]["effective_macs"] == pytest.approx((2 + 1 + 4) / 3)
    assert per_layer[1]["effective_macs"] == pytest.approx((2 + 0 + 3) / 3)     # relu zeroed the negatives
    assert m["synaptic_operations"]["dense"] == 32
    assert m["activation_sparsity"]["per_layer"][0]["zeros"] == 12 - 5
    assert m["activation_sparsity"]["overall"] == pytest.approx(7 / 12)
    assert m["footprint_bytes"] == 2 * 4848 and m["accuracy"] == 1.0


def test_deploy_counts_come_from_the_golden_run():
    """The recorded run is run_golden's run (same predictions, noise included), and the counts agree with an
    independent per-layer count of the digits MLP on the chip."""
    spec = load_preset("tile64")
    net = load_network(default_model_path())
    x, y, calib = checked_test_set(net)
    x, y = x[:40], y[:40]
    program = compile_network(net, spec, calib)
    run, m = neurobench_of_program(program, spec, net, x, y)
    assert (run.predictions == run_golden(program, spec, x).predictions).all()
    assert m["accuracy"] == float(np.mean(run_golden(program, spec, x).predictions == y))
    assert m["synaptic_operations"]["dense"] == 64 * 32 + 32 * 10
    # Layer 0's MVM inputs are the quantized test inputs: count them independently.
    codes = np.clip(np.round((x - program.input["x_zero"]) / program.input["x_scale"]),
                    -spec.input.max_magnitude, spec.input.max_magnitude)
    w0 = program.weights[:64, :32]
    expect = sum(int((codes[n] != 0) @ (w0 != 0).sum(axis=1)) for n in range(len(x))) / len(x)
    assert m["synaptic_operations"]["per_layer"][0]["effective_macs"] == pytest.approx(expect)
    assert 0 < m["synaptic_operations"]["effective_macs"] < m["synaptic_operations"]["dense"]
    assert 0 < m["activation_sparsity"]["overall"] < 1
    assert m["footprint_bytes"] == 4848


def test_deploy_report_carries_the_object(tmp_path, capsys):
    assert main(["deploy", "--preset", "tile64", "--out", str(tmp_path), "--chips", "1", "--inputs", "40"]) == 0
    r = json.loads((tmp_path / "aimc_tile64" / "deploy" / "report.json").read_text())
    assert r["neurobench"]["accuracy"] == r["accuracy"]["golden"]
    assert r["neurobench"]["footprint_bytes"] == 4848 and r["neurobench"]["samples"] == 40
    assert "NeuroBench: footprint 4848 bytes" in capsys.readouterr().out
    assert "## NeuroBench metrics" in (tmp_path / "aimc_tile64" / "deploy" / "report.md").read_text()
