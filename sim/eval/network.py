"""A network as the evaluation sees it: a chain of dense layers y = act(x @ W + b).

W has shape (in, out) -- rows are inputs, as on a crossbar. Activations: "relu" or "none".
Importers: plain numpy weight lists (.npz) and ONNX (Gemm, MatMul + Add, Relu; Flatten, Reshape,
Identity and Dropout are passed through). Convolutions are not imported (see load_onnx).

.npz layout (save_npz / load_npz): layer{i}_weight (in, out), layer{i}_bias (out,), layer{i}_activation
(a string); any other array is metadata (e.g. float_test_accuracy, x_test, y_test, x_calib).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ACTIVATIONS = ("relu", "none")


class NetworkError(ValueError):
    """A model file cannot be read as a chain of dense layers; the message says why."""


@dataclass
class DenseLayer:
    weight: np.ndarray              # (in, out)
    bias: np.ndarray                # (out,)
    activation: str = "none"

    def __post_init__(self):
        self.weight = np.asarray(self.weight, dtype=np.float64)
        if self.weight.ndim != 2:
            raise NetworkError(f"dense layer weight: expected a matrix, got shape {self.weight.shape}")
        self.bias = (np.zeros(self.weight.shape[1]) if self.bias is None
                     else np.asarray(self.bias, dtype=np.float64).reshape(-1))
        if self.bias.shape != (self.weight.shape[1],):
            raise NetworkError(f"dense layer bias: expected shape ({self.weight.shape[1]},), "
                               f"got {self.bias.shape}")
        if self.activation not in ACTIVATIONS:
            raise NetworkError(f"activation {self.activation!r}: must be one of {ACTIVATIONS}")

    @property
    def in_features(self) -> int:
        return self.weight.shape[0]

    @property
    def out_features(self) -> int:
        return self.weight.shape[1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = np.asarray(x, dtype=np.float64) @ self.weight + self.bias
        return np.maximum(y, 0.0) if self.activation == "relu" else y


@dataclass
class Network:
    layers: list[DenseLayer]
    name: str = "network"
    meta: dict = field(default_factory=dict)

    def __post_init__(self):
        if not self.layers:
            raise NetworkError("network: no layers")
        for i in range(1, len(self.layers)):
            if self.layers[i].in_features != self.layers[i - 1].out_features:
                raise NetworkError(f"layer {i}: {self.layers[i].in_features} inputs, but layer {i - 1} has "
                                   f"{self.layers[i - 1].out_features} outputs")

    @property
    def in_features(self) -> int:
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        return self.layers[-1].out_features

    def forward(self, x: np.ndarray, *, all_layers: bool = False):
        """Outputs (batch, out); with all_layers the list of every layer's output (after activation)."""
        x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
        outs = []
        for layer in self.layers:
            x = layer.forward(x)
            outs.append(x)
        return outs if all_layers else x

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.argmax(self.forward(x), axis=1)

    def describe(self) -> str:
        return " -> ".join([str(self.in_features)] + [f"{l.out_features}{'(relu)' if l.activation == 'relu' else ''}"
                                                      for l in self.layers])


def save_npz(net: Network, path, **meta) -> None:
    arrays = {}
    for i, layer in enumerate(net.layers):
        arrays[f"layer{i}_weight"] = layer.weight.astype(np.float32)
        arrays[f"layer{i}_bias"] = layer.bias.astype(np.float32)
        arrays[f"layer{i}_activation"] = np.array(layer.activation)
    arrays["name"] = np.array(net.name)
    for key, value in {**net.meta, **meta}.items():
        arrays[key] = np.asarray(value)
    np.savez_compressed(path, **arrays)


def load_npz(path) -> Network:
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        files = dict(data.items())
    layers, i = [], 0
    while f"layer{i}_weight" in files:
        act = str(files.pop(f"layer{i}_activation", np.array("none")))
        layers.append(DenseLayer(files.pop(f"layer{i}_weight"), files.pop(f"layer{i}_bias", None), act))
        i += 1
    if not layers:
        raise NetworkError(f"{path}: no layer0_weight array (expected layer{{i}}_weight, layer{{i}}_bias, "
                           f"layer{{i}}_activation)")
    name = str(files.pop("name", np.array(path.stem)))
    meta = {k: (v.item() if v.ndim == 0 else v) for k, v in files.items()}
    return Network(layers, name=name, meta=meta)


def load_onnx(path) -> Network:
    """A chain of dense layers from an ONNX model: Gemm, or MatMul followed by Add of a constant bias,
    each optionally followed by Relu. Flatten/Reshape (before the first layer), Identity and Dropout pass
    through. Anything else (Conv, pooling, ...) raises NetworkError naming the operator."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:          # pragma: no cover - depends on the environment
        raise NetworkError("reading ONNX models needs the onnx package (pip install onnx)") from exc
    model = onnx.load(str(path))
    graph = model.graph
    consts = {init.name: numpy_helper.to_array(init).astype(np.float64) for init in graph.initializer}
    for node in graph.node:             # Constant nodes are initializers too
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t).astype(np.float64)
    layers: list[DenseLayer] = []
    for node in graph.node:
        op = node.op_type
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Constant":
            continue
        if op == "Gemm":
            if attrs.get("transA", 0):
                raise NetworkError(f"Gemm {node.name!r}: transA = 1 is not supported")
            w = consts.get(node.input[1])
            if w is None:
                raise NetworkError(f"Gemm {node.name!r}: weight {node.input[1]!r} is not a constant")
            w = w.T if attrs.get("transB", 0) else w
            w = w * attrs.get("alpha", 1.0)
            b = np.zeros(w.shape[1])
            if len(node.input) > 2 and node.input[2]:
                b = np.broadcast_to(consts[node.input[2]] * attrs.get("beta", 1.0), (w.shape[1],)).copy()
            layers.append(DenseLayer(w, b))
        elif op == "MatMul":
            w = consts.get(node.input[1])
            if w is None or w.ndim != 2:
                raise NetworkError(f"MatMul {node.name!r}: the second input must be a constant matrix")
            layers.append(DenseLayer(w, None))
        elif op == "Add":
            bias = next((consts[n] for n in node.input if n in consts), None)
            if bias is None or not layers or layers[-1].activation != "none":
                raise NetworkError(f"Add {node.name!r}: only a constant bias right after MatMul/Gemm is "
                                   f"supported")
            layers[-1].bias = layers[-1].bias + np.broadcast_to(bias.reshape(-1), layers[-1].bias.shape)
        elif op == "Relu":
            if not layers:
                raise NetworkError("Relu before the first dense layer is not supported")
            layers[-1].activation = "relu"
        elif op in ("Flatten", "Reshape") and not layers:
            continue
        elif op in ("Identity", "Dropout"):
            continue
        else:
            raise NetworkError(f"ONNX operator {op} ({node.name!r}) is not supported: the evaluation imports "
                               f"chains of Gemm/MatMul(+Add)/Relu (Conv via im2col is not implemented)")
    if not layers:
        raise NetworkError(f"{path}: no Gemm or MatMul layers")
    return Network(layers, name=Path(path).stem, meta={})


def export_onnx(net: Network, path, opset: int = 13) -> None:
    """Write the network as an ONNX graph input "x" (N, in) -> Gemm (+ Relu) ... -> "y" (N, out)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    prev = "x"
    for i, layer in enumerate(net.layers):
        inits.append(numpy_helper.from_array(layer.weight.astype(np.float32), f"W{i}"))
        inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), f"b{i}"))
        out = f"gemm{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [out], name=f"fc{i}"))
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"relu{i}"))
            out = f"relu{i}"
        prev = out
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="output"))
    graph = helper.make_graph(
        nodes, net.name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", net.in_features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", net.out_features])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="aimcgen")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def load_network(path) -> Network:
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    if path.suffix == ".onnx":
        return load_onnx(path)
    raise NetworkError(f"{path}: unknown model format (expected .npz or .onnx)")


def default_model_path() -> Path:
    return Path(__file__).parent / "models" / "digits_mlp.npz"
