"""ONNX import and export of the evaluation's networks (sim.eval.network).

Import reads a chain of Conv (2D, group 1) / Gemm / MatMul, each optionally followed by Add of a constant
bias and Relu. Layers pass flat vectors in NCHW order (ConvLayer.assemble), so Flatten and Reshape only
re-read the same vector: they pass through anywhere, updating the shape a following Conv needs; so do
Identity and Dropout. Anything else raises NetworkError naming the operator or the attribute.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from aimcgen.sim.eval.layers import ConvLayer, DenseLayer, Network, NetworkError

CONV_ATTRIBUTES = {"kernel_shape", "pads", "strides", "dilations", "group", "auto_pad"}
SUPPORTED = "chains of Conv/Gemm/MatMul(+Add)/Relu with Flatten/Reshape between them"


def _input_shape(graph, consts) -> tuple | None:
    """The per-sample shape of the graph's data input (without the batch dimension), None if symbolic."""
    for value in graph.input:
        if value.name in consts:
            continue
        dims = [d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim]
        return tuple(dims[1:]) if dims[1:] and None not in dims[1:] else None
    return None


def _same_pads(size: int, k: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


def conv_layer(node, attrs: dict, consts: dict, shape: tuple | None) -> ConvLayer:
    name = f"Conv {node.name!r}"
    unknown = sorted(set(attrs) - CONV_ATTRIBUTES)
    if unknown:
        raise NetworkError(f"{name}: attribute(s) {', '.join(unknown)} not supported")
    if attrs.get("group", 1) != 1:
        raise NetworkError(f"{name}: group = {attrs['group']} is not supported (only group = 1)")
    kernel = consts.get(node.input[1])
    if kernel is None or kernel.ndim != 4:
        raise NetworkError(f"{name}: the weight must be a constant (F, C, kh, kw) kernel (2D convolution), "
                           f"got {None if kernel is None else kernel.shape}")
    if shape is None or len(shape) != 3:
        raise NetworkError(f"{name}: the input shape (C, H, W) is unknown ({shape}): declare it in the graph "
                           f"input or with a Reshape before the Conv")
    kh, kw = kernel.shape[2:]
    if tuple(attrs.get("kernel_shape", (kh, kw))) != (kh, kw):
        raise NetworkError(f"{name}: kernel_shape {attrs['kernel_shape']} differs from the weight's {kh}x{kw}")
    strides = tuple(attrs.get("strides", (1, 1)))
    dilations = tuple(attrs.get("dilations", (1, 1)))
    auto_pad = attrs.get("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if auto_pad in ("NOTSET", "VALID"):
        p = attrs.get("pads", (0, 0, 0, 0)) if auto_pad == "NOTSET" else (0, 0, 0, 0)
        pads = (p[0], p[1], p[2], p[3])                 # ONNX: h begin, w begin, h end, w end
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        upper = auto_pad == "SAME_UPPER"
        (t, b), (l, r) = (_same_pads(shape[1], kh, strides[0], dilations[0], upper),
                          _same_pads(shape[2], kw, strides[1], dilations[1], upper))
        pads = (t, l, b, r)
    else:
        raise NetworkError(f"{name}: auto_pad = {auto_pad!r} is not supported")
    return ConvLayer(kernel, _optional_constant(node, 2, consts, "bias"), shape, "none", pads, strides, dilations)


def _optional_constant(node, index: int, consts: dict, what: str) -> np.ndarray | None:
    """Input `index` of `node` as a constant, None when absent; a computed input cannot be mapped to
    conductances, so it is refused rather than dropped or left to a KeyError."""
    if len(node.input) <= index or not node.input[index]:
        return None
    if node.input[index] not in consts:
        raise NetworkError(f"{node.op_type} {node.name!r}: {what} {node.input[index]!r} is not a constant "
                           f"(an initializer or a Constant node); only constant weights and biases are supported")
    return consts[node.input[index]]


def _broadcast_bias(node, bias: np.ndarray, n: int) -> np.ndarray:
    """A bias of one value or one per output (any shape of that size), as the layer's (n,) vector."""
    flat = bias.reshape(-1)
    if flat.size not in (1, n):
        raise NetworkError(f"{node.op_type} {node.name!r}: bias of shape {bias.shape} does not broadcast to the "
                           f"layer's {n} outputs")
    return np.broadcast_to(flat, (n,)).copy()


def _reshaped(node, consts: dict, shape: tuple | None) -> tuple | None:
    target = consts.get(node.input[1])
    if target is None:
        return None
    dims = [int(v) for v in target.reshape(-1)][1:]
    dims = [shape[j] if v == 0 and shape is not None and j < len(shape) else v for j, v in enumerate(dims)]
    if -1 in dims:
        if shape is None:
            return None
        dims[dims.index(-1)] = math.prod(shape) // max(1, -math.prod(dims))
    if shape is not None and math.prod(dims) != math.prod(shape):
        raise NetworkError(f"Reshape {node.name!r}: {shape} has {math.prod(shape)} values, not "
                           f"{math.prod(dims)} ({tuple(dims)})")
    return tuple(dims)


def _read_model(onnx, path):
    """The parsed ModelProto; a file that is not one (text, truncated) raises NetworkError naming it."""
    from google.protobuf.message import DecodeError     # onnx's own dependency: optional like onnx

    try:
        return onnx.load(str(path))
    except (DecodeError, ValueError) as exc:
        raise NetworkError(f"{path}: not a valid ONNX model (truncated or another format: {exc})") from None


def _constants(numpy_helper, graph) -> dict[str, np.ndarray]:
    """Initializers and Constant nodes as float64 arrays; a damaged tensor names itself."""
    tensors = [(init.name, init) for init in graph.initializer]
    tensors += [(node.output[0], attr.t) for node in graph.node if node.op_type == "Constant"
                for attr in node.attribute if attr.name == "value"]
    consts = {}
    for name, tensor in tensors:
        try:
            consts[name] = numpy_helper.to_array(tensor).astype(np.float64)
        except (ValueError, TypeError) as exc:
            raise NetworkError(f"constant tensor {name!r}: cannot be read as numbers ({exc})") from None
    return consts


def load_onnx(path) -> Network:
    """The chain of layers of an ONNX model (see the module docstring)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError as exc:          # pragma: no cover - depends on the environment
        raise NetworkError("reading ONNX models needs the onnx package (pip install onnx)") from exc
    graph = _read_model(onnx, path).graph
    consts = _constants(numpy_helper, graph)
    shape = _input_shape(graph, consts)
    layers: list = []
    for node in graph.node:
        op = node.op_type
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if op == "Constant":
            continue
        if op == "Conv":
            layers.append(conv_layer(node, attrs, consts, shape))
            shape = (len(layers[-1].kernel), *layers[-1].out_hw)
        elif op == "Gemm":
            if attrs.get("transA", 0):
                raise NetworkError(f"Gemm {node.name!r}: transA = 1 is not supported")
            w = consts.get(node.input[1])
            if w is None:
                raise NetworkError(f"Gemm {node.name!r}: weight {node.input[1]!r} is not a constant")
            w = w.T if attrs.get("transB", 0) else w
            w = w * attrs.get("alpha", 1.0)
            c = _optional_constant(node, 2, consts, "bias")
            b = None if c is None else _broadcast_bias(node, c * attrs.get("beta", 1.0), w.shape[1])
            layers.append(DenseLayer(w, b))
            shape = (w.shape[1],)
        elif op == "MatMul":
            w = consts.get(node.input[1])
            if w is None or w.ndim != 2:
                raise NetworkError(f"MatMul {node.name!r}: the second input must be a constant matrix")
            layers.append(DenseLayer(w, None))
            shape = (w.shape[1],)
        elif op == "Add":
            bias = next((consts[n] for n in node.input if n in consts), None)
            if bias is None or not layers or layers[-1].activation != "none":
                raise NetworkError(f"Add {node.name!r}: only a constant bias right after Conv/MatMul/Gemm is "
                                   f"supported")
            layers[-1].bias = layers[-1].bias + _broadcast_bias(node, bias, len(layers[-1].bias))
        elif op == "Relu":
            if not layers:
                raise NetworkError("Relu before the first layer is not supported")
            layers[-1].activation = "relu"
        elif op == "Flatten":
            if attrs.get("axis", 1) != 1:
                raise NetworkError(f"Flatten {node.name!r}: axis = {attrs['axis']} is not supported (only 1)")
            shape = None if shape is None else (math.prod(shape),)
        elif op == "Reshape":
            shape = _reshaped(node, consts, shape)
        elif op in ("Identity", "Dropout"):
            continue
        else:
            raise NetworkError(f"ONNX operator {op} ({node.name!r}) is not supported: the evaluation imports "
                               f"{SUPPORTED}")
    if not layers:
        raise NetworkError(f"{path}: no Conv, Gemm or MatMul layers")
    return Network(layers, name=Path(path).stem, meta={})


def export_onnx(net: Network, path, opset: int = 13) -> None:
    """Write the network as an ONNX graph input "x" -> Conv / Gemm (+ Relu) ... -> "y": x is (N, in), or
    (N, C, H, W) when the first layer is a convolution; Flatten / Reshape join conv and dense layers."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, inits = [], []
    prev, flat = "x", not isinstance(net.layers[0], ConvLayer)
    for i, layer in enumerate(net.layers):
        conv = isinstance(layer, ConvLayer)
        if conv and flat and i:
            inits.append(numpy_helper.from_array(np.array([-1, *layer.in_shape], dtype=np.int64), f"shape{i}"))
            nodes.append(helper.make_node("Reshape", [prev, f"shape{i}"], [f"reshape{i}"], name=f"reshape{i}"))
            prev = f"reshape{i}"
        elif not conv and not flat:
            nodes.append(helper.make_node("Flatten", [prev], [f"flat{i}"], name=f"flatten{i}"))
            prev = f"flat{i}"
        inits.append(numpy_helper.from_array((layer.kernel if conv else layer.weight).astype(np.float32), f"W{i}"))
        inits.append(numpy_helper.from_array(layer.bias.astype(np.float32), f"b{i}"))
        out = f"layer{i}"
        if conv:
            t, l, b, r = layer.pads
            nodes.append(helper.make_node("Conv", [prev, f"W{i}", f"b{i}"], [out], name=f"conv{i}",
                                          pads=[t, l, b, r], strides=list(layer.strides),
                                          dilations=list(layer.dilations)))
        else:
            nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"b{i}"], [out], name=f"fc{i}"))
        if layer.activation == "relu":
            nodes.append(helper.make_node("Relu", [out], [f"relu{i}"], name=f"relu{i}"))
            out = f"relu{i}"
        prev, flat = out, not conv
    nodes.append(helper.make_node("Identity", [prev], ["y"], name="output"))
    first, last = net.layers[0], net.layers[-1]
    x_shape = ["N", *first.in_shape] if isinstance(first, ConvLayer) else ["N", net.in_features]
    y_shape = ["N", len(last.kernel), *last.out_hw] if isinstance(last, ConvLayer) else ["N", net.out_features]
    graph = helper.make_graph(nodes, net.name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, y_shape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="aimcgen")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
