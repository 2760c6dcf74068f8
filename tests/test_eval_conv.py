"""ONNX Conv imported as im2col (sim.eval.network.ConvLayer, sim.eval.onnx_io): the float back end equals a
direct numpy convolution; the mapped network runs on the golden and physics back ends; unsupported
attributes are named; npz and ONNX round trips keep the geometry."""

import numpy as np
import pytest

from aimcgen.presets import load_preset
from aimcgen.sim.eval.backends import FloatBackend, GoldenBackend, PhysicsBackend, with_device
from aimcgen.sim.eval.mapping import map_network
from aimcgen.sim.eval.network import ConvLayer, Network, NetworkError, load_network, save_npz

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def reference_conv(x, kernel, bias, pads, strides, dilations):
    """Direct NCHW convolution (cross-correlation, as ONNX defines Conv), one kernel tap at a time."""
    t, l, b, r = pads
    x = np.pad(x, ((0, 0), (0, 0), (t, b), (l, r)))
    f, _, kh, kw = kernel.shape
    oh = (x.shape[2] - dilations[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (x.shape[3] - dilations[1] * (kw - 1) - 1) // strides[1] + 1
    y = np.zeros((len(x), f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            for u in range(kh):
                for v in range(kw):
                    patch = x[:, :, i * strides[0] + u * dilations[0], j * strides[1] + v * dilations[1]]
                    y[:, :, i, j] += patch @ kernel[:, :, u, v].T
    return y + bias[None, :, None, None]


def conv_model(path, rng, *, pads=(1, 1, 1, 1), strides=(1, 1), dilations=(1, 1), **conv_attrs):
    """x (N, 1, 8, 8) -> Conv 4 filters 3x3 -> Relu -> Flatten -> Gemm to 10; returns the arrays."""
    k = rng.normal(size=(4, 1, 3, 3)).astype(np.float32)
    kb = rng.normal(size=4).astype(np.float32)
    oh = (8 + pads[0] + pads[2] - dilations[0] * 2 - 1) // strides[0] + 1
    ow = (8 + pads[1] + pads[3] - dilations[1] * 2 - 1) // strides[1] + 1
    w = (rng.normal(size=(4 * oh * ow, 10)) / np.sqrt(4 * oh * ow)).astype(np.float32)
    b = rng.normal(size=10).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "K", "kb"], ["c"], name="conv", kernel_shape=[3, 3], pads=list(pads),
                              strides=list(strides), dilations=list(dilations), **conv_attrs),
             helper.make_node("Relu", ["c"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "W", "b"], ["y"], name="fc")]
    graph = helper.make_graph(nodes, "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
                              [numpy_helper.from_array(a, n) for a, n in ((k, "K"), (kb, "kb"), (w, "W"), (b, "b"))])
    onnx.save(helper.make_model(graph), str(path))
    return k, kb, w, b


@pytest.mark.parametrize("pads, strides, dilations", [((1, 1, 1, 1), (1, 1), (1, 1)),
                                                      ((0, 0, 0, 0), (1, 1), (1, 1)),
                                                      ((2, 1, 0, 1), (2, 1), (1, 2))])
def test_float_backend_equals_numpy_convolution(tmp_path, pads, strides, dilations):
    rng = np.random.default_rng(3)
    k, kb, w, b = conv_model(tmp_path / "c.onnx", rng, pads=pads, strides=strides, dilations=dilations)
    net = load_network(tmp_path / "c.onnx")
    assert isinstance(net.layers[0], ConvLayer) and net.layers[0].activation == "relu"
    x = rng.normal(size=(5, 1, 8, 8))
    hidden = np.maximum(reference_conv(x, k.astype(float), kb.astype(float), pads, strides, dilations), 0)
    expected = hidden.reshape(len(x), -1) @ w + b
    np.testing.assert_allclose(FloatBackend(net).run(x)[-1], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(FloatBackend(net).run(x)[0], hidden.reshape(len(x), -1), rtol=1e-9, atol=1e-9)


def test_conv_network_on_mapped_backends(tmp_path):
    """Kernel matrix 9x4 on one tile, used 64 times per input; golden and physics follow the float outputs."""
    rng = np.random.default_rng(4)
    conv_model(tmp_path / "c.onnx", rng)
    net = load_network(tmp_path / "c.onnx")
    assert net.describe() == "1x8x8 -> conv3x3 4x8x8(relu) -> 10"
    x = rng.normal(size=(40, 64))
    mapping = map_network(net, load_preset("default"), x)
    conv = mapping.layers[0]
    assert (conv.in_features, conv.out_features, conv.positions, conv.tiles) == (9, 4, 64, 1)
    assert mapping.report()["layers"][0]["mvms_per_input"] == 64
    ref = FloatBackend(net).run(x)
    golden = GoldenBackend(mapping)
    trace = golden.run_codes(x)
    assert trace[0].inputs.shape == (40 * 64, 16) and trace[0].codes.shape == (40, 256)
    # 4-bit inputs and weights on the default preset: coarse; 8-bit inputs (tile64), ideal devices: close
    fine = map_network(net, with_device(load_preset("tile64"), "ideal"), x)
    for outs, bound in ((golden.run(x), 0.9), (PhysicsBackend(mapping, compensation=False).run(x), 0.9),
                        (GoldenBackend(fine, noise=False).run(x), 0.98)):
        assert [o.shape for o in outs] == [(40, 256), (40, 10)]
        for o, r in zip(outs, ref):
            assert np.corrcoef(o.ravel(), r.ravel())[0, 1] > bound
    from aimcgen.sim.eval.estimates import estimate
    e = estimate(mapping, [t.inputs for t in trace])
    assert e["layers"][0]["ops"] == 2 * 9 * 4 * 64
    assert e["layers"][0]["cycles"] > 64 * e["layers"][1]["cycles"] // 2


def test_unsupported_conv_attributes_are_named(tmp_path):
    rng = np.random.default_rng(5)
    conv_model(tmp_path / "g.onnx", rng, group=2)
    with pytest.raises(NetworkError, match=r"Conv 'conv': group = 2 is not supported"):
        load_network(tmp_path / "g.onnx")
    conv_model(tmp_path / "a.onnx", rng, ceil_mode=1)
    with pytest.raises(NetworkError, match=r"Conv 'conv': attribute\(s\) ceil_mode not supported"):
        load_network(tmp_path / "a.onnx")
    model = onnx.load(str(tmp_path / "a.onnx"))
    del model.graph.node[0].attribute[:]
    model.graph.input[0].type.tensor_type.shape.dim[2].dim_param = "H"
    onnx.save(model, str(tmp_path / "s.onnx"))
    with pytest.raises(NetworkError, match=r"input shape \(C, H, W\) is unknown"):
        load_network(tmp_path / "s.onnx")


def test_conv_round_trips(tmp_path):
    from aimcgen.sim.eval.onnx_io import export_onnx
    rng = np.random.default_rng(6)
    conv_model(tmp_path / "c.onnx", rng, pads=(2, 1, 0, 1), strides=(2, 1), dilations=(1, 2))
    net = load_network(tmp_path / "c.onnx")
    x = rng.normal(size=(3, 64))
    save_npz(net, tmp_path / "c.npz")
    export_onnx(net, tmp_path / "back.onnx")
    for path in (tmp_path / "c.npz", tmp_path / "back.onnx"):
        back = load_network(path)
        layer = back.layers[0]
        assert (layer.pads, layer.strides, layer.dilations, layer.in_shape) == ((2, 1, 0, 1), (2, 1), (1, 2),
                                                                                (1, 8, 8))
        np.testing.assert_allclose(back.forward(x), net.forward(x), rtol=1e-6, atol=1e-6)
    with pytest.raises(NetworkError, match="does not fit"):
        Network([ConvLayer(np.zeros((1, 1, 5, 5)), None, (1, 3, 3))])


@pytest.mark.slow
def test_conv_network_on_rtl_equals_golden(tmp_path, fast_simulator):
    """The conv layer's 64 MVMs (one per position, in order) and the 16-tile dense layer on the generated
    Verilog: every output code equals the golden model's (sim.eval.rtl_check)."""
    from aimcgen.sim.eval.rtl_check import check_network_on_rtl
    rng = np.random.default_rng(4)
    conv_model(tmp_path / "c.onnx", rng)
    net = load_network(tmp_path / "c.onnx")
    x = rng.normal(size=(40, 64))
    mapping = map_network(net, load_preset("default"), x)
    result = check_network_on_rtl(mapping, x[:1], simulator=fast_simulator,
                                  build_dir=tmp_path / "rtl", progress=print)
    assert result["passed"], result["mismatches"]
    assert [(l["mvms"], l["codes_compared"]) for l in result["layers"]] == [(64, 64 * 16), (1, 16)]
