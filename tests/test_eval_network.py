"""sim.eval.network: npz and ONNX importers."""

import numpy as np
import pytest

from aimcgen.sim.eval.network import (DenseLayer, Network, NetworkError, default_model_path, load_network,
                                      save_npz)


def _net():
    rng = np.random.default_rng(0)
    return Network([DenseLayer(rng.normal(size=(5, 4)), rng.normal(size=4), "relu"),
                    DenseLayer(rng.normal(size=(4, 3)), rng.normal(size=3), "none")], name="t")


def test_npz_round_trip(tmp_path):
    net = _net()
    save_npz(net, tmp_path / "n.npz", note="x")
    back = load_network(tmp_path / "n.npz")
    x = np.random.default_rng(1).normal(size=(7, 5))
    assert np.allclose(back.forward(x), net.forward(x), atol=1e-5)
    assert back.meta["note"] == "x" and back.name == "t"


def test_npz_errors(tmp_path):
    np.savez(tmp_path / "bad.npz", w=np.zeros(3))
    with pytest.raises(NetworkError, match="layer0_weight"):
        load_network(tmp_path / "bad.npz")
    with pytest.raises(NetworkError, match="inputs"):
        Network([DenseLayer(np.zeros((3, 2)), None), DenseLayer(np.zeros((3, 2)), None)])
    with pytest.raises(NetworkError, match="unknown model format"):
        load_network(tmp_path / "m.pt")


def test_onnx_shipped_matches_npz():
    pytest.importorskip("onnx")
    npz = load_network(default_model_path())
    onnx_net = load_network(default_model_path().with_suffix(".onnx"))
    x = npz.meta["x_test"].astype(float)
    assert np.allclose(onnx_net.forward(x), npz.forward(x), atol=1e-4)
    assert [l.activation for l in onnx_net.layers] == ["relu", "none"]


def test_onnx_matmul_add_and_unsupported(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(2)
    w, b = rng.normal(size=(6, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "W"], ["m"]),
             helper.make_node("Add", ["m", "b"], ["a"]), helper.make_node("Relu", ["a"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph), str(tmp_path / "m.onnx"))
    net = load_network(tmp_path / "m.onnx")
    x = rng.normal(size=(4, 6))
    assert np.allclose(net.forward(x), np.maximum(x @ w + b, 0), atol=1e-5)
    graph.node.append(helper.make_node("Sigmoid", ["y"], ["z"]))
    onnx.save(helper.make_model(graph), str(tmp_path / "s.onnx"))
    with pytest.raises(NetworkError, match="Sigmoid"):
        load_network(tmp_path / "s.onnx")
