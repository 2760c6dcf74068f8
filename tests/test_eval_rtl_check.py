"""The RTL cross-check of the evaluation (sim.eval.rtl_check, `aimcgen evaluate --rtl-check`): the digits MLP
mapped on the default preset, four test inputs through the generated Verilog layer by layer, every output code
equal to the golden model (emulated read noise included); and a corrupted golden expectation is reported by
input, layer, column, expected and got."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import GoldenBackend
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import default_model_path, load_network
from aimcgen.sim.eval.rtl_check import check_network_on_rtl, mismatches


@pytest.fixture(scope="module")
def digits():
    net = load_network(default_model_path())
    return map_network(net, load_preset("default"), net.meta["x_calib"]), net.meta["x_test"][:4]


def test_evaluate_rtl_check_equals_golden(digits, fast_simulator, tmp_path, capsys):
    """`aimcgen evaluate --rtl-check 4` on the default preset: exact on every layer, in JSON and report.md."""
    from aimcgen.cli import main

    mapping, x = digits
    assert main(["evaluate", "--seeds", "1", "--no-plots", "--rtl-check", str(len(x)), "--simulator", fast_simulator,
                 "--out", str(tmp_path)]) == 0
    out = tmp_path / mapping.spec.name / "evaluation"
    result = json.loads((out / "report.json").read_text())["rtl_check"]
    assert result["passed"], result["mismatches"]
    assert result["golden_noise"] is True and result["inputs"] == len(x)
    assert [l["layer"] for l in result["layers"]] == [0, 1] and result["layers_not_run"] == 0
    for row, layer in zip(result["layers"], mapping.layers):
        assert row["codes_compared"] == len(x) * layer.spec.logical_cols
        assert row["codes_differing"] == 0
        assert row["weight_writes"] == int(np.count_nonzero(layer.weight_codes))
    assert (f"RTL cross-check: {len(x)} test input(s) through the generated Verilog ({fast_simulator}), layer by "
            f"layer: all {len(x) * (32 + 16)} output codes of 2 layer(s) equal the golden model"
            in (out / "report.md").read_text())
    # the outputs are not trivially zero: the golden model's last layer separates the classes
    last = GoldenBackend(mapping).run_codes(x)[-1].outputs[:, :mapping.layers[-1].out_features]
    assert len({int(np.argmax(v)) for v in last}) > 1


def test_a_wrong_expectation_is_named(digits, fast_simulator, tmp_path):
    """A golden model whose offset of one layer-0 column is 3 output codes higher than what the RTL is
    programmed with: the check fails at layer 0 and names input, layer, column, expected and got."""
    mapping, x = digits
    raw = GoldenBackend(mapping).run_codes(x)[0].outputs
    col = int(np.argmax(raw[0, :mapping.layers[0].out_features]))
    assert raw[0, col] > 0                      # above the relu: +3 codes shows in the output
    wrong = copy.deepcopy(mapping)
    wrong.layers[0].offset[col] += 3 << mapping.spec.postproc.scale_frac_bits
    result = check_network_on_rtl(mapping, x, simulator=fast_simulator, build_dir=tmp_path,
                                  golden=GoldenBackend(wrong), progress=print)
    assert not result["passed"]
    assert result["layers_not_run"] == 1 and result["layers"][0]["codes_differing"] >= 1
    message = f"input 0, layer 0, column {col}: expected {raw[0, col] + 3}, got {raw[0, col]}"
    assert message in result["mismatches"], result["mismatches"]


def test_mismatch_messages():
    expected = np.array([[1, 2, 3], [4, 5, 6]])
    got = expected.copy()
    got[1, 2] = -6
    assert mismatches(1, expected, got) == ["input 1, layer 1, column 2: expected 6, got -6"]
    assert mismatches(1, expected, got, positions=2) == ["input 0 (position 1), layer 1, column 2: expected 6, "
                                                         "got -6"]
    assert mismatches(1, expected, expected) == []
