"""sim.eval.pruning: tile-aligned structured pruning, its criterion on networks with known answers, the CLI."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from aimcgen.cli import main
from aimcgen.presets import load_preset
from aimcgen.sim.eval.layers import ConvLayer, DenseLayer, Network
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import checked_test_set, default_model_path, load_network
from aimcgen.sim.eval.pruning import PruneError, candidate_units, check_fraction, prune_network
from aimcgen.sim.eval.quantize import DeviceLevels
from aimcgen.sim.eval.report import evaluate

SPEC = load_preset("default")          # 16 x 16 tiles: the digits MLP spans 4 x 2 and 2 x 1 tiles


@pytest.fixture(scope="module")
def digits():
    return load_network(default_model_path())


@pytest.mark.parametrize("bad", [-0.1, 1, 1.5, float("nan"), float("inf"), "abc", None])
def test_fraction_outside_0_1_is_refused(bad):
    with pytest.raises(PruneError, match="--prune"):
        check_fraction(bad)


def test_zero_fraction_keeps_the_network(digits):
    r = prune_network(digits, SPEC, 0.0)
    x = digits.meta["x_test"]
    assert r.removed == [] and r.sparsity == 0
    assert np.array_equal(r.network.forward(x), digits.forward(x))


def _net_with_idle_units(seed=0):
    """32 inputs (2 row blocks of 16) -> 8 hidden relu -> 3: inputs 0..15 are always 0, hidden neurons 0..3
    are constant (no input weights, bias 1) and feed the output; neurons 4..7 carry the signal."""
    rng = np.random.default_rng(seed)
    w0 = rng.normal(size=(32, 8))
    w0[:, :4] = 0.0
    b0 = np.r_[np.ones(4), np.zeros(4)]
    w1 = rng.normal(size=(8, 3))
    x = rng.normal(size=(200, 32))
    x[:, :16] = 0.0
    net = Network([DenseLayer(w0, b0, "relu"), DenseLayer(w1, rng.normal(size=3), "none")],
                  meta={"x_test": x, "y_test": np.zeros(200, dtype=np.int64)})
    return net, x


def test_units_that_carry_no_signal_go_first_and_change_nothing():
    """Constant neurons and a row block of always-zero inputs carry no signal: their damage is <= 0, they
    are removed first, and with their mean folded into the biases the outputs are unchanged."""
    net, x = _net_with_idle_units()
    units = {(u.kind, u.layer, u.index): u for u in candidate_units(net, SPEC, x)}
    assert units[("row_block", 0, 0)].damage <= 0 < units[("row_block", 0, 1)].damage
    assert all(units[("column", 0, j)].damage <= 0 for j in range(4))
    assert all(units[("column", 0, j)].damage > 0 for j in range(4, 8))
    # The idle units: 16 x 8 + 4 x (32 + 3) = 268 of 280 weights would go; ask for less than all idle ones.
    r = prune_network(net, SPEC, 0.5, x)
    assert {(u.kind, u.index) for u in r.removed} <= {("row_block", 0)} | {("column", j) for j in range(4)}
    assert r.sparsity >= 0.5
    kept_x = x[:, r.kept_inputs]
    assert np.allclose(r.network.forward(kept_x), net.forward(x), atol=1e-12)
    assert np.array_equal(r.network.meta["x_test"], kept_x)


def test_device_noise_is_part_of_the_criterion():
    """The same unit hurts less under noisy devices: its damage is the signal lost minus the noise removed."""
    net, x = _net_with_idle_units(1)
    levels = SPEC.tile.conductance_levels
    ideal = {(u.kind, u.index): u.damage for u in candidate_units(net, SPEC, x, DeviceLevels.ideal(levels))}
    noisy = {(u.kind, u.index): u.damage for u in candidate_units(net, SPEC, x)}
    assert all(noisy[k] < ideal[k] for k in ideal if k[0] == "column" and k[1] >= 4)


def test_baseline_rankings_prune_the_same_share(digits):
    """The benchmark's baselines remove whole units to the same share; the criterion does no worse than the
    magnitude baseline on the digits MLP's float accuracy at half the weights (measured: 91.9 % vs 47.2 %)."""
    x, y = digits.meta["x_test"], digits.meta["y_test"]
    acc = {}
    for ranking in ("damage", "magnitude", "random"):
        r = prune_network(digits, SPEC, 0.5, ranking=ranking, seed=3)
        assert r.sparsity >= 0.5
        acc[ranking] = np.mean(r.network.predict(x[:, r.kept_inputs]) == y)
    assert acc["damage"] > acc["magnitude"]
    with pytest.raises(ValueError, match="ranking"):
        prune_network(digits, SPEC, 0.5, ranking="largest")


def test_placement_shrinks_onto_fewer_tiles(digits):
    """Half the digits MLP's weights pruned on 16x16 tiles: 16 of 32 hidden neurons go, layer 0 needs one column
    of tiles instead of two and layer 1 one row tile instead of two: 10 tiles -> 5."""
    r = prune_network(digits, SPEC, 0.5)
    calib = checked_test_set(r.network)[2]
    before = map_network(digits, SPEC, checked_test_set(digits)[2]).tiles
    after = map_network(r.network, SPEC, calib).tiles
    assert (before, after) == (10, 5)
    assert r.network.describe() == "64 -> 16(relu) -> 10"
    assert r.weights_kept == 64 * 16 + 16 * 10


@settings(max_examples=12, deadline=None)
@given(hst.floats(0.0, 0.85))
def test_removed_share_reaches_the_fraction(fraction):
    net = load_network(default_model_path())
    r = prune_network(net, SPEC, fraction)
    shapes = [l.weight.shape for l in r.network.layers]
    assert r.weights_kept == sum(a * b for a, b in shapes)
    assert r.sparsity >= fraction or r.notes
    assert shapes[0][0] == len(r.kept_inputs) >= SPEC.tile.rows or len(r.kept_inputs) == 64
    assert all(b >= 1 for _, b in shapes) and shapes[-1][1] == 10
    # Each unit removed is whole: a row block is a whole row tile of layer 0.
    assert len(r.kept_inputs) % SPEC.tile.rows == 0


def test_cli_prune_writes_the_pruned_row(tmp_path, capsys):
    code = main(["evaluate", "--preset", "default", "--seeds", "2", "--prune", "0.5", "--no-plots",
                 "--out", str(tmp_path)])
    assert code == 0
    r = json.loads((tmp_path / "aimc_small" / "evaluation" / "report.json").read_text())
    rows = r["accuracy_energy"]
    assert [row["tiles"] for row in rows] == [10, 5]
    assert rows[1]["weights_removed_share"] == 0.5
    assert rows[1]["energy_per_inference_j"] < rows[0]["energy_per_inference_j"]
    for row in rows:
        s = row["accuracy_physics_1d"]
        assert s["n"] == 2 and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    change = rows[1]["change_vs_unpruned"]
    assert change["mean"] == pytest.approx(rows[1]["accuracy_physics_1d"]["mean"] - rows[0]["accuracy_physics_1d"]["mean"])
    assert r["pruning"]["weights_removed"] == 1184 and r["pruning"]["columns_removed"] == 16
    nb = r["pruned"]["neurobench"]
    assert nb["connection_sparsity"] > r["neurobench"]["connection_sparsity"] >= 0
    assert nb["synaptic_operations"]["dense"] == r["neurobench"]["synaptic_operations"]["dense"]
    md = (tmp_path / "aimc_small" / "evaluation" / "report.md").read_text()
    assert "| pruned 50 % | 64 -> 16(relu) -> 10 | 5 |" in md


@pytest.mark.parametrize("bad", ["1", "-0.2", "x", "nan"])
def test_cli_bad_prune_exits_2_with_one_line(tmp_path, capsys, bad):
    assert main(["evaluate", "--preset", "default", "--seeds", "1", f"--prune={bad}", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("aimcgen: error: --prune") and "[0, 1)" in err[0]
    assert not (tmp_path / "aimc_small").exists()


def test_conv_network_prunes_only_its_dense_neurons(tmp_path):
    """A convolution is never pruned; the dense hidden layer after it is; the evaluation reports both rows and
    the NeuroBench counts of the convolution (zero padding stays out of dense MACs)."""
    rng = np.random.default_rng(5)
    conv = ConvLayer(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2), (1, 4, 4), "relu", pads=(1, 1, 1, 1))
    x = rng.normal(size=(60, 16))
    net = Network([conv, DenseLayer(rng.normal(size=(32, 6)), None, "relu"), DenseLayer(rng.normal(size=(6, 3)), None)],
                  meta={"x_test": x})
    net.meta["y_test"] = net.predict(x)
    r = prune_network(net, load_preset("tile64"), 0.05)
    assert r.network.layers[0] is conv and r.network.layers[1].out_features < 6
    assert {u.kind for u in r.removed} == {"column"}
    report = evaluate(load_preset("tile64"), net, tmp_path, seeds=1, progress=lambda s: None, plots=False,
                      adc_bits=[], drift_times=[86400.0], prune=0.05)
    assert report["neurobench"]["synaptic_operations"]["per_layer"][0]["dense"] == 2 * (4 * 4 + 8 * 6 + 4 * 9)
    assert len(report["accuracy_energy"]) == 2 and report["pruning"]["columns_removed"] >= 1
